//! Guards `Env` and `VecEnv` semantics: Gymnasium's meanings of reset/step, clipping and NaN
//! handling, success and truncation, hazard counting, and next-step autoreset.

mod common;

use std::sync::Arc;

use common::load;
use sim::{Action, Env, SimError, VecEnv, WorldSpec};

#[test]
fn step_before_reset_is_an_error() {
    let mut env = Env::new(load("reach"));
    assert!(matches!(
        env.step(&Action([0.0, 0.0])),
        Err(SimError::NotReset)
    ));
}

#[test]
fn nan_actions_are_errors_and_out_of_bounds_actions_are_clipped_and_counted() {
    let mut env = Env::new(load("reach"));
    env.reset(1).expect("reset");
    let err = env.step(&Action([f32::NAN, 0.0])).expect_err("NaN");
    assert!(err.to_string().contains("non-finite"), "{err}");
    let step = env.step(&Action([5.0, -0.5])).expect("step");
    assert!(step.info.action_clipped);
    assert_eq!(step.info.clipped_actions, 1);
    let step = env.step(&Action([0.5, -0.5])).expect("step");
    assert!(!step.info.action_clipped);
    assert_eq!(step.info.clipped_actions, 1);
}

#[test]
fn clipped_actions_move_the_agent_like_the_bound() {
    let spec = load("reach");
    let run = |action: Action| {
        let mut env = Env::new(Arc::clone(&spec));
        env.reset(4).expect("reset");
        for _ in 0..3 {
            env.step(&action).expect("step");
        }
        env.world().expect("world").agent_position()
    };
    assert_eq!(run(Action([9.0, 0.0])), run(Action([1.0, 0.0])));
    assert_ne!(run(Action([0.5, 0.0])), run(Action([1.0, 0.0])));
}

#[test]
fn episodes_truncate_at_their_step_limit() {
    let mut spec = (*load("two_rooms")).clone();
    spec.task.episode_steps = 7;
    let mut env = Env::new(Arc::new(spec));
    env.reset(2).expect("reset");
    for t in 1..=7 {
        let step = env.step(&Action([0.0, 0.0])).expect("step");
        assert_eq!(step.info.episode_step, t);
        assert_eq!(step.truncated, t == 7, "step {t}");
        assert!(!step.terminated);
        assert_eq!(step.reward, 0.0);
    }
}

/// Drives the agent straight at a point with the velocity actuator.
fn steer_towards(env: &mut Env, target: [f32; 2]) -> Action {
    let p = env.world().expect("world").agent_position();
    let (dx, dy) = (target[0] - p[0], target[1] - p[1]);
    let n = dx.hypot(dy).max(1e-6);
    let speed = (n * 6.0).min(1.0);
    Action([dx / n * speed, dy / n * speed])
}

#[test]
fn reaching_the_goal_terminates_with_reward_one() {
    let spec = load("reach");
    let mut env = Env::new(spec);
    env.reset(11).expect("reset");
    let goal = env.goal().expect("goal").agent_position;
    let mut reached = None;
    for _ in 0..100 {
        let action = steer_towards(&mut env, goal);
        let step = env.step(&action).expect("step");
        if step.terminated {
            reached = Some(step);
            break;
        }
    }
    let step = reached.expect("a straight-line controller reaches an open-arena goal");
    assert!(step.info.success);
    assert_eq!(step.reward, 1.0);
    assert!(!step.truncated);
}

#[test]
fn entering_a_hazard_is_counted_once_per_entry() {
    let spec = load("reach");
    let mut env = Env::new(Arc::clone(&spec));
    env.reset(0).expect("reset");
    // Where this episode put the pit (reach moves and resizes it).
    let hazard = env.world().expect("reset").episode().hazards[0].region;
    let centre = [
        0.5 * (hazard.min[0] + hazard.max[0]),
        0.5 * (hazard.min[1] + hazard.max[1]),
    ];
    let mut entered = 0;
    for _ in 0..120 {
        let action = steer_towards(&mut env, centre);
        let step = env.step(&action).expect("step");
        entered += step.info.hazard_entries_this_step;
        if step.info.in_hazard {
            break;
        }
    }
    assert_eq!(entered, 1);
    // Staying inside adds nothing; leaving and coming back adds one.
    let step = env.step(&Action([0.0, 0.0])).expect("step");
    assert_eq!(step.info.hazard_entries, 1);
    let far = [centre[0], hazard.max[1] + 0.4];
    for _ in 0..60 {
        let action = steer_towards(&mut env, far);
        env.step(&action).expect("step");
    }
    let mut last = None;
    for _ in 0..60 {
        let action = steer_towards(&mut env, centre);
        last = Some(env.step(&action).expect("step"));
    }
    assert_eq!(last.expect("steps").info.hazard_entries, 2);
}

#[test]
fn starts_and_goals_avoid_hazards_and_two_rooms_goals_are_in_the_other_room() {
    let spec = load("two_rooms");
    for seed in 0..200 {
        let params = sim::EpisodeParams::sample(&spec, seed).expect("sample");
        let radius = spec.agent.shape.footprint_radius();
        // The episode's hazards: two_rooms moves and resizes them every episode.
        assert_eq!(params.hazards.len(), spec.hazards.len());
        for hazard in &params.hazards {
            assert!(
                !hazard.region.overlaps_disc(params.agent_start, radius),
                "seed {seed}"
            );
            assert!(
                !hazard
                    .region
                    .overlaps_disc(params.goal.agent_position, radius),
                "seed {seed}"
            );
        }
        assert!(
            params.agent_start[0].signum() != params.goal.agent_position[0].signum(),
            "seed {seed}: start and goal in the same room"
        );
    }
}

#[test]
fn straight_paths_cross_the_hazards_in_some_episodes() {
    for name in ["reach", "two_rooms"] {
        let spec = load(name);
        let crossing = (0..200)
            .filter(|seed| {
                let p = sim::EpisodeParams::sample(&spec, *seed).expect("sample");
                let (a, b) = (p.agent_start, p.goal.agent_position);
                (0..=100).any(|i| {
                    let t = i as f32 / 100.0;
                    let q = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
                    p.hazards.iter().any(|h| h.region.contains(q))
                })
            })
            .count();
        assert!(
            crossing >= 20,
            "{name}: only {crossing} of 200 straight paths cross a hazard"
        );
        assert!(
            crossing < 200,
            "{name}: every straight path crosses a hazard"
        );
    }
}

#[test]
fn vec_env_autoresets_on_the_next_step() {
    let mut spec: WorldSpec = (*load("reach")).clone();
    spec.task.episode_steps = 3;
    let mut vec_env = VecEnv::new(Arc::new(spec), 2, 5, 2).expect("vec env");
    let first = vec_env.reset().expect("reset");
    let seed0 = first[0].1.episode_seed;
    let actions = [Action([0.0, 0.0]); 2];
    for t in 1..=3 {
        let steps = vec_env.step(&actions).expect("step");
        assert_eq!(steps[0].truncated, t == 3);
        assert_eq!(steps[0].info.episode_seed, seed0);
    }
    let steps = vec_env.step(&actions).expect("autoreset step");
    for step in &steps {
        assert!(step.info.is_first);
        assert_eq!(step.info.episode_step, 0);
        assert!(!step.terminated && !step.truncated);
        assert_eq!(step.reward, 0.0);
    }
    assert_ne!(
        steps[0].info.episode_seed, seed0,
        "the next episode has its own seed"
    );
    assert_eq!(
        steps[0].info.episode_seed,
        sim::SeedSequence::new(5).episode_seed(0, 1),
        "episode 1 of env 0 derives from the master seed"
    );
    let err = vec_env.step(&actions[..1]).expect_err("wrong count");
    assert!(matches!(
        err,
        SimError::ActionCount {
            expected: 2,
            got: 1
        }
    ));
}

#[test]
fn world_and_env_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<sim::World>();
    assert_send::<Env>();
    assert_send::<VecEnv>();
}

#[test]
fn proprioception_is_the_agent_s_position() {
    let mut env = Env::new(load("push"));
    let (mut obs, _) = env.reset(9).expect("reset");
    let start = obs.proprio;
    for _ in 0..5 {
        assert_eq!(
            obs.proprio[..],
            obs.state[..2],
            "proprio is the state's agent x, y"
        );
        let p = env.world().expect("world").agent_position();
        assert_eq!(obs.proprio, [p[0], p[1]]);
        obs = env.step(&Action([1.0, 0.5])).expect("step").obs;
    }
    assert!(
        obs.proprio[0] > start[0] && obs.proprio[1] > start[1],
        "it moved with the action"
    );
}
