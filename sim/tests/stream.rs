//! Guards `sim::stream`: transitions are consistent, the channel is bounded (backpressure),
//! either side can stop the other, errors reach the consumer, and nothing deadlocks (every test
//! body runs under a watchdog).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::load;
use sim::stream::{StreamConfig, spawn};
use sim::{Action, Observation, SmoothRandomPolicy, VecEnv};

/// Runs `body` on a thread and fails the test if it takes longer than `limit` (a deadlock).
fn with_watchdog(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = crossbeam_channel::bounded(1);
    let handle = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => handle.join().expect("test body panicked"),
        Err(_) => {
            if handle.is_finished() {
                handle.join().expect("test body panicked");
            }
            panic!("no result within {limit:?}: deadlock?");
        }
    }
}

fn vec_env(envs: usize, episode_steps: u32) -> VecEnv {
    let mut spec = (*load("reach")).clone();
    spec.task.episode_steps = episode_steps;
    VecEnv::new(Arc::new(spec), envs, 1, 2).expect("vec env")
}

#[test]
fn batches_hold_consistent_transitions() {
    with_watchdog(Duration::from_secs(60), || {
        let config = StreamConfig {
            capacity: 2,
            steps_per_batch: 4,
            max_batches: Some(6),
        };
        let stream = spawn(vec_env(3, 5), SmoothRandomPolicy::new(3, 0), config).expect("spawn");
        let batches: Vec<_> = (&stream).collect();
        let stats = stream.stop().expect("producer ok");
        assert_eq!(batches.len(), 6);
        assert_eq!(stats.batches_sent, 6);
        let frame_bytes = 64 * 64 * 3;
        let mut total = 0;
        for (i, batch) in batches.iter().enumerate() {
            assert_eq!(batch.index, i as u64);
            let n = batch.len();
            total += n;
            assert_eq!(batch.frames.len(), n * frame_bytes);
            assert_eq!(batch.next_frames.len(), n * frame_bytes);
            assert_eq!(batch.states.len(), n * batch.state_dim);
            assert_eq!(batch.terminated.len(), n);
            // Within a batch, an environment's next frame is its following frame unless the
            // episode ended.
            for a in 0..n {
                if batch.terminated[a] || batch.truncated[a] {
                    continue;
                }
                if let Some(b) = (a + 1..n).find(|b| batch.env_ids[*b] == batch.env_ids[a]) {
                    assert_eq!(
                        batch.next_frames[a * frame_bytes..(a + 1) * frame_bytes],
                        batch.frames[b * frame_bytes..(b + 1) * frame_bytes]
                    );
                    assert_eq!(batch.episode_steps[b], batch.episode_steps[a] + 1);
                }
            }
        }
        // 6 batches × 4 steps × 3 envs, less one autoreset step per finished episode.
        assert_eq!(total as u64, stats.transitions_sent);
        assert!((72 - 3 * 4..72).contains(&total), "{total} transitions");
    });
}

#[test]
fn a_slow_consumer_blocks_the_producer_at_the_channel_capacity() {
    with_watchdog(Duration::from_secs(60), || {
        let config = StreamConfig {
            capacity: 3,
            ..StreamConfig::default()
        };
        let stream = spawn(vec_env(2, 50), SmoothRandomPolicy::new(2, 0), config).expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        while stream.queued() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(stream.queued(), 3, "the channel must stay at its capacity");
        // Taking one frees one slot, which the producer fills again.
        assert!(stream.recv().is_some());
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(stream.queued(), 3);
        let stats = stream.stop().expect("producer ok");
        assert_eq!(stats.batches_sent, 4, "3 in the channel + 1 taken");
    });
}

#[test]
fn dropping_the_consumer_stops_a_blocked_producer() {
    with_watchdog(Duration::from_secs(30), || {
        let stream = spawn(
            vec_env(2, 50),
            SmoothRandomPolicy::new(2, 0),
            StreamConfig::default(),
        )
        .expect("spawn");
        assert!(stream.recv().is_some());
        let started = Instant::now();
        drop(stream);
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn a_finished_producer_ends_the_consumers_iteration() {
    with_watchdog(Duration::from_secs(30), || {
        let config = StreamConfig {
            max_batches: Some(3),
            ..StreamConfig::default()
        };
        let stream = spawn(vec_env(1, 50), SmoothRandomPolicy::new(1, 0), config).expect("spawn");
        assert_eq!((&stream).count(), 3);
        assert!(stream.recv().is_none());
    });
}

#[test]
fn producer_errors_reach_the_consumer() {
    with_watchdog(Duration::from_secs(30), || {
        let mut calls = 0;
        let policy = move |obs: &[Observation]| {
            calls += 1;
            let value = if calls > 2 { f32::NAN } else { 0.1 };
            vec![Action([value, 0.0]); obs.len()]
        };
        let stream = spawn(vec_env(2, 50), policy, StreamConfig::default()).expect("spawn");
        let received = (&stream).count();
        assert_eq!(received, 2);
        let err = stream.stop().expect_err("the NaN action must surface");
        assert!(err.to_string().contains("non-finite"), "{err}");
    });
}
