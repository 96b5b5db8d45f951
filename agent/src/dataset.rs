//! Recorded episodes on disk, for offline training: the simplest format that works now
//! (postcard-encoded files of whole episodes, written under a temporary name and renamed), until
//! the dataset issue settles on shards with a manifest.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Episode;

/// Version of the episode file format.
pub const EPISODE_FORMAT_VERSION: u32 = 1;

/// One file of episodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpisodeFile {
    /// [`EPISODE_FORMAT_VERSION`].
    pub version: u32,
    /// The world the episodes come from.
    pub world: String,
    /// Frame height.
    pub height: usize,
    /// Frame width.
    pub width: usize,
    /// The episodes.
    pub episodes: Vec<Episode>,
}

/// Errors reading or writing episode files.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DatasetError {
    /// The file or folder.
    pub path: String,
    /// What went wrong and what to do.
    pub message: String,
}

fn error(path: &Path, message: impl Into<String>) -> DatasetError {
    DatasetError {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Writes `file` as `dir/episodes-{index:05}.bin` (via a temporary file and a rename).
pub fn write_episode_file(
    dir: &Path,
    index: usize,
    file: &EpisodeFile,
) -> Result<PathBuf, DatasetError> {
    std::fs::create_dir_all(dir).map_err(|e| error(dir, e.to_string()))?;
    let path = dir.join(format!("episodes-{index:05}.bin"));
    let tmp = dir.join(format!("episodes-{index:05}.bin.tmp"));
    let bytes = postcard::to_stdvec(file).map_err(|e| error(&path, e.to_string()))?;
    std::fs::write(&tmp, bytes).map_err(|e| error(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| error(&path, e.to_string()))?;
    Ok(path)
}

/// Reads every `episodes-*.bin` in `dir`, in name order.
pub fn read_episode_files(dir: &Path) -> Result<Vec<EpisodeFile>, DatasetError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        error(
            dir,
            format!("cannot read the data folder: {e} (record one with `kennel rollout --record`)"),
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("episodes-") && n.ends_with(".bin"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(error(
            dir,
            "no episodes-*.bin files (record some with `kennel rollout --record`)",
        ));
    }
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| error(path, e.to_string()))?;
            let file: EpisodeFile = postcard::from_bytes(&bytes)
                .map_err(|e| error(path, format!("not an episode file of this version: {e}")))?;
            if file.version != EPISODE_FORMAT_VERSION {
                return Err(error(
                    path,
                    format!(
                        "episode format {} (this build reads {EPISODE_FORMAT_VERSION})",
                        file.version
                    ),
                ));
            }
            Ok(file)
        })
        .collect()
}
