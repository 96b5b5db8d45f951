//! One shard: whole episodes as safetensors columns, written under a temporary name, synced
//! and renamed; read back with every shape, dtype and row checked.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorInfo};
use sha2::{Digest, Sha256};

use super::manifest::{EpisodeRange, ShardEntry, hex, sha256_hex, write_atomically_if};
use super::{DatasetError, RecordedEpisode};

/// The file name of the shard holding `episodes`.
pub fn shard_file_name(episodes: EpisodeRange) -> String {
    format!(
        "shard-{:08}-{:08}.safetensors",
        episodes.first, episodes.end
    )
}

/// A tensor of a shard: its name, dtype, shape and bytes (in one or more slices).
type Column<'a> = (&'static str, Dtype, Vec<usize>, Vec<&'a [u8]>);

/// One column in one slice.
fn one(column: &[u8]) -> Vec<&[u8]> {
    vec![column]
}

/// Columns of the shard being filled.
pub(super) struct ShardBuilder {
    height: u32,
    width: u32,
    state_dim: u32,
    /// The episodes' frame buffers, in order: moved in, not copied (a gigabyte of copying per
    /// gigabyte written otherwise).
    frames: Vec<Vec<u8>>,
    frame_bytes: usize,
    /// Frame buffers of written shards, for the recording threads to reuse.
    spare: Vec<Vec<u8>>,
    actions: Vec<u8>,
    proprio: Vec<u8>,
    state: Vec<u8>,
    episode_index: Vec<u8>,
    step_index: Vec<u8>,
    terminated: Vec<u8>,
    truncated: Vec<u8>,
    episodes: Option<EpisodeRange>,
    rows: u64,
    successes: u64,
    timeouts: u64,
}

impl ShardBuilder {
    pub(super) fn new(height: u32, width: u32, state_dim: u32) -> Self {
        Self {
            height,
            width,
            state_dim,
            frames: Vec::new(),
            frame_bytes: 0,
            spare: Vec::new(),
            actions: Vec::new(),
            proprio: Vec::new(),
            state: Vec::new(),
            episode_index: Vec::new(),
            step_index: Vec::new(),
            terminated: Vec::new(),
            truncated: Vec::new(),
            episodes: None,
            rows: 0,
            successes: 0,
            timeouts: 0,
        }
    }

    /// Bytes of tensor data so far.
    pub(super) fn bytes(&self) -> usize {
        self.frame_bytes
            + self.actions.len()
            + self.proprio.len()
            + self.state.len()
            + self.episode_index.len()
            + self.step_index.len()
            + self.terminated.len()
            + self.truncated.len()
    }

    /// The episodes pushed so far.
    pub(super) fn episode_range(&self) -> Option<EpisodeRange> {
        self.episodes
    }

    pub(super) fn is_empty(&self) -> bool {
        self.episodes.is_none()
    }

    /// Appends the next episode (indices must follow one another).
    pub(super) fn push(&mut self, episode: RecordedEpisode) {
        let rows = episode.rows();
        for t in 0..rows {
            let action = episode.actions.get(t).copied().unwrap_or([0.0; 2]);
            extend_f32(&mut self.actions, &action);
            extend_f32(&mut self.proprio, &episode.proprio[t]);
            self.episode_index
                .extend_from_slice(&(episode.index as i64).to_le_bytes());
            self.step_index.extend_from_slice(&(t as i32).to_le_bytes());
            let last = t + 1 == rows;
            self.terminated.push(u8::from(last && episode.terminated));
            self.truncated.push(u8::from(last && episode.truncated));
        }
        extend_f32(&mut self.state, &episode.states);
        self.frame_bytes += episode.frames.len();
        self.frames.push(episode.frames);
        self.episodes = Some(match self.episodes {
            Some(range) => EpisodeRange {
                first: range.first,
                end: episode.index + 1,
            },
            None => EpisodeRange {
                first: episode.index,
                end: episode.index + 1,
            },
        });
        self.rows += rows as u64;
        self.successes += u64::from(episode.terminated);
        self.timeouts += u64::from(episode.truncated);
    }

    /// Writes the shard into `dir` crash-safely, returns its manifest entry and empties the
    /// builder (keeping its memory for the next shard). With `expected`, the new file replaces
    /// the old one only if its entry (hash included) is `expected`.
    ///
    /// The columns go straight from memory to the file, hashed on the way: serialising them
    /// into one buffer first doubled the memory and, with the page faults of a fresh buffer
    /// per shard, took more time than the simulator.
    pub(super) fn write(
        &mut self,
        dir: &Path,
        expected: Option<&ShardEntry>,
    ) -> Result<ShardEntry, DatasetError> {
        let episodes = self
            .episodes
            .ok_or_else(|| DatasetError::new(dir, "internal: an empty shard"))?;
        let file = shard_file_name(episodes);
        let path = dir.join(&file);
        let rows = self.rows as usize;
        let (h, w, s) = (
            self.height as usize,
            self.width as usize,
            self.state_dim as usize,
        );
        // Widest element first, so every tensor starts aligned to its element size.
        // Each column is one or more slices (the frames: one per episode).
        let columns: [Column<'_>; 8] = [
            (
                "episode_index",
                Dtype::I64,
                vec![rows],
                one(&self.episode_index),
            ),
            ("actions", Dtype::F32, vec![rows, 2], one(&self.actions)),
            ("proprio", Dtype::F32, vec![rows, 2], one(&self.proprio)),
            ("state", Dtype::F32, vec![rows, s], one(&self.state)),
            ("step_index", Dtype::I32, vec![rows], one(&self.step_index)),
            (
                "frames",
                Dtype::U8,
                vec![rows, h, w, 3],
                self.frames.iter().map(Vec::as_slice).collect(),
            ),
            ("terminated", Dtype::BOOL, vec![rows], one(&self.terminated)),
            ("truncated", Dtype::BOOL, vec![rows], one(&self.truncated)),
        ];
        let mut offset = 0;
        let infos = columns
            .iter()
            .map(|(name, dtype, shape, data)| {
                let len: usize = data.iter().map(|d| d.len()).sum();
                let info = TensorInfo {
                    dtype: *dtype,
                    shape: shape.clone(),
                    data_offsets: (offset, offset + len),
                };
                offset += len;
                ((*name).to_owned(), info)
            })
            .collect();
        let internal = |err: String| DatasetError::new(&path, format!("internal: {err}"));
        let metadata = Metadata::new(
            // One key: the crate keeps metadata in a HashMap, whose order (and so the
            // file's bytes) would change from process to process with two.
            Some(HashMap::from([(
                "format".to_owned(),
                format!("{}/{}", super::FORMAT_NAME, super::FORMAT_VERSION),
            )])),
            infos,
        )
        .map_err(|err| internal(err.to_string()))?;
        let mut header = serde_json::to_vec(&metadata).map_err(|err| internal(err.to_string()))?;
        // The data starts 8-byte aligned, as the safetensors crate writes it.
        header.resize(header.len().next_multiple_of(8), b' ');
        let size = (header.len() as u64).to_le_bytes();
        let parts: Vec<&[u8]> = [&size[..], &header[..]]
            .into_iter()
            .chain(columns.iter().flat_map(|c| c.3.iter().copied()))
            .collect();
        let bytes: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let digest = std::cell::RefCell::new(String::new());
        let entry = |sha256: String| ShardEntry {
            file: file.clone(),
            episodes,
            rows: self.rows,
            bytes,
            sha256,
            terminated: self.successes,
            truncated: self.timeouts,
        };
        write_atomically_if(
            &path,
            true,
            |out| {
                let mut hasher = Sha256::new();
                for part in &parts {
                    hasher.update(part);
                    out.write_all(part)?;
                }
                *digest.borrow_mut() = hex(&hasher.finalize());
                Ok(())
            },
            || match expected {
                Some(expected) if entry(digest.borrow().clone()) != *expected => {
                    Err(DatasetError::new(
                        &path,
                        format!(
                            "re-recorded it, but it hashes {} where the manifest says {}: this kennel records these episodes differently from the one that wrote the dataset. The file on disk was left as it was; finish the dataset with the kennel that started it, or start again in a new folder",
                            digest.borrow(),
                            expected.sha256
                        ),
                    ))
                }
                _ => Ok(()),
            },
        )?;
        let entry = entry(digest.into_inner());
        self.clear();
        Ok(entry)
    }

    fn clear(&mut self) {
        self.spare.append(&mut self.frames);
        self.frame_bytes = 0;
        for column in [
            &mut self.actions,
            &mut self.proprio,
            &mut self.state,
            &mut self.episode_index,
            &mut self.step_index,
            &mut self.terminated,
            &mut self.truncated,
        ] {
            column.clear();
        }
        self.episodes = None;
        self.rows = 0;
        self.successes = 0;
        self.timeouts = 0;
    }

    /// A frame buffer of a written shard, for the next episode (empty once none is left).
    pub(super) fn take_spare(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }
}

fn extend_f32(out: &mut Vec<u8>, values: &[f32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A shard read back: its episodes, whole, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardData {
    /// Frame height.
    pub height: u32,
    /// Frame width.
    pub width: u32,
    /// Numbers per state.
    pub state_dim: u32,
    /// The episodes.
    pub episodes: Vec<RecordedEpisode>,
}

/// Reads and checks the shard `path`; with `entry`, also its size, hash and episode range.
pub fn read_shard(path: &Path, entry: Option<&ShardEntry>) -> Result<ShardData, DatasetError> {
    let fix = "regenerate it: delete it and run the same `kennel rollout` command with --resume";
    let bytes = std::fs::read(path)
        .map_err(|err| DatasetError::new(path, format!("cannot read the shard: {err}; {fix}")))?;
    if let Some(entry) = entry {
        if bytes.len() as u64 != entry.bytes {
            return Err(DatasetError::new(
                path,
                format!(
                    "{} bytes but the manifest says {} (truncated or overwritten); {fix}",
                    bytes.len(),
                    entry.bytes
                ),
            ));
        }
        let sha256 = sha256_hex(&bytes);
        if sha256 != entry.sha256 {
            return Err(DatasetError::new(
                path,
                format!(
                    "sha256 {sha256} but the manifest says {} (the file is corrupt); {fix}",
                    entry.sha256
                ),
            ));
        }
    }
    let bad = |message: String| DatasetError::new(path, format!("{message}; {fix}"));
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|err| bad(format!("not a readable safetensors file ({err})")))?;
    let column = |name: &str, dtype: Dtype| -> Result<(Vec<usize>, &[u8]), DatasetError> {
        let tensor = tensors
            .tensor(name)
            .map_err(|_| bad(format!("no tensor `{name}`")))?;
        if tensor.dtype() != dtype {
            return Err(bad(format!(
                "tensor `{name}` is {:?}, expected {dtype:?}",
                tensor.dtype()
            )));
        }
        Ok((tensor.shape().to_vec(), tensor.data()))
    };
    let (frame_shape, frames) = column("frames", Dtype::U8)?;
    let &[rows, height, width, 3] = frame_shape.as_slice() else {
        return Err(bad(format!(
            "`frames` has shape {frame_shape:?}, expected [rows, height, width, 3]"
        )));
    };
    let (state_shape, state) = column("state", Dtype::F32)?;
    let state_dim = match state_shape.as_slice() {
        &[r, s] if r == rows => s,
        other => {
            return Err(bad(format!(
                "`state` has shape {other:?}, expected [{rows}, state_dim]"
            )));
        }
    };
    let expect = |name: &str, dtype: Dtype, shape: &[usize]| -> Result<&[u8], DatasetError> {
        let (actual, data) = column(name, dtype)?;
        if actual != shape {
            return Err(bad(format!(
                "`{name}` has shape {actual:?}, expected {shape:?}"
            )));
        }
        Ok(data)
    };
    let actions = f32s(expect("actions", Dtype::F32, &[rows, 2])?);
    let proprio = f32s(expect("proprio", Dtype::F32, &[rows, 2])?);
    let episode_index: Vec<i64> = expect("episode_index", Dtype::I64, &[rows])?
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect();
    let step_index: Vec<i32> = expect("step_index", Dtype::I32, &[rows])?
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect();
    let terminated = expect("terminated", Dtype::BOOL, &[rows])?;
    let truncated = expect("truncated", Dtype::BOOL, &[rows])?;
    let state = f32s(state);

    let Some(frame_bytes) = height.checked_mul(width).and_then(|p| p.checked_mul(3)) else {
        return Err(bad(format!("frames of {width}×{height} pixels")));
    };
    let mut episodes: Vec<RecordedEpisode> = Vec::new();
    let mut start = 0;
    while start < rows {
        let index = episode_index[start];
        let mut end = start;
        while end < rows && episode_index[end] == index {
            if step_index[end] as usize != end - start {
                return Err(bad(format!(
                    "row {end}: episode {index} step {} where {} was expected",
                    step_index[end],
                    end - start
                )));
            }
            end += 1;
        }
        let last = end - 1;
        if (start..last).any(|r| terminated[r] != 0 || truncated[r] != 0) {
            return Err(bad(format!(
                "episode {index} is marked as ended before its last row"
            )));
        }
        if let Some(previous) = episodes.last()
            && i128::from(index) != i128::from(previous.index) + 1
        {
            return Err(bad(format!(
                "episode {index} follows episode {}: episodes must be whole and in order",
                previous.index
            )));
        }
        let Ok(index) = u64::try_from(index) else {
            return Err(bad(format!("negative episode index {index}")));
        };
        episodes.push(RecordedEpisode {
            index,
            frames: frames[start * frame_bytes..end * frame_bytes].to_vec(),
            actions: (start..last)
                .map(|r| [actions[2 * r], actions[2 * r + 1]])
                .collect(),
            proprio: (start..end)
                .map(|r| [proprio[2 * r], proprio[2 * r + 1]])
                .collect(),
            states: state[start * state_dim..end * state_dim].to_vec(),
            terminated: terminated[last] != 0,
            truncated: truncated[last] != 0,
        });
        start = end;
    }
    if let Some(entry) = entry {
        let found = EpisodeRange {
            first: episodes.first().map_or(0, |e| e.index),
            end: episodes.last().map_or(0, |e| e.index + 1),
        };
        if found != entry.episodes || rows as u64 != entry.rows {
            return Err(bad(format!(
                "holds {found} in {rows} rows, the manifest says {} in {} rows",
                entry.episodes, entry.rows
            )));
        }
    }
    Ok(ShardData {
        height: height as u32,
        width: width as u32,
        state_dim: state_dim as u32,
        episodes,
    })
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect()
}
