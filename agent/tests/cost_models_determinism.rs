//! The critic and guardrail fit is reproducible: the same data and config give the same
//! models, bit for bit. Its own test binary (its own process), because the backend's random
//! generator is global and tests in one binary run on parallel threads.

mod common;

use agent::plan::{CostModels, CostModelsConfig, CriticConfig, LatentEpisodes};
use burn::prelude::*;

const D: usize = 8;

fn episodes() -> LatentEpisodes {
    common::random_latent_episodes(D)
}

/// The fitted critic's estimates and the guardrail's risks on fixed latents.
fn fit(seed: u64) -> (Vec<f32>, Vec<f32>) {
    let device = Device::flex();
    let base = CostModelsConfig::new()
        .with_critic(CriticConfig::new().with_latent_dim(D).with_hidden(16))
        .with_critic_steps(30)
        .with_guardrail_steps(20)
        .with_batch(16)
        .with_seed(seed);
    let config = base
        .clone()
        .with_guardrail(base.guardrail.clone().with_latent_dim(D).with_hidden(16));
    let models = CostModels::fit(&episodes(), config, &device, &mut |_| {});
    let probe: Vec<f32> = (0..4 * D).map(|i| (i as f32 * 0.37).sin()).collect();
    let latents = Tensor::<2>::from_data(TensorData::new(probe.clone(), [4, D]), &device);
    let goal = Tensor::<2>::from_data(TensorData::new(probe[..D].to_vec(), [1, D]), &device);
    let steps = models
        .critic
        .steps_to(latents.clone(), goal)
        .into_data()
        .try_to_vec::<f32>()
        .expect("critic output");
    let guardrail = models.guardrail.expect("hazard frames were given");
    let risk = guardrail.risk(latents.reshape([4, 1, D]));
    (steps, risk)
}

#[test]
fn the_same_data_and_seed_fit_the_same_critic_and_guardrail() {
    let first = fit(3);
    assert_eq!(first, fit(3), "two fits with seed 3 differ");
    assert_ne!(first.0, fit(4).0, "another seed should fit another critic");
}
