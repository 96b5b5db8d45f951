//! `manifest.json`: what a dataset folder holds and how it was made, rewritten atomically after
//! every shard so that a killed job leaves a manifest that matches the shards on disk.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DatasetError;

/// The manifest's file name inside a dataset folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The value of [`Manifest::format`].
pub const FORMAT_NAME: &str = "kennel-dataset";
/// The version of the layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Episodes `first..end` (end excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeRange {
    /// The first episode.
    pub first: u64,
    /// One past the last episode.
    pub end: u64,
}

impl EpisodeRange {
    /// Number of episodes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.first)
    }

    /// Whether the range holds no episode.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for EpisodeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "episodes {}..{}", self.first, self.end)
    }
}

/// The world the episodes were recorded in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorldRecord {
    /// Its name.
    pub name: String,
    /// sha256 of [`content`](Self::content) written as pretty JSON: equal hashes, equal worlds.
    pub sha256: String,
    /// The whole world file, as the simulator read it.
    pub content: serde_json::Value,
}

/// What acted in the episodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// `smooth-random`, or `planner:CHECKPOINT` as given on the command line.
    pub name: String,
    /// For the planner: sha256 of the checkpoint's weights and cost models, which is what
    /// makes two jobs' planners the same (their paths may differ between machines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// For the planner: its settings (search, cost, graph), which change its episodes as much
    /// as its weights do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

impl WorldRecord {
    /// The first 12 characters of the hash, for messages (any text: a manifest may be damaged).
    pub fn short_hash(&self) -> String {
        self.sha256.chars().take(12).collect()
    }
}

impl PolicyRecord {
    /// Whether two records name the same policy (by hash where there is one).
    pub fn same_as(&self, other: &Self) -> bool {
        match (&self.sha256, &other.sha256) {
            (Some(a), Some(b)) => a == b && self.config == other.config,
            (None, None) => self.name == other.name,
            _ => false,
        }
    }
}

/// One shard of the dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name inside the dataset folder.
    pub file: String,
    /// The episodes it holds, whole.
    pub episodes: EpisodeRange,
    /// Rows (frames) it holds.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// sha256 of the file.
    pub sha256: String,
    /// Episodes in it that ended in success.
    pub terminated: u64,
    /// Episodes in it that hit the step limit.
    pub truncated: u64,
}

/// Totals over the shards written so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Episodes.
    pub episodes: u64,
    /// Rows (frames).
    pub rows: u64,
    /// Transitions (actions): rows less one per episode.
    pub transitions: u64,
    /// Episodes that ended in success.
    pub terminated: u64,
    /// Episodes that hit the step limit.
    pub truncated: u64,
    /// Bytes of shards.
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The world.
    pub world: WorldRecord,
    /// The master seed every episode's seed derives from.
    pub master_seed: u64,
    /// The policy.
    pub policy: PolicyRecord,
    /// Episodes of the whole dataset (`--episodes`), of which this folder holds [`episodes`](Self::episodes).
    pub dataset_episodes: u64,
    /// The episodes this folder is to hold: all of them, or a job's share (`--shard I/N`).
    pub episodes: EpisodeRange,
    /// `I/N` when this folder is a job's share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_of_job: Option<String>,
    /// Target shard size in bytes (a shard closes after the episode that reaches it).
    pub shard_bytes: u64,
    /// Frame height in pixels.
    pub height: u32,
    /// Frame width in pixels.
    pub width: u32,
    /// Numbers per action.
    pub action_dim: u32,
    /// Numbers per state vector.
    pub state_dim: u32,
    /// The shards written, in episode order.
    pub shards: Vec<ShardEntry>,
    /// Totals over [`shards`](Self::shards).
    pub counts: Counts,
    /// Every episode of [`episodes`](Self::episodes) is in a shard.
    pub complete: bool,
}

impl Manifest {
    /// The episodes the shards hold so far: `episodes.first..` the last shard's end.
    pub fn written(&self) -> EpisodeRange {
        EpisodeRange {
            first: self.episodes.first,
            end: self
                .shards
                .last()
                .map_or(self.episodes.first, |s| s.episodes.end),
        }
    }

    /// Recomputes [`counts`](Self::counts) and [`complete`](Self::complete) from the shards.
    pub fn recount(&mut self) {
        let mut counts = Counts::default();
        for shard in &self.shards {
            counts.episodes += shard.episodes.len();
            counts.rows += shard.rows;
            counts.transitions += shard.rows.saturating_sub(shard.episodes.len());
            counts.terminated += shard.terminated;
            counts.truncated += shard.truncated;
            counts.bytes += shard.bytes;
        }
        self.counts = counts;
        self.complete = self.written().end == self.episodes.end;
    }

    /// Reads `dir/manifest.json`, refusing another format or version.
    pub fn read(dir: &Path) -> Result<Self, DatasetError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|err| {
            DatasetError::new(
                &path,
                format!(
                    "cannot read the manifest: {err} (is {} a dataset folder written by `kennel rollout`?)",
                    dir.display()
                ),
            )
        })?;
        // The version first, so that another version's manifest is named as such rather
        // than as a field this build does not know.
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
            DatasetError::new(
                &path,
                format!(
                    "not valid JSON: {err}; the manifest is rewritten whole after every shard, so a broken one was edited or damaged: restore it or re-run the rollout with --resume in a new folder"
                ),
            )
        })?;
        if value["format"] != FORMAT_NAME {
            return Err(DatasetError::new(
                &path,
                format!(
                    "not a kennel dataset manifest (its \"format\" is {}, expected \"{FORMAT_NAME}\")",
                    value["format"]
                ),
            ));
        }
        match value["format_version"].as_u64() {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            other => {
                return Err(DatasetError::new(
                    &path,
                    format!(
                        "dataset format version {} but this kennel reads version {FORMAT_VERSION}; record it again with this kennel's `kennel rollout`, or use the kennel that wrote it",
                        other.map_or_else(|| "missing".to_owned(), |v| v.to_string())
                    ),
                ));
            }
        }
        let manifest: Self = serde_json::from_value(value)
            .map_err(|err| DatasetError::new(&path, format!("malformed manifest: {err}")))?;
        // A shard's name follows from its episodes: anything else (a path, `..`) is refused
        // before any file is opened, written or linked by that name.
        if let Some(bad) = manifest
            .shards
            .iter()
            .find(|s| s.file != super::shard_file_name(s.episodes))
        {
            return Err(DatasetError::new(
                &path,
                format!(
                    "lists a shard named {:?} for {}, which should be named {}: the manifest was edited or damaged",
                    bad.file,
                    bad.episodes,
                    super::shard_file_name(bad.episodes)
                ),
            ));
        }
        Ok(manifest)
    }

    /// Writes `dir/manifest.json` atomically (temporary file, sync, rename, sync the folder):
    /// a reader or a resumed job sees the old manifest or the new one, never half of one.
    pub fn write(&self, dir: &Path) -> Result<(), DatasetError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|err| DatasetError::new(dir, err.to_string()))?
            + "\n";
        write_atomically(&dir.join(MANIFEST_FILE), |out| {
            out.write_all(text.as_bytes())
        })
    }
}

/// Writes `path` under a temporary name with `fill`, syncs it, renames it into place and
/// syncs the folder, so that after a crash `path` holds either its old content or the new.
pub(super) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), DatasetError> {
    write_atomically_if(path, false, fill, || Ok(()))
}

/// [`write_atomically`], but `accept` decides, after the new content is written and synced,
/// whether it replaces `path`; if not, the temporary file is removed and `path` is untouched.
/// `direct`: write around the page cache where the file system allows (large files only: it
/// stages through a 4 MiB buffer).
pub(super) fn write_atomically_if(
    path: &Path,
    direct: bool,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    accept: impl FnOnce() -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let tmp = temporary_name(path);
    let write = || -> std::io::Result<()> {
        let mut file = super::direct::ShardFile::create(&tmp, direct)?;
        fill(&mut file)?;
        file.finish()
    };
    write().map_err(|err| DatasetError::new(&tmp, format!("cannot write: {err}")))?;
    if let Err(err) = accept() {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    std::fs::rename(&tmp, path)
        .map_err(|err| DatasetError::new(path, format!("cannot rename into place: {err}")))?;
    if let Some(dir) = path.parent() {
        sync_folder(dir)?;
    }
    Ok(())
}

/// Syncs a folder, so that the entries created or renamed in it survive a power cut.
pub(super) fn sync_folder(dir: &Path) -> Result<(), DatasetError> {
    // An empty parent means the current folder.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|err| DatasetError::new(dir, format!("cannot sync the folder: {err}")))
}

/// `path` with `.tmp` appended: what [`write_atomically`] writes first.
pub(super) fn temporary_name(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    name.into()
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(super) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
