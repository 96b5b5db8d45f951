//! The variant table: one checkpoint's learned planner on its own world and on variants of
//! it (`sim::VariantSetSpec`), on the same seeded episodes, with the cost models fitted on the
//! world it learned in. Nothing is refitted on a variant: the table measures what transfers.

use std::sync::Arc;

use burn::prelude::Device;
use serde::Serialize;
use sim::WorldSpec;

use super::evaluation::{RowJob, run_rows};
use super::{
    EvalProgress, EvalSettings, PipelineError, PlannerGraph, learned_policy, oracle_planner,
};
use crate::eval::{EvalPolicy, EvalReport, cost_diagnostic, episode_seeds};
use crate::model::JepaModel;
use crate::plan::CostModels;

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
                format!(
                    "[{:.1}, {:.1}]",
                    100.0 * r.success_ci95[0],
                    100.0 * r.success_ci95[1]
                ),
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
        }
        out
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
    let seeds = episode_seeds(&settings.seeds, settings.episodes);
    let mut jobs: Vec<RowJob<'_>> = Vec::new();
    for world in worlds {
        jobs.push((
            format!("learned/{}", world.name),
            &world.spec,
            learned_policy(model, settings, cost_models, graphs),
        ));
        if oracle {
            jobs.push((
                format!("oracle/{}", world.name),
                &world.spec,
                EvalPolicy::Oracle(oracle_planner(&world.spec)),
            ));
        }
    }
    let mut reports = run_rows(jobs, &seeds, device, progress)?.into_iter();
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
        });
    }
    Ok(VariantTable { rows })
}
