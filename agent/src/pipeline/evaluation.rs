//! The evaluation table: the learned planner and its reference rows (`no_critic`,
//! `no_guardrail`, `random`, `oracle`) on the same seeded episodes, each row planning on one
//! core, with the cost diagnostic's rank correlation beside the rows that have a cost.

use std::sync::{Arc, Mutex};

use burn::prelude::Device;
use serde::Serialize;
use sim::WorldSpec;

use super::{PipelineError, PlannerGraph, oracle_planner};
use crate::eval::{
    EvalPolicy, EvalReport, LearnedPolicy, Routing, cost_diagnostic, episode_seeds, evaluate,
};
use crate::model::JepaModel;
use crate::plan::{CostModels, GoalCostConfig, PlannerConfig};

/// Which rows to run and how.
#[derive(Clone, Debug)]
pub struct EvalSettings {
    /// Episodes per row.
    pub episodes: usize,
    /// Master seeds of the episodes, spread evenly ([`episode_seeds`]).
    pub seeds: Vec<u64>,
    /// The learned planner.
    pub planner: PlannerConfig,
    /// Its cost weights.
    pub cost: GoalCostConfig,
    /// Also the random, oracle, no-critic and no-guardrail rows.
    pub baselines: bool,
    /// Held-out episodes of the cost diagnostic.
    pub diagnostic_episodes: usize,
}

/// Where an evaluation is, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalProgress {
    /// One more episode of one row finished (`total`: rows × episodes).
    Episode {
        /// Episodes over all rows.
        total: usize,
    },
    /// The rows are done; the cost diagnostic runs.
    CostDiagnostic,
}

/// A learned cost whose rank correlation with the true distance to the goal (the cost
/// diagnostic's ρ) is below this ranks states too poorly to plan with: runs that planned well
/// measured 0.89–0.96 on the navigation worlds and 0.65 on push; a two_rooms seed whose latent
/// learned poorly, 0.15–0.30, and planned to half their success (docs/results/transfer.md).
pub const POOR_COST_SPEARMAN: f64 = 0.5;

/// The warning for a learned cost ranked `rho` by the cost diagnostic, if it is poor.
pub fn poor_cost_warning(rho: f64) -> Option<String> {
    (rho < POOR_COST_SPEARMAN).then(|| {
        format!(
            "warning: the learned cost ranks held-out states poorly (cost ρ {rho:.3}, below {POOR_COST_SPEARMAN}; runs that plan well reach 0.65–0.96, measured against the simulator's true distances): this run learned a poor model of the world and its planner will fail often. Learn again with another --seed, or for longer"
        )
    })
}

/// Named rows of one evaluation, the learned planner first.
#[derive(Clone, Debug, Serialize)]
pub struct EvalTable {
    /// `(name, report)`.
    pub rows: Vec<(String, EvalReport)>,
}

impl EvalTable {
    /// The row called `name`.
    pub fn row(&self, name: &str) -> Option<&EvalReport> {
        self.rows.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// What the user should know about the learned row: a poorly ranking cost
    /// ([`poor_cost_warning`]).
    pub fn warnings(&self) -> Vec<String> {
        self.rows
            .first()
            .and_then(|(_, r)| r.cost_spearman)
            .and_then(poor_cost_warning)
            .into_iter()
            .collect()
    }

    /// One JSON object: the learned row's keys at the top, each other row as an object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        for (i, (name, report)) in self.rows.iter().enumerate() {
            let value = serde_json::to_value(report).unwrap_or_default();
            if i == 0 {
                if let serde_json::Value::Object(fields) = value {
                    object.extend(fields);
                }
            } else {
                object.insert(name.clone(), value);
            }
        }
        serde_json::Value::Object(object)
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<13} {:>8} {:>15} {:>7} {:>8} {:>17} {:>7}\n",
            "policy", "success", "95% CI", "steps", "hazards", "plan ms p50/p99", "cost ρ"
        );
        for (name, r) in &self.rows {
            out += &format!(
                "{:<13} {:>7.1}% {:>15} {:>7} {:>8} {:>17} {:>7}\n",
                name,
                100.0 * r.success_rate,
                interval_cell(r),
                if r.mean_steps_to_success.is_finite() {
                    format!("{:.1}", r.mean_steps_to_success)
                } else {
                    "–".to_owned()
                },
                r.hazard_entries,
                if r.plan_ms_p99 > 0.0 {
                    format!("{:.1} / {:.1}", r.plan_ms_p50, r.plan_ms_p99)
                } else {
                    "–".to_owned()
                },
                r.cost_spearman
                    .map_or("–".to_owned(), |s| format!("{s:.3}"))
            );
        }
        out
    }
}

/// A row's 95% interval of success as a table cell, in percent: `[lo, hi]`.
pub(crate) fn interval_cell(r: &EvalReport) -> String {
    format!(
        "[{:.1}, {:.1}]",
        100.0 * r.success_ci95[0],
        100.0 * r.success_ci95[1]
    )
}

/// The `learned` row's policy: `model` with `cost_models`' critic, guardrail and (push) pose
/// readout and dynamics, routed through `graphs` when they hold one.
pub fn learned_policy<'a>(
    model: &'a JepaModel,
    settings: &EvalSettings,
    cost_models: &'a CostModels,
    graphs: &'a PlannerGraph,
) -> EvalPolicy<'a> {
    EvalPolicy::Learned(LearnedPolicy {
        model,
        planner: settings.planner.clone(),
        cost: settings.cost.clone(),
        critic: Some(&cost_models.critic),
        guardrail: cost_models.guardrail.as_ref(),
        routing: graphs.routing(),
        pose_readout: cost_models.pose_readout.as_ref(),
        pose_dynamics: cost_models.pose_dynamics.as_ref(),
        familiarity: cost_models.familiarity.as_ref(),
        sight: cost_models.sight.as_ref(),
    })
}

/// Runs the rows on two worker threads, each planning on one core (a one-thread pool), so
/// the planning latency is the one-core figure; the cost diagnostic fills `cost_spearman`.
/// `model` is the planning model ([`CostModels::planning_model`]).
pub fn run_eval_table(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    cost_models: &CostModels,
    graphs: &PlannerGraph,
    settings: &EvalSettings,
    device: &Device,
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<EvalTable, PipelineError> {
    if settings.episodes == 0 {
        return Err(PipelineError::Config(
            "an evaluation needs at least 1 episode".to_owned(),
        ));
    }
    let seeds = episode_seeds(&settings.seeds, settings.episodes);
    let critic = Some(&cost_models.critic);
    let guardrail = cost_models.guardrail.as_ref();
    let cost = settings.cost.clone();
    let routing = graphs.routing();
    let learned = |critic, guardrail, routed: bool, safe: bool| {
        EvalPolicy::Learned(LearnedPolicy {
            model,
            planner: settings.planner.clone(),
            cost: cost.clone(),
            critic,
            guardrail,
            routing: if routed { routing } else { Routing::Straight },
            // The pose readout stands in for the critic (push), so the no-critic row goes without.
            pose_readout: cost_models.pose_readout.as_ref().filter(|_| routed),
            pose_dynamics: cost_models.pose_dynamics.as_ref().filter(|_| routed),
            // The row without the guardrail goes without the familiarity test too: no safety.
            familiarity: cost_models.familiarity.as_ref().filter(|_| safe),
            sight: cost_models.sight.as_ref().filter(|_| safe),
        })
    };
    let mut jobs: Vec<(&str, EvalPolicy<'_>)> =
        vec![("learned", learned(critic, guardrail, true, true))];
    if settings.baselines {
        jobs.push(("no_critic", learned(None, guardrail, false, true)));
        jobs.push(("no_guardrail", learned(critic, None, true, false)));
        jobs.push(("random", EvalPolicy::Random));
        jobs.push(("oracle", EvalPolicy::Oracle(oracle_planner(spec))));
    }
    let jobs = jobs
        .into_iter()
        .map(|(name, policy)| (name.to_owned(), spec, policy, seeds.clone()))
        .collect();
    let results = run_rows(jobs, device, progress)?;
    progress(EvalProgress::CostDiagnostic);
    let master_seed = settings.seeds.first().copied().unwrap_or(0);
    let with_critic = cost_diagnostic(
        spec,
        model,
        Some(&cost_models.critic),
        cost_models.pose_readout.as_ref(),
        routing,
        settings.diagnostic_episodes,
        master_seed,
        device,
    )?;
    let without = if settings.baselines {
        Some(cost_diagnostic(
            spec,
            model,
            None,
            None,
            Routing::default(),
            settings.diagnostic_episodes,
            master_seed,
            device,
        )?)
    } else {
        None
    };
    let rows = results
        .into_iter()
        .map(|(name, mut report)| {
            match name.as_str() {
                "learned" | "no_guardrail" => report.cost_spearman = Some(with_critic),
                "no_critic" => report.cost_spearman = without,
                _ => {}
            }
            (name, report)
        })
        .collect();
    Ok(EvalTable { rows })
}

/// One row to run: its name, its world, its policy and its episodes' seeds.
pub(crate) type RowJob<'a> = (String, &'a Arc<WorldSpec>, EvalPolicy<'a>, Vec<u64>);

/// Runs rows on two worker threads, each planning on one core (a one-thread pool), and
/// returns `(name, report)` in the order given.
pub(crate) fn run_rows(
    jobs: Vec<RowJob<'_>>,
    device: &Device,
    progress: &(dyn Fn(EvalProgress) + Sync),
) -> Result<Vec<(String, EvalReport)>, PipelineError> {
    let total = jobs.iter().map(|job| job.3.len()).sum();
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<(), PipelineError> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<(), PipelineError> {
                    let pool = one_thread_pool()?;
                    loop {
                        let job = queue.lock().ok().and_then(|mut q| q.pop());
                        let Some((index, (name, spec, policy, seeds))) = job else {
                            return Ok(());
                        };
                        let report = pool.install(|| {
                            evaluate(spec, &policy, &seeds, device, &mut |_, _| {
                                progress(EvalProgress::Episode { total });
                            })
                        })?;
                        if let Ok(mut r) = results.lock() {
                            r.push((index, name, report));
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| PipelineError::Config("an evaluation thread panicked".to_owned()))??;
        }
        Ok(())
    })?;
    let mut rows = results.into_inner().unwrap_or_default();
    rows.sort_by_key(|(index, _, _)| *index);
    Ok(rows
        .into_iter()
        .map(|(_, name, report)| (name, report))
        .collect())
}

/// A rayon pool of one thread: planning latencies are one core's.
pub fn one_thread_pool() -> Result<rayon::ThreadPool, PipelineError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|err| PipelineError::Config(format!("cannot build a one-thread pool: {err}")))
}

#[cfg(test)]
mod tests {
    use super::{EvalTable, poor_cost_warning};
    use crate::eval::EvalReport;

    #[test]
    fn a_poorly_ranking_learned_cost_is_a_warning() {
        assert!(poor_cost_warning(0.91).is_none());
        assert!(poor_cost_warning(0.15).is_some_and(|w| w.contains("cost ρ 0.150")));
        let table = |rho: Option<f64>| EvalTable {
            rows: vec![(
                "learned".to_owned(),
                EvalReport {
                    cost_spearman: rho,
                    ..EvalReport::default()
                },
            )],
        };
        assert_eq!(table(Some(0.2)).warnings().len(), 1);
        assert!(table(Some(0.9)).warnings().is_empty());
        // No diagnostic ran: nothing to say.
        assert!(table(None).warnings().is_empty());
    }
}
