//! The pipelines every surface shares: fitting a checkpoint's cost models (exploration,
//! encoding, critic, guardrail, pose readout and dynamics, predictor refit; load-or-fit beside
//! the checkpoint) and the evaluation table with its reference rows. Nothing here prints:
//! progress goes to callbacks, advice to [`Notice`]s.

mod config;
mod evaluation;
mod fit;
mod graphs;
mod variants;

pub use self::config::{CriticKind, GraphSearch, PlanningConfig, SearchMethod, oracle_planner};
pub use self::evaluation::{
    EvalProgress, EvalSettings, EvalTable, POOR_COST_SPEARMAN, learned_policy, one_thread_pool,
    poor_cost_warning, run_eval_table,
};
pub use self::fit::{
    CostModelsSource, EXPLORATION_SEED, FitProgress, Notice, cost_models_dir, fit_cost_models,
    load_or_fit_cost_models,
};
pub use self::graphs::PlannerGraph;
pub use self::variants::{VariantRow, VariantTable, VariantWorld, run_variant_table};

/// What went wrong in a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A setting out of range; the message names it and what it accepts.
    #[error("{0}")]
    Config(String),
    /// The simulator failed (a world that cannot be reset or stepped).
    #[error("simulator: {0}")]
    Sim(#[from] sim::SimError),
    /// Saved cost models could not be read or written; the message names the file and the fix.
    #[error(transparent)]
    CostModels(#[from] crate::plan::CostModelsError),
}
