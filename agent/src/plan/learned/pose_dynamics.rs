//! Push's pose dynamics: a small learned model of how one step's action moves the pusher and
//! the pushed object, in the poses the pose readout ([`PoseReadout`](super::PoseReadout))
//! reads off latents. The planner can imagine push in these poses instead of in latents.
//!
//! It works in the object's own frame (the pusher's offset and the action turned into it), so
//! one contact learned anywhere in the arena holds everywhere, and it predicts one step's
//! change of pose, which it can learn from every exploration frame. It is trained on the poses
//! the simulator reports during exploration, the same labels the pose readout is trained on:
//! privileged. At plan time it sees only what the readout reads off the current frame's latent.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer, Serialize};
use sim::PlanarPose;

use super::trainer::SmallTrainer;
use crate::plan::numeric::{cosine_at, median, to_vec};
use crate::plan::poses::{MOVING_OBJECT_M, MOVING_OBJECT_RAD, POSE_DIM, PushPoses};
use crate::plan::search::ActionSequences;

/// Inputs per step: the pusher's offset from the object and the action, both in the object's
/// frame, then the object's and the pusher's positions in the arena (for the walls).
pub const POSE_FEATURES: usize = 8;

/// Outputs per step: the object's displacement (in its frame), its turn, and the pusher's
/// displacement (in the object's frame).
const DELTA_DIM: usize = 5;

/// Typical size of each output in one step (m, m, rad, m, m; the exploration's standard
/// deviations rounded): the network predicts deltas in these units, so each weighs alike.
const DELTA_SCALE: [f32; DELTA_DIM] = [0.01, 0.01, 0.02, 0.03, 0.03];

/// An object step this small is "still": batches draw half their transitions from the rest.
const STILL_OBJECT: f32 = 1e-3;

/// Steps of the held-out rollouts the report measures: the planner's default horizon.
pub const POSE_DYNAMICS_ROLLOUT: usize = 15;

/// The network: two hidden layers.
#[derive(Config, Debug)]
pub struct PoseDynamicsConfig {
    /// Hidden width. On one push model's 800 exploration episodes (30,000 steps), 512 took
    /// the moving block's 15-step error to 3.0 cm and 2.8° and planned to 60% (50 episodes),
    /// where 256 reached 3.6 cm and 3.6° and planned to 48%; a decision then takes ~16 ms
    /// (CEM 64 × 3, horizon 15) against ~7 ms.
    #[config(default = 512)]
    pub hidden: usize,
}

impl PoseDynamicsConfig {
    /// Builds the model on `device`.
    pub fn init(&self, device: &Device) -> PoseDynamics {
        PoseDynamics {
            fc1: LinearConfig::new(POSE_FEATURES, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, DELTA_DIM).init(device),
            activation: Relu::new(),
        }
    }
}

/// Predicts the next [`PushPoses`] from the current ones and an action.
///
/// Why: the push plan diagnostic found the planner's wrong choices to be the predictor's
/// (`kennel eval --plan-diagnostic`: the cost ranked candidates by their real outcomes at
/// ρ 0.94 and by the imagined ones at −0.27), and the imagined 15-step poses were off by
/// 14 cm (pusher) and 11 cm (block) even after the refit learned them (README, push), more
/// than the contact geometry a push depends on (a 6 cm pusher against 10 cm bars).
#[derive(Module, Debug)]
pub struct PoseDynamics {
    fc1: Linear,
    fc2: Linear,
    out: Linear,
    activation: Relu,
}

impl PoseDynamics {
    /// The change of pose in [`DELTA_SCALE`] units.
    ///
    /// # Shapes
    /// - `features`: `[batch, POSE_FEATURES]` → `[batch, 5]`
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        let x = self.activation.forward(self.fc1.forward(features));
        let x = self.activation.forward(self.fc2.forward(x));
        self.out.forward(x)
    }

    /// The poses one step after each of `poses` under the matching action.
    pub fn step(
        &self,
        poses: &[PushPoses],
        actions: &[[f32; 2]],
        device: &Device,
    ) -> Vec<PushPoses> {
        let n = poses.len();
        let features: Vec<f32> = poses
            .iter()
            .zip(actions)
            .flat_map(|(p, a)| features(p, *a))
            .collect();
        let input = Tensor::<2>::from_data(TensorData::new(features, [n, POSE_FEATURES]), device);
        let deltas = to_vec(self.forward(input));
        poses
            .iter()
            .zip(deltas.chunks_exact(DELTA_DIM))
            .map(|(p, d)| apply(p, d))
            .collect()
    }

    /// The poses after each step of each candidate from `start`: `samples · horizon` poses,
    /// sample-major (as [`ActionSequences::values`]).
    pub fn rollout(
        &self,
        start: &PushPoses,
        candidates: &ActionSequences,
        device: &Device,
    ) -> Vec<PushPoses> {
        let (s, h, a) = (
            candidates.samples,
            candidates.horizon,
            candidates.action_dim,
        );
        let mut poses = vec![*start; s];
        let mut out = vec![*start; s * h];
        for t in 0..h {
            let actions: Vec<[f32; 2]> = (0..s)
                .map(|i| {
                    let v = &candidates.values[(i * h + t) * a..];
                    [v[0], v.get(1).copied().unwrap_or(0.0)]
                })
                .collect();
            poses = self.step(&poses, &actions, device);
            for (i, p) in poses.iter().enumerate() {
                out[i * h + t] = *p;
            }
        }
        out
    }
}

/// `v` turned from the arena's frame into the object's (yaw `yaw`).
fn into_object_frame(v: [f32; 2], yaw: f32) -> [f32; 2] {
    let (sin, cos) = yaw.sin_cos();
    [cos * v[0] + sin * v[1], -sin * v[0] + cos * v[1]]
}

/// `v` turned from the object's frame (yaw `yaw`) into the arena's.
fn from_object_frame(v: [f32; 2], yaw: f32) -> [f32; 2] {
    let (sin, cos) = yaw.sin_cos();
    [cos * v[0] - sin * v[1], sin * v[0] + cos * v[1]]
}

/// The model's input for `poses` and `action`.
fn features(poses: &PushPoses, action: [f32; 2]) -> [f32; POSE_FEATURES] {
    let o = &poses.object;
    let offset = into_object_frame(
        [
            poses.agent[0] - o.position[0],
            poses.agent[1] - o.position[1],
        ],
        o.yaw,
    );
    let action = into_object_frame(action, o.yaw);
    [
        offset[0],
        offset[1],
        action[0],
        action[1],
        o.position[0],
        o.position[1],
        poses.agent[0],
        poses.agent[1],
    ]
}

/// The model's target from `now` to `next`, in [`DELTA_SCALE`] units.
fn target(now: &PushPoses, next: &PushPoses) -> [f32; DELTA_DIM] {
    let yaw = now.object.yaw;
    let object = into_object_frame(
        [
            next.object.position[0] - now.object.position[0],
            next.object.position[1] - now.object.position[1],
        ],
        yaw,
    );
    let agent = into_object_frame(
        [next.agent[0] - now.agent[0], next.agent[1] - now.agent[1]],
        yaw,
    );
    let turn = sim::wrap_angle(next.object.yaw - yaw);
    let raw = [object[0], object[1], turn, agent[0], agent[1]];
    std::array::from_fn(|i| raw[i] / DELTA_SCALE[i])
}

/// `poses` moved by `delta` (in [`DELTA_SCALE`] units).
fn apply(poses: &PushPoses, delta: &[f32]) -> PushPoses {
    let d: [f32; DELTA_DIM] = std::array::from_fn(|i| delta[i] * DELTA_SCALE[i]);
    let yaw = poses.object.yaw;
    let object = from_object_frame([d[0], d[1]], yaw);
    let agent = from_object_frame([d[3], d[4]], yaw);
    PushPoses {
        agent: [poses.agent[0] + agent[0], poses.agent[1] + agent[1]],
        object: PlanarPose {
            position: [
                poses.object.position[0] + object[0],
                poses.object.position[1] + object[1],
            ],
            yaw: sim::wrap_angle(yaw + d[2]),
        },
    }
}

/// How the pose dynamics are fitted.
#[derive(Config, Debug)]
pub struct PoseDynamicsFitConfig {
    /// The network.
    #[config(default = "PoseDynamicsConfig::new()")]
    pub model: PoseDynamicsConfig,
    /// Optimiser steps (0: none fitted; the planner imagines push in latents). About 6
    /// minutes on two cores at the defaults; 12,000 steps of a 256-wide network (47 s)
    /// reached 4.2 cm and 4.6° and planned to 44% on the model above.
    #[config(default = 30_000)]
    pub steps: usize,
    /// Transitions per step, half of them with the object moving.
    #[config(default = 512)]
    pub batch: usize,
    /// Peak AdamW learning rate (cosine decay to 1%).
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the batches and of the initial weights.
    #[config(default = 0)]
    pub seed: u64,
}

/// How well fitted pose dynamics imagine held-out exploration, open loop over
/// [`POSE_DYNAMICS_ROLLOUT`] steps (median errors at the last step).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoseDynamicsReport {
    /// Optimiser steps taken.
    pub steps: usize,
    /// Transitions it was fitted on.
    pub transitions: usize,
    /// Held-out windows measured (one every 5 frames of every 20th episode).
    pub held_out_windows: usize,
    /// The pusher's position error, metres.
    #[serde(deserialize_with = "null_as_nan")]
    pub agent_m: f32,
    /// The object's position error, metres.
    #[serde(deserialize_with = "null_as_nan")]
    pub object_m: f32,
    /// The object's yaw error, degrees.
    #[serde(deserialize_with = "null_as_nan")]
    pub yaw_deg: f32,
    /// Windows in which the object moves (more than 2 cm or 3°).
    pub moving_windows: usize,
    /// The object's position error on those, metres.
    #[serde(deserialize_with = "null_as_nan")]
    pub moving_object_m: f32,
    /// The object's yaw error on those, degrees.
    #[serde(deserialize_with = "null_as_nan")]
    pub moving_yaw_deg: f32,
    /// On those windows, the object's position error of a model that leaves it where it is:
    /// what learning the contact must beat.
    #[serde(deserialize_with = "null_as_nan")]
    pub moving_object_if_still_m: f32,
}

/// Reads a figure that JSON holds as `null` (a median of no windows, NaN when written) back
/// as NaN.
fn null_as_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(deserializer)?.unwrap_or(f32::NAN))
}

/// Fits pose dynamics on exploration poses (`[episode][frame]`, as the pose readout's
/// targets) and actions (`[episode][step]`), holding out every 20th episode to measure
/// open-loop rollouts; `progress` hears the fraction done. `None` when no episode has two
/// frames with poses.
pub fn fit_pose_dynamics(
    poses: &[Vec<[f32; POSE_DIM]>],
    actions: &[Vec<[f32; 2]>],
    config: &PoseDynamicsFitConfig,
    device: &Device,
    progress: &mut dyn FnMut(f64),
) -> Option<(PoseDynamics, PoseDynamicsReport)> {
    let episodes: Vec<(Vec<PushPoses>, &[[f32; 2]])> = poses
        .iter()
        .zip(actions)
        .map(|(p, a)| {
            let p: Vec<PushPoses> = p.iter().map(|t| PushPoses::from_output(t)).collect();
            let steps = a.len().min(p.len().saturating_sub(1));
            (p, &a[..steps])
        })
        .collect();
    let (mut moving, mut still) = (Vec::new(), Vec::new());
    for (e, (p, a)) in episodes.iter().enumerate() {
        if e % 20 == 19 {
            continue;
        }
        for t in 0..a.len() {
            let y = target(&p[t], &p[t + 1]);
            let x = features(&p[t], a[t]);
            let object_step = (y[0] * DELTA_SCALE[0]).abs()
                + (y[1] * DELTA_SCALE[1]).abs()
                + (y[2] * DELTA_SCALE[2]).abs();
            if object_step > STILL_OBJECT {
                moving.push((x, y));
            } else {
                still.push((x, y));
            }
        }
    }
    if moving.is_empty() && still.is_empty() {
        return None;
    }
    let mut trainer = SmallTrainer::new(device, |device| {
        device.seed(config.seed);
        config.model.init(device)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    for step in 0..config.steps {
        let mut x = Vec::with_capacity(config.batch * POSE_FEATURES);
        let mut y = Vec::with_capacity(config.batch * DELTA_DIM);
        for i in 0..config.batch {
            // Alternate between the pools, or draw from the only one that has any.
            let pool = if (i % 2 == 0 && !moving.is_empty()) || still.is_empty() {
                &moving
            } else {
                &still
            };
            let (features, target) = &pool[rng.random_range(0..pool.len())];
            x.extend_from_slice(features);
            y.extend_from_slice(target);
        }
        let n = config.batch;
        let x = Tensor::<2>::from_data(TensorData::new(x, [n, POSE_FEATURES]), trainer.device());
        let y = Tensor::<2>::from_data(TensorData::new(y, [n, DELTA_DIM]), trainer.device());
        let loss = (trainer.module().forward(x) - y).powi_scalar(2).mean();
        trainer.descend(loss, config.learning_rate * cosine_at(step, config.steps));
        if step % 200 == 0 {
            progress(step as f64 / config.steps.max(1) as f64);
        }
    }
    let model = trainer.valid();
    let held_out: Vec<_> = episodes
        .iter()
        .enumerate()
        .filter(|(e, _)| e % 20 == 19)
        .map(|(_, episode)| episode)
        .collect();
    let mut report = rollout_errors(&model, &held_out, device);
    report.steps = config.steps;
    report.transitions = moving.len() + still.len();
    progress(1.0);
    Some((model, report))
}

/// Median open-loop errors of `model` over windows of `episodes` (one every 5 frames).
fn rollout_errors(
    model: &PoseDynamics,
    episodes: &[&(Vec<PushPoses>, &[[f32; 2]])],
    device: &Device,
) -> PoseDynamicsReport {
    let k = POSE_DYNAMICS_ROLLOUT;
    let (mut starts, mut ends, mut actions) = (Vec::new(), Vec::new(), Vec::new());
    for (poses, acts) in episodes {
        for t in (0..acts.len().saturating_sub(k - 1)).step_by(5) {
            starts.push(poses[t]);
            ends.push(poses[t + k]);
            actions.push(&acts[t..t + k]);
        }
    }
    let mut imagined = starts.clone();
    for step in 0..k {
        let now: Vec<[f32; 2]> = actions.iter().map(|a| a[step]).collect();
        imagined = model.step(&imagined, &now, device);
    }
    let distance = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    let turn = |a: f32, b: f32| sim::wrap_angle(a - b).abs().to_degrees();
    let moved: Vec<bool> = starts
        .iter()
        .zip(&ends)
        .map(|(s, e)| {
            distance(s.object.position, e.object.position) > MOVING_OBJECT_M
                || turn(s.object.yaw, e.object.yaw).to_radians() > MOVING_OBJECT_RAD
        })
        .collect();
    let pick = |f: &dyn Fn(usize) -> f32, only_moving: bool| {
        let values: Vec<f32> = (0..ends.len())
            .filter(|i| !only_moving || moved[*i])
            .map(f)
            .collect();
        median(values).unwrap_or(f32::NAN)
    };
    let object = |i: usize| distance(imagined[i].object.position, ends[i].object.position);
    let yaw = |i: usize| turn(imagined[i].object.yaw, ends[i].object.yaw);
    PoseDynamicsReport {
        held_out_windows: ends.len(),
        agent_m: pick(&|i| distance(imagined[i].agent, ends[i].agent), false),
        object_m: pick(&object, false),
        yaw_deg: pick(&yaw, false),
        moving_windows: moved.iter().filter(|m| **m).count(),
        moving_object_m: pick(&object, true),
        moving_yaw_deg: pick(&yaw, true),
        moving_object_if_still_m: pick(
            &|i| distance(starts[i].object.position, ends[i].object.position),
            true,
        ),
        ..PoseDynamicsReport::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poses_survive_the_round_trip_through_the_object_frame() {
        let now = PushPoses {
            agent: [0.3, -0.2],
            object: PlanarPose {
                position: [0.1, 0.2],
                yaw: 2.5,
            },
        };
        let next = PushPoses {
            agent: [0.33, -0.15],
            object: PlanarPose {
                position: [0.11, 0.19],
                yaw: -3.1,
            },
        };
        let back = apply(&now, &target(&now, &next));
        assert!((back.agent[0] - next.agent[0]).abs() < 1e-5);
        assert!((back.agent[1] - next.agent[1]).abs() < 1e-5);
        assert!((back.object.position[0] - next.object.position[0]).abs() < 1e-5);
        assert!((back.object.position[1] - next.object.position[1]).abs() < 1e-5);
        assert!(sim::wrap_angle(back.object.yaw - next.object.yaw).abs() < 1e-5);
    }

    #[test]
    fn a_report_without_moving_windows_survives_json() {
        let report = PoseDynamicsReport {
            moving_object_m: f32::NAN,
            ..PoseDynamicsReport::default()
        };
        let text = serde_json::to_string(&report).expect("serialise");
        assert!(text.contains("\"moving_object_m\":null"), "{text}");
        let back: PoseDynamicsReport = serde_json::from_str(&text).expect("deserialise");
        assert!(back.moving_object_m.is_nan());
        assert_eq!(back.steps, report.steps);
    }
}
