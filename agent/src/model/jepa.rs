//! The whole world model and its training losses.

use burn::prelude::*;

use super::{
    ConvEncoder, ConvEncoderConfig, InverseDynamics, InverseDynamicsConfig, PROPRIO_DIM, Predictor,
    PredictorConfig, RegularizerConfig, SigregConfig, VicregConfig, sigreg_loss, vicreg_terms,
};

/// Everything that defines a model and its losses; saved with every checkpoint.
#[derive(Config, Debug)]
pub struct JepaConfig {
    /// The pixel encoder.
    #[config(default = "ConvEncoderConfig::new()")]
    pub encoder: ConvEncoderConfig,
    /// The action-conditioned predictor.
    #[config(default = "PredictorConfig::new()")]
    pub predictor: PredictorConfig,
    /// The inverse-dynamics head (trained with VICReg, and with SIGReg when its
    /// `inverse_dynamics_weight` is set).
    #[config(default = "InverseDynamicsConfig::new()")]
    pub inverse_dynamics: InverseDynamicsConfig,
    /// The anti-collapse regulariser (default VICReg with inverse dynamics at weight 10, the
    /// best of three recipes measured here: `shared/RESEARCH.md`).
    #[config(default = "RegularizerConfig::Vicreg(VicregConfig::new())")]
    pub regularizer: RegularizerConfig,
    /// k: steps of the autoregressive rollout loss (sequences hold k + 1 frames).
    #[config(default = 4)]
    pub rollout_steps: usize,
    /// Weight of the teacher-forced one-step loss.
    #[config(default = 1.0)]
    pub one_step_weight: f64,
    /// Weight of the k-step rollout loss.
    #[config(default = 1.0)]
    pub rollout_weight: f64,
    /// The episode-context loss (`None`: off; an `Option` so that checkpoints written before
    /// it existed still load).
    pub context: Option<EpisodeContextConfig>,
    /// Focus on hard windows (`None` or 0: every window weighs the same): each window's
    /// prediction loss is weighted by (its error / the batch's mean error)^focus, the weights
    /// normalised to mean 1 and held out of the gradient. Rare transitions the predictor gets
    /// wrong (door crossings are 2% of two_rooms' exploration windows) then weigh more, at no
    /// extra encoder cost (cf. the focal loss, Lin et al. 2017, and prioritised replay,
    /// Schaul et al. 2016). An `Option` so that older checkpoints still load.
    pub window_focus: Option<f64>,
}

/// Episode context: the first `dims` latent dimensions are trained to stay the same within an
/// episode (the squared difference between two windows of one episode, batches sampled in
/// pairs by `ReplayBuffer::sample_pairs`) while the regulariser keeps them varying across
/// episodes. They come to hold what is fixed in an episode but differs between episodes (the
/// door of `two_rooms`), which the rest of the latent, shaped by the agent's own motion,
/// encodes poorly.
#[derive(Config, Debug)]
pub struct EpisodeContextConfig {
    /// Latent dimensions given to the episode's context (the first ones).
    pub dims: usize,
    /// Weight of the invariance between two windows of one episode.
    #[config(default = 1.0)]
    pub weight: f64,
}

impl JepaConfig {
    /// Sets the latent size everywhere it appears.
    pub fn with_latent(mut self, latent_dim: usize) -> Self {
        self.encoder.latent_dim = latent_dim;
        self.predictor.latent_dim = latent_dim;
        self.inverse_dynamics.latent_dim = latent_dim;
        self
    }

    /// Turns proprioception on (the latent's last [`PROPRIO_DIM`] dimensions hold the agent's
    /// position, `ConvEncoderConfig::proprio_dims`) or off.
    pub fn with_proprioception(mut self, on: bool) -> Self {
        self.encoder.proprio_dims = on.then_some(PROPRIO_DIM);
        self
    }

    /// The latent size.
    pub fn latent_dim(&self) -> usize {
        self.encoder.latent_dim
    }

    /// Latent dimensions held by the episode context (0 when the loss is off).
    pub fn context_dims(&self) -> usize {
        self.context.as_ref().map_or(0, |context| context.dims)
    }

    /// Checks that the parts fit together; the message says what to change.
    pub fn check(&self) -> Result<(), String> {
        let d = self.encoder.latent_dim;
        if d == 0 || self.predictor.latent_dim != d || self.inverse_dynamics.latent_dim != d {
            return Err(format!(
                "latent sizes disagree (encoder {}, predictor {}, inverse dynamics {}); set them with JepaConfig::with_latent",
                d, self.predictor.latent_dim, self.inverse_dynamics.latent_dim
            ));
        }
        if self.encoder.channels.is_empty()
            || self.encoder.image_size == 0
            || !self
                .encoder
                .image_size
                .is_multiple_of(1 << self.encoder.channels.len())
        {
            return Err(format!(
                "image size {} must be a positive multiple of 2^{} (one halving per convolution)",
                self.encoder.image_size,
                self.encoder.channels.len()
            ));
        }
        if self.rollout_steps == 0 {
            return Err("rollout_steps must be at least 1".to_owned());
        }
        if let RegularizerConfig::Sigreg(SigregConfig {
            inverse_dynamics_dims: Some(m),
            ..
        }) = &self.regularizer
            && (*m == 0 || *m >= d)
        {
            return Err(format!(
                "the inverse-dynamics dimensions ({m}, `--id-dims`) must be between 1 and the latent's {d} minus one; leave them unset (0) for all"
            ));
        }
        let proprio = self.encoder.proprio_dims();
        if proprio > 0
            && let RegularizerConfig::Sigreg(SigregConfig {
                inverse_dynamics_weight: Some(w),
                ..
            }) = &self.regularizer
            && *w > 0.0
        {
            return Err(
                "proprioception fills the latent's last dimensions, where sigreg-id puts its inverse-dynamics term; with proprioception use `--regularizer sigreg` (the agent's position is given, not learned), or turn it off with `--proprio false`"
                    .to_owned(),
            );
        }
        if proprio != 0 && proprio != PROPRIO_DIM {
            return Err(format!(
                "the encoder reads {PROPRIO_DIM} numbers of proprioception (the agent's x, y), not {proprio}; set 0 (off) or {PROPRIO_DIM}"
            ));
        }
        if self.context_dims() + proprio >= d {
            return Err(format!(
                "the episode context's {} dimensions and proprioception's {proprio} must be fewer than the latent's {d}: the rest of the latent holds what the pixels show",
                self.context_dims()
            ));
        }
        Ok(())
    }

    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> JepaModel {
        JepaModel {
            encoder: self.encoder.init(device),
            predictor: self.predictor.init(device),
            inverse_dynamics: self.inverse_dynamics.init(device),
        }
    }
}

/// Encoder, predictor and inverse-dynamics head.
#[derive(Module, Debug)]
pub struct JepaModel {
    /// Pixels → latent.
    pub encoder: ConvEncoder,
    /// (latent, action) → next latent.
    pub predictor: Predictor,
    /// (latent, next latent) → action.
    pub inverse_dynamics: InverseDynamics,
}

/// The training loss and its parts.
pub struct LossTerms {
    /// The weighted sum that is minimised, `[1]`.
    pub total: Tensor<1>,
    /// Named unweighted parts, each `[1]` (for logging).
    pub parts: Vec<(&'static str, Tensor<1>)>,
    /// The encoder's latents of every frame, `[batch · (k + 1), latent_dim]`.
    pub latents: Tensor<2>,
}

impl JepaModel {
    /// Rolls the predictor forward through a sequence of actions.
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]`; `actions`: `[batch, steps, action_dim]`
    /// - output: `[batch, steps, latent_dim]` (the predicted latent after each action)
    pub fn rollout(&self, latent: Tensor<2>, actions: Tensor<3>) -> Tensor<3> {
        self.predictor.rollout(latent, actions)
    }

    /// The training losses on a batch of sequences: teacher-forced one-step prediction, the
    /// k-step autoregressive rollout, and the regulariser — all in latent space, against the
    /// encoder's latents of the real frames (no pixel reconstruction).
    ///
    /// # Shapes
    /// - `frames`: `[batch · (k + 1), 3, H, W]`, sequence-major (frame t of sequence b at
    ///   `b · (k + 1) + t`); with an episode context, sequences `2i` and `2i + 1` come
    ///   from one episode (`ReplayBuffer::sample_pairs`) and `batch` is even
    /// - `proprio`: `[batch · (k + 1), PROPRIO_DIM]`, in the order of `frames` (required when
    ///   the encoder reads proprioception)
    /// - `actions`: `[batch, k, action_dim]`
    /// - `directions`: `[latent_dim - proprio_dims, m]` (SIGReg only)
    pub fn losses(
        &self,
        config: &JepaConfig,
        frames: Tensor<4>,
        proprio: Option<Tensor<2>>,
        actions: Tensor<3>,
        directions: Option<Tensor<2>>,
    ) -> LossTerms {
        let [batch, k, action_dim] = actions.dims();
        let latents = self.encoder.forward(frames, proprio); // [batch·(k+1), d]
        let d = latents.dims()[1];
        // The regulariser shapes what the encoder learns from pixels; proprioception is given,
        // not learned, so it stays out (its dimensions are not Gaussian and take no gradient).
        let learned = latents
            .clone()
            .narrow(1, 0, d - self.encoder.proprio_dims());
        let z = latents.clone().reshape([batch, k + 1, d]);
        let current = z.clone().narrow(1, 0, k).reshape([batch * k, d]);
        let next = z.clone().narrow(1, 1, k).reshape([batch * k, d]);
        let flat_actions = actions.clone().reshape([batch * k, action_dim]);

        let predicted = self
            .predictor
            .forward(current.clone(), flat_actions.clone());
        // Per-window mean squared errors, [batch, 1].
        let one_step_windows = (predicted - next.clone())
            .powi_scalar(2)
            .reshape([batch, k * d])
            .mean_dim(1);
        let start = z.clone().narrow(1, 0, 1).reshape([batch, d]);
        let rolled = self.rollout(start, actions); // [batch, k, d]
        let rollout_windows = (rolled - z.clone().narrow(1, 1, k))
            .powi_scalar(2)
            .reshape([batch, k * d])
            .mean_dim(1);
        let one_step = one_step_windows.clone().mean();
        let rollout = rollout_windows.clone().mean();

        let focus = config.window_focus.unwrap_or(0.0);
        let mut total = if focus > 0.0 {
            let weights = window_weights(
                (one_step_windows.clone() + rollout_windows.clone()).detach(),
                focus,
            );
            (one_step_windows * weights.clone())
                .mean()
                .mul_scalar(config.one_step_weight)
                + (rollout_windows * weights)
                    .mean()
                    .mul_scalar(config.rollout_weight)
        } else {
            one_step.clone().mul_scalar(config.one_step_weight)
                + rollout.clone().mul_scalar(config.rollout_weight)
        };
        let mut parts = vec![("one_step", one_step), ("rollout", rollout)];
        if let Some(EpisodeContextConfig { dims: c, weight }) = config.context
            && c > 0
            && batch.is_multiple_of(2)
        {
            // Frame t of one window against frame t of the other window of the same episode.
            let context = z.narrow(2, 0, c).reshape([batch / 2, 2, (k + 1) * c]);
            let first = context.clone().narrow(1, 0, 1);
            let second = context.narrow(1, 1, 1);
            let invariance = (first - second).powi_scalar(2).mean();
            total = total + invariance.clone().mul_scalar(weight);
            parts.push(("context", invariance));
        }
        match &config.regularizer {
            RegularizerConfig::Vicreg(vicreg) => {
                let (variance, covariance) = vicreg_terms(learned, vicreg.std_target);
                let inverse = self.inverse_dynamics_loss(current, next, flat_actions);
                total = total
                    + variance.clone().mul_scalar(vicreg.variance_weight)
                    + covariance.clone().mul_scalar(vicreg.covariance_weight)
                    + inverse.clone().mul_scalar(vicreg.inverse_dynamics_weight);
                parts.push(("variance", variance));
                parts.push(("covariance", covariance));
                parts.push(("inverse_dynamics", inverse));
            }
            RegularizerConfig::Sigreg(sigreg) => {
                if let Some(directions) = directions {
                    let statistic = sigreg_loss(learned, directions, sigreg);
                    total = total + statistic.clone().mul_scalar(sigreg.weight);
                    parts.push(("sigreg", statistic));
                }
                let id_weight = sigreg.inverse_dynamics_weight.unwrap_or(0.0);
                if id_weight > 0.0 {
                    let (current, next) = match sigreg.inverse_dynamics_dims {
                        Some(m) if m < d => {
                            (gradient_to_last(current, m), gradient_to_last(next, m))
                        }
                        _ => (current, next),
                    };
                    let inverse = self.inverse_dynamics_loss(current, next, flat_actions);
                    total = total + inverse.clone().mul_scalar(id_weight);
                    parts.push(("inverse_dynamics", inverse));
                }
            }
        }
        LossTerms {
            total,
            parts,
            latents,
        }
    }
}

impl JepaModel {
    /// The inverse-dynamics loss: mean squared error of the actions inferred from each pair of
    /// consecutive latents.
    ///
    /// # Shapes
    /// - `current`, `next`: `[n, latent_dim]`; `actions`: `[n, action_dim]`; output: `[1]`
    fn inverse_dynamics_loss(
        &self,
        current: Tensor<2>,
        next: Tensor<2>,
        actions: Tensor<2>,
    ) -> Tensor<1> {
        let inferred = self.inverse_dynamics.forward(current, next);
        (inferred - actions).powi_scalar(2).mean()
    }
}

/// `latents` with the gradient cut from every dimension but the last `m`.
///
/// # Shapes
/// - `latents`: `[n, d]` with `m < d`; output: `[n, d]`
fn gradient_to_last(latents: Tensor<2>, m: usize) -> Tensor<2> {
    let [_, d] = latents.dims();
    let cut = latents.clone().narrow(1, 0, d - m).detach();
    let kept = latents.narrow(1, d - m, m);
    Tensor::cat(vec![cut, kept], 1)
}

/// The hard-window weights: (error / mean error)^focus, normalised to mean 1.
///
/// # Shapes
/// - `errors`: `[batch, 1]`, non-negative, without gradient; output: `[batch, 1]`
fn window_weights(errors: Tensor<2>, focus: f64) -> Tensor<2> {
    let [batch, _] = errors.dims();
    // The small floor keeps an all-zero batch (identical frames) at weight 1 instead of NaN.
    let mean = errors.clone().mean().add_scalar(1e-12).reshape([1, 1]);
    let weights = (errors / mean.expand([batch, 1])).powf_scalar(focus);
    let mean_weight = weights.clone().mean().add_scalar(1e-12).reshape([1, 1]);
    weights / mean_weight.expand([batch, 1])
}

/// The proprioception of `n` frames (`[n, PROPRIO_DIM]` numbers) as a tensor for an encoder
/// that reads it, `None` for one that does not (or when `values` holds too few numbers).
///
/// # Shapes
/// - output: `[n, PROPRIO_DIM]`
pub fn proprio_to_tensor(
    encoder: &ConvEncoder,
    values: &[f32],
    n: usize,
    device: &Device,
) -> Option<Tensor<2>> {
    if encoder.proprio_dims() == 0 || values.len() < n * PROPRIO_DIM {
        return None;
    }
    Some(Tensor::from_data(
        TensorData::new(values[..n * PROPRIO_DIM].to_vec(), [n, PROPRIO_DIM]),
        device,
    ))
}

/// Converts `n` RGB frames (`[n, H, W, 3]` bytes) into a `[n, 3, H, W]` float tensor in
/// `[0, 1]`, doing the layout change on the CPU where it is a cheap copy.
pub fn frames_to_tensor(
    bytes: &[u8],
    n: usize,
    height: usize,
    width: usize,
    device: &Device,
) -> Tensor<4> {
    let plane = height * width;
    let mut values = vec![0.0f32; n * 3 * plane];
    for (i, pixel) in bytes.chunks_exact(3).enumerate().take(n * plane) {
        let (frame, p) = (i / plane, i % plane);
        let base = frame * 3 * plane + p;
        values[base] = f32::from(pixel[0]) / 255.0;
        values[base + plane] = f32::from(pixel[1]) / 255.0;
        values[base + 2 * plane] = f32::from(pixel[2]) / 255.0;
    }
    Tensor::from_data(TensorData::new(values, [n, 3, height, width]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_to_last_passes_the_gradient_to_the_last_dimensions_only() {
        let device = Device::flex().autodiff();
        let data = TensorData::new((0..12).map(|v| v as f32).collect::<Vec<_>>(), [3, 4]);
        let x = Tensor::<2>::from_data(data, &device).require_grad();
        let y = gradient_to_last(x.clone(), 1);
        // Same values…
        let values: Vec<f32> = y.clone().into_data().try_to_vec().expect("values");
        assert_eq!(values, (0..12).map(|v| v as f32).collect::<Vec<_>>());
        // …but only the last column passes the gradient back.
        let grads = y.powi_scalar(2).sum().backward();
        let grad: Vec<f32> = x
            .grad(&grads)
            .expect("x has a gradient")
            .into_data()
            .try_to_vec()
            .expect("grad");
        for (i, g) in grad.iter().enumerate() {
            let expected = if i % 4 == 3 { 2.0 * i as f32 } else { 0.0 };
            assert_eq!(*g, expected, "element {i}");
        }
    }
}
