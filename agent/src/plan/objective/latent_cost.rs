//! The intrinsic cost of planning in the learned model: distance of the imagined latents to the
//! goal image's latent, summed over the imagined steps with weights, plus an action-magnitude
//! cost; and the imagination itself, one batched rollout of the predictor.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::JepaModel;
use crate::plan::numeric::to_vec;
use crate::plan::search::ActionSequences;

/// Weights of the intrinsic cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentCostConfig {
    /// Weight of the squared latent distance at each imagined step, from the first; the last
    /// entry is repeated for longer horizons (default: 0.1 for every step, 1 more at the end).
    /// Summing over all steps rather than the last one only was worth ~8 points of success in
    /// the EB-JEPA ablations (`shared/RESEARCH.md`).
    pub step_weights: Vec<f32>,
    /// Weight of the final imagined step's distance, added to its step weight.
    pub final_weight: f32,
    /// Weight of the summed squared actions.
    pub action_weight: f32,
}

impl Default for LatentCostConfig {
    fn default() -> Self {
        Self {
            step_weights: vec![0.1],
            final_weight: 1.0,
            action_weight: 0.0,
        }
    }
}

impl LatentCostConfig {
    pub(crate) fn weight(&self, step: usize, horizon: usize) -> f32 {
        let base = self
            .step_weights
            .get(step)
            .or(self.step_weights.last())
            .copied()
            .unwrap_or(0.0);
        if step + 1 == horizon {
            base + self.final_weight
        } else {
            base
        }
    }
}

/// Costs of candidate action sequences, imagined from `latent` with the model's predictor, in
/// one batched rollout.
///
/// # Shapes
/// - `latent`, `goal`: `[1, latent_dim]`
/// - output: one cost per candidate
pub fn latent_costs(
    model: &JepaModel,
    latent: &Tensor<2>,
    goal: &Tensor<2>,
    candidates: &ActionSequences,
    config: &LatentCostConfig,
) -> Vec<f32> {
    let imagined = imagine(model, latent, candidates);
    let mut costs = latent_distance_costs(imagined, goal, config);
    add_action_costs(&mut costs, candidates, config.action_weight);
    costs
}

/// Every candidate's imagined latents, in one batched rollout of the predictor.
///
/// # Shapes
/// - `latent`: `[1, latent_dim]` → `[samples, horizon, latent_dim]`
pub fn imagine(model: &JepaModel, latent: &Tensor<2>, candidates: &ActionSequences) -> Tensor<3> {
    let (s, h, a) = (
        candidates.samples,
        candidates.horizon,
        candidates.action_dim,
    );
    let d = latent.dims()[1];
    let actions = Tensor::<3>::from_data(
        TensorData::new(candidates.values.clone(), [s, h, a]),
        &latent.device(),
    );
    model.rollout(latent.clone().expand([s, d]), actions)
}

/// The weighted squared distances of imagined latents to the goal latent, one per sample.
///
/// # Shapes
/// - `imagined`: `[samples, horizon, latent_dim]`, `goal`: `[1, latent_dim]`
pub fn latent_distance_costs(
    imagined: Tensor<3>,
    goal: &Tensor<2>,
    config: &LatentCostConfig,
) -> Vec<f32> {
    let [s, h, d] = imagined.dims();
    let device = imagined.device();
    let distance = (imagined - goal.clone().reshape([1, 1, d]))
        .powi_scalar(2)
        .sum_dim(2); // [s, h, 1]
    let weights: Vec<f32> = (0..h).map(|t| config.weight(t, h)).collect();
    let weights = Tensor::<3>::from_data(TensorData::new(weights, [1, h, 1]), &device);
    let cost = (distance * weights).sum_dim(1).reshape([s]); // [s]
    to_vec(cost)
}

/// Adds `weight ·` the summed squared actions of each candidate to its cost.
pub(crate) fn add_action_costs(costs: &mut [f32], candidates: &ActionSequences, weight: f32) {
    if weight != 0.0 {
        for (i, c) in costs.iter_mut().enumerate() {
            *c += weight * candidates.sequence(i).iter().map(|v| v * v).sum::<f32>();
        }
    }
}
