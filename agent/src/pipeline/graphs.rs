//! The graph the planner's last-step estimate is routed through, built from saved cost
//! models as [`PlanningConfig::graph`] asks.

use burn::prelude::Device;

use super::{GraphSearch, PlanningConfig};
use crate::eval::Routing;
use crate::plan::{CostModels, LandmarkGraph, ReplayGraph, ReplayGraphConfig};

/// The graph the planner routes through.
#[derive(Default)]
pub enum PlannerGraph {
    /// None: the critic's straight estimate (also when the cost models lack the graph's data).
    #[default]
    Straight,
    /// The critic's landmark graph ([`GraphSearch::Landmarks`]).
    Landmarks(Box<LandmarkGraph>),
    /// The recorded exploration ([`GraphSearch::Replay`]).
    Replay(ReplayGraph),
}

impl PlannerGraph {
    /// The graph `config` asks for, from `cost_models` (of a model whose latents hold
    /// `context_dims` episode-context dimensions).
    pub fn build(
        cost_models: &CostModels,
        config: &PlanningConfig,
        context_dims: usize,
        device: &Device,
    ) -> Self {
        let built = match config.graph {
            GraphSearch::Straight => None,
            GraphSearch::Landmarks { edge_steps } => cost_models
                .landmarks
                .as_ref()
                .and_then(|set| LandmarkGraph::build(set, &cost_models.critic, edge_steps, device))
                .map(|graph| Self::Landmarks(Box::new(graph))),
            GraphSearch::Replay { episodes } => cost_models.replay.clone().and_then(|frames| {
                let graph = ReplayGraphConfig::new()
                    .with_episodes(episodes)
                    .with_context_dims(context_dims);
                ReplayGraph::new(frames, graph).map(Self::Replay)
            }),
        };
        built.unwrap_or_default()
    }

    /// The routing the planner uses through it.
    pub fn routing(&self) -> Routing<'_> {
        match self {
            Self::Straight => Routing::Straight,
            Self::Landmarks(graph) => Routing::Landmarks(graph),
            Self::Replay(graph) => Routing::Replay(graph),
        }
    }

    /// What the graph holds, for reports: `landmark_graph` and `replay_graph` (`null` when
    /// not used).
    pub fn to_json(&self, config: &PlanningConfig) -> [(&'static str, serde_json::Value); 2] {
        let landmarks = match self {
            Self::Landmarks(graph) => serde_json::json!({
                "landmarks": graph.len(),
                "edge_steps": config.landmark_edge_steps(),
                "edges": graph.edges(),
            }),
            _ => serde_json::Value::Null,
        };
        let replay = match self {
            Self::Replay(graph) => {
                let graph_config = graph.config();
                serde_json::json!({
                    "frames": graph.len(),
                    "episodes_per_goal": graph_config.episodes,
                    "context_dims": graph_config.context_dims,
                    "link_steps": graph_config.link_steps,
                    "hop_steps": graph_config.hop_steps,
                    "step_latent_distance": graph.step(),
                })
            }
            _ => serde_json::Value::Null,
        };
        [("landmark_graph", landmarks), ("replay_graph", replay)]
    }
}
