//! The closed-loop runtime driven as a surface drives it: commands in, events out. A tiny
//! model on `reach` plans from the first weights; the test pauses it, drives the agent by
//! hand, sets a goal, asks for an impossible one, and stops it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::model::JepaConfig;
use agent::pipeline::{GraphSearch, PlanningConfig};
use agent::session::{Budget, Command, Decision, Event, Phase, Session, SessionConfig};
use agent::train::TrainConfig;
use burn::prelude::Device;
use sim::{Goal, WorldSpec};

/// Waits up to `limit` for an event that `want` accepts, passing the others to `seen`.
fn wait_for<T>(
    session: &Session,
    limit: Duration,
    seen: &mut Vec<Event>,
    mut want: impl FnMut(&Event) -> Option<T>,
) -> T {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(event) = session.events().recv_timeout(Duration::from_millis(50)) {
            if let Some(found) = want(&event) {
                return found;
            }
            seen.push(event);
        }
    }
    panic!(
        "no such event within {limit:?}; saw {} events, the last {:?}",
        seen.len(),
        seen.last()
    );
}

fn small_session(run_dir: &std::path::Path) -> SessionConfig {
    let spec = Arc::new(WorldSpec::from_json_file(common::reach_world_path()).expect("reach"));
    let train = TrainConfig::new()
        .with_model(JepaConfig::new().with_latent(8))
        .with_seed(3);
    let mut config = SessionConfig::new(spec, run_dir.to_path_buf(), train);
    config.envs = 2;
    config.budget = Budget::Time(Duration::from_secs(300));
    // Plan from the first published weights.
    config.explore_fraction = 0.0;
    config.evaluation = None;
    config.planning = PlanningConfig {
        samples: 8,
        iterations: 2,
        horizon: 4,
        deadline_ms: 0.0,
        fit_episodes: 3,
        practice_critic_steps: 20,
        graph: GraphSearch::Straight,
        predictor_fit_steps: 0,
        // Practice refits the predictor too: a few steps run that path.
        practice_predictor_fit_steps: 5,
        ..PlanningConfig::default()
    };
    config
}

#[test]
fn a_session_pauses_takes_the_wheel_and_goals_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = Session::start(small_session(dir.path()), &Device::flex()).expect("start");
    let mut seen = Vec::new();
    let minute = Duration::from_secs(60);
    wait_for(&session, minute, &mut seen, |e| {
        matches!(e, Event::Phase(Phase::Practising)).then_some(())
    });
    // The planner decides with a readout of where its plan goes and a cost per iteration.
    let planned: Decision = wait_for(&session, minute, &mut seen, |e| match e {
        Event::Decision(d) if !d.teleop => Some(d.clone()),
        _ => None,
    });
    assert_eq!(planned.actions.len(), 4 * 2);
    assert_eq!(planned.cost_per_iteration.len(), 2, "{planned:?}");
    assert_eq!(planned.imagined_positions.len(), 4, "{planned:?}");
    assert!(!planned.missed_deadline && planned.deadline_ms == 0.0);

    // Paused, on a fresh episode, one step at a time, driven by hand: the agent moves the way
    // it is pushed.
    assert!(session.send(Command::Pause));
    assert!(session.send(Command::ResetEpisode));
    std::thread::sleep(Duration::from_millis(300));
    while session.events().try_recv().is_ok() {}
    assert!(
        session
            .events()
            .recv_timeout(Duration::from_millis(500))
            .map_or(true, |e| !matches!(e, Event::Decision(_))),
        "a paused session decided"
    );
    let mut positions = Vec::new();
    // Towards the arena's middle, away from whichever wall the episode starts near.
    let mut push = [0.0, 0.0];
    for _ in 0..7 {
        assert!(session.send(Command::Teleop(push)));
        assert!(session.send(Command::Step));
        let decision = wait_for(&session, minute, &mut seen, |e| match e {
            Event::Decision(d) => Some(d.clone()),
            _ => None,
        });
        assert!(decision.teleop && decision.taken == push, "{decision:?}");
        let agent = wait_for(&session, minute, &mut seen, |e| match e {
            Event::Frame { agent, .. } => Some(*agent),
            _ => None,
        });
        if positions.is_empty() {
            push = [-agent[0].signum(), 0.0];
        }
        positions.push(agent);
    }
    let moved = (positions[6][0] - positions[0][0]) * push[0];
    assert!(
        moved > 0.05,
        "driven {push:?}, the agent moved {moved} m that way: {positions:?}"
    );

    // A goal set by hand: its goal image is rendered and sent.
    let goal = Goal {
        agent_position: [0.3, -0.3],
        object_pose: None,
    };
    assert!(session.send(Command::SetGoal(goal)));
    assert!(session.send(Command::Step));
    let image = wait_for(&session, minute, &mut seen, |e| match e {
        Event::Frame { goal: Some(g), .. } => Some(g.clone()),
        _ => None,
    });
    assert_eq!(image.len(), 64 * 64 * 3);
    // One off the floor is refused with the reason, and the session goes on.
    let far = Goal {
        agent_position: [50.0, 0.0],
        object_pose: None,
    };
    assert!(session.send(Command::SetGoal(far)));
    assert!(session.send(Command::Step));
    let why = wait_for(&session, minute, &mut seen, |e| match e {
        Event::Refused(why) => Some(why.clone()),
        _ => None,
    });
    assert!(why.contains("outside the arena"), "{why}");

    assert!(session.send(Command::Stop));
    let report = session
        .join_with(&mut |_| {})
        .expect("the session ends cleanly");
    assert!(
        report.final_result.is_none(),
        "a stopped session skips its evaluation"
    );
    assert!(
        report.learner.checkpoint.is_dir(),
        "the learner wrote its final checkpoint"
    );
}

#[test]
fn bad_settings_are_refused_before_any_thread_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lockstep_by_time = small_session(dir.path());
    lockstep_by_time.clock = agent::session::Clock::Lockstep;
    let err = Session::start(lockstep_by_time, &Device::flex())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("learner steps"), "{err}");
    let mut no_samples = small_session(dir.path());
    no_samples.planning.samples = 1;
    let err = Session::start(no_samples, &Device::flex())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("samples"), "{err}");
}

#[test]
fn a_session_saves_holds_loads_and_switches_worlds_on_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = Session::start(small_session(dir.path()), &Device::flex()).expect("start");
    let mut seen = Vec::new();
    let minute = Duration::from_secs(60);
    // Learning: metrics flow once the replay buffer holds its first transitions.
    wait_for(&session, minute, &mut seen, |e| {
        matches!(e, Event::Metrics(_)).then_some(())
    });
    assert!(session.send(Command::SaveCheckpoint));
    let saved = wait_for(&session, minute, &mut seen, |e| match e {
        Event::Checkpoint(path) => Some(path.clone()),
        _ => None,
    });
    assert!(saved.join("model.bpk").is_file(), "{saved:?}");

    // Learning off: no step for a while (metrics.jsonl, written at every step, stops
    // growing); on again: it grows again. (Metric events may still be in flight.)
    let steps_written = || {
        std::fs::read_to_string(dir.path().join("metrics.jsonl")).map_or(0, |t| t.lines().count())
    };
    assert!(session.send(Command::SetLearning(false)));
    std::thread::sleep(Duration::from_millis(1000));
    let held = steps_written();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        steps_written(),
        held,
        "the learner stepped while learning was off"
    );
    assert!(session.send(Command::SetLearning(true)));
    let resumed = Instant::now();
    while steps_written() == held {
        assert!(resumed.elapsed() < minute, "learning did not resume");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Back to the saved weights; then another world of the same frame size; a path that
    // holds no checkpoint is refused with its name.
    assert!(session.send(Command::LoadCheckpoint(saved.clone())));
    let loaded = wait_for(&session, minute, &mut seen, |e| match e {
        Event::Loaded(path) => Some(path.clone()),
        _ => None,
    });
    assert_eq!(loaded, saved);
    let missing = dir.path().join("no-such-checkpoint");
    assert!(session.send(Command::LoadCheckpoint(missing)));
    let why = wait_for(&session, minute, &mut seen, |e| match e {
        Event::Refused(why) => Some(why.clone()),
        _ => None,
    });
    assert!(why.contains("no-such-checkpoint"), "{why}");
    let two_rooms = common::reach_world_path().with_file_name("two_rooms.json");
    let spec = Arc::new(WorldSpec::from_json_file(two_rooms).expect("two_rooms"));
    assert!(session.send(Command::SwitchWorld(spec)));
    let world = wait_for(&session, minute, &mut seen, |e| match e {
        Event::WorldSwitched(name) => Some(name.clone()),
        _ => None,
    });
    assert_eq!(world, "two_rooms");
    // The actor plans in the new world: a decision after the switch.
    wait_for(&session, minute, &mut seen, |e| {
        matches!(e, Event::Decision(_)).then_some(())
    });
    assert!(session.send(Command::Stop));
    let report = session.join_with(&mut |_| {}).expect("ends cleanly");
    assert_eq!(report.world.name, "two_rooms");
}
