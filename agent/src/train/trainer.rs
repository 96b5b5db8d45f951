//! The optimiser loop: AdamW with warmup and cosine decay, gradient clipping, and rollback on a
//! non-finite loss.

use std::collections::BTreeMap;

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::SequenceBatch;
use crate::model::{
    JepaConfig, JepaModel, PROPRIO_DIM, RegularizerConfig, frames_to_tensor, proprio_to_tensor,
    sigreg_directions,
};

/// Everything about a training run besides the data: saved with every checkpoint.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// The model and its losses.
    #[config(default = "JepaConfig::new()")]
    pub model: JepaConfig,
    /// Sequences of k + 1 frames per step.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Peak learning rate of AdamW.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay.
    #[config(default = 1e-4)]
    pub weight_decay: f64,
    /// Steps of linear warmup from 0 to the peak.
    #[config(default = 100)]
    pub warmup_steps: u64,
    /// The cosine decay ends at this fraction of the peak.
    #[config(default = 0.1)]
    pub final_lr_fraction: f64,
    /// Each parameter tensor's gradient is rescaled to at most this norm (Burn clips per
    /// tensor, not over the whole gradient).
    #[config(default = 1.0)]
    pub grad_clip_norm: f32,
    /// Seed of the initial weights and of every random choice of the trainer.
    #[config(default = 0)]
    pub seed: u64,
    /// Consecutive non-finite losses tolerated (each rolled back) before training stops.
    #[config(default = 5)]
    pub max_consecutive_nan: u32,
}

/// Why training cannot continue.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is inconsistent.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The loss kept coming out NaN or infinite.
    #[error(
        "training diverged: {count} consecutive non-finite losses up to step {step} (each was rolled back to the last good weights); lower the learning rate (--lr) or raise gradient clipping"
    )]
    Diverged {
        /// The last step tried.
        step: u64,
        /// How many in a row.
        count: u32,
    },
    /// A batch did not have the shape the model expects.
    #[error("batch of {got} frames per sequence, the model needs k + 1 = {expected}")]
    BatchShape {
        /// Frames per sequence the model needs.
        expected: usize,
        /// Frames per sequence given.
        got: usize,
    },
    /// Reading or writing a checkpoint failed.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file or folder.
        path: String,
        /// What went wrong and what to do.
        message: String,
    },
}

/// What one step did.
#[derive(Clone, Debug, Default)]
pub struct StepReport {
    /// The step number after this step (1 for the first).
    pub step: u64,
    /// The total loss (NaN if the step was rolled back).
    pub loss: f64,
    /// Unweighted loss parts by name.
    pub parts: BTreeMap<&'static str, f64>,
    /// The learning rate used.
    pub learning_rate: f64,
    /// Whether the step was discarded because the loss was not finite.
    pub rolled_back: bool,
    /// Mean over latent dimensions of the per-dimension standard deviation in the batch.
    pub latent_std_mean: f64,
    /// Smallest per-dimension standard deviation in the batch.
    pub latent_std_min: f64,
    /// Effective rank of the batch's latents (every [`RANK_EVERY`] steps).
    pub effective_rank: Option<f64>,
}

/// How often [`StepReport::effective_rank`] is computed (an eigen-decomposition on the CPU).
pub const RANK_EVERY: u64 = 25;

/// Trains a [`JepaModel`] on batches of sequences.
pub struct Trainer {
    pub(super) config: TrainConfig,
    pub(super) device: Device,
    pub(super) model: JepaModel,
    pub(super) optimizer: ModuleOptimizer,
    /// Weights at the start of the last step whose loss was finite.
    last_good: JepaModel,
    pub(super) step: u64,
    pub(super) rng: ChaCha8Rng,
    nan_streak: u32,
    /// The current weights are `last_good` restored by a rollback: a finite loss on them proves
    /// nothing new, so it does not end a streak of non-finite losses.
    rolled_back: bool,
    poisoned_steps: u32,
}

impl TrainConfig {
    /// The optimiser this config describes (AdamW with gradient clipping).
    pub(super) fn optimizer(&self) -> ModuleOptimizer {
        AdamWConfig::new()
            .with_weight_decay(self.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(self.grad_clip_norm)))
            .init()
    }

    /// The learning rate at `step`: linear warmup, then cosine decay over `progress ∈ [0, 1]`
    /// of the run (by steps or by time, whichever bounds it).
    pub fn learning_rate_at(&self, step: u64, progress: f64) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup_steps {
            return peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let p = progress.clamp(0.0, 1.0);
        let floor = peak * self.final_lr_fraction;
        floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
    }
}

impl Trainer {
    /// A fresh trainer: weights initialised from `config.seed` on `device` (made autodiff).
    pub fn new(config: TrainConfig, device: &Device) -> Result<Self, TrainError> {
        config.model.check().map_err(TrainError::Config)?;
        if config.batch_size < 2 {
            return Err(TrainError::Config(
                "batch_size must be at least 2 (the regulariser needs a spread)".to_owned(),
            ));
        }
        if config.model.context_dims() > 0 && !config.batch_size.is_multiple_of(2) {
            return Err(TrainError::Config(format!(
                "batch_size must be even with context_dims > 0 (sequences come in pairs from one episode), got {}",
                config.batch_size
            )));
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let model = config.model.init(&device);
        Ok(Self::from_parts(config, device, model, None, 0, None))
    }

    pub(super) fn from_parts(
        config: TrainConfig,
        device: Device,
        model: JepaModel,
        optimizer: Option<ModuleOptimizer>,
        step: u64,
        rng: Option<ChaCha8Rng>,
    ) -> Self {
        let optimizer = optimizer.unwrap_or_else(|| config.optimizer());
        let rng = rng.unwrap_or_else(|| ChaCha8Rng::seed_from_u64(config.seed));
        Self {
            last_good: model.clone(),
            config,
            device,
            model,
            optimizer,
            step,
            rng,
            nan_streak: 0,
            rolled_back: false,
            poisoned_steps: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The trainer's random generator (for sampling batches reproducibly).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// The device the model trains on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// An inference copy of the current weights: no autodiff, safe to send to other threads.
    pub fn snapshot(&self) -> JepaModel {
        self.model.valid()
    }

    /// Test aid: the next `steps` steps see a NaN loss, as a diverging model would, so the
    /// rollback path can be exercised.
    pub fn poison_next_steps(&mut self, steps: u32) {
        self.poisoned_steps = steps;
    }

    /// How badly the current model predicts each sequence of `batch`: the mean squared
    /// distance between the predictor's open-loop rollout from the first frame's latent, through
    /// the sequence's actions, and the last frame's latent. Only the first and last frames go
    /// through the encoder, so scoring a sequence of k + 1 = 5 frames costs about an eighth of
    /// training on it (half a training step for four candidates per sequence).
    ///
    /// # Shapes
    /// `batch`: `batch.batch` sequences of `k + 1` frames → one error per sequence.
    pub fn rollout_errors(&self, batch: &SequenceBatch) -> Vec<f32> {
        let (n, frames) = (batch.batch, batch.frames_per_sequence);
        if n == 0 || frames < 2 {
            return vec![0.0; n];
        }
        let k = frames - 1;
        let frame_bytes = batch.height * batch.width * 3;
        let mut ends = Vec::with_capacity(2 * n * frame_bytes);
        let mut end_proprio = Vec::with_capacity(2 * n * PROPRIO_DIM);
        for (sequence, proprio) in batch
            .frames
            .chunks_exact(frames * frame_bytes)
            .zip(batch.proprio.chunks_exact(frames * PROPRIO_DIM))
        {
            // First frames, then last frames.
            ends.extend_from_slice(&sequence[..frame_bytes]);
            end_proprio.extend_from_slice(&proprio[..PROPRIO_DIM]);
        }
        for (sequence, proprio) in batch
            .frames
            .chunks_exact(frames * frame_bytes)
            .zip(batch.proprio.chunks_exact(frames * PROPRIO_DIM))
        {
            ends.extend_from_slice(&sequence[k * frame_bytes..]);
            end_proprio.extend_from_slice(&proprio[k * PROPRIO_DIM..]);
        }
        // The inference copy on the plain device: no autodiff graph is recorded.
        let (model, device) = (self.model.valid(), self.device.clone().inner());
        let images = frames_to_tensor(&ends, 2 * n, batch.height, batch.width, &device);
        let proprio = proprio_to_tensor(&model.encoder, &end_proprio, 2 * n, &device);
        let latents = model.encoder.forward(images, proprio); // [2n, d]
        let first = latents.clone().narrow(0, 0, n);
        let last = latents.narrow(0, n, n);
        let actions =
            Tensor::<3>::from_data(TensorData::new(batch.actions.clone(), [n, k, 2]), &device);
        let predicted = model
            .rollout(first, actions)
            .narrow(1, k - 1, 1)
            .squeeze_dim::<2>(1); // [n, d]
        let errors = (predicted - last).powi_scalar(2).mean_dim(1); // [n, 1]
        errors
            .into_data()
            .try_to_vec::<f32>()
            .unwrap_or_else(|err| {
                // Equal scores: selection falls back to uniform sampling.
                tracing::warn!("rollout errors unreadable ({err:?}); sampling uniformly");
                vec![0.0; n]
            })
    }

    /// One optimiser step on `batch`; `progress ∈ [0, 1]` drives the cosine schedule.
    pub fn train_step(
        &mut self,
        batch: &SequenceBatch,
        progress: f64,
    ) -> Result<StepReport, TrainError> {
        let k = self.config.model.rollout_steps;
        if batch.frames_per_sequence != k + 1 {
            return Err(TrainError::BatchShape {
                expected: k + 1,
                got: batch.frames_per_sequence,
            });
        }
        let lr = self.config.learning_rate_at(self.step, progress);
        let n = batch.batch * batch.frames_per_sequence;
        let frames = frames_to_tensor(&batch.frames, n, batch.height, batch.width, &self.device);
        let actions = Tensor::<3>::from_data(
            TensorData::new(batch.actions.clone(), [batch.batch, k, 2]),
            &self.device,
        );
        let directions = match &self.config.model.regularizer {
            RegularizerConfig::Sigreg(sigreg) => Some(sigreg_directions(
                &mut self.rng,
                self.config.model.latent_dim() - self.config.model.encoder.proprio_dims(),
                sigreg.directions,
                &self.device,
            )),
            RegularizerConfig::Vicreg(_) => None,
        };
        let proprio = proprio_to_tensor(&self.model.encoder, &batch.proprio, n, &self.device);
        let terms = self
            .model
            .losses(&self.config.model, frames, proprio, actions, directions);
        let mut loss = f64::from(terms.total.clone().into_scalar::<f32>());
        if self.poisoned_steps > 0 {
            self.poisoned_steps -= 1;
            loss = f64::NAN;
        }
        self.step += 1;
        if !loss.is_finite() {
            self.nan_streak += 1;
            tracing::warn!(
                step = self.step,
                streak = self.nan_streak,
                "non-finite loss; rolling back to the last good weights"
            );
            self.model = self.last_good.clone();
            // The moments may hold the non-finite gradients that led here: start them afresh.
            self.optimizer = self.config.optimizer();
            self.rolled_back = true;
            if self.nan_streak >= self.config.max_consecutive_nan {
                return Err(TrainError::Diverged {
                    step: self.step,
                    count: self.nan_streak,
                });
            }
            return Ok(StepReport {
                step: self.step,
                loss,
                learning_rate: lr,
                rolled_back: true,
                ..StepReport::default()
            });
        }
        if !self.rolled_back {
            self.nan_streak = 0;
        }
        self.rolled_back = false;
        let parts = terms
            .parts
            .iter()
            .map(|(name, t)| (*name, f64::from(t.clone().into_scalar::<f32>())))
            .collect();
        let latents = terms.latents.clone().detach();
        let (std_mean, std_min) = latent_spread(latents.clone());
        let effective_rank = self.step.is_multiple_of(RANK_EVERY).then(|| {
            let [n, d] = latents.dims();
            let values: Vec<f32> = latents.into_data().try_to_vec::<f32>().unwrap_or_default();
            let rows = nalgebra::DMatrix::from_fn(n, d, |r, c| f64::from(values[r * d + c]));
            crate::probe::effective_rank(&rows)
        });
        let grads = GradientsParams::from_grads(terms.total.backward(), &self.model);
        self.last_good = self.model.clone();
        self.model = self.optimizer.step(lr, self.model.clone(), grads);
        Ok(StepReport {
            step: self.step,
            loss,
            parts,
            learning_rate: lr,
            rolled_back: false,
            latent_std_mean: std_mean,
            latent_std_min: std_min,
            effective_rank,
        })
    }
}

/// Mean and minimum over dimensions of the per-dimension standard deviation.
fn latent_spread(latents: Tensor<2>) -> (f64, f64) {
    let [n, d] = latents.dims();
    if n < 2 {
        return (0.0, 0.0);
    }
    let centred = latents.clone() - latents.mean_dim(0);
    let std = centred
        .powi_scalar(2)
        .sum_dim(0)
        .div_scalar((n - 1) as f64)
        .sqrt(); // [1, d]
    let values: Vec<f32> = std.into_data().try_to_vec::<f32>().unwrap_or_default();
    let mean = values.iter().map(|v| f64::from(*v)).sum::<f64>() / d.max(1) as f64;
    let min = values
        .iter()
        .map(|v| f64::from(*v))
        .fold(f64::INFINITY, f64::min);
    (mean, min)
}

/// Fails unless `spec`'s learner camera renders the frames a model of `config` reads.
pub fn check_camera(spec: &sim::WorldSpec, config: &TrainConfig) -> Result<(), TrainError> {
    let side = config.model.encoder.image_size as u32;
    let camera = spec.learner_camera();
    if (camera.width, camera.height) != (side, side) {
        return Err(TrainError::Config(format!(
            "world `{}` renders {}×{} frames but the model reads {side}×{side}; set the first camera's width and height to {side}",
            spec.name, camera.width, camera.height
        )));
    }
    Ok(())
}
