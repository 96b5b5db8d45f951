//! Fitting the learned parts of the planner's cost on a model's own latents: the
//! steps-to-goal critic (hindsight pairs from exploration trajectories, no rewards) and the
//! hazard guardrail (a classifier of the simulator's "in a hazard" flag). Both depend on the
//! encoder's latent space, so they are fitted per checkpoint and saved beside it. On the same
//! encoded exploration, the planner's predictor can be refitted too ([`fit_predictor`]), and
//! for push tasks a pose readout is fitted on the poses the simulator reports ([`PoseReadout`]),
//! with the pose dynamics the planner imagines push in ([`PoseDynamics`]).

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim::WorldSpec;

use super::exploration::LatentEpisodes;
use super::numeric::cosine_decay;
use super::predictor_fit::{PredictorFitConfig, PredictorFitReport, fit_predictor};
use super::{
    Critic, CriticConfig, CriticTrainer, HazardClassifier, HazardClassifierConfig,
    HazardClassifierTrainer, LandmarkSet, POSE_DIM, PoseDynamics, PoseDynamicsFitConfig,
    PoseDynamicsReport, PoseReadout, PoseReadoutConfig, PoseReadoutReport, PoseReadoutTrainer,
    PushPoses, ReplayFrames, Trajectories, fit_pose_dynamics, readout_errors,
};
use crate::model::{JepaModel, PROPRIO_DIM, Predictor, PredictorConfig};

/// How the cost models are fitted.
#[derive(Config, Debug)]
pub struct CostModelsConfig {
    /// The critic.
    #[config(default = "CriticConfig::new()")]
    pub critic: CriticConfig,
    /// The hazard guardrail.
    #[config(default = "HazardClassifierConfig::new()")]
    pub guardrail: HazardClassifierConfig,
    /// Optimiser steps of the critic.
    #[config(default = 3000)]
    pub critic_steps: usize,
    /// Optimiser steps of the guardrail.
    #[config(default = 800)]
    pub guardrail_steps: usize,
    /// Pairs (critic) or frames (guardrail) per step.
    #[config(default = 256)]
    pub batch: usize,
    /// AdamW learning rate of both.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the sampling and of the critic's and guardrail's initial weights.
    #[config(default = 0)]
    pub seed: u64,
    /// Landmarks kept for the planner's graph search ([`LandmarkSet`]; `None` or 0: none).
    /// An `Option` so that cost models saved before it existed still load.
    pub landmarks: Option<usize>,
    /// Keep every this-many-th latent of every exploration episode for the planner's search
    /// through the recorded exploration ([`ReplayFrames`], [`ReplayGraph`](super::ReplayGraph);
    /// `None` or 0: none). An `Option` so that older cost models still load.
    pub replay_stride: Option<usize>,
    /// Refit the planner's predictor on the frozen encoder's latents of the same exploration
    /// ([`fit_predictor`]); `None`: the planner imagines with the learner's predictor. Set by
    /// the caller, which holds the predictor ([`CostModels::refit_predictor`]).
    pub predictor: Option<PredictorFitConfig>,
    /// Optimiser steps of the pose readout (push tasks; `None` or 0: none, and the planner
    /// costs push with the critic). An `Option` so that older cost models still load.
    pub pose_readout_steps: Option<usize>,
    /// The pose readout takes the pusher's position from the latent's proprioception
    /// ([`PoseReadoutConfig::agent_from_proprio`]); `None` (older cost models): it does not.
    pub pose_readout_proprio: Option<bool>,
    /// Push tasks: fit the pose dynamics the planner imagines push in ([`PoseDynamics`])
    /// on the exploration's poses; `None` (or 0 steps, or older cost models): none, and the
    /// planner imagines push with the predictor.
    pub pose_dynamics: Option<PoseDynamicsFitConfig>,
}

impl CostModelsConfig {
    /// The defaults for `spec`'s task and a model with `latent_dim`-sized latents whose last
    /// `proprio_dims` are proprioception: the critic's "far" is the task's step budget; walks
    /// count backwards too when only the agent moves.
    pub fn for_world(spec: &WorldSpec, latent_dim: usize, proprio_dims: usize) -> Self {
        let reversible = matches!(spec.task.goal, sim::GoalSpec::AgentPosition { .. });
        Self::new()
            .with_critic(
                CriticConfig::new()
                    .with_latent_dim(latent_dim)
                    .with_reversible(reversible)
                    .with_max_steps(f64::from(spec.task.episode_steps)),
            )
            .with_guardrail(HazardClassifierConfig::new().with_latent_dim(latent_dim))
            .with_landmarks(Some(DEFAULT_LANDMARKS))
            .with_replay_stride(Some(DEFAULT_REPLAY_STRIDE))
            .with_pose_readout_steps((!reversible).then_some(DEFAULT_POSE_READOUT_STEPS))
            .with_pose_readout_proprio(Some(proprio_dims == PROPRIO_DIM))
            .with_pose_dynamics((!reversible).then(PoseDynamicsFitConfig::new))
    }

    /// The pose readout's architecture.
    fn pose_readout_config(&self) -> PoseReadoutConfig {
        PoseReadoutConfig::new()
            .with_latent_dim(self.critic.latent_dim)
            .with_agent_from_proprio(self.pose_readout_proprio.unwrap_or(false))
    }
}

/// Landmarks kept by default: 1,000 of two_rooms' ~80,000 exploration frames put ~20 in the
/// door, and a route costs one `[samples, 1000]` table of distances per decision.
const DEFAULT_LANDMARKS: usize = 1000;

/// Every second frame: two_rooms' 800 exploration episodes then keep ~75,000 latents (19 MB),
/// and a goal's graph of 40 episodes has ~4,000 nodes (graph ρ 0.85 at stride 2).
const DEFAULT_REPLAY_STRIDE: usize = 2;

/// Pose readout steps by default (batch 256).
const DEFAULT_POSE_READOUT_STEPS: usize = 3000;

/// What a fit saw and reached.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Exploration episodes.
    pub episodes: usize,
    /// Frames encoded.
    pub frames: usize,
    /// Frames inside a hazard.
    pub hazard_frames: usize,
    /// Mean critic loss over its last 100 steps (squared error of distances / max_steps; for
    /// a quasimetric critic, the mean squared excess of recorded steps over their cost).
    pub critic_loss: f32,
    /// Balanced accuracy of the guardrail on the frames it was fitted on (mean of the
    /// in-hazard and outside recalls at its threshold); absent without hazard frames.
    pub guardrail_balanced_accuracy: Option<f64>,
    /// Wall time of fitting (after encoding), seconds.
    pub seconds: f64,
    /// The predictor's refit, when there was one.
    #[serde(default)]
    pub predictor: Option<PredictorFitReport>,
    /// The pose readout's fit, when there was one.
    #[serde(default)]
    pub pose_readout: Option<PoseReadoutReport>,
    /// The pose dynamics' fit, when there was one.
    #[serde(default)]
    pub pose_dynamics: Option<PoseDynamicsReport>,
}

/// The critic and (for worlds with hazards) the guardrail of one checkpoint.
#[derive(Debug)]
pub struct CostModels {
    /// The steps-to-goal critic.
    pub critic: Critic,
    /// The hazard classifier; `None` when the exploration never entered a hazard.
    pub guardrail: Option<HazardClassifier>,
    /// Latents of exploration frames for the planner's graph search; `None` when the config
    /// asks for none or the folder predates them.
    pub landmarks: Option<LandmarkSet>,
    /// Latents of the recorded exploration for the planner's search through it; `None` when
    /// the config asks for none or the folder predates them.
    pub replay: Option<ReplayFrames>,
    /// The predictor refitted on the encoder's latents, which the planner imagines with
    /// ([`planning_model`](Self::planning_model)); `None` when not refitted.
    pub predictor: Option<Predictor>,
    /// Push tasks: reads poses off latents, for the planner's cost; `None` for other tasks.
    pub pose_readout: Option<PoseReadout>,
    /// Push tasks: the pose dynamics the planner imagines push in; `None` when not fitted.
    pub pose_dynamics: Option<PoseDynamics>,
    /// How they were fitted.
    pub config: CostModelsConfig,
    /// What the fit saw.
    pub report: FitReport,
}

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
    /// Fits both models on encoded exploration; `progress` receives the fraction done.
    pub fn fit(
        data: &LatentEpisodes,
        config: CostModelsConfig,
        device: &Device,
        progress: &mut dyn FnMut(f64),
    ) -> Self {
        let started = Instant::now();
        // The critic's and the guardrail's initial weights come from the backend's random
        // generator: seeded, so the same data and config fit the same models.
        device.seed(config.seed);
        let d = config.critic.latent_dim;
        let (trajectories, hazards) = (&data.latents, &data.in_hazard);
        let (mut inside, mut outside) = (Vec::new(), Vec::new());
        for (latents, flags) in trajectories.iter().zip(hazards) {
            for (latent, hazard) in latents.iter().zip(flags) {
                if *hazard {
                    inside.push(latent.clone());
                } else {
                    outside.push(latent.clone());
                }
            }
        }
        let total = config.critic_steps + config.guardrail_steps;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut critic = CriticTrainer::new(config.critic.clone(), device);
        let source = Trajectories {
            episodes: trajectories,
            hazards: Some(hazards),
        };
        let mut losses = Vec::new();
        for step in 0..config.critic_steps {
            let Some(batch) = source.sample(&mut rng, config.batch, &config.critic) else {
                break;
            };
            let decay = cosine_decay(step as f64 / config.critic_steps.max(1) as f64);
            losses.push(critic.train_step(&batch, config.learning_rate * decay));
            if step % 50 == 0 {
                progress(step as f64 / total.max(1) as f64);
            }
        }
        let tail = &losses[losses.len().saturating_sub(100)..];
        let critic_loss = tail.iter().sum::<f32>() / tail.len().max(1) as f32;

        let guardrail = (!inside.is_empty() && !outside.is_empty()).then(|| {
            let mut trainer = HazardClassifierTrainer::new(config.guardrail.clone(), device);
            for step in 0..config.guardrail_steps {
                // Balanced batches: hazards are a few percent of exploration frames.
                let mut latents = Vec::with_capacity(config.batch * d);
                let mut labels = Vec::with_capacity(config.batch);
                for i in 0..config.batch {
                    let pool = if i % 2 == 0 { &inside } else { &outside };
                    latents.extend_from_slice(&pool[rng.random_range(0..pool.len())]);
                    labels.push(i % 2 == 0);
                }
                trainer.train_step(&latents, &labels, config.learning_rate);
                if step % 50 == 0 {
                    progress((config.critic_steps + step) as f64 / total.max(1) as f64);
                }
            }
            trainer.classifier()
        });
        let guardrail_balanced_accuracy = guardrail.as_ref().map(|g| {
            let recall = |pool: &[Vec<f32>], want: bool| {
                let flat: Vec<f32> = pool.iter().flatten().copied().collect();
                let z = Tensor::<3>::from_data(TensorData::new(flat, [pool.len(), 1, d]), device);
                let hits = g
                    .worst_step(z)
                    .into_iter()
                    .filter(|p| (f64::from(*p) >= g.threshold()) == want)
                    .count();
                hits as f64 / pool.len() as f64
            };
            0.5 * (recall(&inside, true) + recall(&outside, false))
        });
        let landmarks = config
            .landmarks
            .filter(|count| *count > 0)
            .map(|count| LandmarkSet::sample(data, count, config.seed));
        let replay = config
            .replay_stride
            .filter(|stride| *stride > 0)
            .map(|stride| ReplayFrames::keep(data, stride));
        let (pose_readout, pose_report) = match config.pose_readout_steps.filter(|s| *s > 0) {
            Some(steps) => fit_pose_readout(data, steps, &config, &mut rng, device),
            None => (None, None),
        };
        let (pose_dynamics, dynamics_report) = match &config.pose_dynamics {
            Some(fit) if fit.steps > 0 && pose_readout.is_some() => {
                fit_pose_dynamics(&data.poses, &data.actions, fit, device, &mut |_| {}).unzip()
            }
            _ => (None, None),
        };
        progress(1.0);
        Self {
            critic: critic.critic(),
            guardrail,
            landmarks,
            replay,
            predictor: None,
            pose_readout,
            pose_dynamics,
            report: FitReport {
                episodes: trajectories.len(),
                frames: inside.len() + outside.len(),
                hazard_frames: inside.len(),
                critic_loss,
                guardrail_balanced_accuracy,
                seconds: started.elapsed().as_secs_f64(),
                predictor: None,
                pose_readout: pose_report,
                pose_dynamics: dynamics_report,
            },
            config,
        }
    }

    /// Refits `predictor` (the learner's) on the encoded exploration `data` these models were
    /// fitted on, as `config.predictor` says (nothing when it is `None` or 0 steps), keeping
    /// the result and its report. `progress` receives the fraction done.
    pub fn refit_predictor(
        &mut self,
        predictor: &Predictor,
        data: &LatentEpisodes,
        device: &Device,
        progress: &mut dyn FnMut(f64),
    ) -> Result<(), String> {
        let Some(config) = self.config.predictor.as_ref().filter(|c| c.steps > 0) else {
            return Ok(());
        };
        let (refitted, report) = fit_predictor(
            predictor,
            data,
            config,
            self.pose_readout.as_ref(),
            device,
            progress,
        )?;
        self.predictor = Some(refitted);
        self.report.predictor = Some(report);
        Ok(())
    }

    /// The model the planner imagines with: `model` with the refitted predictor, when there
    /// is one (the encoder is the one everything here was fitted on).
    pub fn planning_model(&self, model: &JepaModel) -> JepaModel {
        match &self.predictor {
            Some(predictor) => JepaModel {
                predictor: predictor.clone(),
                ..model.clone()
            },
            None => model.clone(),
        }
    }

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

/// Fits the pose readout on the frames of `data` that carry poses, holding out every 20th
/// episode to report its median errors; `(None, None)` when no frame carries a pose.
fn fit_pose_readout(
    data: &LatentEpisodes,
    steps: usize,
    config: &CostModelsConfig,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> (Option<PoseReadout>, Option<PoseReadoutReport>) {
    let d = config.critic.latent_dim;
    let (mut train, mut held_out) = (Vec::new(), Vec::new());
    for (episode, (latents, poses)) in data.latents.iter().zip(&data.poses).enumerate() {
        let frames = latents.iter().zip(poses);
        if episode % 20 == 19 {
            held_out.extend(frames);
        } else {
            train.extend(frames);
        }
    }
    if train.is_empty() {
        return (None, None);
    }
    let mut trainer = PoseReadoutTrainer::new(config.pose_readout_config(), device);
    for step in 0..steps {
        let mut latents = Vec::with_capacity(config.batch * d);
        let mut targets = Vec::with_capacity(config.batch * POSE_DIM);
        for _ in 0..config.batch {
            let (latent, target) = train[rng.random_range(0..train.len())];
            latents.extend_from_slice(latent);
            targets.extend_from_slice(target);
        }
        let decay = cosine_decay(step as f64 / steps.max(1) as f64);
        trainer.train_step(&latents, &targets, config.learning_rate * decay);
    }
    let readout = trainer.readout();
    let report = (!held_out.is_empty()).then(|| {
        let latents: Vec<f32> = held_out
            .iter()
            .flat_map(|(z, _)| z.iter().copied())
            .collect();
        let truth: Vec<PushPoses> = held_out
            .iter()
            .map(|(_, t)| PushPoses::from_output(&t[..]))
            .collect();
        let (agent, object, yaw) = readout_errors(&readout, &latents, &truth, d, device);
        PoseReadoutReport {
            steps,
            held_out_frames: truth.len(),
            agent_error_m: agent,
            object_error_m: object,
            yaw_error_deg: yaw,
        }
    });
    (Some(readout), report)
}
