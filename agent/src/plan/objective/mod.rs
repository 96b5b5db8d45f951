//! The objective: what the search minimises in the learned model, and one decision with it.
//!
//! Candidate action sequences are imagined from the current latent and costed towards the goal
//! image's latent: by the latent distance, the critic's steps-to-goal (its last step optionally
//! routed through a graph of seen frames) or push's pose cost, with guardrails that make unsafe
//! candidates infeasible.

mod goal_cost;
mod latent_cost;

pub use self::goal_cost::{GoalCost, GoalCostConfig, SightView, decide, decide_watching};
pub use self::latent_cost::{LatentCostConfig, imagine, latent_costs, latent_distance_costs};
