//! Experiments behind the README's planning findings, on one checkpoint:
//!
//! ```text
//! cargo run --release --example model_lab -- critic CHECKPOINT WORLD_FILE [key=value ...]
//! cargo run --release --example model_lab -- truth-critic CHECKPOINT WORLD_FILE [key=value ...]
//! cargo run --release --example model_lab -- door CHECKPOINT WORLD_FILE [episodes=300] [k=10]
//! cargo run --release --example model_lab -- replay-graph CHECKPOINT WORLD_FILE [key=value ...]
//! cargo run --release --example model_lab -- predictor-fit CHECKPOINT WORLD_FILE out=DIR [key=value ...]
//! cargo run --release --example model_lab -- pose-dynamics CHECKPOINT WORLD_FILE out=DIR [key=value ...]
//! ```
//!
//! - `critic`: fits the critic and guardrail as `kennel eval` does, with any of the critic's
//!   settings changed (`quasimetric=true`, `hidden=256`, `seed=7`, `episodes=800`,
//!   `readout_steps=3000` for push's pose readout, …), and prints the cost diagnostic. `cache=FILE` keeps the encoded exploration between runs
//!   (encoding 800 episodes takes minutes, a fit seconds); `save=DIR` writes the cost models
//!   (put them in `CHECKPOINT/cost_models` for `kennel eval` to use).
//! - `truth-critic`: the same critic regressed on the simulator's true shortest-path distance
//!   (privileged labels), on encoded latents and, with `imagined=true`, on the predictor's
//!   10-step open-loop latents too: how well planning could do with a near-perfect critic.
//! - `door`: a linear probe of the agent's position fitted on encoded frames, applied to
//!   `k`-step open-loop predictions of held-out exploration (actions as taken), with errors
//!   grouped by what the true path did: crossed the divider at `x = 0` through the door, came
//!   near it, or neither (two_rooms).
//! - `replay-graph`: the planner's search through the recorded exploration against the critic
//!   (`critic=CHECKPOINT/cost_models`) on the same held-out start/goal pairs, with any of the
//!   graph's settings (`neighbours=40`, `stride=2`, `link=1.0`, `hop=2.0`): their cost ρ.
//! - `predictor-fit`: refits the predictor on the frozen encoder's latents of the exploration
//!   (`steps=3000`, `k=15`, `lr=3e-4`, `batch=128`), prints its held-out rollout error before
//!   and after, and writes a copy of the checkpoint with the refitted predictor to `out=DIR`
//!   (with the checkpoint's `cost_models/`, which stay valid: the encoder is unchanged, and
//!   which get the refitted predictor). Push: with the checkpoint's pose readout, the refit's
//!   pose loss (`pose_weight=10`) and moving-object windows (`moving_share=0.5`), and the
//!   poses read off held-out rollouts before and after.
//! - `pose-dynamics` (push): fits the pose dynamics on the exploration's poses (`steps=30000`,
//!   `hidden=512`, `batch=512`, `lr=1e-3`), prints their held-out rollout errors, and writes a
//!   copy of the checkpoint whose cost models hold them to `out=DIR`, for `kennel eval`.

use std::collections::HashMap;
use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use agent::eval::{Routing, cost_diagnostic};
use agent::model::JepaModel;
use agent::plan::{
    CostModels, CostModelsConfig, CriticBatch, CriticTrainer, LatentEpisodes, PoseDynamicsConfig,
    PoseDynamicsFitConfig, PredictorFitConfig, ReplayFrames, ReplayGraph, ReplayGraphConfig,
    cosine_decay, encode_frames, fit_pose_dynamics, fit_predictor,
};
use agent::probe::spearman;
use agent::train::load_model;
use burn::prelude::*;
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::{Env, SeedSequence, SmoothRandomPolicy, WorldSpec};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// `key=value` options.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut map = HashMap::new();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| format!("options are key=value, got {arg:?}"))?;
            map.insert(key.to_owned(), value.to_owned());
        }
        Ok(Self(map))
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.0.get(key) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|_| format!("{key}={value} does not parse").into()),
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, checkpoint, world, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: model_lab critic|truth-critic|door|replay-graph|predictor-fit|pose-dynamics CHECKPOINT WORLD_FILE [key=value ...]"
                .into(),
        );
    };
    let device = Device::flex();
    let (model, _, _) = load_model(Path::new(checkpoint), &device)?;
    let spec = Arc::new(WorldSpec::from_json_file(Path::new(world))?);
    let options = Options::parse(rest)?;
    match mode.as_str() {
        "critic" => critic(&spec, &model, &options, &device),
        "truth-critic" => truth_critic(&spec, &model, &options, &device),
        "door" => door(&spec, &model, &options, &device),
        "replay-graph" => replay_graph(&spec, &model, &options, &device),
        "predictor-fit" => predictor_fit(checkpoint, &spec, &model, &options, &device),
        "pose-dynamics" => pose_dynamics(checkpoint, &spec, &model, &options, &device),
        other => Err(format!(
            "unknown mode {other:?}: critic, truth-critic, door, replay-graph, predictor-fit or pose-dynamics"
        )
        .into()),
    }
}

/// The fit's configuration with the options' changes.
fn fit_config(spec: &WorldSpec, model: &JepaModel, options: &Options) -> Result<CostModelsConfig> {
    let config = CostModelsConfig::for_world(
        spec,
        model.encoder.latent_dim(),
        model.encoder.proprio_dims(),
    );
    let mut config = config
        .clone()
        .with_critic_steps(options.get("steps", config.critic_steps)?)
        .with_seed(options.get("seed", 1000)?)
        .with_learning_rate(options.get("lr", 1e-3)?);
    let c = config.critic.clone();
    config.critic = c
        .clone()
        .with_reversible(options.get("reversible", c.reversible)?)
        .with_hazard_penalty(options.get("penalty", c.hazard_penalty)?)
        .with_max_steps(options.get("max", c.max_steps)?)
        .with_target_every(options.get("target_every", c.target_every)?)
        .with_hidden(options.get("hidden", c.hidden)?)
        .with_negative_fraction(options.get("negative", c.negative_fraction)?)
        .with_quasimetric(options.get("quasimetric", c.quasimetric)?)
        .with_embedding(options.get("embedding", c.embedding)?)
        .with_other_episode_goals(options.get("other", c.other_episode_goals)?)
        .with_slack(options.get("slack", c.slack)?);
    let readout_steps = config.pose_readout_steps.unwrap_or(0);
    config.pose_readout_steps = Some(options.get("readout_steps", readout_steps)?);
    Ok(config)
}

fn critic(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    options: &Options,
    device: &Device,
) -> Result<()> {
    let episodes = options.get("episodes", 800)?;
    let data = exploration(spec, model, options, device)?;
    let data = LatentEpisodes {
        latents: data.latents.into_iter().take(episodes).collect(),
        in_hazard: data.in_hazard.into_iter().take(episodes).collect(),
        actions: data.actions.into_iter().take(episodes).collect(),
        poses: data.poses.into_iter().take(episodes).collect(),
    };
    let models = CostModels::fit(
        &data,
        fit_config(spec, model, options)?,
        device,
        &mut |_| {},
    );
    let rho = cost_diagnostic(
        spec,
        model,
        Some(&models.critic),
        models.pose_readout.as_ref(),
        Routing::default(),
        50,
        1000,
        device,
    )?;
    println!("cost ρ {rho:.3} ({:?})", models.report);
    if let Some(dir) = options.0.get("save") {
        models.save(Path::new(dir))?;
    }
    Ok(())
}

/// The exploration `kennel eval` fits on (seed 1000), encoded, `episodes=800` of it; with
/// `cache=FILE`, read from or kept in that file.
fn exploration(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    options: &Options,
    device: &Device,
) -> Result<LatentEpisodes> {
    let episodes = options.get("episodes", 800)?;
    let cache = options.0.get("cache").map(Path::new);
    if let Some(cache) = cache.filter(|c| c.exists()) {
        return load_latents(cache);
    }
    let data = LatentEpisodes::explore(
        spec,
        model,
        episodes,
        1000 ^ 0x00c0_ffee,
        device,
        &mut |_| {},
    )?;
    if let Some(cache) = cache {
        save_latents(cache, &data)?;
    }
    Ok(data)
}

/// One exploration episode with the true state: frames, actions and the agent's positions.
struct Walk {
    latents: Vec<f32>,
    actions: Vec<f32>,
    positions: Vec<[f32; 2]>,
    goal: Vec<f32>,
    /// Shortest-path distance to the goal from each position, metres.
    distances: Vec<f32>,
}

fn walk(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    seed: u64,
    episodes: usize,
    device: &Device,
) -> Result<Vec<Walk>> {
    let seeds = SeedSequence::new(seed);
    let mut env = Env::new(Arc::clone(spec));
    let mut out = Vec::new();
    for episode in 0..episodes {
        let mut policy = SmoothRandomPolicy::new(1, seeds.derive(3, episode as u64));
        let (obs, _) = env.reset(seeds.episode_seed(0, episode as u64))?;
        let (h, w) = (obs.rgb.height as usize, obs.rgb.width as usize);
        let goal_frame = env.render_goal()?;
        let world = env.world().ok_or("no world after reset")?;
        let g = world.goal().agent_position;
        let field = world.distance_field([g[0], g[1]], 0.02);
        let position = |env: &Env| -> Result<[f32; 2]> {
            let p = env.world().ok_or("no world after reset")?.agent_position();
            Ok([p[0], p[1]])
        };
        let mut frames = obs.rgb.rgb;
        let mut actions = Vec::new();
        let mut positions = vec![position(&env)?];
        loop {
            let action = policy.next_action(0);
            actions.extend_from_slice(&action.0);
            let step = env.step(&action)?;
            frames.extend_from_slice(&step.obs.rgb.rgb);
            positions.push(position(&env)?);
            if step.terminated || step.truncated {
                break;
            }
        }
        let latents = encode_frames(
            model,
            &frames,
            positions.as_flattened(),
            positions.len(),
            h,
            w,
            device,
        );
        out.push(Walk {
            latents,
            actions,
            distances: positions.iter().map(|p| field.distance(*p)).collect(),
            positions,
            goal: encode_frames(model, &goal_frame.rgb, &g, 1, h, w, device),
        });
    }
    Ok(out)
}

/// `model`'s `k`-step open-loop latents from every `every`-th frame of `walk` (actions as
/// taken): the starts and `[starts · k · latent_dim]`.
fn imagine_along(
    model: &JepaModel,
    walk: &Walk,
    k: usize,
    every: usize,
    device: &Device,
) -> Result<(Vec<usize>, Vec<f32>)> {
    let d = model.encoder.latent_dim();
    let a = sim::ACTION_DIM;
    let starts: Vec<usize> = (0..walk.positions.len().saturating_sub(k))
        .step_by(every)
        .collect();
    if starts.is_empty() {
        return Ok((starts, Vec::new()));
    }
    let (mut z0, mut actions) = (Vec::new(), Vec::new());
    for &t in &starts {
        z0.extend_from_slice(&walk.latents[t * d..(t + 1) * d]);
        actions.extend_from_slice(&walk.actions[t * a..(t + k) * a]);
    }
    let n = starts.len();
    let z0 = Tensor::<2>::from_data(TensorData::new(z0, [n, d]), device);
    let actions = Tensor::<3>::from_data(TensorData::new(actions, [n, k, a]), device);
    let imagined = model
        .rollout(z0, actions)
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    Ok((starts, imagined))
}

fn truth_critic(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    options: &Options,
    device: &Device,
) -> Result<()> {
    let d = model.encoder.latent_dim();
    let walks = walk(spec, model, 4242, options.get("episodes", 800)?, device)?;
    let imagined = options.get("imagined", false)?;
    // Distances in steps: metres × `scale` (rank and planning do not depend on the unit).
    let scale: f32 = options.get("scale", 30.0)?;
    let (mut latents, mut goals, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for walk in &walks {
        for (z, distance) in walk.latents.chunks(d).zip(&walk.distances) {
            latents.push(z.to_vec());
            goals.push(walk.goal.clone());
            labels.push(*distance * scale);
        }
        if imagined {
            let k = 10;
            let (starts, predicted) = imagine_along(model, walk, k, 5, device)?;
            for (i, t) in starts.iter().enumerate() {
                for j in 0..k {
                    let at = (i * k + j) * d;
                    latents.push(predicted[at..at + d].to_vec());
                    goals.push(walk.goal.clone());
                    labels.push(walk.distances[t + j + 1] * scale);
                }
            }
        }
    }
    let config = fit_config(spec, model, options)?;
    if config.critic.quasimetric {
        return Err("truth-critic regresses distances: quasimetric=true does not apply".into());
    }
    let max = config.critic.max_steps as f32;
    device.seed(config.seed);
    let mut trainer = CriticTrainer::new(config.critic.clone(), device);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    for step in 0..config.critic_steps {
        let mut batch = CriticBatch {
            latents: Vec::new(),
            next_latents: Vec::new(),
            goals: Vec::new(),
            steps: Vec::new(),
            chain: Vec::new(),
        };
        for _ in 0..config.batch {
            let i = rng.random_range(0..labels.len());
            batch.latents.extend_from_slice(&latents[i]);
            batch.next_latents.extend_from_slice(&latents[i]);
            batch.goals.extend_from_slice(&goals[i]);
            // Unreachable cells (inside a wall) are infinitely far: "far".
            batch.steps.push(labels[i].min(max));
            batch.chain.push(false);
        }
        let decay = cosine_decay(step as f64 / config.critic_steps as f64);
        trainer.train_step(&batch, config.learning_rate * decay);
    }
    let critic = trainer.critic();
    let rho = cost_diagnostic(
        spec,
        model,
        Some(&critic),
        None,
        Routing::default(),
        50,
        1000,
        device,
    )?;
    println!("truth critic on {} pairs: cost ρ {rho:.3}", labels.len());
    if let Some(dir) = options.0.get("save") {
        // The guardrail as `kennel eval` fits it, the critic replaced.
        let data =
            LatentEpisodes::explore(spec, model, 200, 1000 ^ 0x00c0_ffee, device, &mut |_| {})?;
        let mut models = CostModels::fit(&data, config.with_critic_steps(0), device, &mut |_| {});
        models.critic = critic;
        models.save(Path::new(dir))?;
    }
    Ok(())
}

fn door(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    options: &Options,
    device: &Device,
) -> Result<()> {
    let d = model.encoder.latent_dim();
    let k: usize = options.get("k", 10)?;
    let walks = walk(spec, model, 777, options.get("episodes", 300)?, device)?;
    let (fit, held_out) = walks.split_at(walks.len() / 2);
    // Linear probe (with a bias) by ridge-regularised least squares.
    let rows: Vec<(&[f32], [f32; 2])> = fit
        .iter()
        .flat_map(|w| w.latents.chunks(d).zip(w.positions.iter().copied()))
        .collect();
    let x = DMatrix::from_fn(rows.len(), d + 1, |r, c| {
        if c == d { 1.0 } else { f64::from(rows[r].0[c]) }
    });
    let gram = x.transpose() * &x + DMatrix::identity(d + 1, d + 1) * 1e-3;
    let cholesky = gram
        .cholesky()
        .ok_or("the probe's normal equations are singular")?;
    let weights: Vec<DVector<f64>> = (0..2)
        .map(|axis| {
            let y = DVector::from_fn(rows.len(), |r, _| f64::from(rows[r].1[axis]));
            cholesky.solve(&(x.transpose() * y))
        })
        .collect();
    let probe = |z: &[f32]| -> [f64; 2] {
        let mut out = [weights[0][d], weights[1][d]];
        for (i, v) in z.iter().enumerate() {
            out[0] += f64::from(*v) * weights[0][i];
            out[1] += f64::from(*v) * weights[1][i];
        }
        out
    };
    #[derive(Default, Clone, Copy)]
    struct Group {
        windows: usize,
        encoded_error: f64,
        imagined_error: f64,
        wrong_side: usize,
    }
    let mut groups = [Group::default(); 3];
    for walk in held_out {
        let (starts, predicted) = imagine_along(model, walk, k, 3, device)?;
        for (i, &t) in starts.iter().enumerate() {
            let window = &walk.positions[t..=t + k];
            let crossed = window
                .windows(2)
                .any(|p| (p[0][0] > 0.0) != (p[1][0] > 0.0));
            let near = window.iter().any(|p| p[0].abs() < 0.15);
            let group = &mut groups[if crossed {
                0
            } else if near {
                1
            } else {
                2
            }];
            let truth = walk.positions[t + k];
            let error =
                |q: [f64; 2]| (q[0] - f64::from(truth[0])).hypot(q[1] - f64::from(truth[1]));
            let encoded = probe(&walk.latents[(t + k) * d..(t + k + 1) * d]);
            let at = (i * k + k - 1) * d;
            let imagined = probe(&predicted[at..at + d]);
            group.windows += 1;
            group.encoded_error += error(encoded);
            group.imagined_error += error(imagined);
            group.wrong_side += usize::from((imagined[0] > 0.0) != (truth[0] > 0.0));
        }
    }
    println!("windows of {k} steps, {} held-out episodes", held_out.len());
    for (group, name) in groups
        .iter()
        .zip(["through the door", "near the divider", "elsewhere"])
    {
        let n = group.windows.max(1) as f64;
        println!(
            "{name:18} {:6} windows  probe error: encoded {:.3} m, imagined {:.3} m  imagined on the wrong side {:.1}%",
            group.windows,
            group.encoded_error / n,
            group.imagined_error / n,
            100.0 * group.wrong_side as f64 / n
        );
    }
    Ok(())
}

/// The encoded exploration as a postcard file.
fn save_latents(path: &Path, data: &LatentEpisodes) -> Result<()> {
    std::fs::write(path, postcard::to_stdvec(data)?)?;
    Ok(())
}

fn load_latents(path: &Path) -> Result<LatentEpisodes> {
    let bytes = std::fs::read(path)?;
    postcard::from_bytes(&bytes).map_err(|e| {
        format!(
            "{}: not a latent cache ({e}); delete it to encode again",
            path.display()
        )
        .into()
    })
}

/// The search through the recorded exploration ([`ReplayGraph`]) against the critic on the
/// same held-out pairs: Spearman ρ with the true shortest path over all pairs and over those
/// near the divider (|x| < 0.3), with any of the graph's settings (`neighbours=40`,
/// `stride=2`, `link=1.0`, `hop=2.0`, `context=4`) and the critic saved in `critic=DIR`.
fn replay_graph(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    options: &Options,
    device: &Device,
) -> Result<()> {
    let data = exploration(spec, model, options, device)?;
    let config = ReplayGraphConfig::new()
        .with_episodes(options.get("neighbours", 40)?)
        .with_context_dims(options.get("context", 4)?)
        .with_link_steps(options.get("link", 1.0)?)
        .with_hop_steps(options.get("hop", 2.0)?);
    let frames = ReplayFrames::keep(&data, options.get("stride", 2)?);
    let graph = ReplayGraph::new(frames, config).ok_or("no frames to search")?;
    let critic = match options.0.get("critic") {
        Some(dir) => CostModels::load(Path::new(dir), device)?.map(|m| m.critic),
        None => None,
    };
    let d = model.encoder.latent_dim();
    let walks = walk(spec, model, 555, options.get("diag", 60)?, device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut graph_costs, mut critic_costs, mut truths, mut near) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    for w in &walks {
        let goal = Tensor::<2>::from_data(TensorData::new(w.goal.clone(), [1, d]), device);
        let route = graph.route(&goal).ok_or("no route")?;
        for _ in 0..4 {
            let t = rng.random_range(0..w.distances.len() / 2);
            let z = Tensor::<2>::from_data(
                TensorData::new(w.latents[t * d..(t + 1) * d].to_vec(), [1, d]),
                device,
            );
            graph_costs.push(f64::from(route.steps_through_frames(z.clone())[0]));
            if let Some(critic) = &critic {
                let steps = critic
                    .steps_to(z, goal.clone())
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| format!("{e:?}"))?;
                critic_costs.push(f64::from(steps[0]));
            }
            truths.push(f64::from(w.distances[t]));
            near.push(w.positions[t][0].abs() < 0.3);
        }
    }
    let rho = |costs: &[f64], only_near: bool| -> f64 {
        let (a, b): (Vec<f64>, Vec<f64>) = costs
            .iter()
            .zip(&truths)
            .zip(&near)
            .filter(|(_, n)| !only_near || **n)
            .map(|((c, t), _)| (*c, *t))
            .unzip();
        spearman(&a, &b)
    };
    println!(
        "{} pairs ({} near the divider), {:.1} s: graph ρ {:.3} (near the divider {:.3})",
        truths.len(),
        near.iter().filter(|n| **n).count(),
        started.elapsed().as_secs_f64(),
        rho(&graph_costs, false),
        rho(&graph_costs, true)
    );
    if !critic_costs.is_empty() {
        println!(
            "critic ρ {:.3} (near the divider {:.3})",
            rho(&critic_costs, false),
            rho(&critic_costs, true)
        );
    }
    Ok(())
}

/// Refits the predictor on the encoded exploration and writes the checkpoint with it to
/// `out=DIR` (see the module docs).
fn predictor_fit(
    checkpoint: &str,
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    options: &Options,
    device: &Device,
) -> Result<()> {
    let out = out_dir(options, "predictor-fit")?;
    let data = exploration(spec, model, options, device)?;
    let config = PredictorFitConfig::new()
        .with_steps(options.get("steps", 3000)?)
        .with_rollout_steps(options.get("k", 15)?)
        .with_learning_rate(options.get("lr", 3e-4)?)
        .with_batch(options.get("batch", 128)?)
        .with_pose_weight(Some(options.get("pose_weight", 10.0)?))
        .with_moving_share(Some(options.get("moving_share", 0.5)?));
    let source = agent::train::resolve_checkpoint(Path::new(checkpoint))?;
    // Push: the checkpoint's fitted cost models hold the pose readout the refit reads poses
    // with; the refitted predictor is written into the copy's cost models.
    let mut models = CostModels::load(&source.join("cost_models"), device)?;
    let readout = models.as_ref().and_then(|m| m.pose_readout.as_ref());
    let (predictor, report) = fit_predictor(
        &model.predictor,
        &data,
        &config,
        readout,
        device,
        &mut |_| {},
    )?;
    println!("{}", serde_json::to_string(&report)?);
    let target = out;
    copy_dir(&source, target)?;
    if let Some(models) = models.as_mut() {
        models.predictor = Some(predictor.clone());
        models.config.predictor = Some(config.clone());
        models.report.predictor = Some(report);
        models.save(&target.join("cost_models"))?;
    }
    let refitted = JepaModel {
        predictor,
        ..model.clone()
    };
    refitted
        .save_file(target.join("model.bpk"))
        .map_err(|e| format!("cannot write the weights: {e:?}"))?;
    println!("wrote {}", target.display());
    Ok(())
}

fn pose_dynamics(
    checkpoint: &str,
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    options: &Options,
    device: &Device,
) -> Result<()> {
    let out = out_dir(options, "pose-dynamics")?;
    let source = agent::train::resolve_checkpoint(Path::new(checkpoint))?;
    let mut models = CostModels::load(&source.join("cost_models"), device)?
        .ok_or("the checkpoint has no cost models: run kennel eval on it first")?;
    let data = exploration(spec, model, options, device)?;
    let config = PoseDynamicsFitConfig::new()
        .with_model(PoseDynamicsConfig::new().with_hidden(options.get("hidden", 512)?))
        .with_steps(options.get("steps", 30_000)?)
        .with_batch(options.get("batch", 512)?)
        .with_learning_rate(options.get("lr", 1e-3)?);
    let started = std::time::Instant::now();
    let (dynamics, report) =
        fit_pose_dynamics(&data.poses, &data.actions, &config, device, &mut |_| {})
            .ok_or("the exploration holds no poses: is this a push world?")?;
    println!(
        "{} ({:.0} s)",
        serde_json::to_string(&report)?,
        started.elapsed().as_secs_f64()
    );
    let target = out;
    copy_dir(&source, target)?;
    models.pose_dynamics = Some(dynamics);
    models.config.pose_dynamics = Some(config);
    models.report.pose_dynamics = Some(report);
    models.save(&target.join("cost_models"))?;
    println!("wrote {}", target.display());
    Ok(())
}

/// The `out=DIR` a mode that writes a copy of the checkpoint needs.
fn out_dir<'a>(options: &'a Options, mode: &str) -> Result<&'a Path> {
    let out = options
        .0
        .get("out")
        .ok_or_else(|| format!("{mode} needs out=DIR for the copy of the checkpoint it writes"))?;
    Ok(Path::new(out))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(&path, to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
