//! The cost models' folder beside a checkpoint: the weights of each learned part, the graphs'
//! recorded latents, and `cost_models.json`, which says how they were fitted and what the folder
//! holds.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{CostModels, CostModelsConfig, FitReport};
use crate::model::PredictorConfig;
use crate::plan::graph::{LandmarkSet, ReplayFrames};

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
    /// `pose_readout.bpk`, `pose_dynamics.bpk` and `cost_models.json` into `dir` (through a temporary folder renamed when complete).
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let tmp = dir.with_extension("tmp");
        let fail =
            |what: &str, err: String| format!("{}: cannot write {what}: {err}", dir.display());
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| fail("the folder", e.to_string()))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| fail("the folder", e.to_string()))?;
        self.critic
            .clone()
            .save_file(tmp.join("critic.bpk"))
            .map_err(|e| fail("the critic", format!("{e:?}")))?;
        if let Some(guardrail) = &self.guardrail {
            guardrail
                .clone()
                .save_file(tmp.join("guardrail.bpk"))
                .map_err(|e| fail("the guardrail", format!("{e:?}")))?;
        }
        if let Some(landmarks) = &self.landmarks {
            landmarks
                .save(&tmp.join(LANDMARKS))
                .map_err(|e| fail("the landmarks", e))?;
        }
        if let Some(replay) = &self.replay {
            replay
                .save(&tmp.join(REPLAY))
                .map_err(|e| fail("the recorded exploration", e))?;
        }
        if let Some(predictor) = &self.predictor {
            predictor
                .clone()
                .save_file(tmp.join(PREDICTOR))
                .map_err(|e| fail("the predictor", format!("{e:?}")))?;
        }
        if let Some(readout) = &self.pose_readout {
            readout
                .clone()
                .save_file(tmp.join(POSE_READOUT))
                .map_err(|e| fail("the pose readout", format!("{e:?}")))?;
        }
        if let Some(dynamics) = &self.pose_dynamics {
            dynamics
                .clone()
                .save_file(tmp.join(POSE_DYNAMICS))
                .map_err(|e| fail("the pose dynamics", format!("{e:?}")))?;
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
        std::fs::write(tmp.join(MANIFEST), text + "\n")
            .map_err(|e| fail(MANIFEST, e.to_string()))?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| fail("the folder", e.to_string()))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| fail("the folder", e.to_string()))
    }

    /// Loads what [`save`](Self::save) wrote; `Ok(None)` when `dir` holds no cost models.
    pub fn load(dir: &Path, device: &Device) -> Result<Option<Self>, String> {
        let manifest_path = dir.join(MANIFEST);
        if !manifest_path.is_file() {
            return Ok(None);
        }
        let fail = |what: &Path, err: String| {
            format!(
                "{}: {err}; delete {} to fit the cost models again",
                what.display(),
                dir.display()
            )
        };
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| fail(&manifest_path, e.to_string()))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| fail(&manifest_path, e.to_string()))?;
        let config = CostModelsConfig::load_binary(manifest.config.to_string().as_bytes())
            .map_err(|e| fail(&manifest_path, format!("unreadable config: {e}")))?;
        let critic_path = dir.join("critic.bpk");
        let critic = config
            .critic
            .init(device)
            .try_load_file(&critic_path)
            .map_err(|e| fail(&critic_path, format!("cannot load: {e:?}")))?;
        let guardrail = if manifest.guardrail {
            let path = dir.join("guardrail.bpk");
            Some(
                config
                    .guardrail
                    .init(device)
                    .try_load_file(&path)
                    .map_err(|e| fail(&path, format!("cannot load: {e:?}")))?,
            )
        } else {
            None
        };
        let landmarks_path = dir.join(LANDMARKS);
        let landmarks = if landmarks_path.is_file() {
            Some(LandmarkSet::load(&landmarks_path).map_err(|e| fail(&landmarks_path, e))?)
        } else {
            None
        };
        let replay_path = dir.join(REPLAY);
        let replay = if replay_path.is_file() {
            Some(ReplayFrames::load(&replay_path).map_err(|e| fail(&replay_path, e))?)
        } else {
            None
        };
        let predictor = match &manifest.predictor {
            Some(architecture) => {
                let path = dir.join(PREDICTOR);
                let config = PredictorConfig::load_binary(architecture.to_string().as_bytes())
                    .map_err(|e| fail(&manifest_path, format!("unreadable predictor: {e}")))?;
                Some(
                    config
                        .init(device)
                        .try_load_file(&path)
                        .map_err(|e| fail(&path, format!("cannot load: {e:?}")))?,
                )
            }
            None => None,
        };
        let pose_readout = if manifest.pose_readout {
            let path = dir.join(POSE_READOUT);
            Some(
                config
                    .pose_readout_config()
                    .init(device)
                    .try_load_file(&path)
                    .map_err(|e| fail(&path, format!("cannot load: {e:?}")))?,
            )
        } else {
            None
        };
        let pose_dynamics = match (manifest.pose_dynamics, &config.pose_dynamics) {
            (true, Some(fit)) => {
                let path = dir.join(POSE_DYNAMICS);
                Some(
                    fit.model
                        .init(device)
                        .try_load_file(&path)
                        .map_err(|e| fail(&path, format!("cannot load: {e:?}")))?,
                )
            }
            _ => None,
        };
        Ok(Some(Self {
            critic,
            guardrail,
            landmarks,
            replay,
            predictor,
            pose_readout,
            pose_dynamics,
            config,
            report: manifest.report,
        }))
    }
}
