//! Guards the exploration policies: push's exploration seeks the block (so the learner sees
//! contacts), the other shipped worlds keep the plain random walk.

mod common;

use common::load;
use sim::{Env, Observation, STATE_PER_BODY, SmoothRandomPolicy};

/// Steps (out of `episodes` × `steps`) in which the block moved more than 5 mm, under
/// `policy`, and the block's total yaw change in radians.
fn block_motion(mut policy: SmoothRandomPolicy, episodes: u64, steps: usize) -> (usize, f32) {
    let mut env = Env::new(load("push"));
    let (mut moving, mut turned) = (0, 0.0f32);
    for episode in 0..episodes {
        let (mut obs, _) = env.reset(100 + episode).expect("reset");
        for _ in 0..steps {
            let before = block_pose(&obs);
            let step = env.step(&policy.act_one(0, &obs)).expect("step");
            obs = step.obs;
            let after = block_pose(&obs);
            if (after[0] - before[0]).hypot(after[1] - before[1]) > 0.005 {
                moving += 1;
            }
            turned += sim::wrap_angle(after[2] - before[2]).abs();
        }
    }
    (moving, turned)
}

/// The block's planar pose `[x, y, yaw]` from the observation's true state.
fn block_pose(obs: &Observation) -> [f32; 3] {
    let s = &obs.state[STATE_PER_BODY..];
    let (qz, qw) = (s[5], s[6]);
    [s[0], s[1], 2.0 * qz.atan2(qw)]
}

#[test]
fn push_exploration_moves_and_turns_the_block_far_more_than_a_random_walk() {
    let spec = load("push");
    let seeking = SmoothRandomPolicy::for_world(&spec, 1, 7);
    assert!(
        seeking.object_seeking().is_some(),
        "push explores by seeking"
    );
    let (moving_random, turned_random) = block_motion(SmoothRandomPolicy::new(1, 7), 12, 150);
    let (moving_seeking, turned_seeking) = block_motion(seeking, 12, 150);
    assert!(
        moving_seeking >= 4 * moving_random.max(10),
        "block moved in {moving_seeking} seeking steps vs {moving_random} random ones"
    );
    assert!(
        turned_seeking >= 3.0 * turned_random.max(0.5),
        "block turned {turned_seeking} rad seeking vs {turned_random} rad random; moved {moving_seeking} vs {moving_random}"
    );
}

#[test]
fn worlds_without_an_object_task_keep_the_plain_random_walk() {
    for name in ["reach", "two_rooms"] {
        let spec = load(name);
        let mut world_policy = SmoothRandomPolicy::for_world(&spec, 2, 3);
        assert!(world_policy.object_seeking().is_none(), "{name}");
        let mut plain = SmoothRandomPolicy::new(2, 3);
        let mut env = Env::new(spec);
        let (obs, _) = env.reset(0).expect("reset");
        for step in 0..50 {
            for e in 0..2 {
                assert_eq!(
                    world_policy.act_one(e, &obs).0,
                    plain.next_action(e).0,
                    "{name}, env {e}, step {step}"
                );
            }
        }
    }
}

#[test]
fn seeking_is_reproducible_from_its_seed() {
    let spec = load("push");
    let run = || {
        let mut policy = SmoothRandomPolicy::for_world(&spec, 1, 11);
        let mut env = Env::new(spec.clone());
        let (mut obs, _) = env.reset(5).expect("reset");
        let mut actions = Vec::new();
        for _ in 0..80 {
            let action = policy.act_one(0, &obs);
            actions.push(action.0);
            obs = env.step(&action).expect("step").obs;
        }
        actions
    };
    assert_eq!(run(), run());
}
