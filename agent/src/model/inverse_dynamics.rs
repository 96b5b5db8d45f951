//! The inverse-dynamics head: which action led from one latent to the next?
//!
//! Without it, VICReg can satisfy its variance term with features that never change within an
//! episode (the door's position) and ignore the agent (PLDM, Sobal et al. 2025, arXiv
//! 2502.14819; measured here in docs/results/learner.md).

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

/// A two-layer MLP on `[z_t, z_t+1]`.
#[derive(Config, Debug)]
pub struct InverseDynamicsConfig {
    /// Size of the latent vector.
    #[config(default = 64)]
    pub latent_dim: usize,
    /// Size of an action.
    #[config(default = 2)]
    pub action_dim: usize,
    /// Hidden width.
    #[config(default = 128)]
    pub hidden: usize,
}

/// Predicts the action between two latents.
#[derive(Module, Debug)]
pub struct InverseDynamics {
    fc1: Linear,
    fc2: Linear,
    activation: Relu,
}

impl InverseDynamicsConfig {
    /// Builds the head on `device`.
    pub fn init(&self, device: &Device) -> InverseDynamics {
        InverseDynamics {
            fc1: LinearConfig::new(2 * self.latent_dim, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.action_dim).init(device),
            activation: Relu::new(),
        }
    }
}

impl InverseDynamics {
    /// # Shapes
    /// - `latent`, `next_latent`: `[batch, latent_dim]` → `[batch, action_dim]`
    pub fn forward(&self, latent: Tensor<2>, next_latent: Tensor<2>) -> Tensor<2> {
        let x = Tensor::cat(vec![latent, next_latent], 1); // [batch, 2·latent_dim]
        self.fc2
            .forward(self.activation.forward(self.fc1.forward(x)))
    }
}
