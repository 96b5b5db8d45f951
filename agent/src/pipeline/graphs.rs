//! The graphs the planner's last-step estimate is routed through, built from saved cost
//! models as [`PlanningConfig::graph`] asks.

use burn::prelude::Device;

use super::{GraphSearch, PlanningConfig};
use crate::eval::Routing;
use crate::plan::{CostModels, LandmarkGraph, ReplayGraph, ReplayGraphConfig};

/// The graph the planner routes through, if any (none: the critic's straight estimate).
#[derive(Default)]
pub struct PlannerGraphs {
    /// The critic's landmark graph ([`GraphSearch::Landmarks`]).
    pub landmarks: Option<LandmarkGraph>,
    /// The recorded exploration ([`GraphSearch::Replay`]).
    pub replay: Option<ReplayGraph>,
}

impl PlannerGraphs {
    /// The graph `config` asks for, from `cost_models` (of a model whose latents hold
    /// `context_dims` episode-context dimensions). Missing data leaves it out.
    pub fn build(
        cost_models: &CostModels,
        config: &PlanningConfig,
        context_dims: usize,
        device: &Device,
    ) -> Self {
        match config.graph {
            GraphSearch::Straight => Self::default(),
            GraphSearch::Landmarks { edge_steps } => Self {
                landmarks: cost_models.landmarks.as_ref().and_then(|set| {
                    LandmarkGraph::build(set, &cost_models.critic, edge_steps, device)
                }),
                replay: None,
            },
            GraphSearch::Replay { episodes } => Self {
                landmarks: None,
                replay: cost_models.replay.clone().and_then(|frames| {
                    let graph = ReplayGraphConfig::new()
                        .with_episodes(episodes)
                        .with_context_dims(context_dims);
                    ReplayGraph::new(frames, graph)
                }),
            },
        }
    }

    /// The routing the planner uses (`routed` false: none).
    pub fn routing(&self, routed: bool) -> Routing<'_> {
        if routed {
            Routing {
                landmarks: self.landmarks.as_ref(),
                replay: self.replay.as_ref(),
            }
        } else {
            Routing::default()
        }
    }

    /// What the graphs hold, for reports: `landmark_graph` and `replay_graph` (`null` when
    /// not used).
    pub fn to_json(&self, config: &PlanningConfig) -> [(&'static str, serde_json::Value); 2] {
        let landmarks = self
            .landmarks
            .as_ref()
            .map_or(serde_json::Value::Null, |graph| {
                serde_json::json!({
                    "landmarks": graph.len(),
                    "edge_steps": config.landmark_edge_steps(),
                    "edges": graph.edges(),
                })
            });
        let replay = self
            .replay
            .as_ref()
            .map_or(serde_json::Value::Null, |graph| {
                let graph_config = graph.config();
                serde_json::json!({
                    "frames": graph.len(),
                    "episodes_per_goal": graph_config.episodes,
                    "context_dims": graph_config.context_dims,
                    "link_steps": graph_config.link_steps,
                    "hop_steps": graph_config.hop_steps,
                    "step_latent_distance": graph.step(),
                })
            });
        [("landmark_graph", landmarks), ("replay_graph", replay)]
    }
}
