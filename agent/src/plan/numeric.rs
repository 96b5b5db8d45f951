//! Small numeric helpers shared by the planner's parts: the learning-rate schedule of their
//! fits, medians, and a tensor's values as plain numbers.

use std::cmp::Ordering;

use burn::prelude::*;

/// A learning-rate factor at `progress` (0 to 1) through a fit: a cosine from 1 down to
/// `floor`.
pub(crate) fn cosine_schedule(progress: f64, floor: f64) -> f64 {
    floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress.clamp(0.0, 1.0)).cos())
}

/// The learned parts' learning-rate factor at `progress` (0 to 1) through their fit: a cosine
/// from 1 down to 1% (the critic's ranking varied between seeds with a constant rate).
pub fn cosine_decay(progress: f64) -> f64 {
    cosine_schedule(progress, 0.01)
}

/// [`cosine_decay`] at step `step` of `steps`.
pub(crate) fn cosine_at(step: usize, steps: usize) -> f64 {
    cosine_decay(step as f64 / steps.max(1) as f64)
}

/// Numbers ordered by IEEE 754's total order (`f32::total_cmp`, `f64::total_cmp`).
pub(crate) trait TotalOrder: Copy {
    /// The total order.
    fn total_cmp(&self, other: &Self) -> Ordering;
}

impl TotalOrder for f32 {
    fn total_cmp(&self, other: &Self) -> Ordering {
        f32::total_cmp(self, other)
    }
}

impl TotalOrder for f64 {
    fn total_cmp(&self, other: &Self) -> Ordering {
        f64::total_cmp(self, other)
    }
}

/// The median of `values` (the upper one of an even count); `None` when there are none.
pub(crate) fn median<T: TotalOrder>(mut values: Vec<T>) -> Option<T> {
    values.sort_by(T::total_cmp);
    values.get(values.len() / 2).copied()
}

/// A tensor's values as plain numbers (none when they are not `f32`).
pub(crate) fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap_or_default()
}
