//! `kennel rollout`'s writer: episodes recorded in parallel, in waves, handed in order to one
//! thread that fills shards, writes each crash-safely and rewrites the manifest after it.
//! A resumed job checks every shard it finds against the manifest, regenerates what is missing
//! or damaged (episodes are pure functions of their index, so it must hash the same), and
//! carries on from the last shard.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sim::{Env, SimError, WorldSpec};

use super::manifest::{
    EpisodeRange, FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, Manifest, PolicyRecord, WorldRecord,
    sync_folder,
};
use super::shard::{ShardBuilder, read_shard};
use super::{DatasetError, EpisodeSource, RecordedEpisode, episode_seed};

/// This job's share of a dataset: part `index` of `count` (`--shard I/N`, 0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    /// This job's part, from 0.
    pub index: u64,
    /// Parts in all.
    pub count: u64,
}

impl ShardSpec {
    /// A valid share (`index < count`).
    pub fn new(index: u64, count: u64) -> Result<Self, String> {
        if count == 0 {
            return Err(format!("{index}/{count}: the job count must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "{index}/{count}: the job index counts from 0, so it must be below the job count (0/{count} to {}/{count})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// The contiguous episodes of this share of `total`.
    pub fn range(&self, total: u64) -> EpisodeRange {
        let split = |i: u64| (u128::from(total) * u128::from(i) / u128::from(self.count)) as u64;
        EpisodeRange {
            first: split(self.index),
            end: split(self.index + 1),
        }
    }
}

impl std::str::FromStr for ShardSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parse = |part: &str| part.trim().parse::<u64>().ok();
        match text.split_once('/') {
            Some((i, n)) if parse(i).is_some() && parse(n).is_some() => {
                Self::new(parse(i).unwrap_or_default(), parse(n).unwrap_or_default())
            }
            _ => Err(format!(
                "{text:?}: expected I/N, this job's index from 0 and the number of jobs (e.g. 0/4)"
            )),
        }
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Everything a rollout job is asked to do.
#[derive(Clone, Debug)]
pub struct RolloutPlan {
    /// The dataset folder.
    pub dir: PathBuf,
    /// The world.
    pub spec: Arc<WorldSpec>,
    /// The master seed.
    pub master_seed: u64,
    /// The policy, as the manifest records it.
    pub policy: PolicyRecord,
    /// Episodes of the whole dataset.
    pub dataset_episodes: u64,
    /// This job's share (`None`: all of it).
    pub shard: Option<ShardSpec>,
    /// A shard closes after the episode that brings it to this many bytes.
    pub shard_bytes: u64,
    /// Episodes recorded side by side.
    pub envs: usize,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// Finish an interrupted job in `dir` rather than refuse a folder that holds one.
    pub resume: bool,
}

/// How far a job has come, after each episode.
#[derive(Clone, Copy, Debug)]
pub struct RolloutProgress {
    /// Episodes of this job done, including those of earlier runs.
    pub episodes_done: u64,
    /// Episodes of this job.
    pub episodes_total: u64,
    /// Frames recorded by this run.
    pub frames: u64,
    /// Shard bytes recorded by this run.
    pub bytes: u64,
    /// Since this run started recording.
    pub elapsed: Duration,
}

/// What a job did.
#[derive(Clone, Debug)]
pub struct RolloutSummary {
    /// The manifest as written last.
    pub manifest: Manifest,
    /// Episodes recorded by this run (0: the job was already complete).
    pub episodes: u64,
    /// Frames recorded by this run.
    pub frames: u64,
    /// Shard bytes written by this run.
    pub bytes: u64,
    /// Shards regenerated because they were missing or damaged.
    pub regenerated: Vec<String>,
    /// Seconds spent recording and writing.
    pub seconds: f64,
    /// Worker threads used.
    pub threads: usize,
}

/// The manifest's record of `spec`.
pub fn world_record(spec: &WorldSpec) -> WorldRecord {
    let text = spec.to_json_pretty();
    WorldRecord {
        name: spec.name.clone(),
        sha256: super::sha256_hex(text.as_bytes()),
        content: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

/// Records the job `plan` describes with `source` into its folder; `progress` hears after
/// every episode.
pub fn write_dataset(
    plan: &RolloutPlan,
    source: &dyn EpisodeSource,
    progress: &mut dyn FnMut(RolloutProgress),
) -> Result<RolloutSummary, DatasetError> {
    let dir = &plan.dir;
    let sim_error = |err: SimError| DatasetError::new(dir, format!("the simulator failed: {err}"));
    if plan.envs == 0 {
        return Err(DatasetError::new(dir, "--envs must be at least 1"));
    }
    if plan.shard_bytes == 0 {
        return Err(DatasetError::new(dir, "--shard-mb must be above 0"));
    }
    let episodes = plan.shard.map_or(
        EpisodeRange {
            first: 0,
            end: plan.dataset_episodes,
        },
        |s| s.range(plan.dataset_episodes),
    );
    // Frame and state sizes, from the first episode's start.
    let (height, width, state_dim) = {
        let mut env = Env::new(Arc::clone(&plan.spec));
        let (obs, _) = env
            .reset(episode_seed(plan.master_seed, episodes.first))
            .map_err(sim_error)?;
        (obs.rgb.height, obs.rgb.width, obs.state.len() as u32)
    };
    let mut manifest = Manifest {
        format: FORMAT_NAME.to_owned(),
        format_version: FORMAT_VERSION,
        world: world_record(&plan.spec),
        master_seed: plan.master_seed,
        policy: plan.policy.clone(),
        dataset_episodes: plan.dataset_episodes,
        episodes,
        shard_of_job: plan.shard.map(|s| s.to_string()),
        shard_bytes: plan.shard_bytes,
        height,
        width,
        action_dim: 2,
        state_dim,
        shards: Vec::new(),
        counts: super::Counts::default(),
        complete: false,
    };
    std::fs::create_dir_all(dir)
        .map_err(|err| DatasetError::new(dir, format!("cannot create the folder: {err}")))?;
    if let Some(parent) = dir.parent() {
        sync_folder(parent)?;
    }
    if !dir.join(MANIFEST_FILE).exists()
        && let Some(other) = foreign_files(dir)?.first()
    {
        return Err(DatasetError::new(
            dir,
            format!(
                "holds other files ({other}, …) but no {MANIFEST_FILE}: it is not a dataset this command can finish; choose a new or empty --out (nothing was changed)"
            ),
        ));
    }
    // One writer per folder: a second job on it (a double submission, a replacement pod
    // started while the old one still runs) would garble the shard it is writing.
    let _lock = lock_folder(dir)?;
    let mut regenerated = Vec::new();
    if dir.join(MANIFEST_FILE).exists() {
        let existing = Manifest::read(dir)?;
        if !plan.resume {
            return Err(DatasetError::new(
                dir,
                format!(
                    "already holds a dataset ({} of {} episodes written{}); pass --resume to finish it, or choose another --out (nothing was changed)",
                    existing.counts.episodes,
                    existing.episodes.len(),
                    if existing.complete { ", complete" } else { "" }
                ),
            ));
        }
        check_same_job(dir, &existing, &manifest)?;
        manifest.shards = existing.shards;
        regenerated = repair_shards(plan, source, &manifest)?;
        if !existing.complete {
            check_same_build(plan, source, &manifest)?;
        }
    }
    remove_strays(dir, &manifest)?;
    manifest.recount();
    manifest.write(dir)?;

    let started = Instant::now();
    let todo = EpisodeRange {
        first: manifest.written().end,
        end: episodes.end,
    };
    // Two shard buffers: one filling while the other is written and synced (a sync of a
    // 256 MB shard takes about as long as recording it).
    let new_builder = || ShardBuilder::new(height, width, state_dim);
    let threads = worker_threads(plan.threads);
    let (mut frames, mut bytes, mut recorded) = (0u64, 0u64, 0u64);
    let manifest = std::thread::scope(|scope| -> Result<Manifest, DatasetError> {
        let (full_tx, full_rx) = crossbeam_channel::bounded::<ShardBuilder>(1);
        let (empty_tx, empty_rx) = crossbeam_channel::bounded::<ShardBuilder>(2);
        // Shards are written, and the manifest rewritten after each, in episode order.
        let mut manifest = manifest;
        let writer = scope.spawn(move || -> Result<Manifest, DatasetError> {
            for mut full in &full_rx {
                commit(dir, &mut manifest, &mut full)?;
                let _ = empty_tx.send(full);
            }
            Ok(manifest)
        });
        let mut filling = new_builder();
        let mut spare = Some(new_builder());
        let mut shards_done = 0u64;
        let recording = record_in_order(
            source,
            plan.master_seed,
            todo,
            threads,
            plan.envs as u64,
            dir,
            &mut |episode| {
                recorded += 1;
                frames += episode.rows() as u64;
                bytes += episode.shard_bytes() as u64;
                filling.push(episode);
                if filling.bytes() as u64 >= plan.shard_bytes {
                    // The writer stopped if either channel is closed: its error is the one
                    // reported, below.
                    let stopped = || DatasetError::new(dir, "the shard writer stopped");
                    let next = match spare.take() {
                        Some(builder) => builder,
                        None => empty_rx.recv().map_err(|_| stopped())?,
                    };
                    shards_done += recorded_in(&filling);
                    full_tx
                        .send(std::mem::replace(&mut filling, next))
                        .map_err(|_| stopped())?;
                }
                progress(RolloutProgress {
                    episodes_done: todo.first - episodes.first
                        + shards_done
                        + recorded_in(&filling),
                    episodes_total: episodes.len(),
                    frames,
                    bytes,
                    elapsed: started.elapsed(),
                });
                // A written shard's frame buffer for the next episode to fill.
                Ok(filling.take_spare())
            },
        );
        if recording.is_ok() && !filling.is_empty() {
            let _ = full_tx.send(filling);
        }
        drop(full_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(DatasetError::new(dir, "the shard writer panicked")));
        // A writer's error explains a recording stopped by it.
        written.and_then(|manifest| recording.map(|()| manifest))
    })?;
    let mut manifest = manifest;
    manifest.recount();
    manifest.write(dir)?;
    Ok(RolloutSummary {
        manifest,
        episodes: recorded,
        frames,
        bytes,
        regenerated,
        seconds: started.elapsed().as_secs_f64(),
        threads,
    })
}

/// `--threads`: 0 is one per core.
fn worker_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    }
}

/// Records the episodes of `range` on `threads` threads and hands them to `consume` in index
/// order; `consume` gives back the episode's frame buffer, which the next episode reuses.
///
/// Each thread takes the next episode as soon as it is free (no batch waits for its slowest
/// episode), but none starts one more than `window` episodes past the one `consume` waits
/// for: memory stays bounded by `window` episodes.
fn record_in_order(
    source: &dyn EpisodeSource,
    master: u64,
    range: EpisodeRange,
    threads: usize,
    window: u64,
    path: &Path,
    consume: &mut dyn FnMut(RecordedEpisode) -> Result<Vec<u8>, DatasetError>,
) -> Result<(), DatasetError> {
    let window = window.max(1);
    let next = AtomicU64::new(range.first);
    let stop = AtomicBool::new(false);
    let consumed = Mutex::new(range.first);
    let room = Condvar::new();
    let (done_tx, done_rx) =
        crossbeam_channel::bounded::<(u64, Result<RecordedEpisode, SimError>)>(window as usize);
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    // Stops the workers: set under the lock, so that none can check the flag and then sleep
    // through the wake-up.
    let shut_down = || {
        let _guard = consumed.lock().unwrap_or_else(PoisonError::into_inner);
        stop.store(true, Ordering::Relaxed);
        room.notify_all();
    };
    std::thread::scope(|scope| {
        let mut outcome = Ok(());
        for i in 0..threads.max(1) {
            let (done_tx, free_rx) = (done_tx.clone(), free_rx.clone());
            let (next, stop, consumed, room) = (&next, &stop, &consumed, &room);
            let worker = move || {
                let mut env = None;
                loop {
                    let e = next.fetch_add(1, Ordering::Relaxed);
                    if e >= range.end {
                        return;
                    }
                    let mut waiting = consumed.lock().unwrap_or_else(PoisonError::into_inner);
                    while e >= *waiting + window && !stop.load(Ordering::Relaxed) {
                        waiting = room.wait(waiting).unwrap_or_else(PoisonError::into_inner);
                    }
                    drop(waiting);
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let frames = free_rx.try_recv().unwrap_or_default();
                    // A panic (a device error in the planner, say) becomes this episode's
                    // error: a lost episode would leave the writer waiting for it forever.
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        source.record(master, e, frames, &mut env)
                    }))
                    .unwrap_or_else(|panic| {
                        env = None;
                        let what = panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("a panic");
                        Err(SimError::Producer(format!("recording it panicked: {what}")))
                    });
                    if done_tx.send((e, result)).is_err() {
                        return;
                    }
                }
            };
            if let Err(err) = std::thread::Builder::new()
                .name(format!("kennel-rollout-{i}"))
                .spawn_scoped(scope, worker)
            {
                outcome = Err(DatasetError::new(
                    path,
                    format!("cannot start recording thread {i}: {err}; pass a smaller --threads"),
                ));
                break;
            }
        }
        drop(done_tx);
        let mut pending = BTreeMap::new();
        let mut want = range.first;
        if outcome.is_ok() {
            'receive: for (e, result) in &done_rx {
                pending.insert(e, result);
                while let Some(result) = pending.remove(&want) {
                    let step = result
                        .map_err(|err| {
                            DatasetError::new(
                                path,
                                format!("episode {want}: the simulator failed: {err}"),
                            )
                        })
                        .and_then(&mut *consume);
                    match step {
                        Ok(frames) => {
                            if frames.capacity() > 0 {
                                let _ = free_tx.send(frames);
                            }
                        }
                        Err(err) => {
                            outcome = Err(err);
                            break 'receive;
                        }
                    }
                    want += 1;
                    *consumed.lock().unwrap_or_else(PoisonError::into_inner) = want;
                    room.notify_all();
                }
            }
        }
        shut_down();
        drop(done_rx);
        outcome
    })
}

/// Episodes in the shard being filled.
fn recorded_in(builder: &ShardBuilder) -> u64 {
    builder.episode_range().map_or(0, |r| r.len())
}

/// Writes a full shard, then the manifest that lists it.
fn commit(
    dir: &Path,
    manifest: &mut Manifest,
    builder: &mut ShardBuilder,
) -> Result<(), DatasetError> {
    let entry = builder.write(dir, None)?;
    manifest.shards.push(entry);
    manifest.recount();
    manifest.write(dir)
}

/// Refuses to resume a job in `dir` with another world, seed, policy or split.
fn check_same_job(dir: &Path, existing: &Manifest, asked: &Manifest) -> Result<(), DatasetError> {
    let path = dir.join(MANIFEST_FILE);
    let mut differences = Vec::new();
    if existing.world.sha256 != asked.world.sha256 {
        differences.push(format!(
            "world `{}` (sha256 {}…) where this command has `{}` ({}…)",
            existing.world.name,
            existing.world.short_hash(),
            asked.world.name,
            asked.world.short_hash()
        ));
    }
    if existing.master_seed != asked.master_seed {
        differences.push(format!(
            "--seed {} where this command has {}",
            existing.master_seed, asked.master_seed
        ));
    }
    if !existing.policy.same_as(&asked.policy) {
        differences.push(format!(
            "--policy {} where this command has {}",
            existing.policy.name, asked.policy.name
        ));
    }
    if existing.dataset_episodes != asked.dataset_episodes || existing.episodes != asked.episodes {
        differences.push(format!(
            "--episodes {} ({}{}) where this command has {} ({}{})",
            existing.dataset_episodes,
            existing.episodes,
            existing
                .shard_of_job
                .as_ref()
                .map_or(String::new(), |s| format!(", job {s}")),
            asked.dataset_episodes,
            asked.episodes,
            asked
                .shard_of_job
                .as_ref()
                .map_or(String::new(), |s| format!(", job {s}")),
        ));
    }
    if existing.shard_bytes != asked.shard_bytes {
        differences.push(format!(
            "--shard-mb {} where this command has {}",
            existing.shard_bytes as f64 / 1e6,
            asked.shard_bytes as f64 / 1e6
        ));
    }
    if (existing.height, existing.width) != (asked.height, asked.width) {
        differences.push(format!(
            "{}×{} frames where this build renders {}×{}",
            existing.width, existing.height, asked.width, asked.height
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(DatasetError::new(
            &path,
            format!(
                "cannot resume: the dataset was recorded with {}; run the command that started it, or choose another --out (nothing was changed)",
                differences.join("; ")
            ),
        ))
    }
}

/// Checks every listed shard; regenerates each that is missing or does not match the
/// manifest, and checks the new one hashes the same. Returns the regenerated files.
fn repair_shards(
    plan: &RolloutPlan,
    source: &dyn EpisodeSource,
    manifest: &Manifest,
) -> Result<Vec<String>, DatasetError> {
    let mut regenerated = Vec::new();
    for entry in &manifest.shards {
        let path = plan.dir.join(&entry.file);
        // Twice: a network file system's hiccup is not a damaged shard.
        if read_shard(&path, Some(entry)).is_ok() || read_shard(&path, Some(entry)).is_ok() {
            continue;
        }
        let mut builder = ShardBuilder::new(manifest.height, manifest.width, manifest.state_dim);
        record_in_order(
            source,
            plan.master_seed,
            entry.episodes,
            worker_threads(plan.threads),
            plan.envs as u64,
            &path,
            &mut |episode| {
                builder.push(episode);
                Ok(Vec::new())
            },
        )?;
        builder.write(&plan.dir, Some(entry))?;
        regenerated.push(entry.file.clone());
    }
    Ok(regenerated)
}

/// The lock file that keeps a second writer out of a dataset folder.
pub const LOCK_FILE: &str = ".kennel-rollout.lock";

/// Takes the folder's writer lock (released when the returned file is dropped, or the
/// process ends, however it ends).
fn lock_folder(dir: &Path) -> Result<std::fs::File, DatasetError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| DatasetError::new(&path, format!("cannot create the lock file: {err}")))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DatasetError::new(
            dir,
            "another kennel rollout is writing this folder; wait for it to end (or stop it), then run this command again with --resume",
        )),
        Err(std::fs::TryLockError::Error(err)) => Err(DatasetError::new(
            &path,
            format!("cannot lock the folder: {err}"),
        )),
    }
}

/// Files in `dir` that a rollout did not leave there, sorted.
fn foreign_files(dir: &Path) -> Result<Vec<String>, DatasetError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|err| DatasetError::new(dir, format!("cannot list the folder: {err}")))?;
    let ours = [LOCK_FILE.to_owned(), format!("{MANIFEST_FILE}.tmp")];
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !ours.contains(n))
        .collect();
    names.sort();
    Ok(names)
}

/// Records the dataset's first episode again and compares it with the one on disk: a job
/// resumed by another build (a new binary, another container image) that records episodes
/// differently would otherwise append them silently.
fn check_same_build(
    plan: &RolloutPlan,
    source: &dyn EpisodeSource,
    manifest: &Manifest,
) -> Result<(), DatasetError> {
    let Some(first) = manifest.shards.first() else {
        return Ok(());
    };
    let path = plan.dir.join(&first.file);
    let stored = read_shard(&path, Some(first))?;
    let index = first.episodes.first;
    let again = source
        .record(plan.master_seed, index, Vec::new(), &mut None)
        .map_err(|err| DatasetError::new(&path, format!("episode {index}: {err}")))?;
    if stored.episodes.first() != Some(&again) {
        return Err(DatasetError::new(
            &path,
            format!(
                "episode {index}, recorded again by this kennel, differs from the one stored: this build records episodes differently from the one that started the dataset; finish it with that build, or start again in a new folder (nothing was changed)"
            ),
        ));
    }
    Ok(())
}

/// Removes what a killed job leaves behind: temporary files, and shards written after the
/// manifest was last rewritten (they will be recorded again, identically).
fn remove_strays(dir: &Path, manifest: &Manifest) -> Result<(), DatasetError> {
    let listed: std::collections::HashSet<&str> =
        manifest.shards.iter().map(|s| s.file.as_str()).collect();
    let entries = std::fs::read_dir(dir)
        .map_err(|err| DatasetError::new(dir, format!("cannot list the folder: {err}")))?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours_tmp = name.ends_with(".tmp")
            && (name.starts_with("shard-") || name == format!("{MANIFEST_FILE}.tmp"));
        let unlisted = name.starts_with("shard-")
            && name.ends_with(".safetensors")
            && !listed.contains(name.as_str());
        if ours_tmp || unlisted {
            let path = entry.path();
            std::fs::remove_file(&path)
                .map_err(|err| DatasetError::new(&path, format!("cannot remove: {err}")))?;
        }
    }
    Ok(())
}
