//! Refitting the predictor on a frozen encoder's latents, for planning.
//!
//! The learner trains encoder and predictor together from pixels; in `kennel demo`'s ten
//! minutes it takes about a thousand steps, most of each going into the convolutional
//! encoder. The plan diagnostic (`kennel eval --plan-diagnostic`) found that the planner's
//! wrong choices near two_rooms' divider are the predictor's: the goal cost ranks candidate
//! plans by their real outcomes almost like the truth (Spearman ρ 0.89–0.92), and by what the
//! predictor imagines far worse (0.43–0.69). Once the encoder is fixed, the predictor is a
//! small network on 64-number latents, and the exploration the critic is fitted on (800
//! episodes, ~150,000 frames) is already encoded: thousands of steps on it, with rollouts as
//! long as the planner imagines, take about a minute. Only the predictor changes, so the
//! critic, guardrail and replay graph (all fitted on the encoder's latents) stay valid.

use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::cost_models::{LatentEpisodes, cosine_decay};
use crate::model::Predictor;

/// How the predictor is refitted.
#[derive(Config, Debug)]
pub struct PredictorFitConfig {
    /// Optimiser steps (0: the learner's predictor is kept).
    #[config(default = 3000)]
    pub steps: usize,
    /// Windows per batch.
    #[config(default = 128)]
    pub batch: usize,
    /// Steps of the open-loop rollout in the loss: the planner's horizon (the learner's
    /// default is 4). On one two_rooms model, 15 planned to 88% and 8 to 76% (50 episodes).
    #[config(default = 15)]
    pub rollout_steps: usize,
    /// Peak learning rate (cosine decay to 1%).
    #[config(default = 3e-4)]
    pub learning_rate: f64,
    /// Share of the episodes held out to measure the rollout error before and after.
    #[config(default = 0.05)]
    pub held_out: f64,
    /// Seed of the batches.
    #[config(default = 0)]
    pub seed: u64,
}

/// What a refit did, measured on held-out episodes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictorFitReport {
    /// Optimiser steps taken.
    pub steps: usize,
    /// Rollout length of the loss and of the held-out error.
    pub rollout_steps: usize,
    /// Held-out windows the errors are measured on.
    pub held_out_windows: usize,
    /// Mean squared latent error of the open-loop rollout on held-out windows, per step of
    /// the rollout: the learner's predictor (empty when no held-out episode is long enough).
    pub held_out_error_before: Vec<f64>,
    /// The same for the refitted predictor.
    pub held_out_error_after: Vec<f64>,
    /// Wall-clock seconds of the refit.
    pub seconds: f64,
}

/// A batch of windows: `starts` `[n, d]`, `targets` `[n, k, d]`, `actions` `[n, k, 2]`, flat.
struct Windows {
    n: usize,
    starts: Vec<f32>,
    targets: Vec<f32>,
    actions: Vec<f32>,
}

/// Every (episode, first frame) with `k` recorded actions after it, in `episodes`.
fn window_starts(
    data: &LatentEpisodes,
    episodes: std::ops::Range<usize>,
    k: usize,
) -> Vec<(usize, usize)> {
    episodes
        .flat_map(|e| {
            let steps = data.actions[e]
                .len()
                .min(data.latents[e].len().saturating_sub(1));
            (0..(steps + 1).saturating_sub(k)).map(move |t| (e, t))
        })
        .collect()
}

fn gather(data: &LatentEpisodes, picks: &[(usize, usize)], k: usize) -> Windows {
    let mut out = Windows {
        n: picks.len(),
        starts: Vec::new(),
        targets: Vec::new(),
        actions: Vec::new(),
    };
    for &(e, t) in picks {
        out.starts.extend_from_slice(&data.latents[e][t]);
        for s in 1..=k {
            out.targets.extend_from_slice(&data.latents[e][t + s]);
            out.actions.extend_from_slice(&data.actions[e][t + s - 1]);
        }
    }
    out
}

/// Per-step mean squared error of `predictor`'s open-loop rollout over `windows`.
fn rollout_errors(
    predictor: &Predictor,
    windows: &Windows,
    k: usize,
    d: usize,
    device: &Device,
) -> Vec<f64> {
    if windows.n == 0 {
        return Vec::new();
    }
    let n = windows.n;
    let start = Tensor::<2>::from_data(TensorData::new(windows.starts.clone(), [n, d]), device);
    let actions =
        Tensor::<3>::from_data(TensorData::new(windows.actions.clone(), [n, k, 2]), device);
    let targets =
        Tensor::<3>::from_data(TensorData::new(windows.targets.clone(), [n, k, d]), device);
    let errors = (predictor.rollout(start, actions) - targets)
        .powi_scalar(2)
        .mean_dim(2)
        .mean_dim(0)
        .reshape([k]); // [k]
    errors.into_data().iter::<f32>().map(f64::from).collect()
}

/// Refits `predictor` (the learner's, on a plain device) on the encoded exploration `data`,
/// which must hold actions. Returns the refitted predictor on `device` and the report.
pub fn fit_predictor(
    predictor: &Predictor,
    data: &LatentEpisodes,
    config: &PredictorFitConfig,
    device: &Device,
    progress: &mut dyn FnMut(f64),
) -> Result<(Predictor, PredictorFitReport), String> {
    let started = Instant::now();
    let k = config.rollout_steps.max(1);
    if data.actions.len() != data.latents.len() {
        return Err(format!(
            "the encoded exploration has actions for {} of its {} episodes; encode it again to refit the predictor",
            data.actions.len(),
            data.latents.len()
        ));
    }
    let Some(d) = data.latents.iter().flatten().next().map(Vec::len) else {
        return Err("the encoded exploration holds no frame".to_owned());
    };
    let episodes = data.latents.len();
    let held =
        ((episodes as f64 * config.held_out).ceil() as usize).min(episodes.saturating_sub(1));
    let train = window_starts(data, 0..episodes - held, k);
    if train.is_empty() {
        return Err(format!(
            "no exploration episode is longer than the refit's rollout of {k} steps"
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // A fixed sample of held-out windows, measured before and after.
    let mut held_out = window_starts(data, episodes - held..episodes, k);
    for i in (1..held_out.len()).rev() {
        held_out.swap(i, rng.random_range(0..=i));
    }
    held_out.truncate(2048);
    let held_out = gather(data, &held_out, k);
    let before = rollout_errors(predictor, &held_out, k, d, device);

    let autodiff = device.clone().autodiff();
    let mut trained = predictor.clone().to_device(&autodiff).train();
    let mut optimizer = AdamWConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
        .init();
    for step in 0..config.steps {
        let picks: Vec<(usize, usize)> = (0..config.batch)
            .map(|_| train[rng.random_range(0..train.len())])
            .collect();
        let w = gather(data, &picks, k);
        let n = w.n;
        let start = Tensor::<2>::from_data(TensorData::new(w.starts, [n, d]), &autodiff);
        let actions = Tensor::<3>::from_data(TensorData::new(w.actions, [n, k, 2]), &autodiff);
        let targets = Tensor::<3>::from_data(TensorData::new(w.targets, [n, k, d]), &autodiff);
        // Teacher-forced one step from every frame of the window, plus the open-loop rollout
        // from its first frame (the learner's two prediction losses).
        let current = Tensor::cat(
            vec![
                start.clone().unsqueeze_dim::<3>(1),
                targets.clone().narrow(1, 0, k - 1),
            ],
            1,
        )
        .reshape([n * k, d]);
        let one_step = (trained.forward(current, actions.clone().reshape([n * k, 2]))
            - targets.clone().reshape([n * k, d]))
        .powi_scalar(2)
        .mean();
        let rollout = (trained.rollout(start, actions) - targets)
            .powi_scalar(2)
            .mean();
        let loss = one_step + rollout;
        let value = loss.clone().into_scalar::<f32>();
        if !value.is_finite() {
            return Err(format!(
                "the predictor's refit diverged at step {step} of {} (loss {value}); look for non-finite latents in the encoded exploration (a diverged checkpoint), or plan with the learner's predictor (--predictor-fit-steps 0)",
                config.steps
            ));
        }
        let lr = config.learning_rate * cosine_decay(step as f64 / config.steps.max(1) as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &trained);
        trained = optimizer.step(lr, trained, grads);
        if step % 50 == 0 {
            progress(step as f64 / config.steps.max(1) as f64);
        }
    }
    let refitted = trained.valid();
    let after = rollout_errors(&refitted, &held_out, k, d, device);
    progress(1.0);
    Ok((
        refitted,
        PredictorFitReport {
            steps: config.steps,
            rollout_steps: k,
            held_out_windows: held_out.n,
            held_out_error_before: before,
            held_out_error_after: after,
            seconds: started.elapsed().as_secs_f64(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionConditioning, PredictorConfig};

    /// Episodes of a point near a wall at x = 0.5: each action moves it by a tenth of itself,
    /// except that it cannot cross the wall (actions lean towards it, so that a third of the
    /// steps meet it). Latents are `[x, y, 0, 0]`.
    fn walled_room(episodes: usize, seed: u64) -> LatentEpisodes {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut data = LatentEpisodes::default();
        for _ in 0..episodes {
            let (mut x, mut y) = (
                rng.random_range(-1.0..0.5f32),
                rng.random_range(-1.0..1.0f32),
            );
            let mut latents = vec![vec![x, y, 0.0, 0.0]];
            let mut actions = Vec::new();
            for _ in 0..30 {
                let a = [
                    rng.random_range(-1.0..1.0f32),
                    rng.random_range(-1.0..1.0f32),
                ];
                x = (x + 0.1 * a[0]).min(0.5);
                y += 0.1 * a[1];
                latents.push(vec![x, y, 0.0, 0.0]);
                actions.push(a);
            }
            data.in_hazard.push(vec![false; latents.len()]);
            data.latents.push(latents);
            data.actions.push(actions);
        }
        data
    }

    fn small_predictor(device: &Device) -> Predictor {
        PredictorConfig::new()
            .with_latent_dim(4)
            .with_hidden(32)
            .with_blocks(1)
            .init(device)
    }

    #[test]
    fn the_refit_learns_the_dynamics() {
        let device = Device::flex();
        let data = walled_room(60, 1);
        let config = PredictorFitConfig::new()
            .with_steps(2000)
            .with_batch(64)
            .with_rollout_steps(4)
            .with_learning_rate(3e-3)
            .with_held_out(0.2);
        let (predictor, report) = fit_predictor(
            &small_predictor(&device),
            &data,
            &config,
            &device,
            &mut |_| {},
        )
        .expect("fit");
        let (before, after) = (
            report.held_out_error_before[3],
            report.held_out_error_after[3],
        );
        assert_eq!(report.held_out_error_after.len(), 4);
        assert!(report.held_out_windows > 100, "{report:?}");
        assert!(after < before / 10.0, "4-step error {before} -> {after}");
        // Five pushes right, then five left, from x = 0.2: it follows them (0.45 after the
        // first, 0.2 again after the second; a sharp wall is learned only in part by an MLP
        // this small, so it is not asked for here).
        let start = Tensor::<2>::from_data(
            TensorData::new(vec![0.2f32, 0.0, 0.0, 0.0], [1, 4]),
            &device,
        );
        let actions = [[0.5f32, 0.0].repeat(5), [-0.5f32, 0.0].repeat(5)].concat();
        let actions = Tensor::<3>::from_data(TensorData::new(actions, [1, 10, 2]), &device);
        let x: Vec<f32> = predictor
            .rollout(start, actions)
            .narrow(2, 0, 1)
            .into_data()
            .iter::<f32>()
            .collect();
        assert!((x[4] - 0.45).abs() < 0.05, "after five pushes right: {x:?}");
        assert!((x[9] - 0.2).abs() < 0.05, "after five pushes back: {x:?}");
    }

    #[test]
    fn exploration_without_actions_is_refused() {
        let device = Device::flex();
        let mut data = walled_room(4, 2);
        data.actions.clear();
        let error = fit_predictor(
            &small_predictor(&device),
            &data,
            &PredictorFitConfig::new().with_steps(1),
            &device,
            &mut |_| {},
        )
        .expect_err("no actions");
        assert!(error.contains("encode it again"), "{error}");
    }

    #[test]
    fn a_non_finite_loss_is_an_error_not_a_predictor() {
        let device = Device::flex();
        let mut data = walled_room(4, 2);
        for frame in data.latents.iter_mut().flatten() {
            frame[0] = f32::NAN;
        }
        let error = fit_predictor(
            &small_predictor(&device),
            &data,
            &PredictorFitConfig::new().with_steps(5).with_batch(4),
            &device,
            &mut |_| {},
        )
        .expect_err("NaN latents");
        assert!(error.contains("diverged at step 0"), "{error}");
    }

    #[test]
    fn a_predictor_tells_its_config() {
        let device = Device::flex();
        for conditioning in [ActionConditioning::Film, ActionConditioning::Concat] {
            let config = PredictorConfig::new()
                .with_latent_dim(6)
                .with_action_dim(3)
                .with_hidden(16)
                .with_blocks(3)
                .with_conditioning(conditioning);
            let told = config.init(&device).config();
            assert_eq!(told.to_string(), config.to_string());
        }
    }
}
