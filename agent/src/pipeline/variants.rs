//! The variant table: one checkpoint's learned planner on its own world and on variants of
//! it (`sim::VariantSetSpec`), on episodes of the same seeds (so the same starts and goals,
//! unless a variant's hazards cover them), with the cost models fitted on the world it learned
//! in. Nothing is refitted on a variant: the table measures what transfers.

use std::sync::Arc;

use burn::prelude::*;
use serde::Serialize;
use sim::WorldSpec;

use super::evaluation::{RowJob, interval_cell, run_rows};
use super::{
    EvalProgress, EvalSettings, PipelineError, PlannerGraph, learned_policy, oracle_planner,
};
use crate::eval::{EvalPolicy, EvalReport, cost_diagnostic, episode_seeds};
use crate::model::JepaModel;
use crate::plan::{CostModels, HazardSightData, LatentEpisodes, explore_each};

/// One world of a variant table.
#[derive(Clone, Debug)]
pub struct VariantWorld {
    /// `in-distribution` for the world trained on, else the variant's name.
    pub name: String,
    /// `in-distribution`, `within`, `beyond` or `far` (`sim::VariantReach`).
    pub reach: String,
    /// Kept out of every choice of ranges and settings.
    pub held_out: bool,
    /// The world, patched.
    pub spec: Arc<WorldSpec>,
    /// Episodes on it (`None`: the settings' count).
    pub episodes: Option<usize>,
}

/// One row of a variant table.
#[derive(Clone, Debug, Serialize)]
pub struct VariantRow {
    /// As in [`VariantWorld`].
    pub name: String,
    /// As in [`VariantWorld`].
    pub reach: String,
    /// As in [`VariantWorld`].
    pub held_out: bool,
    /// The learned planner's figures (its `cost_spearman` from this world's cost diagnostic).
    pub learned: EvalReport,
    /// Success relative to the in-distribution row's (1 = as good).
    pub relative_success: f64,
    /// The oracle planner's figures (whether the variant can be solved at all), when asked.
    pub oracle: Option<EvalReport>,
    /// The guardrail and the familiarity test judged on this world's own exploration frames
    /// (their true hazard flags as the answer; the models were fitted on the trained world).
    pub frames: Option<FrameCheck>,
}

/// The guardrail and the familiarity test on one world's exploration frames.
#[derive(Clone, Debug, Serialize)]
pub struct FrameCheck {
    /// Frames judged.
    pub frames: usize,
    /// Of them, frames with the agent in a hazard.
    pub hazard_frames: usize,
    /// Hazard frames the guardrail flags (`None` without a guardrail or hazard frames).
    pub guardrail_recall: Option<f64>,
    /// Frames outside hazards the guardrail leaves alone.
    pub guardrail_specificity: Option<f64>,
    /// Frames the familiarity test flags as unlike the recorded exploration (`None` without
    /// one).
    pub unfamiliar: Option<f64>,
    /// The hazard sight on the same episodes' footprints (each read in another frame of its
    /// episode): its recall of those in a hazard (`None` without a sight).
    pub sight_recall: Option<f64>,
    /// Its specificity on the others.
    pub sight_specificity: Option<f64>,
}

/// Exploration episodes [`check_frames`] judges per world.
pub const CHECK_EPISODES: usize = 40;

/// Judges the guardrail and the familiarity test on `episodes` exploration episodes of
/// `spec` (seeds from `seed`), encoded by `model`.
pub fn check_frames(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    cost_models: &CostModels,
    episodes: usize,
    seed: u64,
    device: &Device,
) -> Result<FrameCheck, PipelineError> {
    // One exploration: each episode encoded for the latent tests and, with a sight, its
    // footprints kept for the sight's (frames held one episode at a time).
    let mut data = LatentEpisodes::default();
    let mut footprints = cost_models
        .sight
        .as_ref()
        .map(|_| HazardSightData::new(spec, seed));
    explore_each(spec, episodes, seed, &mut |episode| {
        data.add(model, &episode, device);
        if let Some(footprints) = &mut footprints {
            footprints.add(&episode);
        }
    })?;
    let latents: Vec<&Vec<f32>> = data.latents.iter().flatten().collect();
    let flags: Vec<bool> = data.in_hazard.iter().flatten().copied().collect();
    let hazard_frames = flags.iter().filter(|f| **f).count();
    let (mut recall, mut specificity) = (None, None);
    if let (Some(guardrail), Some(first)) = (&cost_models.guardrail, latents.first()) {
        let d = first.len();
        let flat: Vec<f32> = latents.iter().flat_map(|z| z.iter().copied()).collect();
        let z = Tensor::<3>::from_data(TensorData::new(flat, [latents.len(), 1, d]), device);
        let flagged: Vec<bool> = guardrail
            .worst_step(z)
            .into_iter()
            .map(|p| f64::from(p) >= guardrail.threshold())
            .collect();
        let share = |want: bool, hit: bool| {
            let pool: Vec<bool> = flags
                .iter()
                .zip(&flagged)
                .filter(|(f, _)| **f == want)
                .map(|(_, g)| *g == hit)
                .collect();
            (!pool.is_empty())
                .then(|| pool.iter().filter(|x| **x).count() as f64 / pool.len() as f64)
        };
        recall = share(true, true);
        specificity = share(false, false);
    }
    let unfamiliar = cost_models.familiarity.as_ref().map(|f| {
        latents.iter().filter(|z| f.is_unfamiliar(z)).count() as f64 / latents.len().max(1) as f64
    });
    let (mut sight_recall, mut sight_specificity) = (None, None);
    if let (Some(sight), Some(footprints)) = (&cost_models.sight, &footprints) {
        let (recall, specificity) = footprints.judge(sight, false);
        let (all, inside) = footprints.counts();
        sight_recall = (inside > 0).then_some(recall);
        sight_specificity = (all > inside).then_some(specificity);
    }
    Ok(FrameCheck {
        frames: latents.len(),
        hazard_frames,
        guardrail_recall: recall,
        guardrail_specificity: specificity,
        unfamiliar,
        sight_recall,
        sight_specificity,
    })
}

/// The rows, in-distribution first.
#[derive(Clone, Debug, Serialize)]
pub struct VariantTable {
    /// The rows.
    pub rows: Vec<VariantRow>,
}

impl VariantTable {
    /// The table as text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<22} {:<15} {:>8} {:>14} {:>8} {:>8} {:>10} {:>14} {:>14} {:>7} {:>8}\n",
            "world",
            "reach",
            "success",
            "95% CI",
            "vs in-d",
            "hazards",
            "infeasible",
            "unsure (eps)",
            "off route (eps)",
            "cost ρ",
            "oracle"
        );
        let mut frames = format!(
            "\non each world's own exploration ({CHECK_EPISODES} episodes): the latent guardrail's and the hazard sight's recall of hazard frames and their specificity, and the frames the familiarity test flags\n{:<22} {:>8} {:>8} {:>8} {:>11} {:>12} {:>12} {:>11}\n",
            "world",
            "frames",
            "hazard",
            "recall",
            "specificity",
            "sight recall",
            "sight spec.",
            "unfamiliar"
        );
        let pct = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{:.1}%", 100.0 * v));
        for row in &self.rows {
            let r = &row.learned;
            out += &format!(
                "{:<22} {:<15} {:>7.1}% {:>14} {:>8} {:>8} {:>10} {:>14} {:>14} {:>7} {:>8}\n",
                row.name,
                if row.held_out {
                    format!("{} (held out)", row.reach)
                } else {
                    row.reach.clone()
                },
                100.0 * r.success_rate,
                interval_cell(r),
                if row.relative_success.is_finite() {
                    format!("{:.2}", row.relative_success)
                } else {
                    "–".to_owned()
                },
                r.hazard_entries,
                r.infeasible_decisions,
                format!(
                    "{:.1}% ({})",
                    100.0 * r.unsure_decisions as f64 / r.env_steps.max(1) as f64,
                    r.unsure_episodes
                ),
                format!(
                    "{:.1}% ({})",
                    100.0 * r.off_route_decisions as f64 / r.env_steps.max(1) as f64,
                    r.off_route_episodes
                ),
                r.cost_spearman
                    .map_or("–".to_owned(), |s| format!("{s:.3}")),
                row.oracle.as_ref().map_or("–".to_owned(), |o| format!(
                    "{:.1}%",
                    100.0 * o.success_rate
                )),
            );
            if let Some(f) = &row.frames {
                frames += &format!(
                    "{:<22} {:>8} {:>8} {:>8} {:>11} {:>12} {:>12} {:>11}\n",
                    row.name,
                    f.frames,
                    f.hazard_frames,
                    pct(f.guardrail_recall),
                    pct(f.guardrail_specificity),
                    pct(f.sight_recall),
                    pct(f.sight_specificity),
                    pct(f.unfamiliar)
                );
            }
        }
        out + &frames
    }
}

/// Runs the learned planner (and with `oracle`, the oracle) on every world of `worlds` on
/// the same episodes, two worlds at a time (each planning on one core), then the cost
/// diagnostic on each. `worlds[0]` is the reference the others are compared with.
#[allow(clippy::too_many_arguments)]
pub fn run_variant_table(
    worlds: &[VariantWorld],
    model: &JepaModel,
    cost_models: &CostModels,
    graphs: &PlannerGraph,
    settings: &EvalSettings,
    oracle: bool,
    device: &Device,
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<VariantTable, PipelineError> {
    if settings.episodes == 0 || worlds.is_empty() {
        return Err(PipelineError::Config(
            "a variant table needs at least 1 episode and 1 world".to_owned(),
        ));
    }
    let mut jobs: Vec<RowJob<'_>> = Vec::new();
    for world in worlds {
        // The same episodes' seeds on every world, as many as each asks for.
        let seeds = episode_seeds(&settings.seeds, world.episodes.unwrap_or(settings.episodes));
        jobs.push((
            format!("learned/{}", world.name),
            &world.spec,
            learned_policy(model, settings, cost_models, graphs),
            seeds.clone(),
        ));
        if oracle {
            jobs.push((
                format!("oracle/{}", world.name),
                &world.spec,
                EvalPolicy::Oracle(oracle_planner(&world.spec)),
                seeds,
            ));
        }
    }
    let mut reports = run_rows(jobs, device, progress)?.into_iter();
    progress(EvalProgress::CostDiagnostic);
    let master_seed = settings.seeds.first().copied().unwrap_or(0);
    let mut rows: Vec<VariantRow> = Vec::with_capacity(worlds.len());
    for world in worlds {
        let (_, mut learned) = reports
            .next()
            .ok_or_else(|| PipelineError::Config("a variant row went missing".to_owned()))?;
        let oracle = if oracle {
            reports.next().map(|(_, report)| report)
        } else {
            None
        };
        learned.cost_spearman = Some(cost_diagnostic(
            &world.spec,
            model,
            Some(&cost_models.critic),
            cost_models.pose_readout.as_ref(),
            graphs.routing(),
            settings.diagnostic_episodes,
            master_seed,
            device,
        )?);
        let frames = check_frames(
            &world.spec,
            model,
            cost_models,
            CHECK_EPISODES,
            master_seed ^ 0xc4ec,
            device,
        )?;
        let reference = rows
            .first()
            .map_or(learned.success_rate, |r| r.learned.success_rate);
        rows.push(VariantRow {
            name: world.name.clone(),
            reach: world.reach.clone(),
            held_out: world.held_out,
            relative_success: learned.success_rate / reference,
            learned,
            oracle,
            frames: Some(frames),
        });
    }
    Ok(VariantTable { rows })
}
