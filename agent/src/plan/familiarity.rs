//! How familiar a latent is: its distance to the nearest latent of the recorded exploration,
//! against the same distance for recorded frames held out of the reference set. A state
//! farther from everything the model was fitted on than almost every held-out frame is one
//! the model knows nothing about; the planner treats it as unsafe ([`crate::eval`]).

use super::graph::ReplayFrames;

/// Every `HOLD_OUT`-th recorded episode calibrates; the others are the reference.
const HOLD_OUT: usize = 8;

/// A nearest-neighbour density test over recorded latents.
#[derive(Clone, Debug)]
pub struct Familiarity {
    /// Reference latents, `[n · dim]`.
    reference: Vec<f32>,
    dim: usize,
    /// Nearest-reference distances of the held-out frames, sorted.
    calibration: Vec<f32>,
    /// The quantile of `calibration` a latent must exceed to be unfamiliar.
    quantile: f64,
    threshold: f32,
}

impl Familiarity {
    /// The default quantile: about one held-out decision in 200 is flagged.
    pub const DEFAULT_QUANTILE: f64 = 0.995;

    /// The default test of a checkpoint's cost models: 4,096 reference latents, 2,048
    /// held-out ones, [`DEFAULT_QUANTILE`](Self::DEFAULT_QUANTILE).
    pub fn of_replay(frames: &ReplayFrames) -> Option<Self> {
        Self::from_replay(frames, 4096, 2048, Self::DEFAULT_QUANTILE)
    }

    /// At most `reference` latents of the recorded episodes not held out (evenly strided),
    /// calibrated on at most `calibration` latents of the held-out ones (every
    /// [`HOLD_OUT`]-th episode). `None` with too few frames to calibrate.
    pub fn from_replay(
        frames: &ReplayFrames,
        reference: usize,
        calibration: usize,
        quantile: f64,
    ) -> Option<Self> {
        let dim = frames.latent_dim;
        let (mut kept, mut held) = (Vec::new(), Vec::new());
        for (i, episode) in frames.episodes.iter().enumerate() {
            let pool = if i % HOLD_OUT == 0 {
                &mut held
            } else {
                &mut kept
            };
            pool.extend(episode.chunks_exact(dim.max(1)));
        }
        if dim == 0 || reference == 0 || calibration == 0 || kept.len() < 16 || held.len() < 16 {
            return None;
        }
        let strided = |pool: &[&[f32]], n: usize| -> Vec<f32> {
            let step = (pool.len() as f64 / n.max(1) as f64).max(1.0);
            (0..n.min(pool.len()))
                .flat_map(|i| pool[(i as f64 * step) as usize].iter().copied())
                .collect()
        };
        let mut familiarity = Self {
            reference: strided(&kept, reference),
            dim,
            calibration: Vec::new(),
            quantile,
            threshold: f32::INFINITY,
        };
        let held = strided(&held, calibration);
        let mut distances: Vec<f32> = held
            .chunks_exact(dim)
            .map(|z| familiarity.distance(z))
            .collect();
        distances.sort_by(f32::total_cmp);
        familiarity.calibration = distances;
        Some(familiarity.with_quantile(quantile))
    }

    /// The same reference with another quantile (in `(0, 1]`).
    pub fn with_quantile(mut self, quantile: f64) -> Self {
        let n = self.calibration.len();
        let index = ((quantile.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n) - 1;
        self.quantile = quantile;
        self.threshold = self.calibration[index];
        self
    }

    /// Distance from `latent` to its nearest reference latent.
    pub fn distance(&self, latent: &[f32]) -> f32 {
        self.reference
            .chunks_exact(self.dim)
            .map(|r| {
                r.iter()
                    .zip(latent)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
            })
            .fold(f32::INFINITY, f32::min)
            .sqrt()
    }

    /// `distance / threshold`: above 1, the latent is unfamiliar.
    pub fn score(&self, latent: &[f32]) -> f32 {
        self.distance(latent) / self.threshold
    }

    /// Whether `latent` is farther from the reference than the quantile of held-out frames.
    pub fn is_unfamiliar(&self, latent: &[f32]) -> bool {
        self.score(latent) > 1.0
    }

    /// The distance above which a latent is unfamiliar.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The quantile of held-out frames the threshold sits at.
    pub fn quantile(&self) -> f64 {
        self.quantile
    }

    /// Reference latents.
    pub fn len(&self) -> usize {
        self.reference.len() / self.dim.max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.reference.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(episodes: usize, per: usize, offset: f32) -> ReplayFrames {
        ReplayFrames {
            latent_dim: 2,
            stride: 1,
            episodes: (0..episodes)
                .map(|e| {
                    (0..per)
                        .flat_map(|t| [offset + (e * per + t) as f32 * 0.01, 0.0])
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn frames_like_the_recorded_ones_are_familiar_and_far_ones_are_not() {
        let f = Familiarity::from_replay(&frames(40, 25, 0.0), 500, 200, 0.99).expect("fits");
        assert!(!f.is_unfamiliar(&[3.0, 0.0]));
        assert!(f.is_unfamiliar(&[3.0, 1.0]));
        assert!(f.is_unfamiliar(&[50.0, 0.0]));
        // At quantile 1 no held-out frame is flagged.
        let strict = f.clone().with_quantile(1.0);
        assert!(strict.threshold() >= f.threshold());
        assert_eq!(f.len(), 500);
    }

    #[test]
    fn too_few_frames_give_none() {
        assert!(Familiarity::from_replay(&frames(2, 3, 0.0), 100, 100, 0.99).is_none());
    }
}
