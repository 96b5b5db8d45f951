//! Checkpoints: weights, optimiser state, configuration and counters in one folder, written
//! under a temporary name and renamed when complete, so a killed run never leaves half a
//! checkpoint.
//!
//! Layout: `RUN/checkpoints/step-00001200/{model.bpk, optimizer.bpk, config.json, state.json}`.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::prelude::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{TrainConfig, TrainError, Trainer};
use crate::model::JepaModel;

const MODEL_FILE: &str = "model.bpk";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const CONFIG_FILE: &str = "config.json";
const STATE_FILE: &str = "state.json";

/// Counters saved beside the weights so a resumed run continues exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimiser steps taken.
    pub step: u64,
    /// The trainer's random generator: seed, stream and position.
    pub rng_seed: [u8; 32],
    /// ChaCha stream id.
    pub rng_stream: u64,
    /// ChaCha word position.
    pub rng_word_pos: u128,
    /// The kennel version that wrote it.
    pub kennel_version: String,
}

fn checkpoint_error(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Checkpoint {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The newest complete checkpoint folder of a run, if any.
pub fn latest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(run_dir.join("checkpoints")).ok()?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step-") && !n.ends_with(".tmp"))
                && p.join(STATE_FILE).is_file()
        })
        .max()
}

/// Accepts a checkpoint folder, a file inside one, or a run folder (its latest checkpoint).
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf, TrainError> {
    if path.is_file() {
        return match path.parent() {
            Some(dir) if dir.join(MODEL_FILE).is_file() => Ok(dir.to_owned()),
            _ => Err(checkpoint_error(path, "not a file of a checkpoint folder")),
        };
    }
    if path.join(MODEL_FILE).is_file() {
        return Ok(path.to_owned());
    }
    if path.is_dir() {
        return latest_checkpoint(path).ok_or_else(|| {
            checkpoint_error(
                path,
                "no checkpoint in this folder (expected checkpoints/step-*/ from `kennel train --out`)",
            )
        });
    }
    Err(checkpoint_error(
        path,
        "no such file or folder; give a run folder written by `kennel train` or one of its checkpoints/step-* folders",
    ))
}

/// The training configuration (model, optimiser, seed) a checkpoint was written with; `path`
/// as [`resolve_checkpoint`] takes it.
pub fn checkpoint_config(path: &Path) -> Result<TrainConfig, TrainError> {
    read_config(&resolve_checkpoint(path)?)
}

fn read_config(dir: &Path) -> Result<TrainConfig, TrainError> {
    TrainConfig::load(dir.join(CONFIG_FILE)).map_err(|err| {
        checkpoint_error(&dir.join(CONFIG_FILE), format!("unreadable config: {err}"))
    })
}

impl Trainer {
    /// Writes a checkpoint of the current state into `run_dir/checkpoints/` and returns its
    /// folder.
    pub fn save_checkpoint(&self, run_dir: &Path) -> Result<PathBuf, TrainError> {
        let root = run_dir.join("checkpoints");
        let name = format!("step-{:08}", self.step);
        let final_dir = root.join(&name);
        let tmp = root.join(format!("{name}.tmp"));
        let io = |err: std::io::Error| checkpoint_error(&tmp, err.to_string());
        if final_dir.join(STATE_FILE).is_file() {
            // This step is saved already (a resumed run that took no step, or the periodic
            // checkpoint of the last step): keep it rather than delete and rewrite it.
            return Ok(final_dir);
        }
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io)?;
        }
        std::fs::create_dir_all(&tmp).map_err(io)?;
        // `valid()` first: it folds batch norm's pending running-statistics update into the
        // value (saving the training module directly writes statistics one step old).
        self.model
            .valid()
            .save_file(tmp.join(MODEL_FILE))
            .map_err(|err| checkpoint_error(&tmp, format!("cannot write the weights: {err:?}")))?;
        self.optimizer
            .save(tmp.join(OPTIMIZER_FILE))
            .map_err(|err| {
                checkpoint_error(&tmp, format!("cannot write the optimiser: {err:?}"))
            })?;
        self.config
            .save(tmp.join(CONFIG_FILE))
            .map_err(|err| checkpoint_error(&tmp, format!("cannot write the config: {err}")))?;
        let state = CheckpointState {
            step: self.step,
            rng_seed: self.rng.get_seed(),
            rng_stream: self.rng.get_stream(),
            rng_word_pos: self.rng.get_word_pos(),
            kennel_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let text = serde_json::to_string_pretty(&state).unwrap_or_default();
        std::fs::write(tmp.join(STATE_FILE), text).map_err(io)?;
        if final_dir.exists() {
            // An incomplete folder of this name (no state file) is not a checkpoint.
            std::fs::remove_dir_all(&final_dir).map_err(io)?;
        }
        std::fs::rename(&tmp, &final_dir).map_err(io)?;
        Ok(final_dir)
    }

    /// Resumes from a checkpoint (see [`resolve_checkpoint`] for what `path` may be): the same
    /// weights, optimiser moments, step and random state, so training continues as if never
    /// stopped.
    pub fn load_checkpoint(path: &Path, device: &Device) -> Result<Self, TrainError> {
        let dir = resolve_checkpoint(path)?;
        let config = read_config(&dir)?;
        config.model.check().map_err(TrainError::Config)?;
        let state_path = dir.join(STATE_FILE);
        let state: CheckpointState = std::fs::read_to_string(&state_path)
            .map_err(|err| checkpoint_error(&state_path, err.to_string()))
            .and_then(|text| {
                serde_json::from_str(&text)
                    .map_err(|err| checkpoint_error(&state_path, format!("unreadable: {err}")))
            })?;
        let device = device.clone().autodiff();
        let model = load_weights(&dir, &config, &device)?;
        let optimizer = config
            .optimizer()
            .load(dir.join(OPTIMIZER_FILE))
            .map_err(|err| {
                checkpoint_error(
                    &dir.join(OPTIMIZER_FILE),
                    format!("cannot load the optimiser: {err:?}"),
                )
            })?;
        let mut rng = ChaCha8Rng::from_seed(state.rng_seed);
        rng.set_stream(state.rng_stream);
        rng.set_word_pos(state.rng_word_pos);
        Ok(Self::from_parts(
            config,
            device,
            model,
            Some(optimizer),
            state.step,
            Some(rng),
        ))
    }
}

/// Loads a checkpoint's weights for inference (no autodiff) with its configuration.
pub fn load_model(
    path: &Path,
    device: &Device,
) -> Result<(JepaModel, TrainConfig, PathBuf), TrainError> {
    let dir = resolve_checkpoint(path)?;
    let config = read_config(&dir)?;
    config.model.check().map_err(TrainError::Config)?;
    let model = load_weights(&dir, &config, device)?;
    Ok((model, config, dir))
}

/// The checkpoint's weights in a model built from its config on `device`.
fn load_weights(
    dir: &Path,
    config: &TrainConfig,
    device: &Device,
) -> Result<JepaModel, TrainError> {
    let path = dir.join(MODEL_FILE);
    config
        .model
        .init(device)
        .try_load_file(&path)
        .map_err(|err| checkpoint_error(&path, format!("cannot load the weights: {err:?}")))
}
