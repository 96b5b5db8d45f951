//! Small numeric helpers shared by the planner's parts.

use burn::prelude::*;

/// The critic's learning-rate factor at `progress` (0 to 1) through its fit: a cosine from 1
/// down to 1% (the critic's ranking varied between seeds with a constant rate).
pub fn cosine_decay(progress: f64) -> f64 {
    0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * progress.clamp(0.0, 1.0)).cos())
}

/// A tensor's values as plain numbers (none when they are not `f32`).
pub(crate) fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap_or_default()
}
