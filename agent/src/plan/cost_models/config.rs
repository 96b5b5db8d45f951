//! How the cost models are fitted ([`CostModelsConfig`], with each task's defaults) and what a
//! fit reports ([`FitReport`]).

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sim::WorldSpec;

use crate::model::PROPRIO_DIM;
use crate::plan::learned::{
    CriticConfig, HazardClassifierConfig, PoseDynamicsFitConfig, PoseDynamicsReport,
    PoseReadoutConfig, PoseReadoutReport, PredictorFitConfig, PredictorFitReport,
};

/// How the cost models are fitted.
#[derive(Config, Debug)]
pub struct CostModelsConfig {
    /// The critic.
    #[config(default = "CriticConfig::new()")]
    pub critic: CriticConfig,
    /// The hazard guardrail.
    #[config(default = "HazardClassifierConfig::new()")]
    pub guardrail: HazardClassifierConfig,
    /// Optimiser steps of the critic (the final fit's; practice refits take fewer:
    /// `PlanningConfig::practice_critic_steps`).
    #[config(default = 10_000)]
    pub critic_steps: usize,
    /// Optimiser steps of the guardrail.
    #[config(default = 800)]
    pub guardrail_steps: usize,
    /// Pairs (critic) or frames (guardrail) per step.
    #[config(default = 256)]
    pub batch: usize,
    /// AdamW learning rate of both.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the sampling and of the critic's and guardrail's initial weights.
    #[config(default = 0)]
    pub seed: u64,
    /// Landmarks kept for the planner's graph search
    /// ([`LandmarkSet`](crate::plan::LandmarkSet); `None` or 0: none). An `Option` so that
    /// cost models saved before it existed still load.
    pub landmarks: Option<usize>,
    /// Keep every this-many-th latent of every exploration episode for the planner's search
    /// through the recorded exploration ([`ReplayFrames`](crate::plan::ReplayFrames),
    /// [`ReplayGraph`](crate::plan::ReplayGraph); `None` or 0: none). An `Option` so that
    /// older cost models still load.
    pub replay_stride: Option<usize>,
    /// Refit the planner's predictor on the frozen encoder's latents of the same exploration
    /// ([`fit_predictor`](crate::plan::fit_predictor)); `None`: the planner imagines with the
    /// learner's predictor. Set by the caller, which holds the predictor
    /// ([`CostModels::refit_predictor`](crate::plan::CostModels::refit_predictor)).
    pub predictor: Option<PredictorFitConfig>,
    /// Optimiser steps of the pose readout (push tasks; `None` or 0: none, and the planner
    /// costs push with the critic). An `Option` so that older cost models still load.
    pub pose_readout_steps: Option<usize>,
    /// The pose readout takes the pusher's position from the latent's proprioception
    /// ([`PoseReadoutConfig::agent_from_proprio`]); `None` (older cost models): it does not.
    pub pose_readout_proprio: Option<bool>,
    /// Push tasks: fit the pose dynamics the planner imagines push in
    /// ([`PoseDynamics`](crate::plan::PoseDynamics)) on the exploration's poses; `None` (or 0
    /// steps, or older cost models): none, and the planner imagines push with the predictor.
    pub pose_dynamics: Option<PoseDynamicsFitConfig>,
}

impl CostModelsConfig {
    /// The defaults for `spec`'s task and a model with `latent_dim`-sized latents whose last
    /// `proprio_dims` are proprioception: the critic's "far" is the task's step budget; walks
    /// count backwards too when only the agent moves.
    pub fn for_world(spec: &WorldSpec, latent_dim: usize, proprio_dims: usize) -> Self {
        let reversible = matches!(spec.task.goal, sim::GoalSpec::AgentPosition { .. });
        Self::new()
            .with_critic(
                CriticConfig::new()
                    .with_latent_dim(latent_dim)
                    .with_reversible(reversible)
                    .with_max_steps(f64::from(spec.task.episode_steps)),
            )
            .with_guardrail(HazardClassifierConfig::new().with_latent_dim(latent_dim))
            .with_landmarks(Some(DEFAULT_LANDMARKS))
            .with_replay_stride(Some(DEFAULT_REPLAY_STRIDE))
            .with_pose_readout_steps((!reversible).then_some(DEFAULT_POSE_READOUT_STEPS))
            .with_pose_readout_proprio(Some(proprio_dims == PROPRIO_DIM))
            .with_pose_dynamics((!reversible).then(PoseDynamicsFitConfig::new))
    }

    /// The pose readout's architecture.
    pub(super) fn pose_readout_config(&self) -> PoseReadoutConfig {
        PoseReadoutConfig::new()
            .with_latent_dim(self.critic.latent_dim)
            .with_agent_from_proprio(self.pose_readout_proprio.unwrap_or(false))
    }
}

/// Landmarks kept by default: 1,000 of two_rooms' ~80,000 exploration frames put ~20 in the
/// door, and a route costs one `[samples, 1000]` table of distances per decision.
const DEFAULT_LANDMARKS: usize = 1000;

/// Every second frame: two_rooms' 800 exploration episodes then keep ~75,000 latents (19 MB),
/// and a goal's graph of 40 episodes has ~4,000 nodes (graph ρ 0.85 at stride 2).
const DEFAULT_REPLAY_STRIDE: usize = 2;

/// Pose readout steps by default (batch 256).
const DEFAULT_POSE_READOUT_STEPS: usize = 3000;

/// What a fit saw and reached.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Exploration episodes.
    pub episodes: usize,
    /// Frames encoded.
    pub frames: usize,
    /// Frames inside a hazard.
    pub hazard_frames: usize,
    /// Mean critic loss over its last 100 steps (squared error of distances / max_steps; for
    /// a quasimetric critic, the mean squared excess of recorded steps over their cost).
    pub critic_loss: f32,
    /// Balanced accuracy of the guardrail on the frames it was fitted on (mean of the
    /// in-hazard and outside recalls at its threshold); absent without hazard frames.
    pub guardrail_balanced_accuracy: Option<f64>,
    /// Wall time of fitting (after encoding), seconds.
    pub seconds: f64,
    /// The predictor's refit, when there was one.
    #[serde(default)]
    pub predictor: Option<PredictorFitReport>,
    /// The pose readout's fit, when there was one.
    #[serde(default)]
    pub pose_readout: Option<PoseReadoutReport>,
    /// The pose dynamics' fit, when there was one.
    #[serde(default)]
    pub pose_dynamics: Option<PoseDynamicsReport>,
}
