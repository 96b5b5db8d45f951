//! The cost models' fit: fresh exploration, encoded by the model, then the critic, guardrail,
//! pose readout and pose dynamics, then the predictor refit; and load-or-fit, which takes the
//! cost models saved beside a checkpoint when they are compatible with what is asked.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::Device;
use sim::{GoalSpec, WorldSpec};

use super::{CriticKind, PipelineError, PlanningConfig};
use crate::model::JepaModel;
use crate::plan::{CostModels, LatentEpisodes};

/// Where a fit is, for a progress display.
#[derive(Clone, Debug, PartialEq)]
pub enum FitProgress {
    /// Exploring and encoding `episodes` episodes; `done` is the fraction.
    Exploring {
        /// Episodes asked for.
        episodes: usize,
        /// Fraction done.
        done: f64,
    },
    /// Fitting the critic, guardrail and (push) pose readout and dynamics on `frames`.
    Fitting {
        /// Frames encoded.
        frames: usize,
        /// Fraction done.
        done: f64,
    },
    /// Refitting the predictor.
    RefittingPredictor {
        /// Its optimiser steps.
        steps: usize,
        /// Its rollout length.
        rollout_steps: usize,
        /// Fraction done.
        done: f64,
    },
}

impl FitProgress {
    /// The fraction of the whole fit done (exploring is half of it, by time).
    pub fn overall(&self) -> f64 {
        match self {
            Self::Exploring { done, .. } => 0.5 * done,
            Self::Fitting { done, .. } => 0.5 + 0.15 * done,
            Self::RefittingPredictor { done, .. } => 0.65 + 0.35 * done,
        }
    }
}

impl std::fmt::Display for FitProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exploring { episodes, .. } => {
                write!(f, "exploring and encoding {episodes} episodes")
            }
            Self::Fitting { frames, .. } => {
                write!(f, "fitting the critic and guardrail on {frames} frames")
            }
            Self::RefittingPredictor {
                steps,
                rollout_steps,
                ..
            } => write!(
                f,
                "refitting the predictor ({steps} steps of {rollout_steps}-step rollouts)"
            ),
        }
    }
}

/// Something the caller should tell the user about a fit or a load (nothing failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice(pub String);

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Mixed into a seed for the cost models' exploration (the final fit's and the closed loop's
/// practice fits'): episodes apart from the evaluation's (stream 0) and the diagnostic's
/// (stream 7).
pub const EXPLORATION_SEED: u64 = 0x00c0_ffee;

/// The folder of a checkpoint's fitted cost models.
pub fn cost_models_dir(checkpoint_dir: &Path) -> PathBuf {
    checkpoint_dir.join("cost_models")
}

/// Fits the cost models for `model` on `config.fit_episodes` fresh exploration episodes
/// (seeds from `seed`, apart from evaluation and diagnostic seeds). A refit of the predictor
/// that fails keeps the rest and says so in the notices: the planner then imagines with the
/// learner's predictor.
pub fn fit_cost_models(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    config: &PlanningConfig,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(FitProgress),
) -> Result<(CostModels, Vec<Notice>), PipelineError> {
    let episodes = config.fit_episodes;
    if episodes < 2 {
        return Err(PipelineError::Config(format!(
            "fitting the critic needs at least 2 exploration episodes, got {episodes}"
        )));
    }
    progress(FitProgress::Exploring {
        episodes,
        done: 0.0,
    });
    let exploration = LatentEpisodes::explore(
        spec,
        model,
        episodes,
        seed ^ EXPLORATION_SEED,
        device,
        &mut |done| progress(FitProgress::Exploring { episodes, done }),
    )?;
    let frames = exploration.frames();
    progress(FitProgress::Fitting { frames, done: 0.0 });
    let models_config = config.cost_models_config(
        spec,
        model.encoder.latent_dim(),
        model.encoder.proprio_dims(),
        seed,
        config.critic_steps,
    );
    let mut models = CostModels::fit(&exploration, models_config, device, &mut |done| {
        progress(FitProgress::Fitting { frames, done });
    });
    let mut notices = Vec::new();
    if let Some(predictor) = models.config.predictor.clone() {
        let (steps, rollout_steps) = (predictor.steps, predictor.rollout_steps);
        progress(FitProgress::RefittingPredictor {
            steps,
            rollout_steps,
            done: 0.0,
        });
        let refit = models.refit_predictor(&model.predictor, &exploration, device, &mut |done| {
            progress(FitProgress::RefittingPredictor {
                steps,
                rollout_steps,
                done,
            });
        });
        if let Err(err) = refit {
            // The critic and guardrail are good: keep them, and plan with the learner's
            // predictor rather than lose the run's fit.
            notices.push(Notice(format!(
                "{err}; the planner imagines with the learner's predictor"
            )));
        }
    }
    config.apply_familiarity(&mut models);
    config.apply_sight(&mut models, spec, seed)?;
    notices.extend(sight_notice(&models));
    Ok((models, notices))
}

/// Where [`load_or_fit_cost_models`] got the cost models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostModelsSource {
    /// Loaded from the checkpoint's folder.
    Loaded,
    /// Fitted now and saved there.
    Fitted,
}

/// Loads the cost models saved beside the checkpoint in `checkpoint_dir`, or fits them (see
/// [`fit_cost_models`]) and saves them there. Saved models win over the fit settings (the
/// notices say so, and how to refit); a saved critic of another kind than `config.critic` is
/// an error. Settings that turn a part off (`predictor_fit_steps` or `pose_dynamics_steps`
/// 0) drop that part of the loaded models.
pub fn load_or_fit_cost_models(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    checkpoint_dir: &Path,
    config: &PlanningConfig,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(FitProgress),
) -> Result<(CostModels, CostModelsSource, Vec<Notice>), PipelineError> {
    let dir = cost_models_dir(checkpoint_dir);
    let Some(mut models) = CostModels::load(&dir, device)? else {
        let (models, mut notices) = fit_cost_models(spec, model, config, seed, device, progress)?;
        models.save(&dir)?;
        notices.push(Notice(format!(
            "saved the critic and guardrail in {}",
            dir.display()
        )));
        return Ok((models, CostModelsSource::Fitted, notices));
    };
    let saved = CriticKind::from_quasimetric(models.config.critic.quasimetric);
    if saved != config.critic {
        return Err(PipelineError::Config(format!(
            "{} holds a {} critic but a {} one was asked for; pass --critic {} to use it, or delete that folder to fit a {} one",
            dir.display(),
            saved.name(),
            config.critic.name(),
            saved.name(),
            config.critic.name()
        )));
    }
    let dir = dir.display();
    let mut notices = vec![Notice(format!(
        "using the {} critic and guardrail saved in {dir} ({} episodes, {} critic steps); delete that folder to fit them again with other settings",
        saved.name(),
        models.report.episodes,
        models.config.critic_steps
    ))];
    let mut warn = |text: String| notices.push(Notice(format!("warning: {text}")));
    if config.replay_graph_episodes() > 0 && models.replay.is_none() {
        warn(format!(
            "{dir} holds no recorded exploration (fitted before it was kept), so the planner uses the critic's straight estimate; delete that folder to fit it again with it, or pass --replay-graph-episodes 0 to silence this"
        ));
    }
    if config.predictor_fit_steps == 0 {
        // Asked for the learner's predictor: plan with it even if a refit is saved.
        models.predictor = None;
    } else if models.predictor.is_none() {
        warn(format!(
            "{dir} holds no refitted predictor (fitted before it existed, or with --predictor-fit-steps 0), so the planner imagines with the learner's predictor; delete that folder to fit again with it, or pass --predictor-fit-steps 0 to silence this"
        ));
    }
    let pushes = matches!(spec.task.goal, GoalSpec::ObjectPose { .. });
    if pushes && models.pose_readout.is_none() {
        warn(format!(
            "{dir} holds no pose readout (fitted before it existed), so the planner costs push with the critic; delete that folder to fit again with it"
        ));
    }
    if config.pose_dynamics_steps == 0 {
        // Asked for the predictor: imagine push with it even if pose dynamics are saved.
        models.pose_dynamics = None;
    } else if pushes && models.pose_readout.is_some() && models.pose_dynamics.is_none() {
        warn(format!(
            "{dir} holds no pose dynamics (fitted before they existed, or with --pose-dynamics-steps 0), so the planner imagines push with the predictor; delete that folder to fit again with them, or pass --pose-dynamics-steps 0 to silence this"
        ));
    }
    if config.landmark_edge_steps() > 0.0 && models.landmarks.is_none() {
        warn(format!(
            "{dir} holds no landmarks (fitted before they existed), so the planner uses the critic's straight estimate; delete that folder to fit them with landmarks, or pass --landmark-edge-steps 0 to silence this"
        ));
    }
    config.apply_familiarity(&mut models);
    config.apply_sight(&mut models, spec, seed)?;
    notices.extend(sight_notice(&models));
    Ok((models, CostModelsSource::Loaded, notices))
}

/// What the hazard sight's fit measured, for the user.
fn sight_notice(models: &CostModels) -> Option<Notice> {
    let report = &models.sight.as_ref()?.report;
    Some(Notice(format!(
        "fitted the hazard sight on {} footprints ({} in hazards): held-out recall {:.1}%, specificity {:.1}%, dead reckoning off by {:.1} mm a step (median)",
        report.samples,
        report.positives,
        100.0 * report.recall,
        100.0 * report.specificity,
        1000.0 * report.motion_error_m
    )))
}
