//! `kennel eval`: the evaluation protocol on a trained checkpoint, with the reference rows
//! (random actions, the oracle planner in the true simulator, the learned planner without
//! its critic and without its guardrail) on the same episodes. The machinery here is shared
//! with `kennel demo`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::eval::{
    EvalPolicy, EvalReport, PlanDiagnostic, Routing, cost_diagnostic, episode_seeds, evaluate,
    plan_diagnostic,
};
use agent::model::JepaModel;
use agent::plan::{
    CemConfig, CostModels, CostModelsConfig, GoalCostConfig, LandmarkGraph, LatentEpisodes,
    MppiConfig, POSE_DYNAMICS_ROLLOUT, PlanMethod, PlannerConfig, PoseDynamicsReport,
    PredictorFitConfig, ReplayGraph, ReplayGraphConfig,
};
use agent::train::load_model;
use anyhow::{Context, bail};
use burn::prelude::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sim::{GoalSpec, WorldSpec};

use crate::world_files::load_world;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// A checkpoint folder, a file in one, or a run folder (its latest checkpoint).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Episodes per policy.
    #[arg(long, default_value_t = 200)]
    episodes: usize,
    /// Master seeds, comma-separated; the episodes are spread evenly over them.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Only the learned planner (skip the random, oracle, no-critic and no-guardrail rows).
    #[arg(long)]
    no_baselines: bool,
    /// Also draw the learned planner's first four episodes as filmstrips into this folder.
    #[arg(long)]
    filmstrips: Option<PathBuf>,
    /// Also say whose fault the learned planner's wrong choices are, over its first this many
    /// episodes: every tenth decision, its candidate plans are ranked by its cost of what the
    /// predictor imagines, by the same cost of their real outcomes (rendered and encoded) and
    /// by their true cost (see `agent::eval::PlanDiagnostic`). About 1 s per decision
    /// examined. 0: off.
    #[arg(long, default_value_t = 0)]
    plan_diagnostic: usize,
    #[command(flatten)]
    planner: PlannerArgs,
}

/// The learned planner's budget.
#[derive(Clone, Debug, Args)]
pub struct PlannerArgs {
    /// Candidate sequences per iteration (CEM or MPPI).
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    /// Iterations per decision (CEM or MPPI).
    #[arg(long, default_value_t = 3)]
    pub iterations: usize,
    /// The optimiser over action sequences.
    #[arg(long, value_enum, default_value_t = Method::Cem)]
    pub method: Method,
    /// Decisions per imagined plan. 10 planned to 62% where 6 planned to 52% on a 10-minute
    /// reach model, at the same decision time; with the search through the recorded
    /// exploration, 15 planned to 69.5% where 10 planned to 61.5% on a two_rooms demo model
    /// (200 episodes), and to 64/76/50% against 52/70/50% on three models (50 episodes).
    #[arg(long, default_value_t = 15)]
    pub horizon: usize,
    /// Wall-clock deadline per decision in milliseconds (anytime: the best plan so far when
    /// it runs out); 0 for none.
    #[arg(long, default_value_t = 20.0)]
    pub deadline_ms: f64,
    /// Exploration episodes to fit the critic and guardrail on, when the checkpoint has none
    /// (coverage matters: on a 10-minute reach model, 80 episodes planned to 54%, 300 to 72%,
    /// 800 to 92%).
    #[arg(long, default_value_t = 800)]
    pub fit_episodes: usize,
    /// Weight of the critic's estimate summed over the imagined steps (the last step also
    /// weighs 1).
    #[arg(long, default_value_t = 0.1)]
    pub critic_step_weight: f32,
    /// Optimiser steps of the critic when it is fitted.
    #[arg(long, default_value_t = 10_000)]
    pub critic_steps: usize,
    /// The critic fitted when the checkpoint has none: a quasimetric of shortest paths
    /// through the recorded steps, or a regression of hindsight times. On two_rooms models
    /// learned with the episode context (`--context-dims 4`), 58% and 40% against 24% and
    /// 34% (50 episodes each); on one without it, both 46%.
    #[arg(long, value_enum, default_value_t = CriticKind::Quasimetric)]
    pub critic: CriticKind,
    /// Held-out episodes of the cost diagnostic (four start/goal pairs each). 400 rather than
    /// 50: on one two_rooms critic, two sets of 50 episodes gave ρ 0.35 and 0.62, two sets of
    /// 400 gave 0.54 and 0.59 (about 11 s per diagnostic on one core).
    #[arg(long, default_value_t = 400)]
    pub diagnostic_episodes: usize,
    /// Graph search on the replay buffer: the quasimetric critic's estimate at the last
    /// imagined step goes through landmarks (1,000 exploration frames saved with the critic)
    /// joined where the critic says they are at most this many steps apart (4 is a good
    /// value). 0, the default: the critic's straight estimate. On four two_rooms models (50
    /// episodes each, same critics) 4 steps planned to 68%, 44%, 48%, 56% against 54%, 30%,
    /// 44%, 58% without, but over 200 episodes on a fifth to 47.0% against 46.5%.
    #[arg(long, default_value_t = 0.0, value_parser = parse_edge_steps)]
    pub landmark_edge_steps: f32,
    /// Search through the recorded exploration: the last imagined step's distance to the goal
    /// becomes the shortest path through the exploration episodes saved with the critic
    /// (every second frame) whose episode context is nearest the goal's, their frames joined
    /// in time and where their latents nearly coincide; this many episodes per goal. On two
    /// two_rooms models (same critics, 50 episodes) it took the cost ρ from 0.75 and 0.81 to
    /// 0.94 and success from 40% and 54% to 50% and 70%. 0: the critic's straight estimate.
    /// Takes precedence over --landmark-edge-steps.
    #[arg(long, default_value_t = 40)]
    pub replay_graph_episodes: usize,
    /// Refit the predictor the planner imagines with on the frozen encoder's latents of the
    /// critic's exploration, for this many steps of rollouts as long as `--horizon`, when the
    /// cost models are fitted (about 4 minutes on one core at the defaults). The learner's
    /// predictor gets ~1,000 steps of 4-step rollouts in a 10-minute demo, the encoder taking
    /// most of each. On one two_rooms model (50 episodes): 52% with the learner's predictor,
    /// 88% refitted with 15-step rollouts, 76% with 8-step ones; on another (200 episodes),
    /// 63% and 98%. 0: plan with the learner's predictor.
    #[arg(long, default_value_t = 3000)]
    pub predictor_fit_steps: usize,
    /// Push: optimiser steps of the pose dynamics the planner imagines push in (the pose
    /// readout's poses of the current frame, moved by a small network of one step's change of
    /// pose, fitted on the exploration's poses) instead of the predictor's latents. 0: imagine
    /// with the predictor. README, push, has the figures.
    #[arg(long, default_value_t = 30_000)]
    pub pose_dynamics_steps: usize,
}

/// Parses `--landmark-edge-steps`: a finite number of steps ≥ 0.
fn parse_edge_steps(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(steps) if steps.is_finite() && steps >= 0.0 => Ok(steps),
        _ => Err(format!(
            "expected a number of steps ≥ 0 (0: no landmark graph; 4 joins landmarks up to 4 steps apart), got {text:?}"
        )),
    }
}

/// How the critic learns steps-to-goal, as a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CriticKind {
    /// Distances between learned embeddings, every recorded step about one step long
    /// (quasimetric RL): shortest paths through what was seen.
    Quasimetric,
    /// Regression of the time between two frames of one walk (random-walk times).
    Hindsight,
}

impl CriticKind {
    pub fn from_quasimetric(quasimetric: bool) -> Self {
        if quasimetric {
            Self::Quasimetric
        } else {
            Self::Hindsight
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Quasimetric => "quasimetric",
            Self::Hindsight => "hindsight",
        }
    }
}

/// The planner's optimiser, as a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Cross-entropy method: refit a Gaussian to the best tenth of the samples.
    Cem,
    /// Model-predictive path integral: move the mean to the cost-weighted average.
    Mppi,
}

impl PlannerArgs {
    /// How the critic and guardrail are fitted for `spec` and latents of `latent_dim` whose
    /// last `proprio_dims` are proprioception.
    pub fn cost_models_config(
        &self,
        spec: &WorldSpec,
        latent_dim: usize,
        proprio_dims: usize,
        seed: u64,
        critic_steps: usize,
    ) -> CostModelsConfig {
        let config = CostModelsConfig::for_world(spec, latent_dim, proprio_dims)
            .with_seed(seed)
            .with_critic_steps(critic_steps);
        let critic = config
            .critic
            .clone()
            .with_quasimetric(self.critic == CriticKind::Quasimetric);
        let predictor = (self.predictor_fit_steps > 0).then(|| {
            PredictorFitConfig::new()
                .with_steps(self.predictor_fit_steps)
                .with_rollout_steps(self.horizon)
                .with_seed(seed)
        });
        let pose_dynamics = config.pose_dynamics.clone().and_then(|fit| {
            (self.pose_dynamics_steps > 0)
                .then(|| fit.with_steps(self.pose_dynamics_steps).with_seed(seed))
        });
        config
            .with_critic(critic)
            .with_predictor(predictor)
            .with_pose_dynamics(pose_dynamics)
    }

    /// The planner's cost weights.
    pub fn cost(&self) -> GoalCostConfig {
        GoalCostConfig {
            critic_step_weight: self.critic_step_weight,
            ..GoalCostConfig::default()
        }
    }

    /// The learned planner's configuration for `spec`.
    pub fn planner(&self, spec: &WorldSpec) -> anyhow::Result<PlannerConfig> {
        if self.samples < 2 || self.iterations == 0 || self.horizon == 0 {
            bail!(
                "--samples must be at least 2 and --iterations and --horizon at least 1 (got {}, {}, {})",
                self.samples,
                self.iterations,
                self.horizon
            );
        }
        if !(self.deadline_ms.is_finite() && self.deadline_ms >= 0.0) {
            bail!(
                "--deadline-ms must be 0 (none) or a positive number of milliseconds, got {}",
                self.deadline_ms
            );
        }
        Ok(PlannerConfig {
            horizon: self.horizon,
            action_dim: 2,
            action_low: spec.agent.action_low.to_vec(),
            action_high: spec.agent.action_high.to_vec(),
            method: match self.method {
                Method::Cem => PlanMethod::Cem(CemConfig {
                    samples: self.samples,
                    elites: (self.samples / 10).max(4),
                    iterations: self.iterations,
                    ..CemConfig::default()
                }),
                Method::Mppi => PlanMethod::Mppi(MppiConfig {
                    samples: self.samples,
                    iterations: self.iterations,
                    ..MppiConfig::default()
                }),
            },
            deadline: (self.deadline_ms > 0.0)
                .then(|| Duration::from_secs_f64(self.deadline_ms / 1e3)),
            seed: 0,
        })
    }
}

/// The oracle: the same CEM in the true simulator with the true shortest-path cost; a small
/// budget suffices because its cost is exact. Push looks 10 decisions ahead (a push must first
/// walk round the block) with a cost that draws the pusher behind the block: 8 of the first 10
/// episodes from seed 1000, against 3 of 10 with horizon 6 and the pose error alone.
fn oracle_planner(spec: &WorldSpec) -> PlannerConfig {
    let pushes = matches!(spec.task.goal, GoalSpec::ObjectPose { .. });
    PlannerConfig {
        horizon: if pushes { 10 } else { 6 },
        action_dim: 2,
        action_low: spec.agent.action_low.to_vec(),
        action_high: spec.agent.action_high.to_vec(),
        method: PlanMethod::Cem(CemConfig {
            samples: 48,
            elites: 8,
            iterations: 2,
            ..CemConfig::default()
        }),
        deadline: None,
        seed: 0,
    }
}

/// The folder of a checkpoint's fitted cost models.
pub fn cost_models_dir(checkpoint_dir: &Path) -> PathBuf {
    checkpoint_dir.join("cost_models")
}

/// Loads the checkpoint's critic and guardrail, or fits them on fresh exploration episodes
/// and saves them beside the weights.
pub fn ensure_cost_models(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    checkpoint_dir: &Path,
    args: &PlannerArgs,
    seed: u64,
    device: &Device,
) -> anyhow::Result<CostModels> {
    let dir = cost_models_dir(checkpoint_dir);
    if let Some(mut models) = CostModels::load(&dir, device).map_err(anyhow::Error::msg)? {
        let saved = CriticKind::from_quasimetric(models.config.critic.quasimetric);
        if saved != args.critic {
            bail!(
                "{} holds a {} critic but a {} one was asked for; pass --critic {} to use it, or delete that folder to fit a {} one",
                dir.display(),
                saved.name(),
                args.critic.name(),
                saved.name(),
                args.critic.name()
            );
        }
        // Saved models win over --fit-episodes/--critic-steps: say so, and how to refit.
        eprintln!(
            "using the {} critic and guardrail saved in {} ({} episodes, {} critic steps); delete that folder to fit them again with other settings",
            saved.name(),
            dir.display(),
            models.report.episodes,
            models.config.critic_steps
        );
        if args.replay_graph_episodes > 0 && models.replay.is_none() {
            eprintln!(
                "warning: {} holds no recorded exploration (fitted before it was kept), so the planner uses the critic's straight estimate; delete that folder to fit it again with it, or pass --replay-graph-episodes 0 to silence this",
                dir.display()
            );
        }
        if args.predictor_fit_steps == 0 {
            // Asked for the learner's predictor: plan with it even if a refit is saved.
            models.predictor = None;
        } else if models.predictor.is_none() {
            eprintln!(
                "warning: {} holds no refitted predictor (fitted before it existed, or with --predictor-fit-steps 0), so the planner imagines with the learner's predictor; delete that folder to fit again with it, or pass --predictor-fit-steps 0 to silence this",
                dir.display()
            );
        }
        let pushes = matches!(spec.task.goal, GoalSpec::ObjectPose { .. });
        if pushes && models.pose_readout.is_none() {
            eprintln!(
                "warning: {} holds no pose readout (fitted before it existed), so the planner costs push with the critic; delete that folder to fit again with it",
                dir.display()
            );
        }
        if args.pose_dynamics_steps == 0 {
            // Asked for the predictor: imagine push with it even if pose dynamics are saved.
            models.pose_dynamics = None;
        } else if pushes && models.pose_readout.is_some() && models.pose_dynamics.is_none() {
            eprintln!(
                "warning: {} holds no pose dynamics (fitted before they existed, or with --pose-dynamics-steps 0), so the planner imagines push with the predictor; delete that folder to fit again with them, or pass --pose-dynamics-steps 0 to silence this",
                dir.display()
            );
        }
        if args.landmark_edge_steps > 0.0 && models.landmarks.is_none() {
            eprintln!(
                "warning: {} holds no landmarks (fitted before they existed), so the planner uses the critic's straight estimate; delete that folder to fit them with landmarks, or pass --landmark-edge-steps 0 to silence this",
                dir.display()
            );
        }
        return Ok(models);
    }
    let models = fit_cost_models(spec, model, args, seed, device)?;
    models.save(&dir).map_err(anyhow::Error::msg)?;
    eprintln!("saved the critic and guardrail in {}", dir.display());
    Ok(models)
}

/// Fits a critic and guardrail for `model` on `episodes` fresh exploration episodes, with a
/// progress bar.
pub fn fit_cost_models(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    args: &PlannerArgs,
    seed: u64,
    device: &Device,
) -> anyhow::Result<CostModels> {
    let episodes = args.fit_episodes;
    if episodes < 2 {
        bail!("fitting the critic needs at least 2 exploration episodes, got {episodes}");
    }
    let bar = ProgressBar::new(1000).with_style(bar_style());
    bar.set_prefix("critic");
    bar.set_message(format!("exploring and encoding {episodes} episodes"));
    // Seeds apart from evaluation (stream 0) and the diagnostic (stream 7).
    let exploration = LatentEpisodes::explore(
        spec,
        model,
        episodes,
        seed ^ 0x00c0_ffee,
        device,
        &mut |f| bar.set_position((f * 500.0) as u64),
    )?;
    bar.set_message(format!(
        "fitting the critic and guardrail on {} frames",
        exploration.frames()
    ));
    let config = args.cost_models_config(
        spec,
        model.encoder.latent_dim(),
        model.encoder.proprio_dims(),
        seed,
        args.critic_steps,
    );
    let mut models = CostModels::fit(&exploration, config, device, &mut |f| {
        bar.set_position(500 + (f * 150.0) as u64);
    });
    if let Some(predictor) = models.config.predictor.clone() {
        bar.set_message(format!(
            "refitting the predictor ({} steps of {}-step rollouts)",
            predictor.steps, predictor.rollout_steps
        ));
        let refit = models.refit_predictor(&model.predictor, &exploration, device, &mut |f| {
            bar.set_position(650 + (f * 350.0) as u64);
        });
        if let Err(err) = refit {
            // The critic and guardrail are good: keep them, and plan with the learner's
            // predictor rather than lose the run's fit.
            bar.suspend(|| {
                eprintln!("warning: {err}; the planner imagines with the learner's predictor");
            });
        }
    }
    bar.finish_and_clear();
    let r = &models.report;
    eprintln!(
        "fitted the critic (loss {:.4}) and {} on {} frames of {} episodes ({} in hazards); fitting took {:.0} s",
        r.critic_loss,
        match r.guardrail_balanced_accuracy {
            Some(a) => format!("the guardrail (balanced accuracy {a:.3})"),
            None => "no guardrail (no hazard frames)".to_owned(),
        },
        r.frames,
        r.episodes,
        r.hazard_frames,
        r.seconds
    );
    if let Some(p) = &r.predictor {
        let last = |errors: &[f64]| errors.last().copied().unwrap_or(f64::NAN);
        eprintln!(
            "refitted the predictor in {:.0} s: held-out {}-step rollout error {:.4} -> {:.4} (the learner's -> the refit)",
            p.seconds,
            p.rollout_steps,
            last(&p.held_out_error_before),
            last(&p.held_out_error_after)
        );
        if let (Some(b), Some(a)) = (&p.held_out_poses_before, &p.held_out_poses_after) {
            eprintln!(
                "poses read off the predictor's {}-step rollouts (median held-out errors, the learner's -> the refit): pusher {:.3} -> {:.3} m, object {:.3} -> {:.3} m and {:.1} -> {:.1}° ({} windows where it moves: {:.3} -> {:.3} m, {:.1} -> {:.1}°; {} where the pusher is held back: {:.3} -> {:.3} m)",
                p.rollout_steps,
                b.agent_m,
                a.agent_m,
                b.object_m,
                a.object_m,
                b.yaw_deg,
                a.yaw_deg,
                a.moving_windows,
                b.moving_object_m,
                a.moving_object_m,
                b.moving_yaw_deg,
                a.moving_yaw_deg,
                a.held_back_windows,
                b.held_back_agent_m,
                a.held_back_agent_m
            );
        }
    }
    if let Some(p) = &r.pose_readout {
        eprintln!(
            "fitted the pose readout the planner costs push with: median held-out error {:.3} m (pusher{}), {:.3} m and {:.1}° (object) over {} frames",
            p.agent_error_m,
            if models.config.pose_readout_proprio == Some(true) {
                ", read from proprioception"
            } else {
                ""
            },
            p.object_error_m,
            p.yaw_error_deg,
            p.held_out_frames
        );
    }
    if let Some(d) = &r.pose_dynamics {
        eprintln!("{}", pose_dynamics_line(d));
    }
    Ok(models)
}

/// What the fitted pose dynamics imagine of held-out exploration.
pub fn pose_dynamics_line(d: &PoseDynamicsReport) -> String {
    format!(
        "fitted the pose dynamics the planner imagines push in ({} steps on {} transitions): median held-out {}-step errors: pusher {:.3} m, object {:.3} m and {:.1}°; {} windows where the object moves: {:.3} m and {:.1}° (leaving it still: {:.3} m)",
        d.steps,
        d.transitions,
        POSE_DYNAMICS_ROLLOUT,
        d.agent_m,
        d.object_m,
        d.yaw_deg,
        d.moving_windows,
        d.moving_object_m,
        d.moving_yaw_deg,
        d.moving_object_if_still_m
    )
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:25}] {pos}/{len} {elapsed_precise}  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Which rows to run and how.
pub struct EvalSettings {
    /// Episodes per row.
    pub episodes: usize,
    /// Master seeds of the episodes.
    pub seeds: Vec<u64>,
    /// The learned planner.
    pub planner: PlannerConfig,
    /// Its cost weights.
    pub cost: GoalCostConfig,
    /// Also the random, oracle, no-critic and no-guardrail rows.
    pub baselines: bool,
    /// Held-out episodes of the cost diagnostic.
    pub diagnostic_episodes: usize,
}

/// The `learned` row's policy: `model` with `cost_models`' critic and guardrail, routed
/// through `graphs` when they hold one.
pub fn learned_policy<'a>(
    model: &'a JepaModel,
    settings: &EvalSettings,
    cost_models: &'a CostModels,
    graphs: &'a PlannerGraphs,
) -> EvalPolicy<'a> {
    EvalPolicy::Learned {
        model,
        planner: settings.planner.clone(),
        cost: settings.cost.clone(),
        critic: Some(&cost_models.critic),
        guardrail: cost_models.guardrail.as_ref(),
        landmarks: graphs.landmarks.as_ref(),
        replay: graphs.replay.as_ref(),
        pose_readout: cost_models.pose_readout.as_ref(),
        pose_dynamics: cost_models.pose_dynamics.as_ref(),
    }
}

/// The graphs the planner's last-step estimate can be routed through (none by default).
#[derive(Default)]
pub struct PlannerGraphs {
    /// The critic's landmark graph (`--landmark-edge-steps`).
    pub landmarks: Option<LandmarkGraph>,
    /// The recorded exploration (`--replay-graph-episodes`); it takes precedence.
    pub replay: Option<ReplayGraph>,
}

impl PlannerGraphs {
    /// The graphs `planner` asks for, from `cost_models` (a model whose latents hold
    /// `context_dims` episode-context dimensions). Missing data leaves a graph out.
    pub fn build(
        cost_models: &CostModels,
        planner: &PlannerArgs,
        context_dims: usize,
        device: &Device,
    ) -> Self {
        let edge_steps = planner.landmark_edge_steps;
        let landmarks = (edge_steps > 0.0)
            .then_some(cost_models.landmarks.as_ref())
            .flatten()
            .and_then(|set| LandmarkGraph::build(set, &cost_models.critic, edge_steps, device));
        let replay = (planner.replay_graph_episodes > 0)
            .then(|| cost_models.replay.clone())
            .flatten()
            .and_then(|frames| {
                let config = ReplayGraphConfig::new()
                    .with_episodes(planner.replay_graph_episodes)
                    .with_context_dims(context_dims);
                ReplayGraph::new(frames, config)
            });
        Self { landmarks, replay }
    }

    /// What the graphs hold, for reports: `landmark_graph` and `replay_graph` (`null` when
    /// not used).
    pub fn to_json(&self, edge_steps: f32) -> [(&'static str, serde_json::Value); 2] {
        let landmarks = self
            .landmarks
            .as_ref()
            .map_or(serde_json::Value::Null, |graph| {
                serde_json::json!({
                    "landmarks": graph.len(),
                    "edge_steps": edge_steps,
                    "edges": graph.edges(),
                })
            });
        let replay = self
            .replay
            .as_ref()
            .map_or(serde_json::Value::Null, |graph| {
                let config = graph.config();
                serde_json::json!({
                    "frames": graph.len(),
                    "episodes_per_goal": config.episodes,
                    "context_dims": config.context_dims,
                    "link_steps": config.link_steps,
                    "hop_steps": config.hop_steps,
                    "step_latent_distance": graph.step(),
                })
            });
        [("landmark_graph", landmarks), ("replay_graph", replay)]
    }
}

/// Named rows of one evaluation, the learned planner first.
#[derive(Clone, Debug, Serialize)]
pub struct EvalTable {
    /// `(name, report)`.
    pub rows: Vec<(String, EvalReport)>,
}

impl EvalTable {
    /// The row called `name`.
    pub fn row(&self, name: &str) -> Option<&EvalReport> {
        self.rows.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// One JSON object: the learned row's keys at the top, each other row as an object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        for (i, (name, report)) in self.rows.iter().enumerate() {
            let value = serde_json::to_value(report).unwrap_or_default();
            if i == 0 {
                if let serde_json::Value::Object(fields) = value {
                    object.extend(fields);
                }
            } else {
                object.insert(name.clone(), value);
            }
        }
        serde_json::Value::Object(object)
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<13} {:>8} {:>15} {:>7} {:>8} {:>17} {:>7}\n",
            "policy", "success", "95% CI", "steps", "hazards", "plan ms p50/p99", "cost ρ"
        );
        for (name, r) in &self.rows {
            out += &format!(
                "{:<13} {:>7.1}% {:>15} {:>7} {:>8} {:>17} {:>7}\n",
                name,
                100.0 * r.success_rate,
                format!(
                    "[{:.1}, {:.1}]",
                    100.0 * r.success_ci95[0],
                    100.0 * r.success_ci95[1]
                ),
                if r.mean_steps_to_success.is_finite() {
                    format!("{:.1}", r.mean_steps_to_success)
                } else {
                    "–".to_owned()
                },
                r.hazard_entries,
                if r.plan_ms_p99 > 0.0 {
                    format!("{:.1} / {:.1}", r.plan_ms_p50, r.plan_ms_p99)
                } else {
                    "–".to_owned()
                },
                r.cost_spearman
                    .map_or("–".to_owned(), |s| format!("{s:.3}"))
            );
        }
        out
    }
}

/// Runs the rows on two worker threads, each planning on one core (a one-thread pool), so
/// the planning latency is the one-core figure; the cost diagnostic fills `cost_spearman`.
pub fn run_eval_table(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    cost_models: &CostModels,
    graphs: &PlannerGraphs,
    settings: &EvalSettings,
    device: &Device,
) -> anyhow::Result<EvalTable> {
    if settings.episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    let seeds = episode_seeds(&settings.seeds, settings.episodes);
    let critic = Some(&cost_models.critic);
    let guardrail = cost_models.guardrail.as_ref();
    let cost = settings.cost.clone();
    let (landmarks, replay) = (graphs.landmarks.as_ref(), graphs.replay.as_ref());
    let learned = |critic, guardrail, routed: bool| EvalPolicy::Learned {
        model,
        planner: settings.planner.clone(),
        cost: cost.clone(),
        critic,
        guardrail,
        landmarks: landmarks.filter(|_| routed),
        replay: replay.filter(|_| routed),
        // The pose readout stands in for the critic (push), so the no-critic row goes without.
        pose_readout: cost_models.pose_readout.as_ref().filter(|_| routed),
        pose_dynamics: cost_models.pose_dynamics.as_ref().filter(|_| routed),
    };
    let mut jobs: Vec<(&str, EvalPolicy<'_>)> = vec![("learned", learned(critic, guardrail, true))];
    if settings.baselines {
        jobs.push(("no_critic", learned(None, guardrail, false)));
        jobs.push(("no_guardrail", learned(critic, None, true)));
        jobs.push(("random", EvalPolicy::Random));
        jobs.push(("oracle", EvalPolicy::Oracle(oracle_planner(spec))));
    }
    let bar = ProgressBar::new((jobs.len() * seeds.len()) as u64).with_style(bar_style());
    bar.set_prefix("eval");
    bar.set_message(format!(
        "{} policies × {} episodes of {}",
        jobs.len(),
        seeds.len(),
        spec.name
    ));
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(1)
                        .build()
                        .context("cannot build a one-thread pool")?;
                    loop {
                        let job = queue.lock().ok().and_then(|mut q| q.pop());
                        let Some((index, (name, policy))) = job else {
                            return Ok(());
                        };
                        let report = pool.install(|| {
                            evaluate(spec, &policy, &seeds, device, &mut |_, _| bar.inc(1))
                        })?;
                        if let Ok(mut r) = results.lock() {
                            r.push((index, name.to_owned(), report));
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("an evaluation thread panicked"))??;
        }
        Ok(())
    })?;
    bar.set_message("cost diagnostic");
    let with_critic = cost_diagnostic(
        spec,
        model,
        Some(&cost_models.critic),
        cost_models.pose_readout.as_ref(),
        Routing { landmarks, replay },
        settings.diagnostic_episodes,
        settings.seeds.first().copied().unwrap_or(0),
        device,
    )?;
    let without = if settings.baselines {
        Some(cost_diagnostic(
            spec,
            model,
            None,
            None,
            Routing::default(),
            settings.diagnostic_episodes,
            settings.seeds.first().copied().unwrap_or(0),
            device,
        )?)
    } else {
        None
    };
    bar.finish_and_clear();
    let mut rows = results.into_inner().unwrap_or_default();
    rows.sort_by_key(|(index, _, _)| *index);
    let rows = rows
        .into_iter()
        .map(|(_, name, mut report)| {
            match name.as_str() {
                "learned" | "no_guardrail" => report.cost_spearman = Some(with_critic),
                "no_critic" => report.cost_spearman = without,
                _ => {}
            }
            (name, report)
        })
        .collect();
    Ok(EvalTable { rows })
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let spec = load_world(&args.world)?;
    let device = Device::flex();
    let (model, train_config, dir) = load_model(&args.checkpoint, &device).with_context(|| {
        format!(
            "--checkpoint {}: pass a checkpoint folder, a file in one, or a run folder written by `kennel train` or `kennel demo`",
            args.checkpoint.display()
        )
    })?;
    if args.seeds.is_empty() {
        bail!("--seeds needs at least one seed, e.g. --seeds 0,1,2");
    }
    let cost_models =
        ensure_cost_models(&spec, &model, &dir, &args.planner, args.seeds[0], &device)?;
    // The encoder everything was fitted on, with the predictor the planner imagines with.
    let model = cost_models.planning_model(&model);
    let settings = EvalSettings {
        episodes: args.episodes,
        seeds: args.seeds.clone(),
        planner: args.planner.planner(&spec)?,
        cost: args.planner.cost(),
        baselines: !args.no_baselines,
        diagnostic_episodes: args.planner.diagnostic_episodes,
    };
    let graphs = PlannerGraphs::build(
        &cost_models,
        &args.planner,
        train_config.model.context_dims(),
        &device,
    );
    let table = run_eval_table(&spec, &model, &cost_models, &graphs, &settings, &device)?;
    if let Some(out) = &args.filmstrips {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let policy = learned_policy(&model, &settings, &cost_models, &graphs);
        for (i, seed) in episode_seeds(&args.seeds, args.episodes.min(4))
            .into_iter()
            .enumerate()
        {
            let trace = agent::eval::record_episode(&spec, &policy, seed, &device)?;
            let path = out.join(format!("episode-{i}.png"));
            let heading = format!("{} · evaluation episode {i}", spec.name);
            crate::plot::filmstrip(&path, &trace, 6, &heading)?;
            eprintln!("wrote {}", path.display());
        }
    }
    let blame = match args.plan_diagnostic {
        0 => None,
        episodes => {
            let policy = learned_policy(&model, &settings, &cost_models, &graphs);
            let seeds = episode_seeds(&args.seeds, episodes);
            let bar = ProgressBar::new(seeds.len() as u64).with_style(bar_style());
            bar.set_prefix("plan diagnostic");
            let report = plan_diagnostic(&spec, &policy, &seeds, 10, &device, &mut |_, n| {
                bar.inc(1);
                bar.set_message(format!("{n} decisions examined"));
            })?;
            bar.finish_and_clear();
            report
        }
    };
    if args.json {
        let mut value = table.to_json();
        if let serde_json::Value::Object(object) = &mut value {
            object.insert("world".into(), spec.name.clone().into());
            object.insert("checkpoint".into(), dir.display().to_string().into());
            object.insert("seeds".into(), serde_json::to_value(&args.seeds)?);
            object.insert("planner".into(), serde_json::to_value(&settings.planner)?);
            for (key, graph) in graphs.to_json(args.planner.landmark_edge_steps) {
                object.insert(key.into(), graph);
            }
            object.insert(
                "cost_models".into(),
                serde_json::to_value(&cost_models.report)?,
            );
            object.insert("plan_diagnostic".into(), serde_json::to_value(&blame)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "world {} · checkpoint {} · {} episodes per policy · seeds {:?}",
            spec.name,
            dir.display(),
            args.episodes,
            args.seeds
        );
        print!("{}", table.render());
        println!("{}", budget_line(&settings.planner));
        if let Some(blame) = &blame {
            println!("{}", plan_diagnostic_line(blame));
        }
    }
    Ok(())
}

/// [`PlanDiagnostic`] in words.
fn plan_diagnostic_line(report: &PlanDiagnostic) -> String {
    format!(
        "plan diagnostic ({} decisions): candidates ranked like the truth by the imagined outcomes ρ {:.2}, by the real outcomes ρ {:.2}; first choice in the true best quarter {:.0}% vs {:.0}%",
        report.decisions,
        report.imagined_spearman,
        report.real_spearman,
        100.0 * report.imagined_choice_in_best_quarter,
        100.0 * report.real_choice_in_best_quarter
    )
}

/// The planner's budget in words.
pub fn budget_line(planner: &PlannerConfig) -> String {
    let (method, samples, iterations) = match &planner.method {
        PlanMethod::Cem(c) => ("CEM", c.samples, c.iterations),
        PlanMethod::Mppi(m) => ("MPPI", m.samples, m.iterations),
    };
    format!(
        "learned planner: {method} {samples} samples × {iterations} iterations × horizon {}, deadline {}; one core per decision",
        planner.horizon,
        planner
            .deadline
            .map_or("none".to_owned(), |d| format!("{} ms", d.as_millis()))
    )
}
