//! The search: a receding-horizon planner that optimises action sequences with CEM or MPPI.
//!
//! It scores batches of candidate sequences with any batched cost, warm-starts from its
//! previous plan and stops at an anytime deadline. It knows nothing of models: the same search
//! plans in the learned model, in the true simulator (the oracle) and in the tests' known
//! costs.

mod config;
mod planner;

pub use self::config::{CemConfig, MppiConfig, PlanMethod, PlannerConfig};
pub use self::planner::{ActionSequences, Plan, PlanStats, Planner};
