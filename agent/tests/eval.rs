//! Guards the evaluation protocol: Wilson intervals, and on `reach` the oracle planner (true
//! simulator, true shortest-path cost) succeeds where random actions mostly do not, with zero
//! hazard entries because its guardrail rejects plans that enter a hazard.

mod common;

use std::sync::Arc;

use agent::eval::{
    EvalPolicy, LearnedPolicy, Routing, episode_seeds, evaluate, plan_diagnostic, record_episode,
    wilson_interval,
};
use agent::model::JepaConfig;
use agent::plan::{Familiarity, GoalCostConfig, PlannerConfig, ReplayFrames};
use burn::prelude::Device;

#[test]
fn wilson_intervals_match_hand_computed_values() {
    let [lo, hi] = wilson_interval(0, 10);
    assert!(lo.abs() < 1e-12 && (hi - 0.2775).abs() < 1e-3, "{lo} {hi}");
    let [lo, hi] = wilson_interval(5, 10);
    assert!(
        (lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3,
        "{lo} {hi}"
    );
    assert_eq!(wilson_interval(0, 0), [0.0, 1.0]);
}

#[test]
fn the_oracle_reaches_goals_safely_and_random_actions_do_not() {
    let path = common::reach_world_path();
    let spec = Arc::new(sim::WorldSpec::from_json_file(path).expect("world"));
    let device = Device::flex();
    let oracle = PlannerConfig::cem(6, 48, 8, 2);
    let report = evaluate(
        &spec,
        &EvalPolicy::Oracle(oracle),
        &episode_seeds(&[5], 4),
        &device,
        &mut |_, _| {},
    )
    .expect("oracle eval");
    assert!(report.successes >= 3, "oracle: {report:?}");
    assert_eq!(
        report.hazard_entries, 0,
        "the oracle's guardrail keeps it out of hazards"
    );
    assert!(report.plan_ms_p50 > 0.0 && report.plan_ms_p99 >= report.plan_ms_p50);
    assert!(report.mean_steps_to_success > 0.0);
    let random = evaluate(
        &spec,
        &EvalPolicy::Random,
        &episode_seeds(&[5], 10),
        &device,
        &mut |_, _| {},
    )
    .expect("random eval");
    assert!(random.successes <= 3, "random: {random:?}");
    assert!(
        random.success_ci95[0] <= random.success_rate
            && random.success_rate <= random.success_ci95[1]
    );
}

#[test]
fn the_plan_diagnostic_examines_every_tenth_decision_of_the_learned_planner() {
    let path = common::reach_world_path();
    let spec = Arc::new(sim::WorldSpec::from_json_file(path).expect("world"));
    let device = Device::flex();
    let model = JepaConfig::new().with_latent(8).init(&device);
    let policy = EvalPolicy::Learned(LearnedPolicy {
        model: &model,
        // No deadline: the episode is the same every time.
        planner: PlannerConfig::cem(3, 16, 4, 1),
        cost: GoalCostConfig::default(),
        critic: None,
        guardrail: None,
        routing: Routing::Straight,
        pose_readout: None,
        pose_dynamics: None,
        familiarity: None,
        sight: None,
    });
    let seeds = episode_seeds(&[5], 1);
    let played = evaluate(&spec, &policy, &seeds, &device, &mut |_, _| {}).expect("eval");
    let report = plan_diagnostic(&spec, &policy, &seeds, 10, &device, &mut |_, _| {})
        .expect("diagnostic")
        .expect("a learned planner is examined");
    assert_eq!(report.decisions as u64, played.env_steps.div_ceil(10));
    for rho in [report.imagined_spearman, report.real_spearman] {
        assert!((-1.0..=1.0).contains(&rho), "{report:?}");
    }
    for share in [
        report.imagined_choice_in_best_quarter,
        report.real_choice_in_best_quarter,
    ] {
        assert!((0.0..=1.0).contains(&share), "{report:?}");
    }
    let none = plan_diagnostic(
        &spec,
        &EvalPolicy::Random,
        &seeds,
        10,
        &device,
        &mut |_, _| {},
    )
    .expect("random");
    assert!(none.is_none());
}

#[test]
fn episode_seeds_spread_over_master_seeds_and_repeat() {
    let one = episode_seeds(&[3], 4);
    assert_eq!(one.len(), 4);
    assert_eq!(one, episode_seeds(&[3], 4), "same seeds, same episodes");
    let two = episode_seeds(&[3, 4], 4);
    assert_eq!(two[0], one[0], "master 3's first episode");
    assert_eq!(two[2], one[1], "master 3's second episode");
    assert_ne!(two[1], one[1]);
    let mut unique = two.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 4);
}

#[test]
fn in_a_state_unlike_its_recorded_exploration_the_planner_stands_still_and_says_so() {
    let path = common::reach_world_path();
    let spec = Arc::new(sim::WorldSpec::from_json_file(path).expect("world"));
    let device = Device::flex();
    let model = JepaConfig::new().with_latent(8).init(&device);
    // Recorded latents far from anything this model encodes: every state is unfamiliar.
    let far = ReplayFrames {
        latent_dim: 8,
        stride: 1,
        episodes: (0..40)
            .map(|e| {
                (0..10 * 8)
                    .map(|i| 1000.0 + (e * 80 + i) as f32 * 0.01)
                    .collect()
            })
            .collect(),
    };
    let familiarity = Familiarity::of_replay(&far).expect("enough frames");
    let policy = |familiarity| {
        EvalPolicy::Learned(LearnedPolicy {
            model: &model,
            planner: PlannerConfig {
                horizon: 3,
                deadline: None,
                ..PlannerConfig::default()
            },
            cost: GoalCostConfig::default(),
            critic: None,
            guardrail: None,
            routing: Routing::Straight,
            pose_readout: None,
            pose_dynamics: None,
            familiarity,
            sight: None,
        })
    };
    let seeds = episode_seeds(&[5], 1);
    let unsure = evaluate(
        &spec,
        &policy(Some(&familiarity)),
        &seeds,
        &device,
        &mut |_, _| {},
    )
    .expect("eval");
    assert_eq!(unsure.unsure_decisions, unsure.env_steps, "{unsure:?}");
    assert_eq!(unsure.unsure_episodes, 1);
    let trace =
        record_episode(&spec, &policy(Some(&familiarity)), seeds[0], &device).expect("trace");
    let [start, end] = [trace.path[0], *trace.path.last().expect("path")];
    assert!(
        (start[0] - end[0]).hypot(start[1] - end[1]) < 0.02,
        "it drove off: {start:?} -> {end:?}"
    );
    // The same planner trusting every state plans, and moves.
    let trusting = evaluate(&spec, &policy(None), &seeds, &device, &mut |_, _| {}).expect("eval");
    assert_eq!(trusting.unsure_decisions, 0);
    let moved = record_episode(&spec, &policy(None), seeds[0], &device).expect("trace");
    let end = *moved.path.last().expect("path");
    assert!((start[0] - end[0]).hypot(start[1] - end[1]) > 0.05);
}
