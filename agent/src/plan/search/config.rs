//! What the planner searches with: the optimiser (CEM or MPPI) and its settings, the horizon,
//! the action bounds and the deadline.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Cross-entropy method (as in DINO-WM, LeWM and V-JEPA 2-AC): sample around a Gaussian, keep
/// the best, refit the Gaussian to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CemConfig {
    /// Candidate sequences per iteration.
    pub samples: usize,
    /// Best candidates the Gaussian is refitted to.
    pub elites: usize,
    /// Refits per decision.
    pub iterations: usize,
    /// Standard deviation of the first iteration (in action units).
    pub initial_std: f32,
    /// Floor of the standard deviation, so the search never freezes.
    pub min_std: f32,
}

impl Default for CemConfig {
    fn default() -> Self {
        Self {
            samples: 256,
            elites: 24,
            iterations: 3,
            initial_std: 0.7,
            min_std: 0.05,
        }
    }
}

/// Model-predictive path integral control (as in PLDM and TD-MPC2): perturb the mean, weight
/// each candidate by `exp(-cost / temperature)`, move the mean to the weighted average.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MppiConfig {
    /// Candidate sequences per iteration.
    pub samples: usize,
    /// Updates per decision.
    pub iterations: usize,
    /// Standard deviation of the perturbations.
    pub noise_std: f32,
    /// Softness of the weighting, relative to the spread of the costs.
    pub temperature: f32,
}

impl Default for MppiConfig {
    fn default() -> Self {
        Self {
            samples: 256,
            iterations: 3,
            noise_std: 0.5,
            temperature: 0.1,
        }
    }
}

/// Which optimiser, over how long a horizon, within which bounds and time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannerConfig {
    /// Decisions (env steps) per plan.
    pub horizon: usize,
    /// Dimensions of an action.
    pub action_dim: usize,
    /// Lower action bounds.
    pub action_low: Vec<f32>,
    /// Upper action bounds.
    pub action_high: Vec<f32>,
    /// The optimiser.
    pub method: PlanMethod,
    /// Wall-clock budget per decision; the best plan found so far is returned when it runs
    /// out (anytime). `None`: run every iteration.
    pub deadline: Option<Duration>,
    /// Seed of the sampling.
    pub seed: u64,
}

/// The optimiser and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PlanMethod {
    /// Cross-entropy method.
    Cem(CemConfig),
    /// Model-predictive path integral.
    Mppi(MppiConfig),
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            horizon: 8,
            action_dim: 2,
            action_low: vec![-1.0, -1.0],
            action_high: vec![1.0, 1.0],
            method: PlanMethod::Cem(CemConfig::default()),
            deadline: None,
            seed: 0,
        }
    }
}

impl PlannerConfig {
    /// CEM with `samples` candidates, `elites` kept and `iterations` refits over `horizon`
    /// decisions; the rest (bounds of ±1, no deadline, seed 0) as by default.
    pub fn cem(horizon: usize, samples: usize, elites: usize, iterations: usize) -> Self {
        Self {
            horizon,
            method: PlanMethod::Cem(CemConfig {
                samples,
                elites,
                iterations,
                ..CemConfig::default()
            }),
            ..Self::default()
        }
    }
}
