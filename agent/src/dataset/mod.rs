//! Recorded datasets: whole episodes in safetensors shards with a `manifest.json`, written
//! crash-safely by `kennel rollout`, split across cluster jobs, merged, verified, and streamed
//! to `kennel train --data`.
//!
//! **Layout** of a dataset folder:
//! - `manifest.json` ([`Manifest`]): the format version, the world (its content and sha256),
//!   the master seed, the policy, the episodes this folder covers, and the shard list with
//!   each shard's episode range, rows and sha256;
//! - `shard-{first:08}-{end:08}.safetensors`: episodes `first..end`, whole, one row per frame.
//!   Tensors (`T` = rows, `S` = state size): `frames` u8 `[T, H, W, 3]`, `actions` f32
//!   `[T, 2]`, `proprio` f32 `[T, 2]`, `state` f32 `[T, S]`, `episode_index` i64 `[T]`,
//!   `step_index` i32 `[T]`, `terminated` bool `[T]`, `truncated` bool `[T]`.
//!
//! An episode of `L` actions has `L + 1` rows: row `t` holds frame `t` and the action taken
//! from it; the last row holds the final frame, a zero action, and `terminated` (the task
//! succeeded) or `truncated` (the step limit) — RLDS's convention of a last step whose
//! action is unused.
//!
//! **Reproducibility**: episode `e` is a pure function of (world, master seed, `e`, policy)
//! ([`episode_seed`]), so a dataset has the same bytes whatever the number of environments,
//! threads or jobs, and any shard can be regenerated and checked against its hash.

mod direct;
mod manifest;
mod record;
mod shard;
mod store;
mod write;

use std::path::Path;

pub use manifest::{
    Counts, EpisodeRange, FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, Manifest, PolicyRecord,
    ShardEntry, WorldRecord, sha256_hex,
};
pub use record::{EpisodeSource, PlannerSource, RecordedEpisode, SmoothRandomSource, episode_seed};
pub use shard::{ShardData, read_shard, shard_file_name};
pub use store::{
    Dataset, DatasetInfo, StreamOptions, VerifyReport, merge, stream_transitions, verify,
};
pub use write::{
    RolloutPlan, RolloutProgress, RolloutSummary, ShardSpec, world_record, write_dataset,
};

/// A problem with a dataset: the file or folder, and what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DatasetError {
    /// The file or folder.
    pub path: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl DatasetError {
    /// An error about `path`.
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}
