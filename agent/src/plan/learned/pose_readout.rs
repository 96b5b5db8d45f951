//! The pose readout: a cost model for push tasks that reads the pusher's position and the
//! pushed object's pose off a latent, trained on the poses the simulator reports during
//! exploration (as the guardrail is trained on its hazard flags). The planner then scores
//! imagined latents with push's cost-to-go ([`sim::push_cost_to_go`]) between the poses read
//! off them and the pose read off the goal image's latent.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::trainer::SmallTrainer;
use crate::model::PROPRIO_DIM;
use crate::plan::numeric::{median, to_vec};
use crate::plan::poses::{POSE_DIM, PushPoses, path_costs};

/// A small MLP from a latent to [`PushPoses`].
#[derive(Config, Debug)]
pub struct PoseReadoutConfig {
    /// Size of the latent vector.
    #[config(default = 64)]
    pub latent_dim: usize,
    /// Hidden width (two hidden layers).
    #[config(default = 256)]
    pub hidden: usize,
    /// The latent's last [`PROPRIO_DIM`] numbers are the pusher's position (a model that
    /// reads proprioception): the readout passes them through as the pusher's position
    /// instead of estimating it. Exact on encoded frames (the MLP read it to ~5 cm), and on
    /// imagined latents it is what the predictor imagines of the pusher, so the predictor's
    /// refit learns the pusher's motion in those dimensions.
    #[config(default = false)]
    pub agent_from_proprio: bool,
}

/// Reads [`PushPoses`] off latents.
///
/// Why not the critic: on push, exploration almost never carries the block to a given pose, so
/// a steps-to-goal critic learned from it ranked plans no better than chance (cost ρ 0.03,
/// README, Planning) and even the true simulator needs a cost that draws the pusher behind the
/// block before the block's pose error moves at all.
#[derive(Module, Debug)]
pub struct PoseReadout {
    fc1: Linear,
    fc2: Linear,
    out: Linear,
    activation: Relu,
    /// [`PoseReadoutConfig::agent_from_proprio`] (not a weight: set by the config on load).
    #[module(skip)]
    agent_from_proprio: bool,
}

impl PoseReadoutConfig {
    /// Builds the readout on `device`.
    pub fn init(&self, device: &Device) -> PoseReadout {
        PoseReadout {
            fc1: LinearConfig::new(self.latent_dim, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, POSE_DIM).init(device),
            activation: Relu::new(),
            agent_from_proprio: self.agent_from_proprio,
        }
    }
}

impl PoseReadout {
    /// The readout's raw output.
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]` → `[batch, POSE_DIM]`
    pub fn forward(&self, latent: Tensor<2>) -> Tensor<2> {
        let [_, d] = latent.dims();
        let x = self.activation.forward(self.fc1.forward(latent.clone()));
        let x = self.activation.forward(self.fc2.forward(x));
        let out = self.out.forward(x); // [batch, POSE_DIM]
        if self.agent_from_proprio {
            Tensor::cat(
                vec![
                    latent.narrow(1, d - PROPRIO_DIM, PROPRIO_DIM),
                    out.narrow(1, 2, POSE_DIM - 2),
                ],
                1,
            )
        } else {
            out
        }
    }

    /// The poses shown by each latent.
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]` → `batch` poses
    pub fn poses(&self, latent: Tensor<2>) -> Vec<PushPoses> {
        to_vec(self.forward(latent))
            .chunks_exact(POSE_DIM)
            .map(PushPoses::from_output)
            .collect()
    }

    /// Push's cost-to-go ([`sim::push_cost_to_go`]) of each latent's poses towards the goal
    /// poses (`object_radius`: the object's footprint radius, which weighs its yaw error).
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]` → `batch` costs
    pub fn costs_to_go(&self, latent: Tensor<2>, goal: &PushPoses, object_radius: f32) -> Vec<f32> {
        self.poses(latent)
            .iter()
            .map(|p| sim::push_cost_to_go(p.agent, p.object, goal.object, object_radius))
            .collect()
    }

    /// [`costs_to_go`](Self::costs_to_go) of every imagined step, summed as the oracle sums
    /// the true one: 0.1 per step and 1 more at the last.
    ///
    /// # Shapes
    /// - `imagined`: `[samples, horizon, latent_dim]` → one cost per sample
    pub fn costs(&self, imagined: Tensor<3>, goal: &PushPoses, object_radius: f32) -> Vec<f32> {
        let [samples, horizon, d] = imagined.dims();
        let poses = self.poses(imagined.reshape([samples * horizon, d]));
        path_costs(&poses, horizon, goal, object_radius)
    }
}

/// How well a readout reads held-out latents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoseReadoutReport {
    /// Optimiser steps taken.
    pub steps: usize,
    /// Held-out frames it was judged on.
    pub held_out_frames: usize,
    /// Median error of the pusher's position, metres.
    pub agent_error_m: f32,
    /// Median error of the object's position, metres.
    pub object_error_m: f32,
    /// Median error of the object's yaw, degrees.
    pub yaw_error_deg: f32,
}

/// Trains a [`PoseReadout`] with mean squared error on latents and their true poses.
pub struct PoseReadoutTrainer {
    config: PoseReadoutConfig,
    trainer: SmallTrainer<PoseReadout>,
}

impl PoseReadoutTrainer {
    /// A fresh readout on `device` (made autodiff).
    pub fn new(config: PoseReadoutConfig, device: &Device) -> Self {
        let trainer = SmallTrainer::new(device, |device| config.init(device));
        Self { config, trainer }
    }

    /// One step on `latents` (`[n · latent_dim]`) and `targets` (`[n · POSE_DIM]`); returns
    /// the loss.
    pub fn train_step(&mut self, latents: &[f32], targets: &[f32], learning_rate: f64) -> f32 {
        let n = targets.len() / POSE_DIM;
        let device = self.trainer.device();
        let z = Tensor::<2>::from_data(
            TensorData::new(latents.to_vec(), [n, self.config.latent_dim]),
            device,
        );
        let y = Tensor::<2>::from_data(TensorData::new(targets.to_vec(), [n, POSE_DIM]), device);
        let loss = (self.trainer.module().forward(z) - y).powi_scalar(2).mean();
        self.trainer.step(loss, learning_rate)
    }

    /// An inference copy of the readout.
    pub fn readout(&self) -> PoseReadout {
        self.trainer.valid()
    }
}

/// Median errors of `readout` on `latents` (`[n · latent_dim]`) against `truth`.
pub fn readout_errors(
    readout: &PoseReadout,
    latents: &[f32],
    truth: &[PushPoses],
    latent_dim: usize,
    device: &Device,
) -> (f32, f32, f32) {
    let n = truth.len();
    let z = Tensor::<2>::from_data(TensorData::new(latents.to_vec(), [n, latent_dim]), device);
    let read = readout.poses(z);
    let distance = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    // The median over frames of one error; NaN without frames.
    let error = |of: &dyn Fn(&PushPoses, &PushPoses) -> f32| {
        median(read.iter().zip(truth).map(|(r, t)| of(r, t)).collect()).unwrap_or(f32::NAN)
    };
    (
        error(&|r, t| distance(r.agent, t.agent)),
        error(&|r, t| distance(r.object.position, t.object.position)),
        error(&|r, t| {
            sim::wrap_angle(r.object.yaw - t.object.yaw)
                .abs()
                .to_degrees()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use sim::PlanarPose;

    /// Latents that hold the poses plainly (`[agent, object, cos, sin, noise, noise]`), with
    /// poses drawn across a 2 m arena.
    fn latent_of(poses: &PushPoses, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let mut z = poses.to_target().to_vec();
        z.extend([rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)]);
        z
    }

    fn random_poses(rng: &mut ChaCha8Rng) -> PushPoses {
        PushPoses {
            agent: [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)],
            object: PlanarPose {
                position: [rng.random_range(-0.5..0.5), rng.random_range(-0.5..0.5)],
                yaw: rng.random_range(-3.1..3.1),
            },
        }
    }

    fn trained_readout(device: &Device) -> PoseReadout {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let config = PoseReadoutConfig::new().with_latent_dim(8).with_hidden(64);
        let mut trainer = PoseReadoutTrainer::new(config, device);
        for step in 0..800 {
            let (mut latents, mut targets) = (Vec::new(), Vec::new());
            for _ in 0..64 {
                let poses = random_poses(&mut rng);
                latents.extend(latent_of(&poses, &mut rng));
                targets.extend(poses.to_target());
            }
            let lr = if step < 600 { 3e-3 } else { 5e-4 };
            let loss = trainer.train_step(&latents, &targets, lr);
            assert!(loss.is_finite(), "step {step}: {loss}");
        }
        trainer.readout()
    }

    #[test]
    fn the_readout_learns_poses_and_reports_its_errors() {
        let device = Device::flex();
        let readout = trained_readout(&device);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let truth: Vec<PushPoses> = (0..200).map(|_| random_poses(&mut rng)).collect();
        let latents: Vec<f32> = truth.iter().flat_map(|p| latent_of(p, &mut rng)).collect();
        let (agent, object, yaw) = readout_errors(&readout, &latents, &truth, 8, &device);
        assert!(agent < 0.05 && object < 0.05, "{agent} m, {object} m");
        assert!(yaw < 5.0, "{yaw}°");
        // An untrained readout is far off: the errors above are the training's doing.
        let fresh = PoseReadoutConfig::new().with_latent_dim(8).init(&device);
        let (agent, _, yaw) = readout_errors(&fresh, &latents, &truth, 8, &device);
        assert!(agent > 0.2 && yaw > 20.0, "{agent} m, {yaw}°");
    }

    #[test]
    fn costs_prefer_imagined_paths_that_push_the_object_to_its_goal() {
        let device = Device::flex();
        let readout = trained_readout(&device);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let goal = PushPoses {
            agent: [0.0, 0.0],
            object: PlanarPose {
                position: [0.4, 0.0],
                yaw: 0.0,
            },
        };
        // Both paths start with the object at the origin and the pusher behind it; one
        // pushes it 0.3 m towards the goal, the other leaves it and walks away.
        let step = |t: f32, pushes: bool| PushPoses {
            agent: if pushes {
                [-0.25 + 0.1 * t, 0.0]
            } else {
                [-0.25, 0.1 * t]
            },
            object: PlanarPose {
                position: [if pushes { 0.1 * t } else { 0.0 }, 0.0],
                yaw: 0.0,
            },
        };
        let mut values = Vec::new();
        for pushes in [true, false] {
            for t in 1..=3 {
                values.extend(latent_of(&step(t as f32, pushes), &mut rng));
            }
        }
        let imagined = Tensor::<3>::from_data(TensorData::new(values, [2, 3, 8]), &device);
        let costs = readout.costs(imagined, &goal, 0.3);
        assert!(costs[0] + 0.2 < costs[1], "{costs:?}");
    }
}
