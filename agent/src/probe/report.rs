//! `kennel probe`'s measurements: what a trained model's latents know about the true state,
//! how well it predicts open loop against two controls, whether it collapsed, and how latent
//! distance relates to true distance.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sim::{Action, Policy, SmoothRandomPolicy, VecEnv, WorldSpec};

use super::{RidgeProbe, column_std, effective_rank, r_squared, spearman};
use crate::model::{JepaModel, frames_to_tensor, proprio_to_tensor};

/// What to measure on.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// Held-out episodes to collect (half fit the probes, half score them).
    pub episodes: usize,
    /// Master seed of the held-out episodes (keep it away from training seeds).
    pub seed: u64,
    /// Longest open-loop horizon.
    pub max_horizon: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            episodes: 48,
            seed: 1_000_003,
            max_horizon: 20,
        }
    }
}

/// Open-loop error at one horizon: the model and its two controls. Errors are mean squared
/// latent errors divided by the latents' mean per-dimension variance (1 ≈ no better than a
/// random latent from the data).
#[derive(Clone, Debug, Serialize)]
pub struct OpenLoopRow {
    /// The predictor rolled with the true actions.
    pub model: f64,
    /// Control: the latent stays the same.
    pub same_latent: f64,
    /// Control: the predictor rolled with random actions instead of the true ones.
    pub random_actions: f64,
}

/// Everything `kennel probe --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    /// The world probed.
    pub world: String,
    /// Held-out episodes and frames.
    pub episodes: usize,
    /// Frames encoded.
    pub frames: usize,
    /// Latent size.
    pub latent_dim: usize,
    /// Linear (ridge) probe R² per quantity on held-out episodes.
    pub r2: BTreeMap<String, f64>,
    /// Small MLP probe R² per quantity.
    pub r2_mlp: BTreeMap<String, f64>,
    /// Horizon (1..=max) → errors.
    pub open_loop: BTreeMap<usize, OpenLoopRow>,
    /// Effective rank of the latents.
    pub effective_rank: f64,
    /// Smallest per-dimension standard deviation.
    pub latent_std_min: f64,
    /// Mean per-dimension standard deviation.
    pub latent_std_mean: f64,
    /// Spearman correlation of latent distance with true agent distance, pairs in one episode.
    pub latent_spearman: f64,
}

struct Collected {
    frames: Vec<u8>,
    actions: Vec<[f32; 2]>,
    /// Quantity name → value per frame.
    targets: BTreeMap<String, Vec<f64>>,
    agent_xy: Vec<[f64; 2]>,
    /// Frame index ranges of each episode.
    episodes: Vec<std::ops::Range<usize>>,
    height: usize,
    width: usize,
}

/// One environment's recorded episode: observations, actions, true quantities per frame.
#[derive(Default)]
struct EnvRecord {
    observations: Vec<sim::Observation>,
    actions: Vec<Action>,
    quantities: Vec<BTreeMap<String, f64>>,
}

fn collect(spec: &Arc<WorldSpec>, options: &ProbeOptions) -> Result<Collected, sim::SimError> {
    let envs = options.episodes.clamp(1, 16);
    let rounds = options.episodes.div_ceil(envs);
    let mut out = Collected {
        frames: Vec::new(),
        actions: Vec::new(),
        targets: BTreeMap::new(),
        agent_xy: Vec::new(),
        episodes: Vec::new(),
        height: 0,
        width: 0,
    };
    let object = match &spec.task.goal {
        sim::GoalSpec::ObjectPose { object, .. } => Some(object.clone()),
        sim::GoalSpec::AgentPosition { .. } => None,
    };
    for round in 0..rounds {
        let mut vec_env = VecEnv::new(Arc::clone(spec), envs, options.seed + round as u64, 1)?;
        let mut policy = SmoothRandomPolicy::new(envs, options.seed ^ (0x5eed + round as u64));
        let first = vec_env.reset()?;
        let mut per_env: Vec<EnvRecord> = (0..envs).map(|_| EnvRecord::default()).collect();
        let mut observations: Vec<sim::Observation> = first.into_iter().map(|(o, _)| o).collect();
        // Records every environment whose episode is still running (`done` false).
        let record = |vec_env: &mut VecEnv,
                      per_env: &mut [EnvRecord],
                      observations: &[sim::Observation],
                      done: &[bool]| {
            for (i, env) in vec_env.envs_mut().enumerate() {
                if done[i] {
                    continue;
                }
                let mut quantities = BTreeMap::new();
                if let Some(world) = env.world() {
                    let p = world.agent_position();
                    quantities.insert("agent_x".to_owned(), f64::from(p[0]));
                    quantities.insert("agent_y".to_owned(), f64::from(p[1]));
                    if let Some(door) = world.episode().door_centres.iter().flatten().next() {
                        quantities.insert("door".to_owned(), f64::from(*door));
                    }
                    if let Some(name) = &object
                        && let Some(pose) = world.body_pose(name)
                    {
                        quantities.insert("object_x".to_owned(), f64::from(pose.position[0]));
                        quantities.insert("object_y".to_owned(), f64::from(pose.position[1]));
                        quantities.insert("object_cos_yaw".to_owned(), f64::from(pose.yaw.cos()));
                        quantities.insert("object_sin_yaw".to_owned(), f64::from(pose.yaw.sin()));
                    }
                }
                per_env[i].observations.push(observations[i].clone());
                per_env[i].quantities.push(quantities);
            }
        };
        let mut done = vec![false; envs];
        record(&mut vec_env, &mut per_env, &observations, &done);
        let steps = spec.task.episode_steps as usize;
        let mut actions = Vec::new();
        // Step until every environment's first episode has ended; an environment that ended
        // early idles (its autoreset steps are not recorded).
        for _ in 0..steps {
            policy.act(&observations, &mut actions);
            let results = vec_env.step(&actions)?;
            for (i, a) in actions.iter().enumerate() {
                if !done[i] {
                    per_env[i].actions.push(*a);
                }
            }
            let ended: Vec<bool> = results
                .iter()
                .map(|s| s.terminated || s.truncated)
                .collect();
            observations = results.into_iter().map(|s| s.obs).collect();
            record(&mut vec_env, &mut per_env, &observations, &done);
            for (d, e) in done.iter_mut().zip(&ended) {
                *d |= *e;
            }
            if done.iter().all(|d| *d) {
                break;
            }
        }
        for record in per_env.into_iter().take(options.episodes - round * envs) {
            let start = out.agent_xy.len();
            for (o, q) in record.observations.iter().zip(&record.quantities) {
                out.height = o.rgb.height as usize;
                out.width = o.rgb.width as usize;
                out.frames.extend_from_slice(&o.rgb.rgb);
                out.agent_xy.push([q["agent_x"], q["agent_y"]]);
                for (name, value) in q {
                    out.targets.entry(name.clone()).or_default().push(*value);
                }
            }
            out.actions.extend(record.actions.iter().map(|a| a.0));
            // Frames are one more than actions; pad the action list so indices line up.
            out.actions.push([0.0, 0.0]);
            out.episodes.push(start..out.agent_xy.len());
        }
    }
    Ok(out)
}

fn encode_all(model: &JepaModel, data: &Collected, device: &Device) -> DMatrix<f64> {
    let frame_bytes = data.height * data.width * 3;
    let n = data.agent_xy.len();
    let mut rows: Vec<f32> = Vec::new();
    let mut d = 0;
    for start in (0..n).step_by(256) {
        let end = (start + 256).min(n);
        let images = frames_to_tensor(
            &data.frames[start * frame_bytes..end * frame_bytes],
            end - start,
            data.height,
            data.width,
            device,
        );
        let proprio: Vec<f32> = data.agent_xy[start..end]
            .iter()
            .flat_map(|p| [p[0] as f32, p[1] as f32])
            .collect();
        let proprio = proprio_to_tensor(&model.encoder, &proprio, end - start, device);
        let z = model.encoder.forward(images, proprio);
        d = z.dims()[1];
        rows.extend(z.into_data().try_to_vec::<f32>().unwrap_or_default());
    }
    DMatrix::from_fn(n, d, |r, c| f64::from(rows[r * d + c]))
}

fn select_rows(m: &DMatrix<f64>, rows: &[usize]) -> DMatrix<f64> {
    DMatrix::from_fn(rows.len(), m.ncols(), |r, c| m[(rows[r], c)])
}

/// A small MLP probe, trained with Adam on the fit rows.
#[derive(Module, Debug)]
struct MlpProbe {
    fc1: Linear,
    fc2: Linear,
    activation: Relu,
}

fn mlp_probe_r2(
    x_fit: &DMatrix<f64>,
    y_fit: &DMatrix<f64>,
    x_test: &DMatrix<f64>,
    y_test: &DMatrix<f64>,
    device: &Device,
) -> Vec<f64> {
    let ad = device.clone().autodiff();
    ad.seed(7);
    let (d, m) = (x_fit.ncols(), y_fit.ncols());
    // Standardise inputs and targets with the fit rows' statistics.
    let stats = |mat: &DMatrix<f64>| -> (Vec<f64>, Vec<f64>) {
        let mean: Vec<f64> = mat.column_iter().map(|c| c.mean()).collect();
        let std: Vec<f64> = column_std(mat).into_iter().map(|s| s.max(1e-6)).collect();
        (mean, std)
    };
    let (xm, xs) = stats(x_fit);
    let (ym, ys) = stats(y_fit);
    let to_tensor = |mat: &DMatrix<f64>, mean: &[f64], std: &[f64], device: &Device| {
        let (n, c) = mat.shape();
        let values: Vec<f32> = (0..n)
            .flat_map(|r| (0..c).map(move |k| (r, k)))
            .map(|(r, k)| ((mat[(r, k)] - mean[k]) / std[k]) as f32)
            .collect();
        Tensor::<2>::from_data(TensorData::new(values, [n, c]), device)
    };
    let x = to_tensor(x_fit, &xm, &xs, &ad);
    let y = to_tensor(y_fit, &ym, &ys, &ad);
    let mut probe = MlpProbe {
        fc1: LinearConfig::new(d, 128).init(&ad),
        fc2: LinearConfig::new(128, m).init(&ad),
        activation: Relu::new(),
    };
    let mut optimizer = AdamConfig::new().init();
    for _ in 0..400 {
        let pred = probe
            .fc2
            .forward(probe.activation.forward(probe.fc1.forward(x.clone())));
        let loss = (pred - y.clone()).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &probe);
        probe = optimizer.step(3e-3, probe, grads);
    }
    let probe = probe.valid();
    let xt = to_tensor(x_test, &xm, &xs, device);
    let pred = probe
        .fc2
        .forward(probe.activation.forward(probe.fc1.forward(xt)));
    let values: Vec<f32> = pred.into_data().try_to_vec::<f32>().unwrap_or_default();
    let predicted = DMatrix::from_fn(x_test.nrows(), m, |r, c| {
        f64::from(values[r * m + c]) * ys[c] + ym[c]
    });
    r_squared(&predicted, y_test)
}

/// Collects held-out episodes of `spec` with smooth random actions and measures `model`.
pub fn probe_model(
    model: &JepaModel,
    spec: &Arc<WorldSpec>,
    options: &ProbeOptions,
    device: &Device,
) -> Result<ProbeReport, sim::SimError> {
    let data = collect(spec, options)?;
    let latents = encode_all(model, &data, device);
    let (n, d) = latents.shape();

    // Probes: fit on the first half of the episodes, score on the second.
    let half = data.episodes.len() / 2;
    let fit_rows: Vec<usize> = data.episodes[..half.max(1)]
        .iter()
        .flat_map(|r| r.clone())
        .collect();
    let test_rows: Vec<usize> = data.episodes[half.max(1)..]
        .iter()
        .flat_map(|r| r.clone())
        .collect();
    let test_rows = if test_rows.is_empty() {
        fit_rows.clone()
    } else {
        test_rows
    };
    let x_fit = select_rows(&latents, &fit_rows);
    let x_test = select_rows(&latents, &test_rows);
    let mut r2 = BTreeMap::new();
    let mut r2_mlp = BTreeMap::new();
    let groups: Vec<(String, Vec<String>)> = {
        let mut g = vec![(
            "agent_position".to_owned(),
            vec!["agent_x".to_owned(), "agent_y".to_owned()],
        )];
        if data.targets.contains_key("door") {
            g.push(("door".to_owned(), vec!["door".to_owned()]));
        }
        if data.targets.contains_key("object_x") {
            g.push((
                "object_position".to_owned(),
                vec!["object_x".to_owned(), "object_y".to_owned()],
            ));
            g.push((
                "object_yaw".to_owned(),
                vec!["object_cos_yaw".to_owned(), "object_sin_yaw".to_owned()],
            ));
        }
        g
    };
    for (group, names) in &groups {
        let target = |rows: &[usize]| {
            DMatrix::from_fn(rows.len(), names.len(), |r, c| {
                data.targets[&names[c]][rows[r]]
            })
        };
        let (y_fit, y_test) = (target(&fit_rows), target(&test_rows));
        if let Some(probe) = RidgeProbe::fit(&x_fit, &y_fit, 1.0) {
            let scores = r_squared(&probe.predict(&x_test), &y_test);
            for (name, score) in names.iter().zip(&scores) {
                r2.insert(name.clone(), *score);
            }
            r2.insert(
                group.clone(),
                scores.iter().sum::<f64>() / scores.len() as f64,
            );
        }
        let scores = mlp_probe_r2(&x_fit, &y_fit, &x_test, &y_test, device);
        r2_mlp.insert(
            group.clone(),
            scores.iter().sum::<f64>() / scores.len() as f64,
        );
    }

    // Open loop on the test episodes: starts every 5 frames with room for the longest horizon.
    let h_max = options.max_horizon;
    let starts: Vec<usize> = data.episodes[half.max(1).min(data.episodes.len() - 1)..]
        .iter()
        .flat_map(|r| (r.start..r.end.saturating_sub(h_max)).step_by(5))
        .collect();
    let stds = column_std(&latents);
    let mean_var = stds.iter().map(|s| s * s).sum::<f64>() / d as f64;
    let mut open_loop = BTreeMap::new();
    if !starts.is_empty() {
        let b = starts.len();
        let z0: Vec<f32> = starts
            .iter()
            .flat_map(|s| {
                latents
                    .row(*s)
                    .iter()
                    .map(|v| *v as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let z0 = Tensor::<2>::from_data(TensorData::new(z0, [b, d]), device);
        let recorded = &data.actions;
        let true_actions: Vec<f32> = starts
            .iter()
            .flat_map(|s| (0..h_max).flat_map(move |h| recorded[s + h]))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let random_actions: Vec<f32> = (0..b * h_max * 2)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let roll = |actions: Vec<f32>| -> Vec<f32> {
            let a = Tensor::<3>::from_data(TensorData::new(actions, [b, h_max, 2]), device);
            model
                .rollout(z0.clone(), a)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap_or_default()
        };
        let with_true = roll(true_actions);
        let with_random = roll(random_actions);
        for h in 1..=h_max {
            let (mut e_model, mut e_same, mut e_random) = (0.0, 0.0, 0.0);
            for (i, s) in starts.iter().enumerate() {
                let target = latents.row(s + h);
                for c in 0..d {
                    let t = target[c];
                    let p = f64::from(with_true[(i * h_max + h - 1) * d + c]);
                    let r = f64::from(with_random[(i * h_max + h - 1) * d + c]);
                    e_model += (p - t).powi(2);
                    e_same += (latents[(*s, c)] - t).powi(2);
                    e_random += (r - t).powi(2);
                }
            }
            let norm = (b * d) as f64 * mean_var.max(1e-12);
            open_loop.insert(
                h,
                OpenLoopRow {
                    model: e_model / norm,
                    same_latent: e_same / norm,
                    random_actions: e_random / norm,
                },
            );
        }
    }

    // Latent geometry: random pairs within one episode.
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0xabc);
    let (mut latent_d, mut true_d) = (Vec::new(), Vec::new());
    for range in &data.episodes {
        for _ in 0..50 {
            let (i, j) = (
                rng.random_range(range.clone()),
                rng.random_range(range.clone()),
            );
            let dz: f64 = (0..d)
                .map(|c| (latents[(i, c)] - latents[(j, c)]).powi(2))
                .sum::<f64>()
                .sqrt();
            let (a, b) = (data.agent_xy[i], data.agent_xy[j]);
            latent_d.push(dz);
            true_d.push((a[0] - b[0]).hypot(a[1] - b[1]));
        }
    }

    Ok(ProbeReport {
        world: spec.name.clone(),
        episodes: data.episodes.len(),
        frames: n,
        latent_dim: d,
        r2,
        r2_mlp,
        open_loop,
        effective_rank: effective_rank(&latents),
        latent_std_min: stds.iter().copied().fold(f64::INFINITY, f64::min),
        latent_std_mean: stds.iter().sum::<f64>() / d as f64,
        latent_spearman: spearman(&latent_d, &true_d),
    })
}
