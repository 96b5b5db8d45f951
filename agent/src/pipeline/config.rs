//! The planning pipeline's settings in one place: the learned planner's search budget and
//! cost weights, how the cost models are fitted, and the oracle's budget. The CLI's flags
//! take their defaults from [`PlanningConfig::default`] and override them.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sim::{GoalSpec, WorldSpec};

use super::PipelineError;
use crate::plan::{
    CemConfig, CostModels, CostModelsConfig, Familiarity, GoalCostConfig, HazardSight,
    HazardSightConfig, MppiConfig, PlanMethod, PlannerConfig, PredictorFitConfig,
};

/// How the critic learns steps-to-goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriticKind {
    /// Distances between learned embeddings, every recorded step about one step long
    /// (quasimetric RL): shortest paths through what was seen.
    Quasimetric,
    /// Regression of the time between two frames of one walk (random-walk times).
    Hindsight,
}

impl CriticKind {
    /// The kind a saved critic config describes.
    pub fn from_quasimetric(quasimetric: bool) -> Self {
        if quasimetric {
            Self::Quasimetric
        } else {
            Self::Hindsight
        }
    }

    /// Its name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quasimetric => "quasimetric",
            Self::Hindsight => "hindsight",
        }
    }
}

/// The optimiser over action sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Cross-entropy method: refit a Gaussian to the best tenth of the samples.
    Cem,
    /// Model-predictive path integral: move the mean to the cost-weighted average.
    Mppi,
}

/// What the last imagined step's distance to the goal is routed through.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphSearch {
    /// The critic's straight estimate.
    Straight,
    /// Shortest paths through the recorded exploration of this many episodes nearest the
    /// goal's episode context ([`ReplayGraph`](crate::plan::ReplayGraph)).
    Replay {
        /// Exploration episodes per goal.
        episodes: usize,
    },
    /// Shortest paths through landmarks joined where the critic estimates at most this many
    /// steps ([`LandmarkGraph`](crate::plan::LandmarkGraph)).
    Landmarks {
        /// Longest edge, in steps.
        edge_steps: f32,
    },
}

/// The learned planner and the fit of its cost models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanningConfig {
    /// Candidate sequences per iteration.
    pub samples: usize,
    /// Iterations per decision.
    pub iterations: usize,
    /// The optimiser.
    pub method: SearchMethod,
    /// Decisions per imagined plan.
    pub horizon: usize,
    /// Wall-clock deadline per decision in milliseconds (anytime); 0: none, every iteration
    /// runs (a fixed search budget).
    pub deadline_ms: f64,
    /// Exploration episodes the cost models are fitted on.
    pub fit_episodes: usize,
    /// Weight of the critic's estimate summed over the imagined steps (the last step also
    /// weighs 1).
    pub critic_step_weight: f32,
    /// Optimiser steps of the critic in a final fit.
    pub critic_steps: usize,
    /// Optimiser steps of the critic in the closed loop's practice refits (shorter: they
    /// happen several times).
    pub practice_critic_steps: usize,
    /// The critic fitted.
    pub critic: CriticKind,
    /// Held-out episodes of the cost diagnostic (four start/goal pairs each).
    pub diagnostic_episodes: usize,
    /// What the last imagined step is routed through (the replay graph of 40 episodes by
    /// default).
    pub graph: GraphSearch,
    /// Steps of the predictor refit on the frozen encoder's latents (0: the planner imagines
    /// with the learner's predictor).
    pub predictor_fit_steps: usize,
    /// Steps of the predictor refit in the closed loop's practice refits (0: practice
    /// imagines with the learner's predictor; 750 steps changed nothing measurable).
    #[serde(default = "default_practice_predictor_fit_steps")]
    pub practice_predictor_fit_steps: usize,
    /// Push: steps of the pose dynamics the planner imagines push in (0: the predictor).
    pub pose_dynamics_steps: usize,
    /// The familiarity test's quantile: a state farther from the recorded exploration than
    /// this fraction of held-out recorded frames is one the model does not know, and the
    /// agent backs off there instead of planning ([`Familiarity`]); 0: off.
    #[serde(default = "default_unsure_quantile")]
    pub unsure_quantile: f64,
    /// Plan with the guardrail that looks at the frame ([`HazardSight`]) besides the one on
    /// latents: a candidate whose first dead-reckoned steps cross pixels that look like a
    /// hazard is infeasible.
    #[serde(default = "default_hazard_sight")]
    pub hazard_sight: bool,
}

fn default_hazard_sight() -> bool {
    true
}

fn default_practice_predictor_fit_steps() -> usize {
    PlanningConfig::default().practice_predictor_fit_steps
}

fn default_unsure_quantile() -> f64 {
    Familiarity::DEFAULT_QUANTILE
}

impl Default for PlanningConfig {
    fn default() -> Self {
        Self {
            samples: 64,
            iterations: 3,
            method: SearchMethod::Cem,
            horizon: 15,
            deadline_ms: 20.0,
            fit_episodes: 800,
            critic_step_weight: 0.1,
            critic_steps: CostModelsConfig::new().critic_steps,
            practice_critic_steps: 10_000,
            critic: CriticKind::Quasimetric,
            diagnostic_episodes: 400,
            graph: GraphSearch::Replay { episodes: 40 },
            predictor_fit_steps: 3_000,
            practice_predictor_fit_steps: 0,
            pose_dynamics_steps: 30_000,
            unsure_quantile: Familiarity::DEFAULT_QUANTILE,
            hazard_sight: true,
        }
    }
}

impl PlanningConfig {
    /// Checks the budget; the error names the setting and what it accepts.
    pub fn validate(&self) -> Result<(), PipelineError> {
        if self.samples < 2 || self.iterations == 0 || self.horizon == 0 {
            return Err(PipelineError::Config(format!(
                "samples must be at least 2 and iterations and horizon at least 1 (got {}, {}, {})",
                self.samples, self.iterations, self.horizon
            )));
        }
        if !(self.deadline_ms.is_finite() && self.deadline_ms >= 0.0) {
            return Err(PipelineError::Config(format!(
                "the deadline must be 0 (none) or a positive number of milliseconds, got {}",
                self.deadline_ms
            )));
        }
        if !(self.unsure_quantile == 0.0 || (0.5..=1.0).contains(&self.unsure_quantile)) {
            return Err(PipelineError::Config(format!(
                "the familiarity quantile must be 0 (off) or in [0.5, 1], got {}",
                self.unsure_quantile
            )));
        }
        if let GraphSearch::Landmarks { edge_steps } = self.graph
            && !(edge_steps.is_finite() && edge_steps > 0.0)
        {
            return Err(PipelineError::Config(format!(
                "landmark edges must be a positive number of steps, got {edge_steps}"
            )));
        }
        Ok(())
    }

    /// Gives `models` this config's familiarity test: the quantile applied, or none when 0.
    pub fn apply_familiarity(&self, models: &mut CostModels) {
        models.familiarity = match self.unsure_quantile {
            q if q > 0.0 => models.familiarity.take().map(|f| f.with_quantile(q)),
            _ => None,
        };
    }

    /// Gives `models` this config's hazard sight: fitted on fresh exploration of `spec`
    /// (seeds from `seed`, apart from the cost models' and the evaluation's), or none.
    pub fn apply_sight(
        &self,
        models: &mut CostModels,
        spec: &Arc<WorldSpec>,
        seed: u64,
    ) -> Result<(), PipelineError> {
        models.sight = match self.hazard_sight {
            true => HazardSight::explore_and_fit(
                spec,
                seed ^ 0x0005_1947,
                &HazardSightConfig::default(),
            )?,
            false => None,
        };
        Ok(())
    }

    /// The learned planner for `spec`'s action bounds.
    pub fn planner(&self, spec: &WorldSpec) -> Result<PlannerConfig, PipelineError> {
        self.validate()?;
        Ok(PlannerConfig {
            horizon: self.horizon,
            action_dim: 2,
            action_low: spec.agent.action_low.to_vec(),
            action_high: spec.agent.action_high.to_vec(),
            method: match self.method {
                SearchMethod::Cem => PlanMethod::Cem(CemConfig {
                    samples: self.samples,
                    elites: (self.samples / 10).max(4),
                    iterations: self.iterations,
                    ..CemConfig::default()
                }),
                SearchMethod::Mppi => PlanMethod::Mppi(MppiConfig {
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

    /// The planner's cost weights.
    pub fn cost(&self) -> GoalCostConfig {
        GoalCostConfig {
            critic_step_weight: self.critic_step_weight,
            ..GoalCostConfig::default()
        }
    }

    /// How the cost models are fitted for `spec` and latents of `latent_dim` whose last
    /// `proprio_dims` are proprioception, with `critic_steps` critic steps.
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
        let predictor = self.predictor_fit(self.predictor_fit_steps, seed);
        let pose_dynamics = config.pose_dynamics.clone().and_then(|fit| {
            (self.pose_dynamics_steps > 0)
                .then(|| fit.with_steps(self.pose_dynamics_steps).with_seed(seed))
        });
        config
            .with_critic(critic)
            .with_predictor(predictor)
            .with_pose_dynamics(pose_dynamics)
    }

    /// A predictor refit of `steps` steps on rollouts as long as the planner's horizon;
    /// `None` when `steps` is 0.
    pub fn predictor_fit(&self, steps: usize, seed: u64) -> Option<PredictorFitConfig> {
        (steps > 0).then(|| {
            PredictorFitConfig::new()
                .with_steps(steps)
                .with_rollout_steps(self.horizon)
                .with_seed(seed)
        })
    }

    /// The replay graph's episodes per goal (0: not used).
    pub fn replay_graph_episodes(&self) -> usize {
        match self.graph {
            GraphSearch::Replay { episodes } => episodes,
            _ => 0,
        }
    }

    /// The landmark graph's longest edge (0: not used).
    pub fn landmark_edge_steps(&self) -> f32 {
        match self.graph {
            GraphSearch::Landmarks { edge_steps } => edge_steps,
            _ => 0.0,
        }
    }
}

/// The oracle: the same CEM in the true simulator with the true shortest-path cost; a small
/// budget suffices because its cost is exact. Push looks 10 decisions ahead (a push must first
/// walk round the block); navigation 6.
pub fn oracle_planner(spec: &WorldSpec) -> PlannerConfig {
    let pushes = matches!(spec.task.goal, GoalSpec::ObjectPose { .. });
    PlannerConfig {
        action_low: spec.agent.action_low.to_vec(),
        action_high: spec.agent.action_high.to_vec(),
        ..PlannerConfig::cem(if pushes { 10 } else { 6 }, 48, 8, 2)
    }
}
