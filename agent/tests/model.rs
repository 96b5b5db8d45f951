//! Guards the world model: shapes of every module, the regularisers on hand-computed cases,
//! learning (a tiny model overfits a fixed batch), exact checkpoint round trips, the NaN
//! rollback, and a short sim → stream → learner run.

mod common;

use std::sync::Arc;

use agent::model::{
    ActionConditioning, ConvEncoderConfig, EpisodeContextConfig, InverseDynamicsConfig, JepaConfig,
    PROPRIO_DIM, PredictorConfig, RegularizerConfig, SigregConfig, VicregConfig, frames_to_tensor,
    proprio_to_tensor, sigreg_directions, sigreg_loss, vicreg_terms,
};
use agent::train::{Learner, LearnerConfig, TrainConfig, TrainError, Trainer};
use agent::{ReplayBuffer, SequenceBatch};
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn device() -> Device {
    Device::flex()
}

/// A small model on 16×16 frames so tests run in moments.
fn tiny(k: usize) -> JepaConfig {
    JepaConfig::new()
        .with_encoder(
            ConvEncoderConfig::new()
                .with_image_size(16)
                .with_channels(vec![8, 8]),
        )
        .with_predictor(PredictorConfig::new().with_hidden(32).with_blocks(1))
        .with_inverse_dynamics(InverseDynamicsConfig::new().with_hidden(16))
        .with_latent(8)
        .with_rollout_steps(k)
}

/// The trainer's current encoder output for `frames`, as plain numbers.
fn encoded(trainer: &Trainer, frames: Tensor<4>) -> Vec<f32> {
    trainer
        .snapshot()
        .encoder
        .forward(frames, None)
        .into_data()
        .try_to_vec()
        .expect("vec")
}

fn batch(rng: &mut ChaCha8Rng, sequences: usize, k: usize, side: usize) -> SequenceBatch {
    SequenceBatch {
        batch: sequences,
        frames_per_sequence: k + 1,
        height: side,
        width: side,
        frames: (0..sequences * (k + 1) * side * side * 3)
            .map(|_| rng.random_range(0..=255u8))
            .collect(),
        actions: (0..sequences * k * 2)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
        proprio: (0..sequences * (k + 1) * 2)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
    }
}

#[test]
fn every_module_has_the_documented_shapes() {
    let device = device();
    let config = JepaConfig::new().with_latent(32);
    config.check().expect("default config is consistent");
    let model = config.init(&device);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let data = batch(&mut rng, 3, 2, 64);
    let frames = frames_to_tensor(&data.frames, 9, 64, 64, &device);
    assert_eq!(frames.dims(), [9, 3, 64, 64]);
    let z = model.encoder.forward(frames.clone(), None);
    assert_eq!(z.dims(), [9, 32]);
    let a = Tensor::<2>::zeros([9, 2], &device);
    assert_eq!(model.predictor.forward(z.clone(), a).dims(), [9, 32]);
    assert_eq!(
        model.inverse_dynamics.forward(z.clone(), z.clone()).dims(),
        [9, 2]
    );
    let actions = Tensor::<3>::from_data(TensorData::new(data.actions.clone(), [3, 2, 2]), &device);
    let start = z.clone().narrow(0, 0, 3);
    assert_eq!(model.rollout(start, actions.clone()).dims(), [3, 2, 32]);
    let terms = model.losses(&config, frames, None, actions, None);
    assert_eq!(terms.total.dims(), [1]);
    assert_eq!(terms.latents.dims(), [9, 32]);
    let names: Vec<_> = terms.parts.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "one_step",
            "rollout",
            "variance",
            "covariance",
            "inverse_dynamics"
        ]
    );
    // Concatenation-only conditioning has the same shapes.
    let concat = PredictorConfig::new()
        .with_latent_dim(32)
        .with_conditioning(ActionConditioning::Concat)
        .init(&device);
    assert_eq!(
        concat
            .forward(z, Tensor::<2>::zeros([9, 2], &device))
            .dims(),
        [9, 32]
    );
}

#[test]
fn inconsistent_configs_are_refused_with_the_fix() {
    let mut config = JepaConfig::new();
    config.predictor.latent_dim = 7;
    assert!(
        config
            .check()
            .expect_err("mismatch")
            .contains("with_latent")
    );
    let odd = JepaConfig::new().with_encoder(ConvEncoderConfig::new().with_image_size(60));
    assert!(odd.check().is_err());
}

#[test]
fn vicreg_matches_a_hand_computed_case() {
    let device = device();
    // Dimension 0 varies (std sqrt(4/3) > 1: no hinge); dimension 1 is constant (std 0.01).
    let z = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 3.0, -1.0, 3.0, 1.0, 3.0, -1.0, 3.0], [4, 2]),
        &device,
    );
    let (variance, covariance) = vicreg_terms(z, 1.0);
    let variance: f32 = variance.into_scalar();
    let covariance: f32 = covariance.into_scalar();
    // (0 + (1 - sqrt(0 + 1e-4))) / 2 = 0.495; the off-diagonal covariance is 0.
    assert!((variance - 0.495).abs() < 1e-4, "{variance}");
    assert!(covariance.abs() < 1e-6, "{covariance}");
    // Perfectly correlated dimensions: cov = [[v, v], [v, v]], off-diagonal sum 2v² / d = v².
    let z = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0], [4, 2]),
        &device,
    );
    let (_, covariance) = vicreg_terms(z, 1.0);
    let covariance: f32 = covariance.into_scalar();
    let v = 4.0f32 / 3.0;
    assert!((covariance - v * v).abs() < 1e-4, "{covariance}");
}

#[test]
fn sigreg_scores_gaussians_low_and_collapse_high() {
    let device = device();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (n, d) = (512, 16);
    let gaussian: Vec<f32> = (0..n * d)
        .map(|_| {
            let (u1, u2): (f32, f32) = (
                rng.random_range(f32::EPSILON..1.0),
                rng.random_range(0.0..1.0),
            );
            (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect();
    let gaussian = Tensor::<2>::from_data(TensorData::new(gaussian, [n, d]), &device);
    let collapsed = Tensor::<2>::ones([n, d], &device).mul_scalar(0.3);
    let config = SigregConfig::new().with_directions(64);
    let directions = sigreg_directions(&mut rng, d, 64, &device);
    let low: f32 = sigreg_loss(gaussian, directions.clone(), &config).into_scalar();
    let high: f32 = sigreg_loss(collapsed, directions, &config).into_scalar();
    assert!(low < 1.0, "Gaussian samples should pass the test: {low}");
    assert!(
        high > 50.0 * low.max(0.01),
        "collapse should score high: {high} vs {low}"
    );
}

#[test]
fn a_tiny_model_overfits_a_fixed_batch() {
    for regularizer in [
        RegularizerConfig::Vicreg(VicregConfig::new()),
        RegularizerConfig::Sigreg(SigregConfig::new().with_directions(32)),
        RegularizerConfig::Sigreg(
            SigregConfig::new()
                .with_directions(32)
                .with_inverse_dynamics_weight(Some(10.0))
                .with_inverse_dynamics_dims(Some(4)),
        ),
    ] {
        let with_inverse_dynamics = match &regularizer {
            RegularizerConfig::Vicreg(_) => true,
            RegularizerConfig::Sigreg(sigreg) => sigreg.inverse_dynamics_weight.is_some(),
        };
        let config = TrainConfig::new()
            .with_model(tiny(2).with_regularizer(regularizer))
            .with_batch_size(8)
            .with_warmup_steps(5)
            .with_learning_rate(3e-3);
        let mut trainer = Trainer::new(config, &device()).expect("trainer");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let data = batch(&mut rng, 8, 2, 16);
        let first = trainer.train_step(&data, 0.0).expect("step");
        let mut last = first.clone();
        for i in 1..150 {
            last = trainer.train_step(&data, i as f64 / 150.0).expect("step");
        }
        assert!(
            last.loss < 0.5 * first.loss,
            "loss {} → {} did not halve",
            first.loss,
            last.loss
        );
        assert!(last.parts["one_step"] < first.parts["one_step"]);
        assert_eq!(
            last.parts.contains_key("inverse_dynamics"),
            with_inverse_dynamics
        );
        if with_inverse_dynamics {
            assert!(last.parts["inverse_dynamics"] < first.parts["inverse_dynamics"]);
        }
    }
}

#[test]
fn rollout_errors_single_out_the_sequences_the_model_gets_wrong() {
    let config = TrainConfig::new()
        .with_model(tiny(2))
        .with_batch_size(8)
        .with_warmup_steps(5)
        .with_learning_rate(3e-3);
    let mut trainer = Trainer::new(config, &device()).expect("trainer");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let data = batch(&mut rng, 8, 2, 16);
    for i in 0..150 {
        trainer.train_step(&data, i as f64 / 150.0).expect("step");
    }
    // The same starts and actions, but every other sequence ends on a frame it never led to.
    let mut surprising = data.clone();
    let sequence = 3 * 16 * 16 * 3;
    for s in (1..8).step_by(2) {
        let last = &mut surprising.frames[s * sequence + 2 * 16 * 16 * 3..(s + 1) * sequence];
        last.iter_mut()
            .for_each(|b| *b = rng.random_range(0..=255u8));
    }
    let learned = trainer.rollout_errors(&data);
    let scored = trainer.rollout_errors(&surprising);
    assert_eq!(scored.len(), 8);
    for s in 0..8 {
        if s % 2 == 0 {
            assert_eq!(scored[s], learned[s], "sequence {s} is unchanged");
        } else {
            assert!(
                scored[s] > 2.0 * learned[s],
                "sequence {s}: an unseen last frame scored {} against {} for the learned one",
                scored[s],
                learned[s]
            );
        }
    }
}

#[test]
fn checkpoints_round_trip_exactly_and_resume_the_same_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TrainConfig::new()
        .with_model(tiny(1))
        .with_batch_size(4)
        .with_seed(9);
    let mut trainer = Trainer::new(config, &device()).expect("trainer");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let data = batch(&mut rng, 4, 1, 16);
    for _ in 0..3 {
        trainer.train_step(&data, 0.1).expect("step");
    }
    let path = trainer.save_checkpoint(dir.path()).expect("save");
    assert!(path.ends_with("checkpoints/step-00000003"));
    let mut resumed = Trainer::load_checkpoint(dir.path(), &device()).expect("load");
    assert_eq!(resumed.step_count(), 3);
    let frames = frames_to_tensor(&data.frames, 8, 16, 16, &device());
    let a: Vec<f32> = encoded(&trainer, frames.clone());
    let b: Vec<f32> = encoded(&resumed, frames);
    assert_eq!(a, b, "weights differ after loading");
    let next = trainer.train_step(&data, 0.2).expect("step");
    let next_resumed = resumed.train_step(&data, 0.2).expect("step");
    assert_eq!(next.loss.to_bits(), next_resumed.loss.to_bits());
    let after = trainer.train_step(&data, 0.3).expect("step");
    let after_resumed = resumed.train_step(&data, 0.3).expect("step");
    assert_eq!(
        after.loss.to_bits(),
        after_resumed.loss.to_bits(),
        "optimiser state differs"
    );
    // No half-written checkpoint folders are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
        .expect("dir")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert!(names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")));
}

#[test]
fn missing_checkpoints_give_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Trainer::load_checkpoint(&dir.path().join("nothing"), &device())
        .err()
        .expect("error");
    assert!(err.to_string().contains("no such file or folder"), "{err}");
    let err = Trainer::load_checkpoint(dir.path(), &device())
        .err()
        .expect("error");
    assert!(
        err.to_string().contains("no checkpoint in this folder"),
        "{err}"
    );
}

#[test]
fn nan_losses_roll_back_and_repeated_nans_stop_training() {
    let config = TrainConfig::new()
        .with_model(tiny(1))
        .with_batch_size(4)
        .with_max_consecutive_nan(3);
    let mut trainer = Trainer::new(config, &device()).expect("trainer");
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let data = batch(&mut rng, 4, 1, 16);
    trainer.train_step(&data, 0.0).expect("step");
    let frames = frames_to_tensor(&data.frames, 8, 16, 16, &device());
    let before: Vec<f32> = encoded(&trainer, frames.clone());
    trainer.poison_next_steps(1);
    let report = trainer
        .train_step(&data, 0.0)
        .expect("a single NaN is survivable");
    assert!(report.rolled_back);
    let after: Vec<f32> = encoded(&trainer, frames);
    // Rolled back to the weights at the start of the last good step.
    assert_ne!(before, after, "the last good step's update is undone too");
    assert!(
        trainer.train_step(&data, 0.0).is_ok_and(|r| !r.rolled_back),
        "training goes on"
    );
    // A finite loss on the restored weights proves nothing new; one on updated weights ends
    // the streak.
    trainer.train_step(&data, 0.0).expect("step");
    trainer.poison_next_steps(3);
    let mut outcome = Ok(());
    for _ in 0..3 {
        if let Err(err) = trainer.train_step(&data, 0.0) {
            outcome = Err(err);
            break;
        }
    }
    match outcome {
        Err(TrainError::Diverged { count: 3, .. }) => {}
        other => panic!("expected divergence after 3 NaNs, got {other:?}"),
    }
}

#[test]
fn a_short_streamed_run_trains_and_publishes_weights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::reach_world_path();
    let spec = Arc::new(sim::WorldSpec::from_json_file(path).expect("world"));
    let vec_env = sim::VecEnv::new(spec, 4, 0, 1).expect("vec env");
    let stream = sim::stream::spawn(
        vec_env,
        sim::SmoothRandomPolicy::new(4, 0),
        sim::stream::StreamConfig::default(),
    )
    .expect("stream");
    let model = JepaConfig::new()
        .with_encoder(ConvEncoderConfig::new().with_channels(vec![4, 8, 8, 8]))
        .with_predictor(PredictorConfig::new().with_hidden(32).with_blocks(1))
        .with_latent(16)
        .with_rollout_steps(2);
    let trainer = Trainer::new(
        TrainConfig::new().with_model(model).with_batch_size(4),
        &device(),
    )
    .expect("trainer");
    let config = LearnerConfig {
        run_dir: dir.path().to_owned(),
        max_steps: Some(6),
        max_duration: None,
        min_transitions: 64,
        snapshot_every: 2,
        checkpoint_every: 4,
        // Hard-sequence selection on: 12 candidates scored per step of 4.
        sequence_pool: 3,
        ..LearnerConfig::default()
    };
    let learner = Learner::spawn(trainer, ReplayBuffer::new(64 << 20), Some(stream), config)
        .expect("learner");
    let weights = learner.weights().clone();
    let summary = learner.join().expect("training runs");
    assert_eq!(summary.steps, 6);
    assert_eq!(weights.latest().map(|(step, _)| step), Some(6));
    let metrics = std::fs::read_to_string(dir.path().join("metrics.jsonl")).expect("metrics");
    assert_eq!(metrics.lines().count(), 6);
    let first: serde_json::Value =
        serde_json::from_str(metrics.lines().next().expect("line")).expect("json");
    assert!(first["loss"].as_f64().is_some_and(f64::is_finite));
    assert!(
        dir.path()
            .join("checkpoints/step-00000004/model.bpk")
            .is_file()
    );
    assert!(
        dir.path()
            .join("checkpoints/step-00000006/state.json")
            .is_file()
    );
}

#[test]
fn episodes_added_while_training_reach_the_replay_buffer() {
    use agent::Episode;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let episode = |steps: usize, side: usize, rng: &mut ChaCha8Rng| Episode {
        env_id: 0,
        seed: rng.random_range(0..u64::MAX),
        frames: (0..(steps + 1) * side * side * 3)
            .map(|_| rng.random_range(0..=255u8))
            .collect(),
        actions: vec![[0.5, -0.5]; steps],
        states: Vec::new(),
        finished: true,
    };
    let mut replay = ReplayBuffer::new(16 << 20);
    replay.push_episode(episode(12, 16, &mut rng), 16, 16);
    let trainer = Trainer::new(
        TrainConfig::new().with_model(tiny(2)).with_batch_size(2),
        &device(),
    )
    .expect("trainer");
    let config = LearnerConfig {
        run_dir: dir.path().to_owned(),
        max_steps: None,
        max_duration: Some(std::time::Duration::from_secs(60)),
        min_transitions: 1,
        ..LearnerConfig::default()
    };
    let learner = Learner::spawn(trainer, replay, None, config).expect("learner");
    assert!(learner.add_episode(episode(7, 16, &mut rng)));
    // Frames of another size are dropped by the learner, not mixed in.
    assert!(learner.add_episode(episode(5, 8, &mut rng)));
    // Added episodes are taken before a step: two steps later both have been looked at.
    let mut steps = 0;
    while steps < 2 {
        match learner
            .events()
            .recv_timeout(std::time::Duration::from_secs(30))
        {
            Ok(agent::train::LearnerEvent::Step { .. }) => steps += 1,
            Ok(_) => {}
            Err(err) => panic!("no learner step: {err}"),
        }
    }
    learner.request_stop();
    let summary = learner.join().expect("training runs");
    assert_eq!(summary.transitions_seen, 12 + 7);
    assert_eq!(summary.episodes_added, 1);
}

#[test]
fn the_latent_cost_is_lowest_for_the_sequence_that_imagines_the_goal() {
    use agent::plan::{ActionSequences, LatentCostConfig, latent_costs};
    let device = device();
    let model = tiny(1).init(&device);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let data = batch(&mut rng, 1, 1, 16);
    let latent = model
        .encoder
        .forward(frames_to_tensor(&data.frames, 1, 16, 16, &device), None)
        .narrow(0, 0, 1);
    let (samples, horizon) = (16, 5);
    let values: Vec<f32> = (0..samples * horizon * 2)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let candidates = ActionSequences {
        samples,
        horizon,
        action_dim: 2,
        values,
    };
    // The goal is where candidate 7 ends up.
    let chosen = Tensor::<3>::from_data(
        TensorData::new(candidates.sequence(7).to_vec(), [1, horizon, 2]),
        &device,
    );
    let goal = model
        .rollout(latent.clone(), chosen)
        .narrow(1, horizon - 1, 1)
        .reshape([1, 8]);
    let config = LatentCostConfig {
        step_weights: vec![0.0],
        final_weight: 1.0,
        action_weight: 0.0,
    };
    let costs = latent_costs(&model, &latent, &goal, &candidates, &config);
    assert_eq!(costs.len(), samples);
    let best = costs
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i);
    assert_eq!(best, Some(7), "{costs:?}");
    assert!(costs[7] < 1e-8, "{}", costs[7]);
}

#[test]
fn the_critic_ranks_pairs_by_their_step_distance() {
    use agent::plan::{CriticConfig, CriticTrainer, Trajectories};
    use agent::probe::spearman;
    // Constructed trajectories: 12 episodes walking along a gently bent line in 8-d latent
    // space from different starting points, 40 steps each.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let episodes: Vec<Vec<Vec<f32>>> = (0..12)
        .map(|e| {
            let offset = e as f32 * 0.37;
            (0..40)
                .map(|t| {
                    let s = offset + t as f32 * 0.05;
                    (0..8)
                        .map(|i| {
                            let direction = (i as f32 * 1.3).cos();
                            s * direction
                                + 0.1 * (s * (i + 1) as f32 * 0.3).sin()
                                + rng.random_range(-0.01..0.01)
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    // Held-out episodes interleave with the training ones. The episodes overlap in latent
    // space, so "different episodes are far" would be false here: no negative pairs.
    let (test, train): (Vec<_>, Vec<_>) = episodes
        .into_iter()
        .enumerate()
        .partition(|(e, _)| e % 4 == 1);
    let train: Vec<Vec<Vec<f32>>> = train.into_iter().map(|(_, e)| e).collect();
    let test: Vec<Vec<Vec<f32>>> = test.into_iter().map(|(_, e)| e).collect();
    let config = CriticConfig::new()
        .with_latent_dim(8)
        .with_hidden(64)
        .with_max_steps(60.0)
        .with_negative_fraction(0.0);
    let mut trainer = CriticTrainer::new(config.clone(), &device());
    let set = Trajectories {
        episodes: &train,
        hazards: None,
    };
    let config = config.with_reversible(false);
    for step in 0..600 {
        let batch = set.sample(&mut rng, 64, &config).expect("pairs");
        trainer.train_step(&batch, if step < 450 { 3e-3 } else { 1e-3 });
    }
    let critic = trainer.critic();
    let held_out = Trajectories {
        episodes: &test,
        hazards: None,
    };
    let batch = held_out.sample(&mut rng, 256, &config).expect("pairs");
    let n = batch.steps.len();
    let z = Tensor::<2>::from_data(TensorData::new(batch.latents.clone(), [n, 8]), &device());
    let g = Tensor::<2>::from_data(TensorData::new(batch.goals.clone(), [n, 8]), &device());
    let predicted: Vec<f32> = critic.steps(z, g).into_data().try_to_vec().expect("vec");
    let truth: Vec<f64> = batch.steps.iter().map(|s| f64::from(*s)).collect();
    let predicted: Vec<f64> = predicted.iter().map(|p| f64::from(*p)).collect();
    let rho = spearman(&predicted, &truth);
    assert!(
        rho > 0.9,
        "critic rank correlation with the true step distance {rho}"
    );
}

#[test]
fn the_quasimetric_critic_learns_shortest_paths_round_a_bend() {
    use agent::plan::{CriticConfig, CriticTrainer, Trajectories};
    use agent::probe::spearman;
    // A U-shaped corridor of 41 cells: its two arms lie close in latent space (like two
    // rooms either side of a wall), so latent distance misranks their pairs; only the walk
    // round the bend is short. Random walks (stay or move one cell) of 150 steps record it.
    // (Latent distance ranks pairs at 0.45–0.64 here, the hindsight regression at 0.87.)
    const CELLS: usize = 41;
    let cell_latent = |cell: usize, rng: &mut ChaCha8Rng| -> Vec<f32> {
        let s = cell as f32 / (CELLS - 1) as f32; // 0..1 along the corridor
        let (x, y) = if s < 0.4 {
            (0.0, 1.0 - s / 0.4)
        } else if s < 0.6 {
            ((s - 0.4) / 0.2 * 0.15, 0.0)
        } else {
            (0.15, (s - 0.6) / 0.4)
        };
        (0..8)
            .map(|i| {
                let (a, b) = ((i as f32 * 1.7).cos(), (i as f32 * 0.9).sin());
                a * x + b * y + rng.random_range(-0.005..0.005)
            })
            .collect()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut walks = Vec::new();
    for _ in 0..40 {
        let mut cell = rng.random_range(0..CELLS);
        let mut cells = vec![cell];
        for _ in 0..150 {
            cell = match rng.random_range(0..3) {
                0 => cell.saturating_sub(1),
                1 => (cell + 1).min(CELLS - 1),
                _ => cell,
            };
            cells.push(cell);
        }
        walks.push(cells);
    }
    let episodes: Vec<Vec<Vec<f32>>> = walks
        .iter()
        .map(|cells| cells.iter().map(|c| cell_latent(*c, &mut rng)).collect())
        .collect();
    // All walks share one corridor, so goals from other walks are fair here.
    let config = CriticConfig::new()
        .with_latent_dim(8)
        .with_hidden(64)
        .with_embedding(16)
        .with_max_steps(60.0)
        .with_quasimetric(true);
    let mut trainer = CriticTrainer::new(config.clone(), &device());
    let set = Trajectories {
        episodes: &episodes,
        hazards: None,
    };
    for step in 0..1500 {
        let batch = set.sample(&mut rng, 128, &config).expect("steps");
        trainer.train_step(&batch, if step < 1000 { 3e-3 } else { 1e-3 });
    }
    let critic = trainer.critic();
    let pairs: Vec<(usize, usize)> = (0..300)
        .map(|_| (rng.random_range(0..CELLS), rng.random_range(0..CELLS)))
        .collect();
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for (a, b) in &pairs {
        from.extend(cell_latent(*a, &mut rng));
        to.extend(cell_latent(*b, &mut rng));
    }
    let truth: Vec<f64> = pairs.iter().map(|(a, b)| a.abs_diff(*b) as f64).collect();
    let latent_distance: Vec<f64> = from
        .chunks(8)
        .zip(to.chunks(8))
        .map(|(a, b)| f64::from(a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>()))
        .collect();
    let n = pairs.len();
    let z = Tensor::<2>::from_data(TensorData::new(from, [n, 8]), &device());
    let g = Tensor::<2>::from_data(TensorData::new(to, [n, 8]), &device());
    let predicted: Vec<f32> = critic.steps(z, g).into_data().try_to_vec().expect("vec");
    let predicted: Vec<f64> = predicted.iter().map(|p| f64::from(*p)).collect();
    let rho = spearman(&predicted, &truth);
    let baseline = spearman(&latent_distance, &truth);
    assert!(
        baseline < 0.8,
        "the bend should fool latent distance (rank correlation {baseline})"
    );
    assert!(
        rho > 0.9,
        "quasimetric rank correlation with the steps round the bend {rho} (latent distance {baseline})"
    );
    // Steps of one cell cost about one step: the distance is in steps, not just in rank.
    let one = critic
        .steps(
            Tensor::<2>::from_data(
                TensorData::new(cell_latent(20, &mut rng), [1, 8]),
                &device(),
            ),
            Tensor::<2>::from_data(
                TensorData::new(cell_latent(21, &mut rng), [1, 8]),
                &device(),
            ),
        )
        .into_scalar::<f32>();
    assert!((0.3..2.0).contains(&one), "one cell costs {one} steps");
    // One goal for many latents (the planner's case) gives the same distances.
    let from: Vec<f32> = (0..CELLS).flat_map(|c| cell_latent(c, &mut rng)).collect();
    let z = Tensor::<2>::from_data(TensorData::new(from, [CELLS, 8]), &device());
    let g = Tensor::<2>::from_data(TensorData::new(cell_latent(3, &mut rng), [1, 8]), &device());
    let expanded: Vec<f32> = critic
        .steps(z.clone(), g.clone().expand([CELLS, 8]))
        .into_data()
        .try_to_vec()
        .expect("vec");
    let once: Vec<f32> = critic.steps_to(z, g).into_data().try_to_vec().expect("vec");
    for (a, b) in expanded.iter().zip(&once) {
        assert!((a - b).abs() < 1e-4, "{a} against {b}");
    }
}

#[test]
fn guardrails_reject_plans_that_imagine_entering_a_hazard() {
    use agent::plan::{HazardClassifierConfig, HazardClassifierTrainer};
    // Constructed latents in 4-d: the "hazard" is the slab 0.3 < z0 < 0.7.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let in_slab = |z: &[f32]| z[0] > 0.3 && z[0] < 0.7;
    let config = HazardClassifierConfig::new()
        .with_latent_dim(4)
        .with_hidden(32);
    let mut trainer = HazardClassifierTrainer::new(config, &device());
    for _ in 0..600 {
        let latents: Vec<f32> = (0..128 * 4).map(|_| rng.random_range(-1.0..1.5)).collect();
        let flags: Vec<bool> = latents.chunks(4).map(in_slab).collect();
        trainer.train_step(&latents, &flags, 1e-2);
    }
    let classifier = trainer.classifier();
    // Three imagined plans of 5 steps: one stays left of the slab, one walks through it, one
    // jumps over it (never imagined inside).
    let path = |xs: [f32; 5]| {
        xs.iter()
            .flat_map(|x| [*x, 0.1, -0.2, 0.4])
            .collect::<Vec<f32>>()
    };
    let mut values = path([-0.8, -0.6, -0.4, -0.2, 0.0]);
    values.extend(path([-0.2, 0.1, 0.5, 0.9, 1.2]));
    values.extend(path([-0.2, 0.0, 0.2, 0.9, 1.2]));
    let imagined = Tensor::<3>::from_data(TensorData::new(values, [3, 5, 4]), &device());
    assert_eq!(classifier.feasible(imagined), vec![true, false, true]);

    // The first imagined steps are judged by the stricter threshold: a plan whose first step
    // has hazard probability p is rejected when the near threshold is below p, even though
    // the far threshold is above it, and accepted when the near threshold is above p.
    let first = Tensor::<3>::from_data(
        TensorData::new(path([0.28; 5])[..4].to_vec(), [1, 1, 4]),
        &device(),
    );
    let p = f64::from(classifier.worst_step(first)[0]);
    assert!(
        p > 0.01 && p < 0.99,
        "the edge of the slab should be uncertain, p = {p}"
    );
    let edge_values = path([0.28, -0.5, -0.5, -0.5, -0.5]);
    let edge =
        || Tensor::<3>::from_data(TensorData::new(edge_values.clone(), [1, 5, 4]), &device());
    let judged = |threshold: f64, near: f64, near_steps: usize| {
        classifier
            .clone()
            .with_thresholds(threshold, near, near_steps)
            .feasible(edge())[0]
    };
    assert!(!judged(1.0, p * 0.9, 2), "near threshold below p: rejected");
    assert!(judged(1.0, p * 1.1, 2), "near threshold above p: accepted");
    assert!(
        judged(p * 1.1, p * 0.9, 0),
        "no near steps: the far threshold decides"
    );
    assert!(!judged(p * 0.9, 1.0, 0), "far threshold below p: rejected");
}

#[test]
fn with_no_feasible_candidate_the_planner_says_so_and_takes_the_safest() {
    use agent::model::JepaConfig;
    use agent::plan::{
        GoalCost, GoalCostConfig, HazardClassifierConfig, HazardClassifierTrainer, Planner,
        PlannerConfig, decide,
    };
    let device = device();
    let model = JepaConfig::new().with_latent(8).init(&device);
    // A guardrail that has only ever seen hazards: every imagined state violates it.
    let mut trainer = HazardClassifierTrainer::new(
        HazardClassifierConfig::new()
            .with_latent_dim(8)
            .with_hidden(16),
        &device,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..200 {
        let latents: Vec<f32> = (0..64 * 8).map(|_| rng.random_range(-3.0..3.0)).collect();
        trainer.train_step(&latents, &[true; 64], 1e-2);
    }
    let guardrail = trainer.classifier();
    let config = GoalCostConfig::default();
    let latent = Tensor::<2>::random([1, 8], burn::tensor::Distribution::Default, &device);
    let goal = Tensor::<2>::random([1, 8], burn::tensor::Distribution::Default, &device);
    let mut cost = GoalCost::new(&model, None, Some(&guardrail), &config, latent, goal);
    let mut planner = Planner::new(PlannerConfig::cem(3, 16, 4, 2));
    let plan = decide(&mut planner, &mut cost);
    assert!(!plan.stats.feasible, "{:?}", plan.stats);
    assert_eq!(Some(plan.actions.as_slice()), cost.safest());

    // Without the guardrail the same search is feasible.
    let latent = Tensor::<2>::random([1, 8], burn::tensor::Distribution::Default, &device);
    let goal = Tensor::<2>::random([1, 8], burn::tensor::Distribution::Default, &device);
    let mut free = GoalCost::new(&model, None, None, &config, latent, goal);
    let plan = decide(&mut planner, &mut free);
    assert!(plan.stats.feasible && plan.stats.best_cost.is_finite());
}

#[test]
fn hindsight_pairs_pay_for_the_time_their_walk_spent_in_hazards() {
    use agent::plan::{CriticConfig, Trajectories};
    // One episode of 10 frames whose latent is its time; the agent is in a hazard at 4 and 5.
    let episodes = vec![(0..10).map(|t| vec![t as f32]).collect::<Vec<Vec<f32>>>()];
    let hazards = vec![(0..10).map(|t| t == 4 || t == 5).collect::<Vec<bool>>()];
    let set = Trajectories {
        episodes: &episodes,
        hazards: Some(&hazards),
    };
    let config = CriticConfig::new()
        .with_latent_dim(1)
        .with_negative_fraction(0.0)
        .with_hazard_penalty(10.0);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let batch = set.sample(&mut rng, 400, &config).expect("pairs");
    let (mut crossed, mut backwards) = (0, 0);
    for i in 0..400 {
        let (t, u) = (batch.latents[i] as usize, batch.goals[i] as usize);
        assert_eq!(batch.next_latents[i] as usize, (t + 1).min(9));
        // Stepping into frame 4 or 5 costs 10 extra steps each, in either direction.
        let entered: Vec<usize> = if u >= t {
            (t + 1..=u).collect()
        } else {
            (u..t).collect()
        };
        let in_hazard = entered.iter().filter(|s| **s == 4 || **s == 5).count();
        assert_eq!(
            batch.steps[i],
            (t.abs_diff(u) + 10 * in_hazard) as f32,
            "{t}→{u}"
        );
        assert_eq!(batch.chain[i], t + 1 != 4 && t + 1 != 5, "{t}→{u}");
        crossed += usize::from(in_hazard > 0);
        backwards += usize::from(u < t);
    }
    assert!(crossed > 50 && crossed < 350, "{crossed} of 400 crossed");
    assert!(
        backwards > 100,
        "{backwards} of 400 backwards: pairs in both orders"
    );
    // Pushing is not reversible: pairs only go forwards.
    let batch = set
        .sample(&mut rng, 200, &config.with_reversible(false))
        .expect("pairs");
    assert!((0..200).all(|i| batch.goals[i] >= batch.latents[i]));
}

/// Frames of a synthetic world whose episodes differ by a fixed bar (the "door") and whose
/// frames differ by a moving square (the "agent"): `[side, side, 3]` bytes per frame.
fn bar_and_square(bar_column: usize, square: (usize, usize), side: usize) -> Vec<u8> {
    let mut frame = vec![40u8; side * side * 3];
    for row in 0..side {
        let p = (row * side + bar_column) * 3;
        // Faint beside the square, as a door is beside the agent in the latent's loss.
        frame[p..p + 3].copy_from_slice(&[160, 60, 60]);
    }
    for (dr, dc) in [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 1),
        (2, 2),
    ] {
        let p = ((square.0 + dr) * side + square.1 + dc) * 3;
        frame[p..p + 3].copy_from_slice(&[250, 250, 250]);
    }
    frame
}

/// `pairs` episodes with a random bar each, two windows of `k + 1` frames per episode: the
/// square starts anywhere and each action moves it by up to two pixels per axis (so the
/// predictor and the inverse-dynamics head want the square in the latent). The layout
/// `ReplayBuffer::sample_pairs` produces.
fn paired_batch(rng: &mut ChaCha8Rng, pairs: usize, k: usize, side: usize) -> SequenceBatch {
    let (mut frames, mut actions) = (Vec::new(), Vec::new());
    let limit = (side - 3) as f32;
    for _ in 0..pairs {
        let bar = rng.random_range(1..side - 1);
        for _ in 0..2 {
            let mut square = [
                rng.random_range(0..side - 2) as f32,
                rng.random_range(0..side - 2) as f32,
            ];
            for t in 0..=k {
                frames.extend(bar_and_square(
                    bar,
                    (square[0] as usize, square[1] as usize),
                    side,
                ));
                if t < k {
                    let action: [f32; 2] =
                        [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)];
                    for axis in 0..2 {
                        square[axis] =
                            (square[axis] + (2.0 * action[axis]).round()).clamp(0.0, limit);
                    }
                    actions.extend(action);
                }
            }
        }
    }
    SequenceBatch {
        batch: 2 * pairs,
        frames_per_sequence: k + 1,
        height: side,
        width: side,
        frames,
        actions,
        proprio: vec![0.0; 2 * pairs * (k + 1) * 2],
    }
}

#[test]
fn the_context_loss_compares_the_two_windows_of_each_episode() {
    let model_config = tiny(2).with_context(Some(EpisodeContextConfig::new(2)));
    let model = model_config.init(&device());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut data = paired_batch(&mut rng, 4, 2, 16);
    let sequence = 3 * 16 * 16 * 3;
    // Each episode's second window a copy of its first: nothing differs within an episode.
    for pair in 0..4 {
        let (first, second) =
            data.frames[2 * pair * sequence..(2 * pair + 2) * sequence].split_at_mut(sequence);
        second.copy_from_slice(first);
    }
    let context = |data: &SequenceBatch| {
        let frames = frames_to_tensor(&data.frames, 4 * 2 * 3, 16, 16, &device());
        let actions =
            Tensor::<3>::from_data(TensorData::new(data.actions.clone(), [8, 2, 2]), &device());
        let terms = model.losses(&model_config, frames, None, actions, None);
        let (_, value) = terms
            .parts
            .iter()
            .find(|(name, _)| *name == "context")
            .expect("a context term");
        value.clone().into_scalar::<f32>()
    };
    // (Not exactly 0: a kernel may round a row differently by its position in the batch.)
    let same = context(&data);
    assert!(same < 1e-10, "identical windows of one episode: {same}");
    // Swapping two sequences across episodes pairs windows of different episodes.
    let mut mixed = data.clone();
    mixed.frames[sequence..2 * sequence].copy_from_slice(&data.frames[2 * sequence..3 * sequence]);
    let mixed_value = context(&mixed);
    // (An untrained encoder maps these frames close together: any difference will do.)
    assert!(
        mixed_value > 0.0,
        "windows of two episodes compared: {mixed_value}"
    );
    // Without the option there is no context term.
    let plain = tiny(2).init(&device());
    let frames = frames_to_tensor(&data.frames, 24, 16, 16, &device());
    let actions =
        Tensor::<3>::from_data(TensorData::new(data.actions.clone(), [8, 2, 2]), &device());
    let terms = plain.losses(&tiny(2), frames, None, actions, None);
    assert!(terms.parts.iter().all(|(name, _)| *name != "context"));
}

#[test]
fn the_episode_context_holds_what_an_episode_keeps_fixed() {
    let config = TrainConfig::new()
        .with_model(tiny(2).with_context(Some(EpisodeContextConfig::new(2))))
        .with_batch_size(16)
        .with_warmup_steps(5)
        .with_learning_rate(3e-3);
    let mut trainer = Trainer::new(config, &device()).expect("trainer");
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let steps = 250;
    for i in 0..steps {
        let data = paired_batch(&mut rng, 8, 2, 16);
        trainer
            .train_step(&data, i as f64 / steps as f64)
            .expect("step");
    }
    // Held out: 16 episodes (bars) × 6 frames (squares). The context dimensions should vary
    // between episodes and hardly within one.
    let (episodes, per_episode) = (16, 6);
    let mut frames = Vec::new();
    for e in 0..episodes {
        for _ in 0..per_episode {
            let square = (rng.random_range(0..14), rng.random_range(0..14));
            frames.extend(bar_and_square(1 + e * 13 / (episodes - 1), square, 16));
        }
    }
    let images = frames_to_tensor(&frames, episodes * per_episode, 16, 16, &device());
    let latents = encoded(&trainer, images); // [96, 8]
    for dim in 0..2 {
        let values: Vec<f64> = (0..episodes * per_episode)
            .map(|i| f64::from(latents[i * 8 + dim]))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let total = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
        let within: f64 = values
            .chunks(per_episode)
            .map(|episode| {
                let m = episode.iter().sum::<f64>() / per_episode as f64;
                episode.iter().map(|v| (v - m).powi(2)).sum::<f64>()
            })
            .sum();
        assert!(
            total > 1e-3 && within < 0.1 * total,
            "context dimension {dim}: {:.1}% of its variance lies within episodes (total {total:.4})",
            100.0 * within / total.max(1e-12)
        );
    }
}

#[test]
fn window_focus_weighs_the_worst_predicted_windows_more() {
    let k = 2;
    let plain = tiny(k);
    let model = plain.init(&device());
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let data = batch(&mut rng, 8, k, 16);
    let sequence = (k + 1) * 16 * 16 * 3;
    let terms = |config: &JepaConfig, data: &SequenceBatch| {
        let frames = frames_to_tensor(&data.frames, 8 * (k + 1), 16, 16, &device());
        let actions =
            Tensor::<3>::from_data(TensorData::new(data.actions.clone(), [8, k, 2]), &device());
        let terms = model.losses(config, frames, None, actions, None);
        let part = |wanted: &str| {
            let (_, value) = terms
                .parts
                .iter()
                .find(|(name, _)| *name == wanted)
                .expect("a part");
            value.clone().into_scalar::<f32>()
        };
        (
            terms.total.clone().into_scalar::<f32>(),
            part("one_step") + part("rollout"),
        )
    };
    let focused = plain.clone().with_window_focus(Some(2.0));
    // Windows that differ: the weighted mean, whose weights grow with the error, exceeds the
    // plain mean; the logged parts stay the plain means.
    let (total_plain, parts_plain) = terms(&plain, &data);
    let (total_focused, parts_focused) = terms(&focused, &data);
    assert!(
        total_focused > total_plain + 1e-6,
        "focus 2: {total_focused} against {total_plain} without"
    );
    assert!((parts_focused - parts_plain).abs() < 1e-6);
    // Eight copies of one window: every weight is 1 and the focus changes nothing.
    let mut same = data.clone();
    for b in 1..8 {
        same.frames.copy_within(0..sequence, b * sequence);
        same.actions.copy_within(0..2 * k, b * 2 * k);
    }
    let (total_plain, _) = terms(&plain, &same);
    let (total_focused, _) = terms(&focused, &same);
    assert!(
        (total_focused - total_plain).abs() < 1e-5 * total_plain.abs().max(1.0),
        "identical windows: {total_focused} against {total_plain}"
    );
}

#[test]
fn proprioception_fills_the_latent_s_last_dimensions_and_trains() {
    let config = tiny(2)
        .with_regularizer(RegularizerConfig::Sigreg(
            SigregConfig::new().with_directions(16),
        ))
        .with_proprioception(true);
    config.check().expect("valid");
    let model = config.init(&device());
    assert_eq!(model.encoder.latent_dim(), 8);
    assert_eq!(model.encoder.proprio_dims(), PROPRIO_DIM);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let data = batch(&mut rng, 4, 2, 16);
    let frames = frames_to_tensor(&data.frames[..3 * 16 * 16 * 3], 3, 16, 16, &device());
    let proprio = [0.5, -0.25, -1.0, 0.75, 0.0, 0.125];
    let z = model.encoder.forward(
        frames,
        proprio_to_tensor(&model.encoder, &proprio, 3, &device()),
    );
    let z: Vec<f32> = z.into_data().try_to_vec().expect("vec");
    for (i, row) in z.chunks(8).enumerate() {
        assert_eq!(row[6..], proprio[2 * i..2 * i + 2], "frame {i}");
    }
    // It trains (SIGReg on the 6 learned dimensions), and the loss falls.
    let mut trainer = Trainer::new(
        TrainConfig::new()
            .with_model(config)
            .with_batch_size(4)
            .with_warmup_steps(5)
            .with_learning_rate(3e-3),
        &device(),
    )
    .expect("trainer");
    let first = trainer.train_step(&data, 0.0).expect("step");
    let mut last = first.clone();
    for i in 1..80 {
        last = trainer.train_step(&data, i as f64 / 80.0).expect("step");
    }
    assert!(last.loss.is_finite() && last.loss < first.loss);
    // Proprioception and sigreg-id's inverse-dynamics dimensions would overlap: refused.
    let both = tiny(2)
        .with_regularizer(RegularizerConfig::Sigreg(
            SigregConfig::new()
                .with_inverse_dynamics_weight(Some(10.0))
                .with_inverse_dynamics_dims(Some(4)),
        ))
        .with_proprioception(true);
    assert!(
        both.check()
            .expect_err("overlap")
            .contains("--regularizer sigreg")
    );
    // Encoders saved before proprioception existed read pixels only.
    let mut json = serde_json::to_value(ConvEncoderConfig::new()).expect("json");
    json.as_object_mut().expect("object").remove("proprio_dims");
    let old: ConvEncoderConfig = serde_json::from_value(json).expect("loads");
    assert_eq!(old.proprio_dims(), 0);
}

#[test]
fn old_configs_without_an_episode_context_still_load() {
    let mut json = serde_json::to_value(JepaConfig::new()).expect("json");
    json.as_object_mut().expect("object").remove("context");
    json.as_object_mut().expect("object").remove("window_focus");
    let config: JepaConfig = serde_json::from_value(json).expect("loads");
    assert!(config.context.is_none());
    // SIGReg configs from before its inverse-dynamics term load as SIGReg alone.
    let mut sigreg = serde_json::to_value(SigregConfig::new()).expect("json");
    sigreg
        .as_object_mut()
        .expect("object")
        .remove("inverse_dynamics_weight");
    sigreg
        .as_object_mut()
        .expect("object")
        .remove("inverse_dynamics_dims");
    let sigreg: SigregConfig = serde_json::from_value(sigreg).expect("loads");
    assert_eq!(sigreg.inverse_dynamics_weight, None);
    assert_eq!(sigreg.inverse_dynamics_dims, None);
    let all_dims = JepaConfig::new().with_regularizer(RegularizerConfig::Sigreg(
        SigregConfig::new().with_inverse_dynamics_dims(Some(64)),
    ));
    assert!(
        all_dims
            .check()
            .expect_err("64 of 64")
            .contains("--id-dims")
    );
    assert!(config.window_focus.is_none());
    assert_eq!(config.context_dims(), 0);
    let too_many = JepaConfig::new().with_context(Some(EpisodeContextConfig::new(64)));
    assert!(too_many.check().expect_err("64 of 64").contains("fewer"));
    // Hard-sequence selection would split the pairs: refused with the way out.
    let trainer = Trainer::new(
        TrainConfig::new()
            .with_model(tiny(2).with_context(Some(EpisodeContextConfig::new(2))))
            .with_batch_size(4),
        &device(),
    )
    .expect("trainer");
    let refused = Learner::spawn(
        trainer,
        ReplayBuffer::new(1 << 20),
        None,
        LearnerConfig {
            sequence_pool: 2,
            ..LearnerConfig::default()
        },
    );
    assert!(
        matches!(refused, Err(TrainError::Config(message)) if message.contains("sequence_pool"))
    );
    let odd = TrainConfig::new()
        .with_model(tiny(2).with_context(Some(EpisodeContextConfig::new(2))))
        .with_batch_size(5);
    assert!(Trainer::new(odd, &device()).is_err());
}
