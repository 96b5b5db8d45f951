//! Throughput of training and inference, for `kennel bench train`: our default model and a
//! fixed **reference model** anyone can rebuild in another framework (encoder Conv2d
//! 3→32→64→64→64, kernel 4, stride 2, padding 1, ReLU → flatten → Linear 1024→128; predictor
//! MLP (128+2)→256→256→128; loss one-step MSE + VICReg variance and covariance; Adam; batch 64
//! pairs of 64×64 frames for k = 1).

use std::time::Instant;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::SequenceBatch;
use crate::model::{EpisodeContextConfig, JepaConfig, frames_to_tensor, vicreg_terms};
use crate::train::{TrainConfig, Trainer};

/// Medians of one model's timings.
#[derive(Clone, Debug, Serialize)]
pub struct TrainBenchRow {
    /// k (frames per sequence minus one).
    pub k: usize,
    /// Sequences per training step.
    pub batch: usize,
    /// One optimiser step (forward, backward, update), milliseconds.
    pub train_step_ms: f64,
    /// Scoring four candidate sequences per batch sequence for hard-sequence selection
    /// ([`Trainer::rollout_errors`]), milliseconds; `None` for the reference model.
    pub score_pool4_ms: Option<f64>,
    /// Encoding 64 frames without gradients, milliseconds.
    pub encode_ms_b64: f64,
    /// One predictor call on 512 latents (the planner's inner loop), milliseconds.
    pub predict_ms_b512: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Times `f` (after one warm-up call) and returns the median in milliseconds.
fn time_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..repeats.max(1))
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn random_batch(rng: &mut ChaCha8Rng, batch: usize, k: usize) -> SequenceBatch {
    let n = batch * (k + 1);
    SequenceBatch {
        batch,
        frames_per_sequence: k + 1,
        height: 64,
        width: 64,
        frames: (0..n * 64 * 64 * 3)
            .map(|_| rng.random_range(0..=255u8))
            .collect(),
        actions: (0..batch * k * 2)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
        proprio: (0..n * 2).map(|_| rng.random_range(-1.0..1.0)).collect(),
    }
}

/// Times the default model (its [`JepaConfig`] with the CLI's episode context of 4
/// dimensions, AdamW, the trainer's full step).
pub fn bench_default(k: usize, batch: usize, repeats: usize, device: &Device) -> TrainBenchRow {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let model = JepaConfig::new()
        .with_rollout_steps(k)
        .with_context(Some(EpisodeContextConfig::new(4)));
    let config = TrainConfig::new().with_model(model).with_batch_size(batch);
    let latent = config.model.latent_dim();
    let data = random_batch(&mut rng, batch, k);
    let Ok(mut trainer) = Trainer::new(config, device) else {
        unreachable!("the default configuration is valid")
    };
    let train_step_ms = time_ms(repeats, || {
        let _ = trainer.train_step(&data, 0.5);
    });
    let pool = random_batch(&mut rng, 4 * batch, k);
    let score_pool4_ms = Some(time_ms(repeats, || {
        let _ = trainer.rollout_errors(&pool);
    }));
    let model = trainer.snapshot();
    let frames = random_batch(&mut rng, 64, 0).frames;
    let encode_ms_b64 = time_ms(repeats, || {
        let z = model
            .encoder
            .forward(frames_to_tensor(&frames, 64, 64, 64, device), None);
        let _ = z.into_data();
    });
    let z = Tensor::<2>::random([512, latent], burn::tensor::Distribution::Default, device);
    let a = Tensor::<2>::random([512, 2], burn::tensor::Distribution::Default, device);
    let predict_ms_b512 = time_ms(repeats * 4, || {
        let _ = model.predictor.forward(z.clone(), a.clone()).into_data();
    });
    TrainBenchRow {
        k,
        batch,
        train_step_ms,
        score_pool4_ms,
        encode_ms_b64,
        predict_ms_b512,
    }
}

/// The reference model's encoder and predictor.
#[derive(Module, Debug)]
struct ReferenceModel {
    convs: Vec<Conv2d>,
    head: Linear,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    activation: Relu,
}

impl ReferenceModel {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            convs: vec![conv(3, 32), conv(32, 64), conv(64, 64), conv(64, 64)],
            head: LinearConfig::new(1024, 128).init(device),
            fc1: LinearConfig::new(130, 256).init(device),
            fc2: LinearConfig::new(256, 256).init(device),
            fc3: LinearConfig::new(256, 128).init(device),
            activation: Relu::new(),
        }
    }

    /// `[n, 3, 64, 64]` → `[n, 128]`
    fn encode(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for conv in &self.convs {
            x = self.activation.forward(conv.forward(x));
        }
        self.head.forward(x.flatten(1, 3))
    }

    /// `[n, 128]`, `[n, 2]` → `[n, 128]`
    fn predict(&self, z: Tensor<2>, a: Tensor<2>) -> Tensor<2> {
        let x = Tensor::cat(vec![z, a], 1);
        let x = self.activation.forward(self.fc1.forward(x));
        let x = self.activation.forward(self.fc2.forward(x));
        self.fc3.forward(x)
    }
}

/// Times the reference model (k = 1: one-step loss only; k > 1 adds the rollout loss).
pub fn bench_reference(k: usize, batch: usize, repeats: usize, device: &Device) -> TrainBenchRow {
    let ad = device.clone().autodiff();
    ad.seed(3);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut model = ReferenceModel::new(&ad);
    let mut optimizer = AdamConfig::new().init();
    let data = random_batch(&mut rng, batch, k);
    let n = batch * (k + 1);
    let train_step_ms = time_ms(repeats, || {
        let frames = frames_to_tensor(&data.frames, n, 64, 64, &ad);
        let actions =
            Tensor::<3>::from_data(TensorData::new(data.actions.clone(), [batch, k, 2]), &ad);
        let z = model.encode(frames).reshape([batch, k + 1, 128]);
        let current = z.clone().narrow(1, 0, k).reshape([batch * k, 128]);
        let next = z.clone().narrow(1, 1, k).reshape([batch * k, 128]);
        let flat_actions = actions.clone().reshape([batch * k, 2]);
        let mut loss = (model.predict(current, flat_actions) - next)
            .powi_scalar(2)
            .mean();
        if k > 1 {
            let mut zt = z.clone().narrow(1, 0, 1).reshape([batch, 128]);
            for t in 0..k {
                let a = actions.clone().narrow(1, t, 1).reshape([batch, 2]);
                zt = model.predict(zt, a);
                let target = z.clone().narrow(1, t + 1, 1).reshape([batch, 128]);
                loss = loss
                    + (zt.clone() - target)
                        .powi_scalar(2)
                        .mean()
                        .div_scalar(k as f64);
            }
        }
        let (variance, covariance) = vicreg_terms(z.reshape([n, 128]), 1.0);
        let loss = loss + variance + covariance.mul_scalar(0.04);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-3, model.clone(), grads);
        let _ = model.head.weight.val().into_data();
    });
    let inference = model.valid();
    let frames = random_batch(&mut rng, 64, 0).frames;
    let encode_ms_b64 = time_ms(repeats, || {
        let _ = inference
            .encode(frames_to_tensor(&frames, 64, 64, 64, device))
            .into_data();
    });
    let z = Tensor::<2>::random([512, 128], burn::tensor::Distribution::Default, device);
    let a = Tensor::<2>::random([512, 2], burn::tensor::Distribution::Default, device);
    let predict_ms_b512 = time_ms(repeats * 4, || {
        let _ = inference.predict(z.clone(), a.clone()).into_data();
    });
    TrainBenchRow {
        k,
        batch,
        train_step_ms,
        score_pool4_ms: None,
        encode_ms_b64,
        predict_ms_b512,
    }
}

/// Decision latency of the planner in the learned model.
#[derive(Clone, Debug, Serialize)]
pub struct PlanBenchRow {
    /// Candidate sequences per iteration.
    pub samples: usize,
    /// CEM iterations per decision.
    pub iterations: usize,
    /// Decisions per plan.
    pub horizon: usize,
    /// Median milliseconds per decision.
    pub decision_ms_p50: f64,
    /// 99th percentile milliseconds per decision.
    pub decision_ms_p99: f64,
}

/// Times whole receding-horizon CEM decisions of the default model, `decisions` times, on
/// the calling thread's pool (run it in a one-thread pool for the one-core figure): encoding
/// the current frame, imagining every candidate, the critic's cost at every imagined step and
/// the hazard guardrail (fresh weights: the cost of a decision does not depend on them). No
/// deadline, so the figure is the full budget's.
pub fn bench_plan(
    decisions: usize,
    samples: usize,
    iterations: usize,
    horizon: usize,
    device: &Device,
) -> PlanBenchRow {
    use crate::plan::{
        CriticConfig, GoalCost, GoalCostConfig, HazardClassifierConfig, Planner, PlannerConfig,
        decide,
    };
    let config = JepaConfig::new();
    let model = config.init(device);
    let d = config.latent_dim();
    let critic = CriticConfig::new().with_latent_dim(d).init(device);
    let guardrail = HazardClassifierConfig::new()
        .with_latent_dim(d)
        .init(device);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let frame: Vec<u8> = (0..64 * 64 * 3)
        .map(|_| rng.random_range(0..=255u8))
        .collect();
    let goal = model
        .encoder
        .forward(frames_to_tensor(&frame, 1, 64, 64, device), None);
    let cost_config = GoalCostConfig::default();
    let mut planner = Planner::new(PlannerConfig::cem(
        horizon,
        samples,
        (samples / 10).max(4),
        iterations,
    ));
    let mut times: Vec<f64> = (0..decisions.max(2) + 1)
        .map(|_| {
            let start = Instant::now();
            let latent = model
                .encoder
                .forward(frames_to_tensor(&frame, 1, 64, 64, device), None);
            let mut cost = GoalCost::new(
                &model,
                Some(&critic),
                Some(&guardrail),
                &cost_config,
                latent,
                goal.clone(),
            );
            let _ = decide(&mut planner, &mut cost);
            start.elapsed().as_secs_f64() * 1e3
        })
        .skip(1)
        .collect();
    times.sort_by(f64::total_cmp);
    let p99 = times[((times.len() as f64 * 0.99).ceil() as usize)
        .saturating_sub(1)
        .min(times.len() - 1)];
    PlanBenchRow {
        samples,
        iterations,
        horizon,
        decision_ms_p50: median(times.clone()),
        decision_ms_p99: p99,
    }
}
