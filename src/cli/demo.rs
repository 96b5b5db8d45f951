//! `kennel demo`: the closed loop in one process. Simulator threads stream exploration frames
//! to the learner thread, which trains the world model on its replay buffer; once the model
//! has had time to form, the actor (this thread) fits a critic and a hazard guardrail on the
//! latest weight snapshot and plans to goal images in practice episodes while learning goes
//! on, refitting as the snapshots improve. At the end it evaluates with the reference rows and
//! writes a run folder: `report.json`, `loss.png`, `success.png`, `filmstrip.png`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::eval::{EvalPolicy, episode_seeds, record_episode};
use agent::model::{EpisodeContextConfig, JepaConfig, JepaModel};
use agent::plan::{CostModels, LatentEpisodes, collect_exploration};
use agent::train::{Learner, LearnerConfig, LearnerEvent, TrainConfig, Trainer, load_model};
use agent::{Episode, ReplayBuffer};
use anyhow::{Context, bail};
use burn::prelude::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sim::stream::{StreamConfig, spawn};
use sim::{SeedSequence, SmoothRandomPolicy, VecEnv, WorldSpec};

use super::eval::{
    CriticKind, EvalSettings, PlannerArgs, PlannerGraphs, budget_line, cost_models_dir,
    fit_cost_models, learned_policy, run_eval_table,
};
use super::train::{
    Regularizer, SIGREG_ID_DIMS, SIGREG_ID_WEIGHT, check_camera, learner_choices, parse_focus,
    plot_metrics, regularizer_config,
};
use crate::plot::{Series, filmstrip, line_plot};
use crate::world_files::load_world;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Minutes of learning (exploring, then planning while learning); the fit and the final
    /// evaluation come after.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Run folder: report.json, plots, filmstrip, checkpoints/.
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Episodes per policy in the final evaluation (`kennel eval` defaults to 200).
    #[arg(long, default_value_t = 50)]
    eval_episodes: usize,
    /// Fraction of the learning time spent exploring before the actor starts planning.
    #[arg(long, default_value_t = 0.6)]
    explore_fraction: f64,
    /// Seed of the weights, the data, the episodes and every random choice. The final
    /// evaluation runs on master seed SEED + 1000 (`kennel eval --seeds` with that number
    /// replays its episodes; compare runs of different seeds on one master seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Simulated environments feeding the learner.
    #[arg(long, default_value_t = 16)]
    envs: usize,
    /// Only the learned planner in the final evaluation (no reference rows).
    #[arg(long)]
    no_baselines: bool,
    /// Keep the practice episodes out of the replay buffer (the learner then learns from
    /// exploration only).
    #[arg(long)]
    no_practice_learning: bool,
    /// Hard-sequence selection: candidate sequences scored per training sequence (1:
    /// uniform replay). Half of each batch is the worst-predicted of the candidates.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    sequence_pool: u64,
    /// Episode-context latent dimensions: this many latent dimensions are trained to stay
    /// fixed within an episode, so that they hold what differs between episodes (the door of
    /// two_rooms). 0 turns the episode-context loss off.
    #[arg(long, default_value_t = 4)]
    context_dims: usize,
    /// Focus on hard windows (0: off): each training window's prediction loss is weighted by
    /// (its error / the batch's mean error)^FOCUS, so that rare transitions the predictor gets
    /// wrong (door crossings) weigh more.
    #[arg(long, default_value_t = 0.0, value_parser = parse_focus)]
    window_focus: f64,
    /// Anti-collapse regulariser [default: the world's: sigreg for push (sigreg-id with
    /// `--proprio false`), vicreg otherwise].
    #[arg(long, value_enum)]
    regularizer: Option<Regularizer>,
    /// Proprioception: the model reads the agent's position beside its frames [default: the
    /// world's: true for push, false otherwise].
    #[arg(long)]
    proprio: Option<bool>,
    /// k: steps of the learner's rollout loss (the predictor imagines k steps from one
    /// encoded frame during training; the planner imagines a whole horizon).
    #[arg(long, default_value_t = 4)]
    rollout_steps: usize,
    #[command(flatten)]
    planner: PlannerArgs,
}

/// One practice episode of the actor.
#[derive(Clone, Debug, Serialize)]
struct PracticeEpisode {
    /// Minutes since the start of learning when it ended.
    minutes: f64,
    /// The learner step of the weights it planned with.
    weights_step: u64,
    success: bool,
    hazard_entries: u64,
    steps: u64,
    /// Handed to the learner's queue (the run's `learner.episodes_added` says how many
    /// reached the replay buffer before training stopped).
    handed_to_learner: bool,
}

/// The environment id of practice episodes in the replay buffer (the stream's are 0, 1, …).
const PRACTICE_ENV: u32 = u32::MAX;

/// What the actor learned to plan with, and from which weights.
struct ActorModels {
    step: u64,
    model: Arc<JepaModel>,
    cost: CostModels,
    /// The graphs through `cost`'s recorded frames that the planner flags ask for.
    graphs: PlannerGraphs,
    fitted_at: Instant,
}

fn check_args(args: &DemoArgs) -> anyhow::Result<()> {
    if !(args.minutes.is_finite() && args.minutes > 0.0 && args.minutes <= 7.0 * 24.0 * 60.0) {
        bail!(
            "--minutes must be a positive number of minutes (at most a week), got {}",
            args.minutes
        );
    }
    if !(0.0..=1.0).contains(&args.explore_fraction) {
        bail!(
            "--explore-fraction must lie in [0, 1], got {}",
            args.explore_fraction
        );
    }
    if args.eval_episodes == 0 {
        bail!("--eval-episodes must be at least 1");
    }
    if args.sequence_pool > 1 && args.context_dims > 0 {
        bail!(
            "--sequence-pool {} picks sequences one by one, which would split the pairs of windows the episode context (--context-dims {}) learns from; add --context-dims 0 to use it",
            args.sequence_pool,
            args.context_dims
        );
    }
    if args.out.join("report.json").exists()
        || args.out.join("metrics.jsonl").exists()
        || args.out.join("checkpoints").exists()
    {
        bail!(
            "{} already holds a run; choose another --out (nothing was overwritten)",
            args.out.display()
        );
    }
    Ok(())
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    check_args(args)?;
    let spec = load_world(&args.world)?;
    let device = Device::flex();
    let planner = args.planner.planner(&spec)?;
    let (proprio, regularizer_choice) = learner_choices(&spec, args.proprio, args.regularizer);
    let regularizer =
        regularizer_config(regularizer_choice, None, SIGREG_ID_WEIGHT, SIGREG_ID_DIMS);
    let model = JepaConfig::new()
        .with_proprioception(proprio)
        .with_regularizer(regularizer)
        .with_context((args.context_dims > 0).then(|| EpisodeContextConfig::new(args.context_dims)))
        .with_window_focus((args.window_focus > 0.0).then_some(args.window_focus))
        .with_rollout_steps(args.rollout_steps);
    let trainer = Trainer::new(
        TrainConfig::new().with_model(model).with_seed(args.seed),
        &device,
    )?;
    check_camera(&spec, trainer.config())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let run_info = serde_json::json!({
        "command": "demo",
        "world": spec.name,
        "world_spec": serde_json::to_value(&*spec)?,
        "kennel_version": env!("CARGO_PKG_VERSION"),
    });
    std::fs::write(
        args.out.join("run.json"),
        serde_json::to_string_pretty(&run_info)? + "\n",
    )?;

    let envs = args.envs.max(1);
    let stream_seed = SeedSequence::new(args.seed).derive(u64::MAX, 0);
    let vec_env = VecEnv::new(spec.clone(), envs, stream_seed, 1)?;
    let stream = spawn(
        vec_env,
        SmoothRandomPolicy::for_world(&spec, envs, stream_seed),
        StreamConfig {
            capacity: 8,
            ..StreamConfig::default()
        },
    )?;
    let budget = Duration::from_secs_f64(args.minutes * 60.0);
    let learner = Learner::spawn(
        trainer,
        ReplayBuffer::new(384 << 20),
        Some(stream),
        LearnerConfig {
            run_dir: args.out.clone(),
            max_duration: Some(budget),
            sequence_pool: args.sequence_pool as usize,
            ..LearnerConfig::default()
        },
    )?;
    let started = Instant::now();
    eprintln!(
        "demo on {}: {:.1} min of learning ({:.0}% exploring, then planning while learning), then a {}-episode evaluation; run folder {}",
        spec.name,
        args.minutes,
        100.0 * args.explore_fraction,
        args.eval_episodes,
        args.out.display()
    );
    // Exploration episodes for the critic and guardrail: collected once, re-encoded with
    // each new snapshot.
    // (At most 100 episodes: the final fit explores more, keeping only latents.)
    let exploration = collect_exploration(
        &spec,
        args.planner.fit_episodes.clamp(2, 100),
        args.seed ^ 0x00c0_ffee,
    )?;
    let practice = act(
        args,
        &spec,
        &learner,
        &exploration,
        &planner,
        budget,
        started,
        &device,
    )?;
    let summary = learner.join()?;
    let learning_s = started.elapsed().as_secs_f64();

    // The final weights, their critic and guardrail, and the evaluation.
    let (model, _, checkpoint) = load_model(&summary.checkpoint, &device)?;
    let fit_started = Instant::now();
    let cost_models = fit_cost_models(&spec, &model, &args.planner, args.seed, &device)?;
    cost_models
        .save(&cost_models_dir(&checkpoint))
        .map_err(anyhow::Error::msg)?;
    // The encoder everything was fitted on, with the predictor the planner imagines with.
    let model = cost_models.planning_model(&model);
    let fit_s = fit_started.elapsed().as_secs_f64();
    let eval_started = Instant::now();
    let eval_seed = args.seed.wrapping_add(1_000);
    let settings = EvalSettings {
        episodes: args.eval_episodes,
        seeds: vec![eval_seed],
        planner: planner.clone(),
        cost: args.planner.cost(),
        baselines: !args.no_baselines,
        diagnostic_episodes: args.planner.diagnostic_episodes,
    };
    let graphs = PlannerGraphs::build(&cost_models, &args.planner, args.context_dims, &device);
    let table = run_eval_table(&spec, &model, &cost_models, &graphs, &settings, &device)?;
    let eval_s = eval_started.elapsed().as_secs_f64();

    // Pictures: losses, success over time, one planned episode.
    let mut files = Vec::new();
    let loss_png = args.out.join("loss.png");
    match plot_metrics(
        &args.out.join("metrics.jsonl"),
        &loss_png,
        "kennel demo: learner losses",
    ) {
        Ok(()) => files.push(loss_png),
        Err(err) => eprintln!("warning: no loss plot: {err:#}"),
    }
    let success_png = args.out.join("success.png");
    let final_rate = table.row("learned").map_or(0.0, |r| r.success_rate);
    match plot_success(&practice, final_rate, learning_s / 60.0, &success_png) {
        Ok(()) => files.push(success_png),
        Err(err) => eprintln!("warning: no success plot: {err:#}"),
    }
    let strip_png = args.out.join("filmstrip.png");
    let policy = learned_policy(&model, &settings, &cost_models, &graphs);
    let trace = record_episode(&spec, &policy, episode_seeds(&[eval_seed], 1)[0], &device)?;
    let heading = format!("kennel demo · {} · planned episode", spec.name);
    match filmstrip(&strip_png, &trace, 6, &heading) {
        Ok(()) => files.push(strip_png),
        Err(err) => eprintln!("warning: no filmstrip: {err:#}"),
    }

    let mut report = serde_json::json!({
        "world": spec.name,
        "minutes": args.minutes,
        "seed": args.seed,
        "learner": {
            "steps": summary.steps,
            "transitions_seen": summary.transitions_seen,
            "practice_episodes_learned_from": summary.episodes_added,
            "rolled_back": summary.rolled_back,
            "sequence_pool": args.sequence_pool,
            "regularizer": regularizer_choice.name(),
            "proprio": proprio,
            "context_dims": args.context_dims,
            "window_focus": args.window_focus,
            "rollout_steps": args.rollout_steps,
            "checkpoint": checkpoint.display().to_string(),
        },
        "timings_s": { "learning": learning_s, "fit": fit_s, "eval": eval_s },
        "planner": planner,
        "critic": CriticKind::from_quasimetric(cost_models.config.critic.quasimetric).name(),
        "cost_models": cost_models.report,
        "eval_seeds": [eval_seed],
        "eval_episodes": args.eval_episodes,
        "eval": table.to_json(),
        "practice": practice,
        "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
    });
    if let serde_json::Value::Object(object) = &mut report {
        for (key, graph) in graphs.to_json(args.planner.landmark_edge_steps) {
            object.insert(key.into(), graph);
        }
    }
    let report_path = args.out.join("report.json");
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    println!(
        "{} · {} learner steps in {:.1} min · {} practice episodes ({} learned from) · evaluation: {} episodes per policy",
        spec.name,
        summary.steps,
        learning_s / 60.0,
        practice.len(),
        summary.episodes_added,
        args.eval_episodes
    );
    print!("{}", table.render());
    println!("{}", budget_line(&planner));
    println!("report {}", report_path.display());
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// The actor's loop while the learner trains: progress display, then practice episodes with
/// the newest weights (refitting the critic and guardrail when the weights have moved on).
#[allow(clippy::too_many_arguments)]
fn act(
    args: &DemoArgs,
    spec: &Arc<WorldSpec>,
    learner: &Learner,
    exploration: &[agent::plan::LabelledEpisode],
    planner: &agent::plan::PlannerConfig,
    budget: Duration,
    started: Instant,
    device: &Device,
) -> anyhow::Result<Vec<PracticeEpisode>> {
    let bar = ProgressBar::new(1000).with_style(
        ProgressStyle::with_template(
            "{prefix:8} [{bar:25}] {percent:>3}% {elapsed_precise}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix("explore");
    // The actor plans on one core; the learner keeps the rest.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .context("cannot build the actor's thread pool")?;
    let plan_from = budget.mul_f64(args.explore_fraction);
    let practice_seeds = SeedSequence::new(args.seed ^ 0x9ac7);
    let mut practice: Vec<PracticeEpisode> = Vec::new();
    let mut models: Option<ActorModels> = None;
    let mut last_loss = f64::NAN;
    let mut step = 0;
    let refit_every = Duration::from_secs_f64((budget.as_secs_f64() / 5.0).max(20.0));
    while !learner.is_finished() {
        while let Ok(event) = learner.events().try_recv() {
            match event {
                LearnerEvent::Step { report, .. } => {
                    step = report.step;
                    if report.loss.is_finite() {
                        last_loss = report.loss;
                    }
                }
                LearnerEvent::Filling { transitions } => {
                    bar.set_message(format!("filling the replay buffer: {transitions}"));
                }
                LearnerEvent::Checkpoint(_) => {}
            }
        }
        let elapsed = started.elapsed();
        bar.set_position(
            (1000.0 * elapsed.as_secs_f64() / budget.as_secs_f64()).min(1000.0) as u64,
        );
        let recent: Vec<&PracticeEpisode> = practice.iter().rev().take(20).collect();
        let rate = if recent.is_empty() {
            "–".to_owned()
        } else {
            format!(
                "{:.0}% of the last {}",
                100.0 * recent.iter().filter(|p| p.success).count() as f64 / recent.len() as f64,
                recent.len()
            )
        };
        bar.set_message(format!(
            "step {step} loss {last_loss:.4} | practice episodes {} | success {rate}",
            practice.len()
        ));
        if elapsed < plan_from || elapsed >= budget {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        bar.set_prefix("plan");
        let Some((weights_step, latest)) = learner.weights().latest() else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let stale = models
            .as_ref()
            .is_none_or(|m| m.step != weights_step && m.fitted_at.elapsed() >= refit_every);
        if stale {
            bar.set_message(format!(
                "step {step} | fitting the critic and guardrail on the step-{weights_step} weights"
            ));
            // A shorter fit than the final one: practice refits several times.
            // Practice plans with the learner's predictor: the refit is for the final model.
            let config = args
                .planner
                .cost_models_config(
                    spec,
                    latest.encoder.latent_dim(),
                    latest.encoder.proprio_dims(),
                    args.seed,
                    1500,
                )
                .with_predictor(None);
            // The pose dynamics do not depend on the weights: fitted once, then kept.
            let kept_dynamics = models.as_mut().and_then(|m| m.cost.pose_dynamics.take());
            // A quarter of the final fit's steps: practice episodes need not be its best.
            let dynamics = config
                .pose_dynamics
                .clone()
                .filter(|_| kept_dynamics.is_none());
            let config = config
                .with_pose_dynamics(dynamics.map(|fit| fit.clone().with_steps(fit.steps / 4)));
            let mut cost = pool.install(|| {
                let data = LatentEpisodes::encode(&latest, exploration, device);
                CostModels::fit(&data, config, device, &mut |_| {})
            });
            if kept_dynamics.is_some() {
                cost.pose_dynamics = kept_dynamics;
            }
            let graphs = pool
                .install(|| PlannerGraphs::build(&cost, &args.planner, args.context_dims, device));
            models = Some(ActorModels {
                step: weights_step,
                model: latest,
                cost,
                graphs,
                fitted_at: Instant::now(),
            });
            continue;
        }
        let Some(actor) = models.as_ref() else {
            continue;
        };
        let policy = EvalPolicy::Learned {
            model: &actor.model,
            planner: planner.clone(),
            cost: args.planner.cost(),
            critic: Some(&actor.cost.critic),
            guardrail: actor.cost.guardrail.as_ref(),
            landmarks: actor.graphs.landmarks.as_ref(),
            replay: actor.graphs.replay.as_ref(),
            pose_readout: actor.cost.pose_readout.as_ref(),
            pose_dynamics: actor.cost.pose_dynamics.as_ref(),
        };
        let seed = practice_seeds.episode_seed(0, practice.len() as u64);
        let trace = pool.install(|| record_episode(spec, &policy, seed, device))?;
        let (success, hazard_entries, steps) = (
            trace.success,
            trace.hazard_entries,
            trace.actions.len() as u64,
        );
        // What the actor did is data too: goal-directed episodes cross doors and press
        // against walls far more often than the random exploration does.
        let handed_to_learner = !args.no_practice_learning
            && learner.add_episode(Episode {
                env_id: PRACTICE_ENV,
                seed,
                frames: trace.frames,
                actions: trace.actions,
                states: trace.states,
                finished: true,
            });
        practice.push(PracticeEpisode {
            minutes: started.elapsed().as_secs_f64() / 60.0,
            weights_step: actor.step,
            success,
            hazard_entries,
            steps,
            handed_to_learner,
        });
    }
    bar.finish_and_clear();
    Ok(practice)
}

/// Success over time: the practice episodes' rolling rate (last 10) and the final
/// evaluation's rate.
fn plot_success(
    practice: &[PracticeEpisode],
    final_rate: f64,
    end_minutes: f64,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let rolling: Vec<(f64, f64)> = practice
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let window = &practice[i.saturating_sub(9)..=i];
            let rate = window.iter().filter(|w| w.success).count() as f64 / window.len() as f64;
            (p.minutes, 100.0 * rate)
        })
        .collect();
    let series = vec![
        Series {
            name: "practice episodes (last 10)".to_owned(),
            points: rolling,
        },
        Series {
            name: "final evaluation".to_owned(),
            points: vec![
                (end_minutes * 0.98, 100.0 * final_rate),
                (end_minutes, 100.0 * final_rate),
            ],
        },
    ];
    line_plot(
        out,
        "kennel demo: success over time",
        "minutes of learning",
        "success (%)",
        &series,
        false,
    )
}
