//! Streaming transitions from a [`VecEnv`] on its own thread to a consumer (the learner) over a
//! **bounded** channel: the producer blocks when the consumer falls behind (backpressure), and
//! either side can stop the other by dropping its end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, bounded};

use crate::{Action, Observation, Policy, SimError, Step, VecEnv};

/// How a stream batches and buffers.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// Batches the channel holds before the producer waits (default 4).
    pub capacity: usize,
    /// Vector-env steps gathered into one batch (default 1).
    pub steps_per_batch: usize,
    /// Stop after this many batches (default: run until stopped).
    pub max_batches: Option<u64>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            capacity: 4,
            steps_per_batch: 1,
            max_batches: None,
        }
    }
}

/// Transitions `(obs_t, a_t) → obs_t+1` from several environments, as flat arrays
/// (structure of arrays) ready to become tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransitionBatch {
    /// Index of this batch in its stream, from 0.
    pub index: u64,
    /// Frame height in pixels.
    pub height: u32,
    /// Frame width in pixels.
    pub width: u32,
    /// Length of each state vector.
    pub state_dim: usize,
    /// Frames before the action, `[len, H, W, 3]` bytes.
    pub frames: Vec<u8>,
    /// Frames after the action, `[len, H, W, 3]` bytes.
    pub next_frames: Vec<u8>,
    /// Actions as given by the policy (before clipping), `[len]`.
    pub actions: Vec<Action>,
    /// Proprioception before the action, `[len]`.
    pub proprio: Vec<[f32; 2]>,
    /// Proprioception after the action, `[len]`.
    pub next_proprio: Vec<[f32; 2]>,
    /// True states before the action, `[len, state_dim]`.
    pub states: Vec<f32>,
    /// True states after the action, `[len, state_dim]`.
    pub next_states: Vec<f32>,
    /// Rewards, `[len]`.
    pub rewards: Vec<f32>,
    /// The episode ended in success with this transition, `[len]`.
    pub terminated: Vec<bool>,
    /// The episode hit its step limit with this transition, `[len]`.
    pub truncated: Vec<bool>,
    /// The environment each transition came from, `[len]`.
    pub env_ids: Vec<u32>,
    /// The episode's seed (unique per episode), `[len]`.
    pub episode_seeds: Vec<u64>,
    /// The step number within the episode after the transition (1 for the first), `[len]`.
    pub episode_steps: Vec<u32>,
}

impl TransitionBatch {
    /// Number of transitions.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the batch holds no transition.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    fn push(&mut self, env: usize, before: &Observation, action: Action, after: &Step) {
        if self.is_empty() && self.frames.is_empty() {
            self.height = before.rgb.height;
            self.width = before.rgb.width;
            self.state_dim = before.state.len();
        }
        self.frames.extend_from_slice(&before.rgb.rgb);
        self.next_frames.extend_from_slice(&after.obs.rgb.rgb);
        self.actions.push(action);
        self.proprio.push(before.proprio);
        self.next_proprio.push(after.obs.proprio);
        self.states.extend_from_slice(&before.state);
        self.next_states.extend_from_slice(&after.obs.state);
        self.rewards.push(after.reward);
        self.terminated.push(after.terminated);
        self.truncated.push(after.truncated);
        self.env_ids.push(env as u32);
        self.episode_seeds.push(after.info.episode_seed);
        self.episode_steps.push(after.info.episode_step);
    }
}

/// Counts kept by the producer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Batches handed to the channel.
    pub batches_sent: u64,
    /// Transitions in those batches.
    pub transitions_sent: u64,
    /// Vector-env steps taken.
    pub vec_steps: u64,
}

/// The producer has stopped (finished, failed or was stopped) and every batch was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the transition stream has closed")]
pub struct StreamClosed;

/// The consumer's end of a running stream. Dropping it stops and joins the producer.
pub struct TransitionStream {
    receiver: Option<Receiver<TransitionBatch>>,
    stop: Arc<AtomicBool>,
    producer: Option<JoinHandle<Result<StreamStats, SimError>>>,
}

/// Starts a producer thread that steps `vec_env` with `policy` and streams its transitions.
pub fn spawn(
    mut vec_env: VecEnv,
    mut policy: impl Policy + 'static,
    config: StreamConfig,
) -> Result<TransitionStream, SimError> {
    let capacity = config.capacity;
    spawn_producer("kennel-stream", capacity, move |sink| {
        produce(&mut vec_env, &mut policy, &config, sink)
    })
}

/// The producer's end of a stream: hands batches to the consumer, waiting for room.
pub struct BatchSink {
    sender: Sender<TransitionBatch>,
    stop: Arc<AtomicBool>,
}

impl BatchSink {
    /// Sends `batch`, waiting while the channel is full; `false` once the consumer has stopped
    /// the stream or gone (the producer should then return).
    pub fn send(&self, batch: TransitionBatch) -> bool {
        // Wait for room, but wake up regularly to notice a stop request.
        let mut pending = batch;
        loop {
            match self.sender.send_timeout(pending, Duration::from_millis(50)) {
                Ok(()) => return true,
                Err(SendTimeoutError::Timeout(batch)) => {
                    if self.stopped() {
                        return false;
                    }
                    pending = batch;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }

    /// Whether the consumer has asked the producer to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Starts a thread named `name` that runs `produce` with the sink of a new stream of
/// `capacity` batches: any source of transitions (recorded datasets, say) can feed a learner
/// the way the simulator does. `produce` returns when the sink refuses a batch.
pub fn spawn_producer<F>(
    name: &str,
    capacity: usize,
    produce: F,
) -> Result<TransitionStream, SimError>
where
    F: FnOnce(&BatchSink) -> Result<StreamStats, SimError> + Send + 'static,
{
    let (sender, receiver) = bounded(capacity.max(1));
    let stop = Arc::new(AtomicBool::new(false));
    let sink = BatchSink {
        sender,
        stop: Arc::clone(&stop),
    };
    let producer = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || produce(&sink))
        .map_err(|err| SimError::ThreadPool {
            threads: 1,
            message: err.to_string(),
        })?;
    Ok(TransitionStream {
        receiver: Some(receiver),
        stop,
        producer: Some(producer),
    })
}

fn produce(
    vec_env: &mut VecEnv,
    policy: &mut dyn Policy,
    config: &StreamConfig,
    sink: &BatchSink,
) -> Result<StreamStats, SimError> {
    let mut stats = StreamStats::default();
    let mut observations: Vec<Observation> = vec_env.reset()?.into_iter().map(|(o, _)| o).collect();
    let mut actions = Vec::with_capacity(observations.len());
    while !sink.stopped()
        && config
            .max_batches
            .is_none_or(|max| stats.batches_sent < max)
    {
        let mut batch = TransitionBatch {
            index: stats.batches_sent,
            ..TransitionBatch::default()
        };
        for _ in 0..config.steps_per_batch.max(1) {
            policy.act(&observations, &mut actions);
            let steps = vec_env.step(&actions)?;
            stats.vec_steps += 1;
            for (env, (step, action)) in steps.iter().zip(&actions).enumerate() {
                // An autoreset step starts a new episode: no transition.
                if !step.info.is_first {
                    batch.push(env, &observations[env], *action, step);
                }
            }
            observations = steps.into_iter().map(|s| s.obs).collect();
        }
        let transitions = batch.len() as u64;
        if !sink.send(batch) {
            break;
        }
        stats.batches_sent += 1;
        stats.transitions_sent += transitions;
    }
    Ok(stats)
}

impl TransitionStream {
    /// The next batch, waiting for it; `None` once the producer has stopped (finished, failed
    /// or been stopped) and the channel is empty.
    pub fn recv(&self) -> Option<TransitionBatch> {
        self.receiver.as_ref()?.recv().ok()
    }

    /// The next batch if one arrives within `timeout`: `Ok(None)` on a timeout,
    /// `Err(StreamClosed)` once the producer has stopped and the channel is empty (call
    /// [`stop`](Self::stop) to learn why).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<TransitionBatch>, StreamClosed> {
        let receiver = self.receiver.as_ref().ok_or(StreamClosed)?;
        match receiver.recv_timeout(timeout) {
            Ok(batch) => Ok(Some(batch)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(StreamClosed),
        }
    }

    /// Batches waiting in the channel (never more than its capacity).
    pub fn queued(&self) -> usize {
        self.receiver.as_ref().map_or(0, Receiver::len)
    }

    /// Stops the producer, waits for it and returns its counts, or the error that ended it.
    pub fn stop(mut self) -> Result<StreamStats, SimError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<StreamStats, SimError> {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver wakes a producer blocked on a full channel.
        self.receiver = None;
        match self.producer.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Err(SimError::Snapshot(
                    "the stream's producer thread panicked".to_owned(),
                ))
            }),
            None => Ok(StreamStats::default()),
        }
    }
}

impl Iterator for &TransitionStream {
    type Item = TransitionBatch;

    fn next(&mut self) -> Option<TransitionBatch> {
        self.recv()
    }
}

impl Drop for TransitionStream {
    fn drop(&mut self) {
        // Errors were the caller's to collect with `stop`; here we only make sure the thread ends.
        let _ = self.shutdown();
    }
}
