//! The replay buffer: whole episodes of frames and actions, capped in bytes, from which the
//! learner samples sub-sequences of `k + 1` frames.

use std::collections::{HashMap, VecDeque};

use rand::RngExt;
use serde::{Deserialize, Serialize};
use sim::stream::TransitionBatch;

/// One episode as the buffer keeps it: `frames.len() == actions.len() + 1` frames.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The environment it came from.
    pub env_id: u32,
    /// Its seed (unique per episode of a run).
    pub seed: u64,
    /// Frames, `[steps + 1, H, W, 3]` bytes.
    pub frames: Vec<u8>,
    /// Actions, `[steps]`.
    pub actions: Vec<[f32; 2]>,
    /// True states after each frame, `[steps + 1, state_dim]` (for probes only).
    pub states: Vec<f32>,
    /// Whether the episode has ended (no more transitions will be appended).
    pub finished: bool,
}

impl Episode {
    /// The agent's position in frame `t`: the first two numbers of its true state, which is
    /// `sim::Observation::proprio` (zeros if the episode holds no states).
    pub fn proprio(&self, t: usize) -> [f32; 2] {
        let state_dim = self.states.len() / (self.steps() + 1).max(1);
        match self.states.get(t * state_dim..t * state_dim + 2) {
            Some(&[x, y]) if state_dim >= 2 => [x, y],
            _ => [0.0; 2],
        }
    }

    /// Number of transitions (actions).
    pub fn steps(&self) -> usize {
        self.actions.len()
    }

    fn bytes(&self) -> usize {
        self.frames.len() + self.actions.len() * 8 + self.states.len() * 4
    }
}

/// A batch of sub-sequences sampled from the buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SequenceBatch {
    /// Sequences in the batch.
    pub batch: usize,
    /// Frames per sequence (`k + 1`).
    pub frames_per_sequence: usize,
    /// Frame height.
    pub height: usize,
    /// Frame width.
    pub width: usize,
    /// `[batch, k + 1, H, W, 3]` bytes.
    pub frames: Vec<u8>,
    /// `[batch, k, 2]`.
    pub actions: Vec<f32>,
    /// The agent's position in each frame (proprioception, `sim::Observation::proprio`),
    /// `[batch, k + 1, 2]`.
    pub proprio: Vec<f32>,
}

impl SequenceBatch {
    /// The sequences at `indices` (in that order), as a batch of their own.
    pub fn select(&self, indices: &[usize]) -> SequenceBatch {
        let frame_bytes = self.height * self.width * 3;
        let sequence_bytes = self.frames_per_sequence * frame_bytes;
        let sequence_actions = self.frames_per_sequence.saturating_sub(1) * 2;
        let mut out = SequenceBatch {
            batch: indices.len(),
            frames_per_sequence: self.frames_per_sequence,
            height: self.height,
            width: self.width,
            frames: Vec::with_capacity(indices.len() * sequence_bytes),
            actions: Vec::with_capacity(indices.len() * sequence_actions),
            proprio: Vec::with_capacity(indices.len() * self.frames_per_sequence * 2),
        };
        let sequence_proprio = self.frames_per_sequence * 2;
        for &i in indices {
            if let Some(proprio) = self
                .proprio
                .get(i * sequence_proprio..(i + 1) * sequence_proprio)
            {
                out.proprio.extend_from_slice(proprio);
            }
            out.frames
                .extend_from_slice(&self.frames[i * sequence_bytes..(i + 1) * sequence_bytes]);
            out.actions
                .extend_from_slice(&self.actions[i * sequence_actions..(i + 1) * sequence_actions]);
        }
        out
    }
}

/// Where an environment's current episode goes on.
#[derive(Clone, Copy, Debug)]
struct OpenEpisode {
    /// Id of the stored episode receiving its transitions (it may have been evicted: then
    /// the rest of the episode starts a new stored piece).
    id: u64,
    /// The episode's seed.
    seed: u64,
    /// Its last step number received.
    last_step: u32,
}

/// Byte-capped storage of episodes fed by [`sim::stream`] batches.
pub struct ReplayBuffer {
    episodes: VecDeque<Episode>,
    /// Id of `episodes[0]`; ids grow by one per episode, so index = id - first_id.
    first_id: u64,
    /// What each environment is appending to.
    open: HashMap<u32, OpenEpisode>,
    bytes: usize,
    byte_cap: usize,
    height: usize,
    width: usize,
    state_dim: usize,
    transitions_seen: u64,
}

impl ReplayBuffer {
    /// An empty buffer that keeps at most `byte_cap` bytes of episodes (oldest dropped first).
    pub fn new(byte_cap: usize) -> Self {
        Self {
            episodes: VecDeque::new(),
            first_id: 0,
            open: HashMap::new(),
            bytes: 0,
            byte_cap,
            height: 0,
            width: 0,
            state_dim: 0,
            transitions_seen: 0,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Episodes held (finished or not).
    pub fn num_episodes(&self) -> usize {
        self.episodes.len()
    }

    /// Transitions held.
    pub fn num_transitions(&self) -> usize {
        self.episodes.iter().map(Episode::steps).sum()
    }

    /// Transitions ever added, including those since evicted.
    pub fn transitions_seen(&self) -> u64 {
        self.transitions_seen
    }

    /// Frame size `(height, width)`; `(0, 0)` before the first frame.
    pub fn frame_size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// The episodes held, oldest first.
    pub fn episodes(&self) -> impl Iterator<Item = &Episode> {
        self.episodes.iter()
    }

    /// Adds a whole recorded episode.
    pub fn push_episode(&mut self, mut episode: Episode, height: usize, width: usize) {
        self.set_frame_size(height, width, 0);
        episode.finished = true;
        self.transitions_seen += episode.steps() as u64;
        self.bytes += episode.bytes();
        self.episodes.push_back(episode);
        self.evict();
    }

    fn set_frame_size(&mut self, height: usize, width: usize, state_dim: usize) {
        if self.height == 0 {
            self.height = height;
            self.width = width;
        }
        if self.state_dim == 0 {
            self.state_dim = state_dim;
        }
    }

    /// Appends a stream batch, stitching each environment's transitions into episodes.
    pub fn push_batch(&mut self, batch: &TransitionBatch) {
        let (h, w) = (batch.height as usize, batch.width as usize);
        self.set_frame_size(h, w, batch.state_dim);
        let frame_bytes = h * w * 3;
        let sd = batch.state_dim;
        for i in 0..batch.len() {
            let env = batch.env_ids[i];
            let seed = batch.episode_seeds[i];
            let frame = &batch.frames[i * frame_bytes..(i + 1) * frame_bytes];
            let next = &batch.next_frames[i * frame_bytes..(i + 1) * frame_bytes];
            let state = &batch.states[i * sd..(i + 1) * sd];
            let next_state = &batch.next_states[i * sd..(i + 1) * sd];
            let step = batch.episode_steps[i];
            let open = self.open.get(&env).copied();
            let same_episode = open.is_some_and(|o| o.seed == seed && o.last_step + 1 == step);
            let stored = open
                .filter(|_| same_episode)
                .and_then(|o| o.id.checked_sub(self.first_id))
                .map(|index| index as usize)
                .filter(|index| *index < self.episodes.len());
            let index = match stored {
                Some(index) => index,
                None => {
                    // A new episode, or the rest of one whose stored start was evicted.
                    if !same_episode
                        && let Some(old) = open
                            .and_then(|o| o.id.checked_sub(self.first_id))
                            .and_then(|i| self.episodes.get_mut(i as usize))
                    {
                        old.finished = true;
                    }
                    let episode = Episode {
                        env_id: env,
                        seed,
                        frames: frame.to_vec(),
                        actions: Vec::new(),
                        states: state.to_vec(),
                        finished: false,
                    };
                    self.bytes += episode.bytes();
                    self.episodes.push_back(episode);
                    self.episodes.len() - 1
                }
            };
            self.open.insert(
                env,
                OpenEpisode {
                    id: self.first_id + index as u64,
                    seed,
                    last_step: step,
                },
            );
            let episode = &mut self.episodes[index];
            let before = episode.bytes();
            episode.frames.extend_from_slice(next);
            episode.actions.push(batch.actions[i].0);
            episode.states.extend_from_slice(next_state);
            self.bytes += episode.bytes() - before;
            self.transitions_seen += 1;
            if batch.terminated[i] || batch.truncated[i] {
                episode.finished = true;
                self.open.remove(&env);
            }
        }
        self.evict();
    }

    fn evict(&mut self) {
        while self.bytes > self.byte_cap && self.episodes.len() > 1 {
            if let Some(old) = self.episodes.pop_front() {
                self.bytes -= old.bytes();
                self.first_id += 1;
            }
        }
    }

    /// Samples `batch` sub-sequences of `frames_per_sequence` consecutive frames (and the
    /// actions between them), uniformly over all valid start positions; `None` while no
    /// episode is long enough.
    pub fn sample(
        &self,
        rng: &mut impl rand::Rng,
        batch: usize,
        frames_per_sequence: usize,
    ) -> Option<SequenceBatch> {
        self.sample_grouped(rng, batch, frames_per_sequence, 1)
    }

    /// Like [`ReplayBuffer::sample`], but in pairs: sequences `2i` and `2i + 1` are two
    /// windows of the same episode, each start drawn uniformly within it (episodes drawn in
    /// proportion to their windows, as by `sample`). What the two windows share is what stays
    /// fixed in an episode (a door's position), which the episode-context loss teaches the
    /// encoder to keep (`JepaConfig::context`). `batch` must be even.
    pub fn sample_pairs(
        &self,
        rng: &mut impl rand::Rng,
        batch: usize,
        frames_per_sequence: usize,
    ) -> Option<SequenceBatch> {
        if !batch.is_multiple_of(2) {
            return None;
        }
        self.sample_grouped(rng, batch, frames_per_sequence, 2)
    }

    /// `batch / group` episodes, `group` windows from each.
    fn sample_grouped(
        &self,
        rng: &mut impl rand::Rng,
        batch: usize,
        frames_per_sequence: usize,
        group: usize,
    ) -> Option<SequenceBatch> {
        let k = frames_per_sequence.checked_sub(1)?;
        let mut cumulative = Vec::with_capacity(self.episodes.len());
        let mut total = 0usize;
        for episode in &self.episodes {
            // An episode of s steps has s + 1 frames: s - k + 1 windows of k + 1 frames
            // (none when s < k).
            total += (episode.steps() + 1).saturating_sub(k);
            cumulative.push(total);
        }
        if total == 0 || batch == 0 {
            return None;
        }
        let frame_bytes = self.height * self.width * 3;
        let mut out = SequenceBatch {
            batch,
            frames_per_sequence,
            height: self.height,
            width: self.width,
            frames: Vec::with_capacity(batch * frames_per_sequence * frame_bytes),
            actions: Vec::with_capacity(batch * k * 2),
            proprio: Vec::with_capacity(batch * frames_per_sequence * 2),
        };
        for _ in 0..batch / group {
            let pick = rng.random_range(0..total);
            let index = cumulative.partition_point(|c| *c <= pick);
            let before = if index == 0 { 0 } else { cumulative[index - 1] };
            let windows = cumulative[index] - before;
            let episode = &self.episodes[index];
            for member in 0..group {
                // The first window is the one picked; the others are drawn within its episode.
                let start = if member == 0 {
                    pick - before
                } else {
                    rng.random_range(0..windows)
                };
                out.frames.extend_from_slice(
                    &episode.frames
                        [start * frame_bytes..(start + frames_per_sequence) * frame_bytes],
                );
                for action in &episode.actions[start..start + k] {
                    out.actions.extend_from_slice(action);
                }
                for t in start..start + frames_per_sequence {
                    out.proprio.extend_from_slice(&episode.proprio(t));
                }
            }
        }
        Some(out)
    }
}
