//! `kennel train`: learn a JEPA world model from a world's frames (streamed online from the
//! simulator, or from recorded episodes), with progress, `metrics.jsonl`, checkpoints and a
//! loss plot in the run folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent::ReplayBuffer;
use agent::dataset::{Dataset, StreamOptions, stream_transitions};
use agent::model::{
    EpisodeContextConfig, JepaConfig, RegularizerConfig, SigregConfig, VicregConfig,
};
use agent::train::{
    Learner, LearnerConfig, LearnerEvent, TrainConfig, Trainer, check_camera, latest_checkpoint,
};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sim::stream::{StreamConfig, spawn};
use sim::{GoalSpec, SmoothRandomPolicy, VecEnv, WorldSpec};

use crate::plot::{Series, line_plot};
use crate::world_files::load_world;

/// The anti-collapse regulariser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Regularizer {
    /// VICReg variance + covariance with an inverse-dynamics term (navigation's default).
    Vicreg,
    /// SIGReg (LeJEPA): Epps–Pulley test of random projections against a Gaussian.
    Sigreg,
    /// SIGReg with VICReg's inverse-dynamics term at weight 10: keeps both what varies most
    /// between frames (push's block and its orientation) and what the actions move (a small
    /// agent).
    SigregId,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// World file or shipped world name (its learner camera must match the model's input).
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Train for this many minutes (default 10 unless --steps is given).
    #[arg(long, conflicts_with = "steps")]
    minutes: Option<f64>,
    /// Train until this many optimiser steps in total.
    #[arg(long)]
    steps: Option<u64>,
    /// Train on a dataset folder written by `kennel rollout` instead of a live stream (its
    /// shards are streamed: memory holds a few shards and the replay buffer).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run folder: metrics.jsonl, loss.png, checkpoints/.
    #[arg(long, default_value = "runs/train")]
    out: PathBuf,
    /// Continue the run in --out from its latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Inverse-dynamics weight (vicreg) or λ (sigreg, sigreg-id); default 10 or 0.1.
    #[arg(long)]
    reg_weight: Option<f64>,
    /// Inverse-dynamics weight of sigreg-id.
    #[arg(long, default_value_t = SIGREG_ID_WEIGHT)]
    id_weight: f64,
    /// sigreg-id: the inverse-dynamics gradient reaches only the latent's last this-many
    /// dimensions (0: all).
    #[arg(long, default_value_t = SIGREG_ID_DIMS)]
    id_dims: usize,
    /// Latent size.
    #[arg(long, default_value_t = JepaConfig::new().latent_dim())]
    latent: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the weights, the data and every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Simulated environments feeding the stream.
    #[arg(long, default_value_t = 16)]
    envs: usize,
    /// Replay buffer cap in MiB.
    #[arg(long, default_value_t = 384)]
    replay_mb: usize,
    /// Checkpoint every this many steps (and at the end).
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    #[command(flatten)]
    model: ModelArgs,
}

/// What the world model reads and how it learns: the flags `kennel train` and `kennel demo`
/// share.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Anti-collapse regulariser [default: the world's: sigreg for push (sigreg-id with
    /// `--proprio false`), vicreg otherwise].
    #[arg(long, value_enum)]
    pub regularizer: Option<Regularizer>,
    /// Proprioception: the model reads the agent's position beside its frames, as the
    /// latent's last 2 dimensions [default: the world's: true for push, false otherwise].
    #[arg(long)]
    pub proprio: Option<bool>,
    /// Episode-context latent dimensions, trained to stay fixed within an episode so that
    /// they hold what differs between episodes (the door of two_rooms); 0: off.
    #[arg(long, default_value_t = 4)]
    pub context_dims: usize,
    /// Weight each window's prediction loss by (its error / the batch mean)^FOCUS (0: off).
    #[arg(long, default_value_t = 0.0, value_parser = parse_focus)]
    pub window_focus: f64,
    /// k: steps of the learner's rollout loss.
    #[arg(long, default_value_t = JepaConfig::new().rollout_steps)]
    pub rollout_steps: usize,
}

impl ModelArgs {
    /// The model these flags describe for `spec`, with `latent` dimensions and the
    /// regulariser's `weight` (see [`regularizer_config`]); also the proprioception and the
    /// regulariser chosen.
    pub fn config(
        &self,
        spec: &WorldSpec,
        latent: usize,
        weight: Option<f64>,
        id_weight: f64,
        id_dims: usize,
    ) -> (JepaConfig, bool, Regularizer) {
        let (proprio, choice) = learner_choices(spec, self.proprio, self.regularizer);
        let regularizer = regularizer_config(choice, weight, id_weight, id_dims);
        let context = (self.context_dims > 0).then(|| EpisodeContextConfig::new(self.context_dims));
        let model = JepaConfig::new()
            .with_latent(latent)
            .with_proprioception(proprio)
            .with_regularizer(regularizer)
            .with_rollout_steps(self.rollout_steps)
            .with_context(context)
            .with_window_focus((self.window_focus > 0.0).then_some(self.window_focus));
        (model, proprio, choice)
    }
}

fn model_config(args: &TrainArgs, spec: &WorldSpec) -> JepaConfig {
    let weights = (args.reg_weight, args.id_weight, args.id_dims);
    let (model, _, _) = args
        .model
        .config(spec, args.latent, weights.0, weights.1, weights.2);
    model
}

/// sigreg-id's inverse-dynamics weight.
pub const SIGREG_ID_WEIGHT: f64 = 10.0;

/// sigreg-id's inverse-dynamics dimensions.
pub const SIGREG_ID_DIMS: usize = 16;

impl Regularizer {
    /// Its name on the command line.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(|| format!("{self:?}"), |v| v.get_name().to_owned())
    }
}

/// Whether a world's model reads proprioception by default: push's, whose pusher is a few
/// pixels that the pixel losses either drop or keep at the cost of the block's orientation
/// (README, "push: exploration and regulariser"). Navigation's goals are agent positions,
/// which its goal images must show, so its models read pixels only.
pub fn default_proprio(spec: &WorldSpec) -> bool {
    matches!(spec.task.goal, GoalSpec::ObjectPose { .. })
}

/// The regulariser a world learns best with (measured on push after 1,238 steps, readout
/// errors of the pusher's position and the block's yaw: vicreg 4 cm / 85°, sigreg 46 cm / 23°,
/// sigreg-id see README): push's block turns, which VICReg's latent does not keep; with
/// proprioception giving the pusher, SIGReg alone keeps the block.
pub fn default_regularizer(spec: &WorldSpec, proprio: bool) -> Regularizer {
    match spec.task.goal {
        GoalSpec::ObjectPose { .. } if proprio => Regularizer::Sigreg,
        GoalSpec::ObjectPose { .. } => Regularizer::SigregId,
        _ => Regularizer::Vicreg,
    }
}

/// Proprioception and the regulariser: the ones asked for, or the world's defaults.
pub fn learner_choices(
    spec: &WorldSpec,
    proprio: Option<bool>,
    regularizer: Option<Regularizer>,
) -> (bool, Regularizer) {
    let proprio = proprio.unwrap_or_else(|| default_proprio(spec));
    (
        proprio,
        regularizer.unwrap_or_else(|| default_regularizer(spec, proprio)),
    )
}

/// The regulariser's configuration: `choice` with `weight` (the inverse-dynamics weight of
/// vicreg, λ of sigreg and sigreg-id) if given.
pub fn regularizer_config(
    choice: Regularizer,
    weight: Option<f64>,
    id_weight: f64,
    id_dims: usize,
) -> RegularizerConfig {
    match choice {
        Regularizer::Vicreg => {
            let mut vicreg = VicregConfig::new();
            if let Some(w) = weight {
                vicreg.inverse_dynamics_weight = w;
            }
            RegularizerConfig::Vicreg(vicreg)
        }
        choice @ (Regularizer::Sigreg | Regularizer::SigregId) => {
            let mut sigreg = SigregConfig::new();
            if let Some(w) = weight {
                sigreg.weight = w;
            }
            if matches!(choice, Regularizer::SigregId) {
                sigreg.inverse_dynamics_weight = Some(id_weight);
                sigreg.inverse_dynamics_dims = (id_dims > 0).then_some(id_dims);
            }
            RegularizerConfig::Sigreg(sigreg)
        }
    }
}

/// Parses `--window-focus`: a finite number ≥ 0 (0 turns the focus off).
pub(crate) fn parse_focus(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(focus) if focus.is_finite() && focus >= 0.0 => Ok(focus),
        _ => Err(format!(
            "expected a number ≥ 0 (0: every window weighs the same; 1 or 2 focus on the worst-predicted windows), got {text:?}"
        )),
    }
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let spec = load_world(&args.world)?;
    let device = burn::prelude::Device::flex();
    let trainer = if args.resume {
        if latest_checkpoint(&args.out).is_none() {
            bail!(
                "--resume: no checkpoint in {} to continue from; drop --resume to start a new run",
                args.out.display()
            );
        }
        if let Ok(text) = std::fs::read_to_string(args.out.join("run.json"))
            && let Ok(info) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(world) = info["world"].as_str()
            && world != spec.name
        {
            bail!(
                "{} was trained on world `{world}`, not `{}`; pass --world {world} to resume it",
                args.out.display(),
                spec.name
            );
        }
        let trainer = Trainer::load_checkpoint(&args.out, &device)?;
        eprintln!(
            "resuming {} at step {}",
            args.out.display(),
            trainer.step_count()
        );
        trainer
    } else {
        let started = latest_checkpoint(&args.out).is_some()
            || args.out.join("run.json").exists()
            || args.out.join("metrics.jsonl").exists();
        if started {
            bail!(
                "{} already holds a training run; pass --resume to continue it, or choose another --out (nothing was overwritten)",
                args.out.display()
            );
        }
        if args.model.context_dims >= args.latent {
            bail!(
                "--context-dims {} leaves nothing of the {}-dimensional latent for the agent; lower --context-dims (0 turns it off) or raise --latent",
                args.model.context_dims,
                args.latent
            );
        }
        if args.model.context_dims > 0 && !args.batch.is_multiple_of(2) {
            bail!(
                "--batch {} is odd, but the episode context (--context-dims {}) trains on pairs of windows from one episode; pass an even --batch, or --context-dims 0",
                args.batch,
                args.model.context_dims
            );
        }
        let config = TrainConfig::new()
            .with_model(model_config(args, &spec))
            .with_batch_size(args.batch)
            .with_learning_rate(args.lr)
            .with_seed(args.seed);
        Trainer::new(config, &device)?
    };
    check_camera(&spec, trainer.config())?;
    let side = trainer.config().model.encoder.image_size as u32;

    let replay = ReplayBuffer::new(args.replay_mb << 20);
    let stream = match &args.data {
        Some(dir) => {
            let dataset = Dataset::open(dir)?;
            let m = &dataset.manifest;
            if m.world.sha256 != agent::dataset::world_record(&spec).sha256 {
                bail!(
                    "{} holds episodes of world `{}` (as recorded in its manifest), not of --world {}; pass --world {} (or its file)",
                    dir.display(),
                    m.world.name,
                    args.world,
                    m.world.name
                );
            }
            if (m.height, m.width) != (side, side) {
                bail!(
                    "{}: frames are {}×{}, the model reads {side}×{side}",
                    dir.display(),
                    m.width,
                    m.height
                );
            }
            eprintln!(
                "streaming {} episodes ({} transitions in {} shards) from {}",
                m.counts.episodes,
                m.counts.transitions,
                m.shards.len(),
                dir.display()
            );
            let options = StreamOptions {
                seed: args.seed ^ trainer.step_count(),
                capacity: 8,
                passes: None,
            };
            Some(stream_transitions(dataset, options)?)
        }
        None => {
            // One simulator thread: the learner needs the cores more than the renderer does.
            // A resumed run gets fresh episodes: the stream's seed derives from the step.
            let stream_seed =
                sim::SeedSequence::new(args.seed).derive(u64::MAX, trainer.step_count());
            let vec_env = VecEnv::new(spec.clone(), args.envs.max(1), stream_seed, 1)?;
            let policy = SmoothRandomPolicy::for_world(&spec, args.envs.max(1), stream_seed);
            let config = StreamConfig {
                capacity: 8,
                ..StreamConfig::default()
            };
            Some(spawn(vec_env, policy, config)?)
        }
    };
    if let Some(minutes) = args.minutes {
        anyhow::ensure!(
            minutes.is_finite() && minutes > 0.0 && minutes <= 7.0 * 24.0 * 60.0,
            "--minutes must be a positive number of minutes (at most a week), got {minutes}"
        );
    }
    let max_duration = match (args.minutes, args.steps) {
        (Some(m), _) => Some(Duration::from_secs_f64(m.max(0.0) * 60.0)),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(600)),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let run_info = serde_json::json!({
        "world": spec.name,
        "world_spec": serde_json::to_value(&*spec)?,
        "data": args.data,
        "kennel_version": env!("CARGO_PKG_VERSION"),
    });
    std::fs::write(
        args.out.join("run.json"),
        serde_json::to_string_pretty(&run_info)? + "\n",
    )?;
    let learner_config = LearnerConfig {
        run_dir: args.out.clone(),
        max_steps: args.steps,
        max_duration,
        replay_bytes: args.replay_mb << 20,
        checkpoint_every: args.checkpoint_every,
        ..LearnerConfig::default()
    };
    let learner = Learner::spawn(trainer, replay, stream, learner_config)?;
    watch(&learner);
    let summary = learner.join()?;
    let plot = args.out.join("loss.png");
    if let Err(err) = plot_metrics(
        &args.out.join("metrics.jsonl"),
        &plot,
        "kennel train: losses",
    ) {
        // The checkpoint and metrics are written; a missing plot is not worth failing for.
        eprintln!("warning: no loss plot: {err:#}");
    }
    println!(
        "trained {} steps ({} transitions seen, {} rolled back); checkpoint {}; plot {}; metrics {}",
        summary.steps,
        summary.transitions_seen,
        summary.rolled_back,
        summary.checkpoint.display(),
        plot.display(),
        args.out.join("metrics.jsonl").display()
    );
    Ok(())
}

fn watch(learner: &Learner) {
    let bar = ProgressBar::new(1000).with_style(
        ProgressStyle::with_template("{prefix} [{bar:25}] {percent:>3}% {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("train");
    let mut rank = f64::NAN;
    while !learner.is_finished() {
        match learner.events().recv_timeout(Duration::from_millis(250)) {
            Ok(LearnerEvent::Filling { transitions }) => {
                bar.set_message(format!(
                    "filling the replay buffer: {transitions} transitions"
                ));
            }
            Ok(LearnerEvent::Step {
                report,
                samples_per_s,
                progress,
                ..
            }) => {
                bar.set_position((progress * 1000.0) as u64);
                rank = report.effective_rank.unwrap_or(rank);
                let parts: Vec<String> = report
                    .parts
                    .iter()
                    .map(|(name, value)| format!("{name} {value:.3}"))
                    .collect();
                bar.set_message(format!(
                    "step {} loss {:.4} ({}) | std min {:.2}, rank {:.1} | {:.0} frames/s",
                    report.step,
                    report.loss,
                    parts.join(", "),
                    report.latent_std_min,
                    rank,
                    samples_per_s
                ));
            }
            Ok(LearnerEvent::Checkpoint(path)) => {
                bar.println(format!("checkpoint {}", path.display()));
            }
            // `kennel train` sends the learner no controls.
            Ok(LearnerEvent::Loaded(_) | LearnerEvent::ControlFailed(_)) | Err(_) => {}
        }
    }
    bar.finish_and_clear();
}

/// Plots every loss column of `metrics.jsonl` against the step, titled `title`.
pub fn plot_metrics(metrics: &Path, out: &Path, title: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(metrics)
        .with_context(|| format!("cannot read {}", metrics.display()))?;
    let names = [
        "loss",
        "one_step",
        "rollout",
        "variance",
        "covariance",
        "inverse_dynamics",
        "sigreg",
        "context",
    ];
    let mut series: Vec<Series> = names
        .iter()
        .map(|n| Series {
            name: (*n).to_owned(),
            points: Vec::new(),
        })
        .collect();
    for line in text.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(step) = value["step"].as_f64() else {
            continue;
        };
        for s in &mut series {
            if let Some(v) = value[s.name.as_str()].as_f64() {
                s.points.push((step, v));
            }
        }
    }
    series.retain(|s| !s.points.is_empty());
    line_plot(out, title, "step", "loss (log scale)", &series, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_reads_proprioception_with_sigreg_and_navigation_pixels_with_vicreg() {
        for (name, expected) in [
            ("push", (true, Regularizer::Sigreg)),
            ("reach", (false, Regularizer::Vicreg)),
            ("two_rooms", (false, Regularizer::Vicreg)),
        ] {
            let spec = load_world(name).expect("shipped world");
            assert_eq!(learner_choices(&spec, None, None), expected, "{name}");
        }
        let push = load_world("push").expect("push");
        // Without proprioception, push keeps the pusher with sigreg-id.
        let (proprio, choice) = learner_choices(&push, Some(false), None);
        assert_eq!((proprio, choice), (false, Regularizer::SigregId));
        match regularizer_config(choice, None, SIGREG_ID_WEIGHT, SIGREG_ID_DIMS) {
            RegularizerConfig::Sigreg(sigreg) => {
                assert_eq!(sigreg.inverse_dynamics_weight, Some(SIGREG_ID_WEIGHT));
                assert_eq!(sigreg.inverse_dynamics_dims, Some(SIGREG_ID_DIMS));
            }
            other => panic!("push got {other:?}"),
        }
        // An explicit choice wins over the world's, and plain sigreg has no inverse dynamics.
        let (_, choice) = learner_choices(&push, None, Some(Regularizer::Vicreg));
        assert_eq!(choice, Regularizer::Vicreg);
        match regularizer_config(Regularizer::Sigreg, Some(0.2), 10.0, 16) {
            RegularizerConfig::Sigreg(sigreg) => {
                assert_eq!(sigreg.weight, 0.2);
                assert_eq!(sigreg.inverse_dynamics_weight, None);
            }
            other => panic!("sigreg got {other:?}"),
        }
        assert_eq!(Regularizer::SigregId.name(), "sigreg-id");
    }
}
