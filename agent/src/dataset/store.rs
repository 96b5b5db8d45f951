//! Reading datasets: opening, verifying, merging the jobs of one dataset, and streaming the
//! shards to a learner with memory bounded by a few shards.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use sim::stream::{BatchSink, StreamStats, TransitionBatch, TransitionStream, spawn_producer};
use sim::{Action, SimError};

use super::manifest::{EpisodeRange, MANIFEST_FILE, Manifest, ShardEntry};
use super::shard::{ShardData, read_shard};
use super::{DatasetError, RecordedEpisode};

/// A dataset folder and its manifest.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Dataset {
    /// Opens `dir` (reads and checks its manifest; shards are read when asked for).
    pub fn open(dir: &Path) -> Result<Self, DatasetError> {
        if !dir.join(MANIFEST_FILE).exists() {
            let old = std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("episodes-") && name.ends_with(".bin")
                })
            });
            if old {
                return Err(DatasetError::new(
                    dir,
                    "holds episodes in the old postcard format (`kennel rollout --record`), which this kennel no longer reads; record the data again with `kennel rollout --out DIR`",
                ));
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            manifest: Manifest::read(dir)?,
        })
    }

    /// Reads and checks shard `index` of the manifest.
    pub fn read_shard(&self, index: usize) -> Result<ShardData, DatasetError> {
        let entry = self.manifest.shards.get(index).ok_or_else(|| {
            DatasetError::new(&self.dir, format!("no shard {index} in the manifest"))
        })?;
        let data = read_shard(&self.dir.join(&entry.file), Some(entry))?;
        let m = &self.manifest;
        if (data.height, data.width, data.state_dim) != (m.height, m.width, m.state_dim) {
            return Err(DatasetError::new(
                &self.dir.join(&entry.file),
                format!(
                    "{}×{} frames and {} state numbers, the manifest says {}×{} and {}",
                    data.width, data.height, data.state_dim, m.width, m.height, m.state_dim
                ),
            ));
        }
        Ok(data)
    }

    /// Every episode, in order, one shard in memory at a time.
    pub fn episodes(&self) -> impl Iterator<Item = Result<RecordedEpisode, DatasetError>> + '_ {
        (0..self.manifest.shards.len()).flat_map(move |i| match self.read_shard(i) {
            Ok(data) => data.episodes.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(err) => vec![Err(err)],
        })
    }

    /// A summary for `kennel dataset info`.
    pub fn info(&self) -> DatasetInfo {
        let m = &self.manifest;
        let episodes = m.counts.episodes.max(1) as f64;
        DatasetInfo {
            world: m.world.name.clone(),
            master_seed: m.master_seed,
            policy: m.policy.name.clone(),
            episodes: m.episodes,
            written: m.counts.episodes,
            dataset_episodes: m.dataset_episodes,
            job: m.shard_of_job.clone(),
            complete: m.complete,
            shards: m.shards.len(),
            rows: m.counts.rows,
            bytes: m.counts.bytes,
            frame: [m.height, m.width],
            state_dim: m.state_dim,
            success_rate: m.counts.terminated as f64 / episodes,
            mean_steps: m.counts.transitions as f64 / episodes,
        }
    }
}

/// What `kennel dataset info` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetInfo {
    /// The world's name.
    pub world: String,
    /// The master seed.
    pub master_seed: u64,
    /// The policy.
    pub policy: String,
    /// The episodes this folder is to hold.
    pub episodes: EpisodeRange,
    /// Episodes written.
    pub written: u64,
    /// Episodes of the whole dataset.
    pub dataset_episodes: u64,
    /// `I/N` for a job's share.
    pub job: Option<String>,
    /// Every episode is written.
    pub complete: bool,
    /// Shards.
    pub shards: usize,
    /// Rows (frames).
    pub rows: u64,
    /// Bytes of shards.
    pub bytes: u64,
    /// `[height, width]`.
    pub frame: [u32; 2],
    /// Numbers per state.
    pub state_dim: u32,
    /// Episodes that ended in success, of those written.
    pub success_rate: f64,
    /// Mean actions per episode.
    pub mean_steps: f64,
}

/// What `verify` checked.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Shards read and checked.
    pub shards: usize,
    /// Episodes in them.
    pub episodes: u64,
    /// Rows in them.
    pub rows: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Every episode of the folder's range is written.
    pub complete: bool,
    /// Files that are not the dataset's (left in the folder by something else).
    pub strays: Vec<String>,
}

/// Checks every shard of `dir` against its manifest (size, sha256, tensors, shapes, episode
/// ranges, counts); the error names each bad shard.
pub fn verify(
    dir: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<VerifyReport, DatasetError> {
    let dataset = Dataset::open(dir)?;
    let m = &dataset.manifest;
    let mut problems = Vec::new();
    problems.extend(first_gap(m));
    let mut report = VerifyReport {
        complete: m.complete,
        ..VerifyReport::default()
    };
    for (i, entry) in m.shards.iter().enumerate() {
        progress(i, m.shards.len());
        match dataset.read_shard(i) {
            Ok(data) => {
                report.shards += 1;
                report.episodes += data.episodes.len() as u64;
                report.rows += entry.rows;
                report.bytes += entry.bytes;
            }
            Err(err) => problems.push(err.to_string()),
        }
    }
    progress(m.shards.len(), m.shards.len());
    let mut recounted = m.clone();
    recounted.recount();
    if recounted.counts != m.counts || recounted.complete != m.complete {
        problems.push(format!(
            "{}: its counts {:?} do not add up to its shards' {:?}",
            MANIFEST_FILE, m.counts, recounted.counts
        ));
    }
    let listed: HashSet<&str> = m.shards.iter().map(|s| s.file.as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut strays: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n != MANIFEST_FILE && n != super::write::LOCK_FILE && !listed.contains(n.as_str())
            })
            .collect();
        strays.sort();
        report.strays = strays;
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(DatasetError::new(
            dir,
            format!(
                "{} problem(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            ),
        ))
    }
}

/// The first shard of `m` that does not start where the one before it ended.
fn first_gap(m: &Manifest) -> Option<String> {
    let mut expected_first = m.episodes.first;
    for entry in &m.shards {
        if entry.episodes.first != expected_first {
            return Some(format!(
                "{}: starts at episode {} where {expected_first} was expected (a shard is missing from the manifest)",
                entry.file, entry.episodes.first
            ));
        }
        expected_first = entry.episodes.end;
    }
    None
}

/// Joins the folders of one dataset's jobs into `out` (shards hard-linked, or copied across
/// file systems, after each is checked), refusing different worlds, seeds, policies or frame
/// sizes, incomplete jobs, overlaps and gaps.
pub fn merge(
    inputs: &[PathBuf],
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Manifest, DatasetError> {
    let Some(first_dir) = inputs.first() else {
        return Err(DatasetError::new(
            out,
            "give at least one dataset folder to merge",
        ));
    };
    let mut parts: Vec<Dataset> = inputs
        .iter()
        .map(|dir| Dataset::open(dir))
        .collect::<Result<_, _>>()?;
    let reference = parts[0].manifest.clone();
    for part in &parts {
        let m = &part.manifest;
        let differs = |what: &str, theirs: String, ours: String| {
            DatasetError::new(
                &part.dir,
                format!(
                    "recorded with {what} {theirs}, but {} with {ours}: only the jobs of one dataset can be merged",
                    first_dir.display()
                ),
            )
        };
        if m.world.sha256 != reference.world.sha256 {
            return Err(differs(
                "world",
                format!("`{}` ({}…)", m.world.name, m.world.short_hash()),
                format!(
                    "`{}` ({}…)",
                    reference.world.name,
                    reference.world.short_hash()
                ),
            ));
        }
        if m.master_seed != reference.master_seed {
            return Err(differs(
                "--seed",
                m.master_seed.to_string(),
                reference.master_seed.to_string(),
            ));
        }
        if !m.policy.same_as(&reference.policy) {
            return Err(differs(
                "--policy",
                m.policy.name.clone(),
                reference.policy.name.clone(),
            ));
        }
        if m.dataset_episodes != reference.dataset_episodes {
            return Err(differs(
                "--episodes",
                m.dataset_episodes.to_string(),
                reference.dataset_episodes.to_string(),
            ));
        }
        if (m.height, m.width, m.state_dim)
            != (reference.height, reference.width, reference.state_dim)
        {
            return Err(differs(
                "frames of",
                format!("{}×{}", m.width, m.height),
                format!("{}×{}", reference.width, reference.height),
            ));
        }
        if let Some(gap) = first_gap(m) {
            return Err(DatasetError::new(&part.dir, gap));
        }
        if !m.complete {
            return Err(DatasetError::new(
                &part.dir,
                format!(
                    "an unfinished job ({} of {} episodes): finish it by running its `kennel rollout` command again with --resume, then merge",
                    m.counts.episodes,
                    m.episodes.len()
                ),
            ));
        }
    }
    // By end too: a share with no episodes (more jobs than episodes) sorts before its neighbour.
    parts.sort_by_key(|p| (p.manifest.episodes.first, p.manifest.episodes.end));
    for pair in parts.windows(2) {
        let (a, b) = (&pair[0].manifest.episodes, &pair[1].manifest.episodes);
        if b.first < a.end {
            return Err(DatasetError::new(
                &pair[1].dir,
                format!(
                    "its {b} overlap {}'s {a}: the same job was given twice, or jobs of different splits",
                    pair[0].dir.display()
                ),
            ));
        }
        if b.first > a.end {
            return Err(DatasetError::new(
                out,
                format!(
                    "episodes {}..{} are in none of the inputs: the job between {} and {} is missing",
                    a.end,
                    b.first,
                    pair[0].dir.display(),
                    pair[1].dir.display()
                ),
            ));
        }
    }
    prepare_empty(out)?;
    let total: usize = parts.iter().map(|p| p.manifest.shards.len()).sum();
    let mut shards: Vec<ShardEntry> = Vec::with_capacity(total);
    for part in &parts {
        for (i, entry) in part.manifest.shards.iter().enumerate() {
            progress(shards.len(), total);
            part.read_shard(i)?;
            let from = part.dir.join(&entry.file);
            let to = out.join(&entry.file);
            if std::fs::hard_link(&from, &to).is_err() {
                let tmp = super::manifest::temporary_name(&to);
                std::fs::copy(&from, &tmp)
                    .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                    .and_then(|()| std::fs::rename(&tmp, &to))
                    .map_err(|err| {
                        DatasetError::new(&to, format!("cannot copy {}: {err}", from.display()))
                    })?;
            }
            shards.push(entry.clone());
        }
    }
    progress(total, total);
    let covered = EpisodeRange {
        first: parts[0].manifest.episodes.first,
        end: parts.last().map_or(0, |p| p.manifest.episodes.end),
    };
    let all = covered.first == 0 && covered.end == reference.dataset_episodes;
    let mut manifest = Manifest {
        episodes: covered,
        shard_of_job: (!all).then(|| format!("episodes {}..{}", covered.first, covered.end)),
        shards,
        ..reference
    };
    manifest.recount();
    manifest.write(out)?;
    Ok(manifest)
}

/// Creates `out`, refusing one that holds anything.
fn prepare_empty(out: &Path) -> Result<(), DatasetError> {
    std::fs::create_dir_all(out)
        .map_err(|err| DatasetError::new(out, format!("cannot create the folder: {err}")))?;
    let busy = std::fs::read_dir(out)
        .map_err(|err| DatasetError::new(out, format!("cannot list the folder: {err}")))?
        .next()
        .is_some();
    if busy {
        return Err(DatasetError::new(
            out,
            "is not empty; merge into a new folder (an interrupted merge leaves no manifest.json: delete the folder and merge again)",
        ));
    }
    Ok(())
}

/// How [`stream_transitions`] reads a dataset.
#[derive(Clone, Copy, Debug)]
pub struct StreamOptions {
    /// Seeds the shard order of each pass.
    pub seed: u64,
    /// Episodes the stream's channel holds.
    pub capacity: usize,
    /// Passes over the data (`None`: until the learner stops).
    pub passes: Option<u64>,
}

/// Streams the dataset's episodes to a learner as transition batches (one per episode),
/// shard by shard in a shuffled order each pass: at most one shard and `capacity` episodes
/// are in memory besides the learner's replay buffer.
pub fn stream_transitions(
    dataset: Dataset,
    options: StreamOptions,
) -> Result<TransitionStream, DatasetError> {
    if dataset.manifest.shards.is_empty() {
        return Err(DatasetError::new(
            &dataset.dir,
            "holds no shard yet; wait for its rollout to write one",
        ));
    }
    let dir = dataset.dir.clone();
    spawn_producer("kennel-data", options.capacity, move |sink| {
        stream_passes(&dataset, options, sink)
    })
    .map_err(|err| DatasetError::new(&dir, err.to_string()))
}

fn stream_passes(
    dataset: &Dataset,
    options: StreamOptions,
    sink: &BatchSink,
) -> Result<StreamStats, SimError> {
    let mut stats = StreamStats::default();
    let mut order: Vec<usize> = (0..dataset.manifest.shards.len()).collect();
    let mut pass = 0u64;
    while options.passes.is_none_or(|p| pass < p) {
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(options.seed ^ pass));
        for &i in &order {
            let data = dataset
                .read_shard(i)
                .map_err(|err| SimError::Producer(err.to_string()))?;
            let (height, width, state_dim) = (data.height, data.width, data.state_dim as usize);
            for episode in data.episodes {
                let batch = episode_batch(&episode, stats.batches_sent, height, width, state_dim);
                let transitions = batch.len() as u64;
                if !sink.send(batch) {
                    return Ok(stats);
                }
                stats.batches_sent += 1;
                stats.transitions_sent += transitions;
            }
        }
        pass += 1;
    }
    Ok(stats)
}

/// One episode's transitions as a stream batch.
fn episode_batch(
    episode: &RecordedEpisode,
    index: u64,
    height: u32,
    width: u32,
    state_dim: usize,
) -> TransitionBatch {
    let steps = episode.actions.len();
    let frame = height as usize * width as usize * 3;
    let last = steps.saturating_sub(1);
    TransitionBatch {
        index,
        height,
        width,
        state_dim,
        frames: episode.frames[..steps * frame].to_vec(),
        next_frames: episode.frames[frame..(steps + 1) * frame].to_vec(),
        actions: episode.actions.iter().map(|a| Action(*a)).collect(),
        proprio: episode.proprio[..steps].to_vec(),
        next_proprio: episode.proprio[1..=steps].to_vec(),
        states: episode.states[..steps * state_dim].to_vec(),
        next_states: episode.states[state_dim..(steps + 1) * state_dim].to_vec(),
        rewards: vec![0.0; steps],
        terminated: (0..steps)
            .map(|t| t == last && episode.terminated)
            .collect(),
        truncated: (0..steps).map(|t| t == last && episode.truncated).collect(),
        env_ids: vec![0; steps],
        episode_seeds: vec![episode.index; steps],
        episode_steps: (1..=steps as u32).collect(),
    }
}
