//! Guards the replay buffer: stream batches are stitched into whole episodes, the byte cap
//! holds, and sampled sub-sequences are consecutive frames with the actions between them.

mod common;

use std::sync::Arc;

use agent::{ReplayBuffer, SequenceBatch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::stream::{StreamConfig, spawn};
use sim::{SmoothRandomPolicy, VecEnv, WorldSpec};

fn spec(episode_steps: u32) -> Arc<WorldSpec> {
    let path = common::reach_world_path();
    let mut spec = WorldSpec::from_json_file(path).expect("world");
    spec.task.episode_steps = episode_steps;
    Arc::new(spec)
}

fn fill(buffer: &mut ReplayBuffer, envs: usize, episode_steps: u32, batches: u64) {
    let vec_env = VecEnv::new(spec(episode_steps), envs, 3, 1).expect("vec env");
    let config = StreamConfig {
        max_batches: Some(batches),
        steps_per_batch: 5,
        ..StreamConfig::default()
    };
    let stream = spawn(vec_env, SmoothRandomPolicy::new(envs, 1), config).expect("stream");
    for batch in &stream {
        buffer.push_batch(&batch);
    }
    stream.stop().expect("stream ok");
}

/// The episodes of `buffer` holding sequence `b` of `batch` verbatim, frames and actions (a
/// 64×64 window of k + 1 = 5 frames).
fn episodes_holding(buffer: &ReplayBuffer, batch: &SequenceBatch, b: usize) -> Vec<usize> {
    let frame = 64 * 64 * 3;
    let window = &batch.frames[b * 5 * frame..(b + 1) * 5 * frame];
    let actions = &batch.actions[b * 8..(b + 1) * 8];
    buffer
        .episodes()
        .enumerate()
        .filter(|(_, e)| {
            e.steps() >= 4
                && (0..=e.steps() - 4).any(|start| {
                    e.frames[start * frame..(start + 5) * frame] == *window
                        && e.actions[start..start + 4]
                            .iter()
                            .flatten()
                            .copied()
                            .eq(actions.iter().copied())
                })
        })
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn batches_are_stitched_into_episodes() {
    let mut buffer = ReplayBuffer::new(usize::MAX);
    // 2 envs × 60 steps with 25-step episodes: 2 full episodes each plus a partial one.
    fill(&mut buffer, 2, 25, 12);
    let frame = 64 * 64 * 3;
    let episodes: Vec<_> = buffer.episodes().collect();
    assert_eq!(episodes.len(), 6);
    for episode in &episodes {
        assert_eq!(episode.frames.len(), (episode.steps() + 1) * frame);
        assert_eq!(
            episode.states.len() / (episode.steps() + 1) * (episode.steps() + 1),
            episode.states.len()
        );
    }
    let finished: Vec<_> = episodes.iter().filter(|e| e.finished).collect();
    assert_eq!(finished.len(), 4);
    assert!(finished.iter().all(|e| e.steps() == 25));
    // 60 vector steps minus one autoreset step per finished episode per env.
    assert_eq!(buffer.num_transitions(), 2 * (60 - 2));
}

#[test]
fn the_byte_cap_evicts_the_oldest_episodes() {
    let cap = 2_000_000;
    let mut buffer = ReplayBuffer::new(cap);
    fill(&mut buffer, 2, 20, 20);
    assert!(buffer.bytes() <= cap, "{} bytes", buffer.bytes());
    assert!(buffer.transitions_seen() as usize > buffer.num_transitions());
    let recount: usize = buffer
        .episodes()
        .map(|e| e.frames.len() + e.actions.len() * 8 + e.states.len() * 4)
        .sum();
    assert_eq!(recount, buffer.bytes());
}

#[test]
fn samples_are_consecutive_frames_with_their_actions() {
    let mut buffer = ReplayBuffer::new(usize::MAX);
    fill(&mut buffer, 2, 30, 10);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let batch = buffer
        .sample(&mut rng, 16, 5)
        .expect("long enough episodes");
    let frame = 64 * 64 * 3;
    assert_eq!(batch.frames.len(), 16 * 5 * frame);
    assert_eq!(batch.actions.len(), 16 * 4 * 2);
    // Each sampled window appears verbatim in some episode, with the matching actions.
    for b in 0..16 {
        let found = !episodes_holding(&buffer, &batch, b).is_empty();
        assert!(found, "sample {b} is not a window of any episode");
    }
    assert!(
        buffer.sample(&mut rng, 4, 1000).is_none(),
        "no episode is 999 steps long"
    );
}

#[test]
fn samples_carry_each_frame_s_proprioception() {
    let mut buffer = ReplayBuffer::new(usize::MAX);
    fill(&mut buffer, 2, 30, 10);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let batch = buffer.sample(&mut rng, 8, 5).expect("long enough episodes");
    assert_eq!(batch.proprio.len(), 8 * 5 * 2);
    let frame = 64 * 64 * 3;
    for b in 0..8 {
        let window = &batch.frames[b * 5 * frame..(b + 1) * 5 * frame];
        let proprio = &batch.proprio[b * 10..(b + 1) * 10];
        // The window's frames, found in an episode, come with that episode's agent positions
        // (the first two numbers of each frame's true state: `Observation::proprio`).
        let matches = buffer.episodes().any(|e| {
            let state_dim = e.states.len() / (e.steps() + 1);
            e.steps() >= 4
                && (0..=e.steps() - 4).any(|start| {
                    e.frames[start * frame..(start + 5) * frame] == *window
                        && (0..5).all(|t| {
                            let state = &e.states[(start + t) * state_dim..];
                            proprio[2 * t..2 * t + 2] == state[..2]
                        })
                })
        });
        assert!(
            matches,
            "sample {b}'s proprioception is not its frames' agent position"
        );
    }
    // The agent moves: the positions are not all the same.
    assert!(batch.proprio.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn paired_samples_are_two_windows_of_one_episode() {
    let mut buffer = ReplayBuffer::new(usize::MAX);
    fill(&mut buffer, 3, 30, 12);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let batch = buffer
        .sample_pairs(&mut rng, 24, 5)
        .expect("long enough episodes");
    assert_eq!(batch.batch, 24);
    let frame = 64 * 64 * 3;
    assert_eq!(batch.frames.len(), 24 * 5 * frame);
    // A window can appear in only one episode: frames differ.
    let homes = |b: usize| episodes_holding(&buffer, &batch, b);
    let mut episodes_seen = std::collections::BTreeSet::new();
    let window = |b: usize| &batch.frames[b * 5 * frame..(b + 1) * 5 * frame];
    assert!(
        (0..12).any(|pair| window(2 * pair) != window(2 * pair + 1)),
        "the second window is drawn, not copied"
    );
    for pair in 0..12 {
        let (first, second) = (homes(2 * pair), homes(2 * pair + 1));
        assert_eq!(first.len(), 1, "window {} is in one episode", 2 * pair);
        assert_eq!(first, second, "pair {pair} spans two episodes");
        episodes_seen.insert(first[0]);
    }
    assert!(episodes_seen.len() > 3, "pairs come from many episodes");
    assert!(
        buffer.sample_pairs(&mut rng, 5, 5).is_none(),
        "an odd batch cannot be paired"
    );
}

#[test]
fn evicting_an_open_episode_keeps_the_rest_of_it_whole() {
    // A cap of about 60 frames for 2 environments in 100-step episodes: their current
    // episodes are evicted while they run.
    let mut buffer = ReplayBuffer::new(60 * 64 * 64 * 3);
    fill(&mut buffer, 2, 100, 20);
    assert!(buffer.transitions_seen() > 150);
    // What remains is a few long pieces, not a trail of 1-step fragments.
    let steps: Vec<usize> = buffer.episodes().map(agent::Episode::steps).collect();
    assert!(steps.len() <= 4, "{steps:?}");
    assert!(steps.iter().sum::<usize>() >= 40, "{steps:?}");
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert!(buffer.sample(&mut rng, 4, 5).is_some());
}

#[test]
fn selecting_sequences_keeps_each_with_its_own_actions() {
    // Three sequences of 2 frames (1×1 pixels): sequence i's bytes are all i, its action (i, -i).
    let batch = SequenceBatch {
        batch: 3,
        frames_per_sequence: 2,
        height: 1,
        width: 1,
        frames: (0..3u8).flat_map(|i| [i; 6]).collect(),
        actions: (0..3).flat_map(|i| [i as f32, -(i as f32)]).collect(),
        // Frame t of sequence i is at (i, t).
        proprio: (0..3)
            .flat_map(|i| [i as f32, 0.0, i as f32, 1.0])
            .collect(),
    };
    let picked = batch.select(&[2, 0]);
    assert_eq!(picked.batch, 2);
    assert_eq!(picked.frames, [[2u8; 6], [0u8; 6]].concat());
    assert_eq!(picked.actions, [2.0, -2.0, 0.0, -0.0]);
    assert_eq!(picked.proprio, [2.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
}
