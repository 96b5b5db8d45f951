//! Push's pose dynamics: fitted on a synthetic push, they learn the contact (the object moves
//! where the pusher presses it, and turns), imagine candidates that push the object to its
//! goal as cheaper than ones that do not, and are saved and loaded with the cost models. Its
//! own test binary: the backend's random generator is global.

mod common;

use agent::plan::{
    ActionSequences, CostModels, CostModelsConfig, CriticConfig, POSE_DIM, PoseDynamics,
    PoseDynamicsConfig, PoseDynamicsFitConfig, PushPoses, fit_pose_dynamics, path_costs,
};
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::PlanarPose;

/// Distance between the pusher's and the object's centres at contact.
const CONTACT: f32 = 0.15;
/// The pusher's step at full action.
const SPEED: f32 = 0.05;

/// One step of a synthetic push: the pusher moves; where it would overlap the object, the
/// object is pushed back out along the contact normal and turns by how far off-centre (in
/// its own frame) the push lands.
fn push_step(p: &PushPoses, action: [f32; 2]) -> PushPoses {
    let agent = [
        p.agent[0] + SPEED * action[0],
        p.agent[1] + SPEED * action[1],
    ];
    let o = p.object.position;
    let (dx, dy) = (o[0] - agent[0], o[1] - agent[1]);
    let distance = dx.hypot(dy).max(1e-6);
    let mut object = p.object;
    if distance < CONTACT {
        let depth = CONTACT - distance;
        let normal = [dx / distance, dy / distance];
        object.position = [o[0] + depth * normal[0], o[1] + depth * normal[1]];
        // The normal's sideways part in the object's frame turns it.
        let (sin, cos) = p.object.yaw.sin_cos();
        let sideways = -sin * normal[0] + cos * normal[1];
        object.yaw = sim::wrap_angle(p.object.yaw + 4.0 * depth * sideways);
    }
    PushPoses { agent, object }
}

/// Per episode, the poses of every frame and the actions between them.
type Episodes = (Vec<Vec<[f32; POSE_DIM]>>, Vec<Vec<[f32; 2]>>);

/// Episodes of a pusher walking at the object with noise.
fn synthetic_pushes(episodes: usize, seed: u64) -> Episodes {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut all_poses, mut all_actions) = (Vec::new(), Vec::new());
    for _ in 0..episodes {
        let mut p = PushPoses {
            agent: [rng.random_range(-0.8..0.8), rng.random_range(-0.8..0.8)],
            object: PlanarPose {
                position: [rng.random_range(-0.3..0.3), rng.random_range(-0.3..0.3)],
                yaw: rng.random_range(-3.0..3.0),
            },
        };
        let (mut poses, mut actions) = (vec![p.to_target()], Vec::new());
        for _ in 0..60 {
            let to = [
                p.object.position[0] - p.agent[0],
                p.object.position[1] - p.agent[1],
            ];
            let length = to[0].hypot(to[1]).max(1e-6);
            let action = [
                (0.8 * to[0] / length + rng.random_range(-0.6..0.6)).clamp(-1.0, 1.0),
                (0.8 * to[1] / length + rng.random_range(-0.6..0.6)).clamp(-1.0, 1.0),
            ];
            p = push_step(&p, action);
            poses.push(p.to_target());
            actions.push(action);
        }
        all_poses.push(poses);
        all_actions.push(actions);
    }
    (all_poses, all_actions)
}

fn fit_config(steps: usize) -> PoseDynamicsFitConfig {
    PoseDynamicsFitConfig::new()
        .with_model(PoseDynamicsConfig::new().with_hidden(64))
        .with_steps(steps)
        .with_batch(128)
        .with_learning_rate(3e-3)
}

fn fitted(steps: usize) -> (PoseDynamics, agent::plan::PoseDynamicsReport) {
    let (poses, actions) = synthetic_pushes(60, 1);
    fit_pose_dynamics(
        &poses,
        &actions,
        &fit_config(steps),
        &Device::flex(),
        &mut |_| {},
    )
    .expect("episodes with poses")
}

#[test]
fn fitted_pose_dynamics_learn_the_push_and_imagine_pushing_to_the_goal_as_cheaper() {
    let (dynamics, report) = fitted(2000);
    assert_eq!(report.steps, 2000);
    assert!(report.moving_windows > 10, "{report:?}");
    // Leaving the object where it is misses by the whole push; the fitted model, by far less.
    assert!(
        report.moving_object_m < 0.5 * report.moving_object_if_still_m,
        "{report:?}"
    );
    let (_, untrained) = fitted(0);
    assert!(
        untrained.moving_object_m > report.moving_object_m * 2.0,
        "{untrained:?} vs {report:?}"
    );

    // The pusher behind the object as seen from the goal, 0.4 m away along x: walking along
    // +x pushes it there, walking along +y walks off.
    let start = PushPoses {
        agent: [-0.2, 0.0],
        object: PlanarPose {
            position: [0.0, 0.0],
            yaw: 0.3,
        },
    };
    let goal = PushPoses {
        agent: [0.0, 0.0],
        object: PlanarPose {
            position: [0.4, 0.0],
            yaw: 0.3,
        },
    };
    let horizon = 8;
    let mut values = Vec::new();
    for action in [[1.0f32, 0.0], [0.0, 1.0]] {
        for _ in 0..horizon {
            values.extend(action);
        }
    }
    let candidates = ActionSequences {
        samples: 2,
        horizon,
        action_dim: 2,
        values,
    };
    let imagined = dynamics.rollout(&start, &candidates, &Device::flex());
    assert_eq!(imagined.len(), 2 * horizon);
    let pushed = imagined[horizon - 1].object.position[0];
    assert!(pushed > 0.15, "the object imagined pushed to x = {pushed}");
    let costs = path_costs(&imagined, horizon, &goal, 0.2);
    assert!(costs[0] + 0.1 < costs[1], "{costs:?}");
}

#[test]
fn pose_dynamics_are_fitted_only_when_asked_and_saved_and_loaded_with_the_cost_models() {
    const D: usize = 8;
    let device = Device::flex();
    let mut data = common::random_latent_episodes(D);
    // Forty episodes, so two are held out for the report.
    let (poses, actions) = synthetic_pushes(40, 2);
    // The synthetic episodes' frame counts, with latents to match.
    data.latents = poses.iter().map(|p| vec![vec![0.1; D]; p.len()]).collect();
    data.in_hazard = poses.iter().map(|p| vec![false; p.len()]).collect();
    data.poses = poses;
    data.actions = actions;
    let base = CostModelsConfig::new()
        .with_critic(CriticConfig::new().with_latent_dim(D).with_hidden(16))
        .with_critic_steps(5)
        .with_guardrail_steps(5)
        .with_batch(8)
        .with_pose_readout_steps(Some(20));
    let without = CostModels::fit(&data, base.clone(), &device, &mut |_| {});
    assert!(without.pose_dynamics.is_none() && without.report.pose_dynamics.is_none());

    let config = base.with_pose_dynamics(Some(fit_config(50)));
    let models = CostModels::fit(&data, config, &device, &mut |_| {});
    let dynamics = models.pose_dynamics.as_ref().expect("pose dynamics");
    let report = models.report.pose_dynamics.expect("a report");
    assert_eq!(report.steps, 50);
    assert!(
        report.moving_windows > 0 && report.moving_object_m.is_finite(),
        "{report:?}"
    );

    let dir =
        std::env::temp_dir().join(format!("cost-models-pose-dynamics-{}", std::process::id()));
    models.save(&dir).expect("save");
    let loaded = CostModels::load(&dir, &device)
        .expect("load")
        .expect("saved");
    assert_eq!(loaded.report.pose_dynamics, models.report.pose_dynamics);
    let start = PushPoses::from_output(&data.poses[0][0]);
    let next = |d: &PoseDynamics| d.step(&[start], &[[0.5, -0.5]], &device)[0];
    assert_eq!(
        next(dynamics),
        next(loaded.pose_dynamics.as_ref().expect("loaded"))
    );
    std::fs::remove_dir_all(&dir).ok();
}
