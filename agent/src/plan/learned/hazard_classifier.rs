//! Guardrails: constraints on imagined states that an executed plan must satisfy. The first
//! kind is "never enter a hazard zone", judged on imagined latents by a classifier trained on
//! the hazard flags the simulator reports. Candidates that violate a guardrail are infeasible
//! (their cost becomes infinite), not merely penalised into an average: safety by optimisation
//! under constraints.

use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

use super::trainer::SmallTrainer;
use crate::plan::numeric::to_vec;

/// A classifier of "the agent is in a hazard" from a latent.
#[derive(Config, Debug)]
pub struct HazardClassifierConfig {
    /// Size of the latent vector.
    #[config(default = 64)]
    pub latent_dim: usize,
    /// Hidden width.
    #[config(default = 128)]
    pub hidden: usize,
    /// Probability above which a latent counts as inside a hazard (low: err on the safe side).
    #[config(default = 0.3)]
    pub threshold: f64,
    /// A stricter threshold for the first `near_steps` imagined steps: the first action is
    /// executed at once, and one-step predictions are the most accurate, so a margin there
    /// costs little and stops the agent grazing a hazard's edge.
    #[config(default = 0.1)]
    pub near_threshold: f64,
    /// How many imagined steps the stricter threshold covers.
    #[config(default = 2)]
    pub near_steps: usize,
}

/// Probability of being in a hazard.
#[derive(Module, Debug)]
pub struct HazardClassifier {
    fc1: Linear,
    out: Linear,
    activation: Relu,
    #[module(skip)]
    threshold: f64,
    #[module(skip)]
    near_threshold: f64,
    #[module(skip)]
    near_steps: usize,
}

impl HazardClassifierConfig {
    /// Builds the classifier on `device`.
    pub fn init(&self, device: &Device) -> HazardClassifier {
        HazardClassifier {
            fc1: LinearConfig::new(self.latent_dim, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, 1).init(device),
            activation: Relu::new(),
            threshold: self.threshold,
            near_threshold: self.near_threshold,
            near_steps: self.near_steps,
        }
    }
}

impl HazardClassifier {
    /// Logits of "in a hazard".
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]` → `[batch]`
    pub fn logits(&self, latent: Tensor<2>) -> Tensor<1> {
        let [batch, _] = latent.dims();
        self.out
            .forward(self.activation.forward(self.fc1.forward(latent)))
            .reshape([batch])
    }

    /// The probability above which a latent counts as inside a hazard.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The same classifier judged with other thresholds (see [`HazardClassifierConfig`]).
    pub fn with_thresholds(
        mut self,
        threshold: f64,
        near_threshold: f64,
        near_steps: usize,
    ) -> Self {
        self.threshold = threshold;
        self.near_threshold = near_threshold;
        self.near_steps = near_steps;
        self
    }

    /// Each candidate plan's worst imagined step: the highest probability of being in a
    /// hazard over its horizon.
    ///
    /// # Shapes
    /// - `imagined`: `[samples, horizon, latent_dim]` → one probability per sample
    pub fn worst_step(&self, imagined: Tensor<3>) -> Vec<f32> {
        let (probabilities, horizon) = self.step_probabilities(imagined);
        probabilities
            .chunks(horizon)
            .map(|steps| steps.iter().copied().fold(0.0, f32::max))
            .collect()
    }

    /// The probability of being in a hazard at every imagined step, `[samples · horizon]`,
    /// and the horizon (at least 1).
    fn step_probabilities(&self, imagined: Tensor<3>) -> (Vec<f32>, usize) {
        let [samples, horizon, d] = imagined.dims();
        let p = burn::tensor::activation::sigmoid(
            self.logits(imagined.reshape([samples * horizon, d])),
        );
        (to_vec(p), horizon.max(1))
    }

    /// Each candidate plan's risk: the highest ratio, over its imagined steps, of the
    /// probability of being in a hazard to that step's threshold (`near_threshold` for the
    /// first `near_steps`); 1 or more violates the guardrail.
    ///
    /// # Shapes
    /// - `imagined`: `[samples, horizon, latent_dim]` → one risk per sample
    pub fn risk(&self, imagined: Tensor<3>) -> Vec<f32> {
        let (probabilities, horizon) = self.step_probabilities(imagined);
        probabilities
            .chunks(horizon)
            .map(|steps| {
                steps.iter().enumerate().fold(0.0_f32, |worst, (step, p)| {
                    let threshold = if step < self.near_steps {
                        self.near_threshold
                    } else {
                        self.threshold
                    };
                    worst.max(p / threshold as f32)
                })
            })
            .collect()
    }

    /// Which candidate plans stay out of every hazard at every imagined step (risk below 1).
    ///
    /// # Shapes
    /// - `imagined`: `[samples, horizon, latent_dim]` → one flag per sample
    pub fn feasible(&self, imagined: Tensor<3>) -> Vec<bool> {
        self.risk(imagined).into_iter().map(|r| r < 1.0).collect()
    }
}

/// Trains a [`HazardClassifier`] on latents labelled by the simulator's hazard flags.
pub struct HazardClassifierTrainer {
    config: HazardClassifierConfig,
    trainer: SmallTrainer<HazardClassifier>,
}

impl HazardClassifierTrainer {
    /// A fresh classifier on `device` (made autodiff).
    pub fn new(config: HazardClassifierConfig, device: &Device) -> Self {
        let trainer = SmallTrainer::new(device, |device| config.init(device));
        Self { config, trainer }
    }

    /// One step of binary cross-entropy on `latents` (`[n · latent_dim]`) and their flags.
    pub fn train_step(&mut self, latents: &[f32], in_hazard: &[bool], learning_rate: f64) -> f32 {
        let n = in_hazard.len();
        let device = self.trainer.device();
        let z = Tensor::<2>::from_data(
            TensorData::new(latents.to_vec(), [n, self.config.latent_dim]),
            device,
        );
        let labels: Vec<i32> = in_hazard.iter().map(|h| i32::from(*h)).collect();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
        let loss = BinaryCrossEntropyLossConfig::new()
            .with_logits(true)
            .init(device)
            .forward(self.trainer.module().logits(z), labels);
        self.trainer.step(loss, learning_rate)
    }

    /// An inference copy of the classifier.
    pub fn classifier(&self) -> HazardClassifier {
        self.trainer.valid()
    }
}
