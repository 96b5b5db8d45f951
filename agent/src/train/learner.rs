//! The learner thread: it drains the simulator's stream into the replay buffer, trains, writes
//! `metrics.jsonl` and checkpoints, and publishes immutable weight snapshots for the planner.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use rand::RngExt;
use sim::stream::TransitionStream;

use super::{StepReport, TrainError, Trainer};
use crate::model::JepaModel;
use crate::{Episode, ReplayBuffer, SequenceBatch};

/// When the learner stops and how it feeds and reports.
#[derive(Clone, Debug)]
pub struct LearnerConfig {
    /// The run folder (metrics, checkpoints).
    pub run_dir: PathBuf,
    /// Stop after this many optimiser steps in total (including resumed ones).
    pub max_steps: Option<u64>,
    /// Stop after this much training time.
    pub max_duration: Option<Duration>,
    /// Byte cap of the replay buffer.
    pub replay_bytes: usize,
    /// Transitions in the buffer before the first step.
    pub min_transitions: usize,
    /// Stream batches taken (at most) before each step: the flow of fresh data.
    pub stream_batches_per_step: usize,
    /// Publish a weight snapshot every this many steps.
    pub snapshot_every: u64,
    /// Write a checkpoint every this many steps (and always at the end).
    pub checkpoint_every: u64,
    /// Hard-sequence selection: candidates sampled per training sequence (1: uniform
    /// sampling). With `p > 1`, `p · batch` sequences are scored by
    /// [`Trainer::rollout_errors`]; the batch is the `batch / 2` worst-predicted of them plus
    /// a uniform draw of the rest of the batch from the other candidates: rare events the model
    /// gets wrong (a door crossed, a wall hit) come back more often than their share of the
    /// buffer. Scoring costs about half a training step at `p = 4` (`kennel bench train`).
    pub sequence_pool: usize,
    /// Lockstep (`None`: free-running): every step takes exactly `stream_batches_per_step`
    /// new stream batches (waiting for them), and the learner stops at sync steps until the
    /// actor releases it, so that what it learns from does not depend on timing.
    pub lockstep: Option<LearnerLockstep>,
}

/// Where a lockstep learner waits for the actor: before step `from`, and every `every` steps
/// after it. It publishes its weights there, says so on [`Learner::sync_requests`] and waits
/// for [`Learner::release`]; episodes handed over before the release are learned from next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerLockstep {
    /// The first sync step.
    pub from: u64,
    /// Steps between sync steps (at least 1).
    pub every: u64,
}

impl LearnerLockstep {
    /// Whether the learner waits before `step`.
    pub fn syncs_at(&self, step: u64) -> bool {
        step >= self.from && (step - self.from).is_multiple_of(self.every.max(1))
    }
}

/// What a running learner can be told.
pub enum LearnerControl {
    /// Train (`true`) or hold, still taking episodes and stream batches (`false`).
    SetTraining(bool),
    /// Write a checkpoint now ([`LearnerEvent::Checkpoint`] says where).
    SaveCheckpoint,
    /// Continue from the weights, optimiser and step of this checkpoint (its model must read
    /// frames of the same size); [`LearnerEvent::Loaded`] or [`LearnerEvent::ControlFailed`].
    LoadCheckpoint(PathBuf),
    /// Feed from this stream from now on (another world's, of the same frame size); the old
    /// one is stopped.
    ReplaceStream(TransitionStream),
}

impl std::fmt::Debug for LearnerControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SetTraining(on) => write!(f, "SetTraining({on})"),
            Self::SaveCheckpoint => f.write_str("SaveCheckpoint"),
            Self::LoadCheckpoint(path) => write!(f, "LoadCheckpoint({})", path.display()),
            Self::ReplaceStream(_) => f.write_str("ReplaceStream"),
        }
    }
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            run_dir: PathBuf::from("runs/train"),
            max_steps: None,
            max_duration: Some(Duration::from_secs(600)),
            replay_bytes: 384 << 20,
            min_transitions: 2_000,
            stream_batches_per_step: 2,
            snapshot_every: 50,
            checkpoint_every: 500,
            sequence_pool: 1,
            lockstep: None,
        }
    }
}

/// What the learner tells whoever watches it (a progress bar). Dropped when nobody reads:
/// `metrics.jsonl` is the complete record.
#[derive(Clone, Debug)]
pub enum LearnerEvent {
    /// Collecting the first transitions.
    Filling {
        /// Transitions so far.
        transitions: usize,
    },
    /// A step finished.
    Step {
        /// What it did.
        report: StepReport,
        /// Frames through the encoder per second, over the run so far.
        samples_per_s: f64,
        /// Seconds of training so far.
        elapsed_s: f64,
        /// Fraction of the run done, by steps or time.
        progress: f64,
        /// Transitions in the replay buffer.
        replay_transitions: usize,
    },
    /// A checkpoint was written.
    Checkpoint(PathBuf),
    /// Training continues from this checkpoint ([`LearnerControl::LoadCheckpoint`]).
    Loaded(PathBuf),
    /// A [`LearnerControl`] could not be carried out; training goes on as before.
    ControlFailed(String),
}

/// The newest published weights: an immutable inference copy and its step.
#[derive(Clone, Default)]
pub struct WeightsSnapshot {
    inner: Arc<RwLock<Published>>,
}

/// The step and weights of the newest snapshot.
type Published = Option<(u64, Arc<JepaModel>)>;

impl WeightsSnapshot {
    /// The newest snapshot, if one was published.
    pub fn latest(&self) -> Option<(u64, Arc<JepaModel>)> {
        self.inner.read().ok().and_then(|guard| guard.clone())
    }

    fn publish(&self, step: u64, model: JepaModel) {
        if let Ok(mut guard) = self.inner.write() {
            *guard = Some((step, Arc::new(model)));
        }
    }
}

/// How a finished run ended.
#[derive(Clone, Debug)]
pub struct LearnerSummary {
    /// Steps in total.
    pub steps: u64,
    /// The final checkpoint.
    pub checkpoint: PathBuf,
    /// Transitions the buffer received.
    pub transitions_seen: u64,
    /// Episodes added by [`Learner::add_episode`] that reached the buffer while it trained.
    pub episodes_added: u64,
    /// Steps rolled back for a non-finite loss.
    pub rolled_back: u64,
}

/// A training thread.
pub struct Learner {
    handle: Option<JoinHandle<Result<LearnerSummary, TrainError>>>,
    events: Receiver<LearnerEvent>,
    /// Whole episodes for the replay buffer from outside the stream (the actor's own).
    episodes: Sender<Episode>,
    weights: WeightsSnapshot,
    stop: Arc<AtomicBool>,
    controls: Sender<LearnerControl>,
    /// Lockstep: the steps where the learner waits ([`LearnerLockstep`]).
    sync_requests: Receiver<u64>,
    releases: Sender<()>,
}

impl Learner {
    /// Starts training `trainer` on a replay buffer (`replay`, possibly prefilled with
    /// recorded episodes) fed by `stream` (if any).
    pub fn spawn(
        trainer: Trainer,
        replay: ReplayBuffer,
        stream: Option<TransitionStream>,
        config: LearnerConfig,
    ) -> Result<Self, TrainError> {
        if trainer.config().model.context_dims() > 0 && config.sequence_pool > 1 {
            return Err(TrainError::Config(
                "hard-sequence selection (sequence_pool > 1) would split the episode pairs the context loss needs; use one of sequence_pool and context_dims".to_owned(),
            ));
        }
        std::fs::create_dir_all(&config.run_dir).map_err(|err| TrainError::Checkpoint {
            path: config.run_dir.display().to_string(),
            message: format!("cannot create the run folder: {err}"),
        })?;
        let (sender, events) = bounded(256);
        let (episodes, incoming) = bounded(EPISODE_QUEUE);
        let weights = WeightsSnapshot::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (weights.clone(), Arc::clone(&stop));
        let (controls, control_inbox) = bounded(16);
        let (sync_sender, sync_requests) = bounded(1);
        let (releases, release_inbox) = bounded(1);
        let inputs = Inputs {
            stream,
            episodes: incoming,
            controls: control_inbox,
            sync: Some((sync_sender, release_inbox)),
        };
        let handle = std::thread::Builder::new()
            .name("kennel-learner".to_owned())
            .spawn(move || run(trainer, replay, inputs, &config, &sender, &w, &s))
            .map_err(|err| TrainError::Config(format!("cannot start the learner thread: {err}")))?;
        Ok(Self {
            handle: Some(handle),
            events,
            episodes,
            weights,
            stop,
            controls,
            sync_requests,
            releases,
        })
    }

    /// Tells the learner something (see [`LearnerControl`]); `false` when it has stopped or
    /// 16 controls are still waiting.
    pub fn control(&self, control: LearnerControl) -> bool {
        self.controls.try_send(control).is_ok()
    }

    /// Lockstep: the step the learner waits before, each time it waits.
    pub fn sync_requests(&self) -> &Receiver<u64> {
        &self.sync_requests
    }

    /// Lockstep: lets a waiting learner go on (after handing it the episodes it should learn
    /// from next).
    pub fn release(&self) {
        let _ = self.releases.try_send(());
    }

    /// Progress events.
    pub fn events(&self) -> &Receiver<LearnerEvent> {
        &self.events
    }

    /// The published weights.
    pub fn weights(&self) -> &WeightsSnapshot {
        &self.weights
    }

    /// Hands a whole episode (the actor's practice, say) to the replay buffer, where it is
    /// sampled like the stream's; its frames must have the stream's size. Never blocks:
    /// returns `false`, dropping the episode, while the learner has `EPISODE_QUEUE` episodes
    /// still to take or has stopped training. An episode still queued when training stops is
    /// dropped too: [`LearnerSummary::episodes_added`] counts those that were learned from.
    pub fn add_episode(&self, episode: Episode) -> bool {
        self.episodes.try_send(episode).is_ok()
    }

    /// Asks the learner to stop after its current step (it still writes a final checkpoint).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the end of training.
    pub fn join(mut self) -> Result<LearnerSummary, TrainError> {
        match self.handle.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Err(TrainError::Config("the learner thread panicked".to_owned()))
            }),
            None => Err(TrainError::Config(
                "the learner was already joined".to_owned(),
            )),
        }
    }
}

impl Drop for Learner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn metrics_line(
    report: &StepReport,
    elapsed_s: f64,
    samples_per_s: f64,
    replay: &ReplayBuffer,
) -> String {
    let mut object = serde_json::Map::new();
    object.insert("step".into(), report.step.into());
    object.insert("elapsed_s".into(), elapsed_s.into());
    object.insert("loss".into(), finite_or_null(report.loss));
    for (name, value) in &report.parts {
        object.insert((*name).into(), finite_or_null(*value));
    }
    object.insert("learning_rate".into(), report.learning_rate.into());
    object.insert("rolled_back".into(), report.rolled_back.into());
    object.insert(
        "latent_std_mean".into(),
        finite_or_null(report.latent_std_mean),
    );
    object.insert(
        "latent_std_min".into(),
        finite_or_null(report.latent_std_min),
    );
    if let Some(rank) = report.effective_rank {
        object.insert("effective_rank".into(), finite_or_null(rank));
    }
    object.insert("samples_per_s".into(), finite_or_null(samples_per_s));
    object.insert("replay_transitions".into(), replay.num_transitions().into());
    object.insert("transitions_seen".into(), replay.transitions_seen().into());
    serde_json::Value::Object(object).to_string()
}

fn finite_or_null(value: f64) -> serde_json::Value {
    if value.is_finite() {
        value.into()
    } else {
        serde_json::Value::Null
    }
}

/// Episodes that may wait for the learner before [`Learner::add_episode`] drops them.
pub const EPISODE_QUEUE: usize = 16;

/// What feeds the replay buffer.
struct Inputs {
    stream: Option<TransitionStream>,
    episodes: Receiver<Episode>,
    controls: Receiver<LearnerControl>,
    /// Lockstep: where to say the learner waits, and where it hears it may go on (`None`
    /// once the actor has gone).
    sync: Option<(Sender<u64>, Receiver<()>)>,
}

impl Inputs {
    /// Moves the episodes handed over so far into `replay`; returns how many.
    fn take_episodes(&self, replay: &mut ReplayBuffer) -> u64 {
        let mut taken = 0;
        while let Ok(episode) = self.episodes.try_recv() {
            let (height, width) = replay.frame_size();
            if episode.frames.len() != (episode.steps() + 1) * height * width * 3 {
                tracing::warn!(
                    "dropped an added episode: its {} bytes of frames are not {} frames of {height}×{width}",
                    episode.frames.len(),
                    episode.steps() + 1
                );
                continue;
            }
            replay.push_episode(episode, height, width);
            taken += 1;
        }
        taken
    }
}

fn run(
    mut trainer: Trainer,
    mut replay: ReplayBuffer,
    mut inputs: Inputs,
    config: &LearnerConfig,
    events: &Sender<LearnerEvent>,
    weights: &WeightsSnapshot,
    stop: &AtomicBool,
) -> Result<LearnerSummary, TrainError> {
    let metrics_path = config.run_dir.join("metrics.jsonl");
    trim_metrics(&metrics_path, trainer.step_count());
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(|err| TrainError::Checkpoint {
            path: metrics_path.display().to_string(),
            message: err.to_string(),
        })?;
    let k = trainer.config().model.rollout_steps;
    let batch_size = trainer.config().batch_size;
    // The episode-context loss compares two windows of one episode.
    let paired = trainer.config().model.context_dims() > 0;
    let started = Instant::now();
    let mut frames_seen = 0u64;
    let mut episodes_added = 0u64;
    let mut rolled_back = 0u64;
    weights.publish(trainer.step_count(), trainer.snapshot());

    let mut stream = inputs.stream.take();
    // Fill the buffer before the first step.
    while replay.num_transitions() < config.min_transitions && !stop.load(Ordering::Relaxed) {
        let Some(live) = &stream else { break };
        match live.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(batch)) => replay.push_batch(&batch),
            Ok(None) => {}
            Err(_) => close_stream(&mut stream)?,
        }
        let _ = events.try_send(LearnerEvent::Filling {
            transitions: replay.num_transitions(),
        });
    }
    let training_started = Instant::now();
    let mut training = true;
    let mut synced_at = None;
    loop {
        let elapsed = training_started.elapsed();
        let step = trainer.step_count();
        // By steps, progress is absolute, so a resumed run continues the same schedule.
        let by_steps = config.max_steps.map(|max| step as f64 / max.max(1) as f64);
        let by_time = config
            .max_duration
            .map(|max| elapsed.as_secs_f64() / max.as_secs_f64().max(1e-9));
        let progress = by_steps.unwrap_or(0.0).max(by_time.unwrap_or(0.0));
        if stop.load(Ordering::Relaxed)
            || config.max_steps.is_some_and(|max| step >= max)
            || config.max_duration.is_some_and(|max| elapsed >= max)
        {
            break;
        }
        if !obey_controls(
            &mut trainer,
            &mut inputs,
            &mut stream,
            &mut training,
            config,
            events,
            weights,
        )? {
            // Held: keep taking what the actor hands over, train nothing.
            episodes_added += inputs.take_episodes(&mut replay);
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if let Some(lockstep) = config.lockstep
            && lockstep.syncs_at(step)
            && synced_at != Some(step)
        {
            synced_at = Some(step);
            weights.publish(step, trainer.snapshot());
            wait_for_actor(&mut inputs, step, stop);
        }
        episodes_added += inputs.take_episodes(&mut replay);
        // Lockstep waits for each batch, so every step learns from the same new data.
        let wait = config.lockstep.is_some();
        for _ in 0..config.stream_batches_per_step {
            if !take_batch(&mut stream, &mut replay, wait, stop)? {
                break;
            }
        }
        let batch = loop {
            let pool = batch_size * config.sequence_pool.max(1);
            let candidates = if paired {
                replay.sample_pairs(trainer.rng(), pool, k + 1)
            } else {
                replay.sample(trainer.rng(), pool, k + 1)
            };
            if let Some(candidates) = candidates {
                break select_hard_sequences(&mut trainer, candidates, batch_size);
            }
            // Nothing long enough yet: wait for the stream, if there is one.
            let Some(live) = &stream else {
                return Err(TrainError::Config(format!(
                    "no episode in the replay buffer is {k} steps long; record longer episodes or lower rollout_steps"
                )));
            };
            match live.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(batch)) => replay.push_batch(&batch),
                Ok(None) => {}
                Err(_) => close_stream(&mut stream)?,
            }
            if stop.load(Ordering::Relaxed) {
                return Err(TrainError::Config(
                    "stopped before the first batch".to_owned(),
                ));
            }
        };
        let report = trainer.train_step(&batch, progress)?;
        rolled_back += u64::from(report.rolled_back);
        frames_seen += (batch.batch * batch.frames_per_sequence) as u64;
        let elapsed_s = started.elapsed().as_secs_f64();
        let samples_per_s = frames_seen as f64 / training_started.elapsed().as_secs_f64().max(1e-9);
        let _ = writeln!(
            metrics,
            "{}",
            metrics_line(&report, elapsed_s, samples_per_s, &replay)
        );
        let step = report.step;
        let _ = events.try_send(LearnerEvent::Step {
            report,
            samples_per_s,
            elapsed_s,
            progress,
            replay_transitions: replay.num_transitions(),
        });
        if step % config.snapshot_every.max(1) == 0 {
            weights.publish(step, trainer.snapshot());
        }
        if step % config.checkpoint_every.max(1) == 0 {
            let path = trainer.save_checkpoint(&config.run_dir)?;
            let _ = events.try_send(LearnerEvent::Checkpoint(path));
        }
    }
    let _ = metrics.flush();
    // No more training: refuse further episodes (queued ones are dropped, not counted).
    drop(inputs.episodes);
    let checkpoint = trainer.save_checkpoint(&config.run_dir)?;
    weights.publish(trainer.step_count(), trainer.snapshot());
    let _ = events.try_send(LearnerEvent::Checkpoint(checkpoint.clone()));
    if let Some(stream) = stream {
        // The producer's own errors (a NaN action, say) surface here.
        stream
            .stop()
            .map_err(|err| TrainError::Config(format!("the simulator stream failed: {err}")))?;
    }
    Ok(LearnerSummary {
        steps: trainer.step_count(),
        checkpoint,
        transitions_seen: replay.transitions_seen(),
        episodes_added,
        rolled_back,
    })
}

/// Moves one stream batch into `replay`; whether one came. Without `wait` it takes only a
/// batch already there; with it, it waits until one comes, training stops or the stream ends.
fn take_batch(
    stream: &mut Option<TransitionStream>,
    replay: &mut ReplayBuffer,
    wait: bool,
    stop: &AtomicBool,
) -> Result<bool, TrainError> {
    let timeout = Duration::from_millis(if wait { 200 } else { 1 });
    loop {
        let Some(live) = stream.as_ref() else {
            return Ok(false);
        };
        match live.recv_timeout(timeout) {
            Ok(Some(batch)) => {
                replay.push_batch(&batch);
                return Ok(true);
            }
            Ok(None) if wait && !stop.load(Ordering::Relaxed) => {}
            Ok(None) => return Ok(false),
            Err(_) => {
                close_stream(stream)?;
                return Ok(false);
            }
        }
    }
}

/// Carries out the controls that arrived; whether to train this step.
fn obey_controls(
    trainer: &mut Trainer,
    inputs: &mut Inputs,
    stream: &mut Option<TransitionStream>,
    training: &mut bool,
    config: &LearnerConfig,
    events: &Sender<LearnerEvent>,
    weights: &WeightsSnapshot,
) -> Result<bool, TrainError> {
    while let Ok(control) = inputs.controls.try_recv() {
        match control {
            LearnerControl::SetTraining(on) => *training = on,
            LearnerControl::SaveCheckpoint => {
                let path = trainer.save_checkpoint(&config.run_dir)?;
                let _ = events.try_send(LearnerEvent::Checkpoint(path));
            }
            LearnerControl::LoadCheckpoint(path) => {
                let event = match Trainer::load_checkpoint(&path, trainer.device()) {
                    Ok(loaded)
                        if loaded.config().model.encoder.image_size
                            == trainer.config().model.encoder.image_size =>
                    {
                        *trainer = loaded;
                        weights.publish(trainer.step_count(), trainer.snapshot());
                        LearnerEvent::Loaded(path)
                    }
                    Ok(loaded) => {
                        let theirs = loaded.config().model.encoder.image_size;
                        let ours = trainer.config().model.encoder.image_size;
                        LearnerEvent::ControlFailed(format!(
                            "{}: its model reads {theirs}×{theirs} frames, this run's {ours}×{ours}; load a checkpoint of a model of this run's frame size",
                            path.display()
                        ))
                    }
                    Err(err) => LearnerEvent::ControlFailed(format!("{err}")),
                };
                let _ = events.try_send(event);
            }
            LearnerControl::ReplaceStream(next) => {
                close_stream(stream)?;
                *stream = Some(next);
            }
        }
    }
    Ok(*training)
}

/// Lockstep: says the learner waits before `step` and waits until the actor releases it (or
/// has gone, or training stops).
fn wait_for_actor(inputs: &mut Inputs, step: u64, stop: &AtomicBool) {
    let Some((requests, releases)) = &inputs.sync else {
        return;
    };
    let mut gone = requests.send(step).is_err();
    while !gone && !stop.load(Ordering::Relaxed) {
        match releases.recv_timeout(Duration::from_millis(200)) {
            Ok(()) => return,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => gone = true,
        }
    }
    if gone {
        inputs.sync = None;
    }
}

/// The training batch out of `candidates`: the `batch / 2` sequences the model predicts worst,
/// then uniform picks from the rest (so the batch still covers the buffer). All of them when
/// there are no more than `batch`.
fn select_hard_sequences(
    trainer: &mut Trainer,
    candidates: SequenceBatch,
    batch: usize,
) -> SequenceBatch {
    if candidates.batch <= batch {
        return candidates;
    }
    let errors = trainer.rollout_errors(&candidates);
    let chosen = hard_indices(&errors, batch, trainer.rng());
    candidates.select(&chosen)
}

/// `batch` distinct indices into `errors`: the `batch / 2` largest errors (worst first, ties by
/// index), then uniform picks among the others. A non-finite error (a diverging model) counts
/// as the smallest, so it is never picked as hard.
fn hard_indices(errors: &[f32], batch: usize, rng: &mut impl RngExt) -> Vec<usize> {
    let batch = batch.min(errors.len());
    let key = |i: usize| {
        let e = errors[i];
        if e.is_finite() { e } else { f32::NEG_INFINITY }
    };
    let mut order: Vec<usize> = (0..errors.len()).collect();
    order.sort_by(|a, b| key(*b).total_cmp(&key(*a)).then(a.cmp(b)));
    let hard = batch / 2;
    let mut chosen: Vec<usize> = order[..hard].to_vec();
    let mut rest = order[hard..].to_vec();
    for _ in hard..batch {
        chosen.push(rest.swap_remove(rng.random_range(0..rest.len())));
    }
    chosen
}

/// Stops the producer, if any; its own error (a sampling failure, a NaN action) ends training.
/// A producer that simply finished leaves the learner training on the buffer.
fn close_stream(stream: &mut Option<TransitionStream>) -> Result<(), TrainError> {
    match stream.take() {
        Some(live) => live
            .stop()
            .map(|_| ())
            .map_err(|err| TrainError::Config(format!("the simulator stream failed: {err}"))),
        None => Ok(()),
    }
}

/// Drops metric lines past `step` (a run resumed from an earlier checkpoint redoes them).
fn trim_metrics(path: &std::path::Path, step: u64) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s <= step)
        })
        .collect();
    if kept.len() != text.lines().count() {
        let mut out = kept.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        let tmp = path.with_extension("jsonl.tmp");
        if std::fs::write(&tmp, out).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::hard_indices;

    #[test]
    fn the_worst_half_is_kept_and_the_rest_drawn_without_repeats() {
        let errors = [0.1, 5.0, f32::NAN, 0.3, 9.0, 0.2, 4.0, 0.0];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..20 {
            let chosen = hard_indices(&errors, 4, &mut rng);
            assert_eq!(chosen.len(), 4);
            assert_eq!(&chosen[..2], &[4, 1], "the two largest errors, worst first");
            let mut unique = chosen.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 4, "no candidate twice: {chosen:?}");
        }
        // The NaN is never hard, however many are asked for.
        assert_eq!(&hard_indices(&errors, 8, &mut rng)[..4], &[4, 1, 6, 3]);
    }
}
