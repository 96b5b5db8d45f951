//! The cost models' folder beside a checkpoint: the weights of each learned part, the graphs'
//! recorded latents, and `cost_models.json`, which says how they were fitted and what the folder
//! holds.

use std::path::{Path, PathBuf};

use burn::config::ConfigError;
use burn::module::Module;
use burn::prelude::*;
use burn::store::RecordError;
use serde::{Deserialize, Serialize};

use super::{CostModels, CostModelsConfig, FitReport};
use crate::model::PredictorConfig;
use crate::plan::familiarity::Familiarity;
use crate::plan::graph::{GraphFileError, LandmarkSet, ReplayFrames};

/// Why a cost-models folder cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CostModelsError {
    /// `part` of the cost models could not be written into the folder `dir`.
    #[error("{}: cannot write {part}: {source}", dir.display())]
    Save {
        /// The folder.
        dir: PathBuf,
        /// What was being written ("the critic", "the folder", ...).
        part: &'static str,
        /// What failed.
        #[source]
        source: FolderFileError,
    },
    /// The file `path` of the folder `dir` could not be read back.
    #[error(
        "{}: {source}; delete {} to fit the cost models again",
        path.display(),
        dir.display()
    )]
    Load {
        /// The file.
        path: PathBuf,
        /// The folder.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: FolderFileError,
    },
}

/// What failed with one file of a cost-models folder.
#[derive(Debug, thiserror::Error)]
pub enum FolderFileError {
    /// Reading or writing a file or the folder.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The manifest is not what [`CostModels::save`] writes.
    #[error("{0}")]
    Manifest(#[from] serde_json::Error),
    /// A config in the manifest does not parse (`what`: "config" or "predictor").
    #[error("unreadable {what}: {source}")]
    Config {
        /// Which config.
        what: &'static str,
        /// Why.
        #[source]
        source: ConfigError,
    },
    /// A module's weights could not be written.
    #[error("{0:?}")]
    WriteWeights(#[source] RecordError),
    /// A module's weights could not be loaded.
    #[error("cannot load: {0:?}")]
    LoadWeights(#[source] RecordError),
    /// A graph's latents could not be written or read.
    #[error("{0}")]
    Graph(#[from] GraphFileError),
}

/// What [`CostModels::save`] calls the folder itself in its errors.
const FOLDER: &str = "the folder";

/// The file beside the weights that says what the folder holds.
const MANIFEST: &str = "cost_models.json";
/// The landmark set's file in the same folder.
const LANDMARKS: &str = "landmarks.bin";
/// The recorded exploration's file in the same folder.
const REPLAY: &str = "replay.bin";
/// The refitted predictor's weights in the same folder.
const PREDICTOR: &str = "predictor.bpk";
/// The pose readout's weights in the same folder.
const POSE_READOUT: &str = "pose_readout.bpk";
/// The pose dynamics' weights in the same folder.
const POSE_DYNAMICS: &str = "pose_dynamics.bpk";

#[derive(Serialize, Deserialize)]
struct Manifest {
    config: serde_json::Value,
    report: FitReport,
    guardrail: bool,
    /// The refitted predictor's architecture (absent: none saved).
    #[serde(default)]
    predictor: Option<serde_json::Value>,
    /// Whether a pose readout was saved.
    #[serde(default)]
    pose_readout: bool,
    /// Whether pose dynamics were saved.
    #[serde(default)]
    pose_dynamics: bool,
}

impl CostModels {
    /// Writes `critic.bpk`, `guardrail.bpk`, `landmarks.bin`, `replay.bin`, `predictor.bpk`,
    /// `pose_readout.bpk`, `pose_dynamics.bpk` and `cost_models.json` into `dir` (through a
    /// temporary folder renamed when complete).
    pub fn save(&self, dir: &Path) -> Result<(), CostModelsError> {
        let tmp = dir.with_extension("tmp");
        let fail = |part: &'static str| move |source: std::io::Error| save_error(dir, part, source);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(fail(FOLDER))?;
        }
        std::fs::create_dir_all(&tmp).map_err(fail(FOLDER))?;
        write_weights(&self.critic, &tmp.join("critic.bpk"), dir, "the critic")?;
        if let Some(guardrail) = &self.guardrail {
            write_weights(guardrail, &tmp.join("guardrail.bpk"), dir, "the guardrail")?;
        }
        if let Some(landmarks) = &self.landmarks {
            landmarks
                .save(&tmp.join(LANDMARKS))
                .map_err(|e| save_error(dir, "the landmarks", e))?;
        }
        if let Some(replay) = &self.replay {
            replay
                .save(&tmp.join(REPLAY))
                .map_err(|e| save_error(dir, "the recorded exploration", e))?;
        }
        if let Some(predictor) = &self.predictor {
            write_weights(predictor, &tmp.join(PREDICTOR), dir, "the predictor")?;
        }
        if let Some(readout) = &self.pose_readout {
            write_weights(readout, &tmp.join(POSE_READOUT), dir, "the pose readout")?;
        }
        if let Some(dynamics) = &self.pose_dynamics {
            write_weights(dynamics, &tmp.join(POSE_DYNAMICS), dir, "the pose dynamics")?;
        }
        let manifest = Manifest {
            config: serde_json::from_str(&self.config.to_string()).unwrap_or_default(),
            report: self.report.clone(),
            guardrail: self.guardrail.is_some(),
            predictor: self
                .predictor
                .as_ref()
                .map(|p| serde_json::from_str(&p.config().to_string()).unwrap_or_default()),
            pose_readout: self.pose_readout.is_some(),
            pose_dynamics: self.pose_dynamics.is_some(),
        };
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        std::fs::write(tmp.join(MANIFEST), text + "\n").map_err(fail(MANIFEST))?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(fail(FOLDER))?;
        }
        std::fs::rename(&tmp, dir).map_err(fail(FOLDER))
    }

    /// Loads what [`save`](Self::save) wrote; `Ok(None)` when `dir` holds no cost models.
    pub fn load(dir: &Path, device: &Device) -> Result<Option<Self>, CostModelsError> {
        let manifest_path = dir.join(MANIFEST);
        if !manifest_path.is_file() {
            return Ok(None);
        }
        let fail = |path: &Path, source: FolderFileError| CostModelsError::Load {
            path: path.to_owned(),
            dir: dir.to_owned(),
            source,
        };
        let text =
            std::fs::read_to_string(&manifest_path).map_err(|e| fail(&manifest_path, e.into()))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| fail(&manifest_path, e.into()))?;
        let unreadable = |what: &'static str, source: ConfigError| {
            fail(&manifest_path, FolderFileError::Config { what, source })
        };
        let config = CostModelsConfig::load_binary(manifest.config.to_string().as_bytes())
            .map_err(|e| unreadable("config", e))?;
        let critic = read_weights(config.critic.init(device), &dir.join("critic.bpk"), dir)?;
        let guardrail = if manifest.guardrail {
            let path = dir.join("guardrail.bpk");
            Some(read_weights(config.guardrail.init(device), &path, dir)?)
        } else {
            None
        };
        let landmarks_path = dir.join(LANDMARKS);
        let landmarks = if landmarks_path.is_file() {
            Some(LandmarkSet::load(&landmarks_path).map_err(|e| fail(&landmarks_path, e.into()))?)
        } else {
            None
        };
        let replay_path = dir.join(REPLAY);
        let replay = if replay_path.is_file() {
            Some(ReplayFrames::load(&replay_path).map_err(|e| fail(&replay_path, e.into()))?)
        } else {
            None
        };
        let predictor = match &manifest.predictor {
            Some(architecture) => {
                let config = PredictorConfig::load_binary(architecture.to_string().as_bytes())
                    .map_err(|e| unreadable("predictor", e))?;
                Some(read_weights(
                    config.init(device),
                    &dir.join(PREDICTOR),
                    dir,
                )?)
            }
            None => None,
        };
        let pose_readout = if manifest.pose_readout {
            let readout = config.pose_readout_config().init(device);
            Some(read_weights(readout, &dir.join(POSE_READOUT), dir)?)
        } else {
            None
        };
        let pose_dynamics = match (manifest.pose_dynamics, &config.pose_dynamics) {
            (true, Some(fit)) => Some(read_weights(
                fit.model.init(device),
                &dir.join(POSE_DYNAMICS),
                dir,
            )?),
            _ => None,
        };
        Ok(Some(Self {
            critic,
            guardrail,
            landmarks,
            familiarity: replay.as_ref().and_then(Familiarity::of_replay),
            sight: None,
            replay,
            predictor,
            pose_readout,
            pose_dynamics,
            config,
            report: manifest.report,
        }))
    }
}

/// [`CostModelsError::Save`] of `part` into `dir`.
fn save_error(
    dir: &Path,
    part: &'static str,
    source: impl Into<FolderFileError>,
) -> CostModelsError {
    CostModelsError::Save {
        dir: dir.to_owned(),
        part,
        source: source.into(),
    }
}

/// Writes `module`'s weights to `path`, in the folder being written for `dir`.
fn write_weights<M: Module>(
    module: &M,
    path: &Path,
    dir: &Path,
    part: &'static str,
) -> Result<(), CostModelsError> {
    module
        .clone()
        .save_file(path)
        .map_err(|e| save_error(dir, part, FolderFileError::WriteWeights(e)))
}

/// `module` (freshly initialised) with the weights at `path`, a file of the folder `dir`.
fn read_weights<M: Module>(module: M, path: &Path, dir: &Path) -> Result<M, CostModelsError> {
    module
        .try_load_file(path)
        .map_err(|e| CostModelsError::Load {
            path: path.to_owned(),
            dir: dir.to_owned(),
            source: FolderFileError::LoadWeights(e),
        })
}
