//! Fitting the cost models on encoded exploration: the critic, the guardrail, the graphs'
//! latents, the pose readout and pose dynamics (push), and the predictor's refit.

use std::time::Instant;

use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{CostModelsConfig, FitReport};
use crate::model::{JepaModel, Predictor};
use crate::plan::exploration::LatentEpisodes;
use crate::plan::familiarity::Familiarity;
use crate::plan::graph::{LandmarkSet, ReplayFrames};
use crate::plan::learned::{
    Critic, CriticTrainer, HazardClassifier, HazardClassifierTrainer, HazardSight, PoseDynamics,
    PoseReadout, PoseReadoutReport, PoseReadoutTrainer, PredictorFitError, Trajectories,
    fit_pose_dynamics, fit_predictor, readout_errors,
};
use crate::plan::numeric::cosine_at;
use crate::plan::poses::{POSE_DIM, PushPoses};

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
    /// How familiar a latent is to the recorded exploration (derived from `replay` when
    /// fitted or loaded, not saved); `None` without recorded frames.
    pub familiarity: Option<Familiarity>,
    /// The guardrail that looks at the frame (fitted on the world's exploration frames when
    /// the cost models are fitted or loaded, not saved); `None` when not asked for or the
    /// world has no hazards.
    pub sight: Option<HazardSight>,
    /// How they were fitted.
    pub config: CostModelsConfig,
    /// What the fit saw.
    pub report: FitReport,
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
            let decay = cosine_at(step, config.critic_steps);
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
            familiarity: replay.as_ref().and_then(Familiarity::of_replay),
            sight: None,
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
    ) -> Result<(), PredictorFitError> {
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
        let decay = cosine_at(step, steps);
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
