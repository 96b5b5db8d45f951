//! Search on the replay buffer (Eysenbach et al. 2019, "Search on the Replay Buffer"): latents
//! of frames the agent has seen become landmarks, joined where the quasimetric critic says they
//! are a few steps apart, and the planner's terminal cost becomes the shortest path through
//! that graph. A learned metric is trustworthy over short distances and not over long ones: on
//! two_rooms the critic's straight estimate sends the agent to the divider far from the door,
//! because both sides of the divider look alike; a chain of short hops has to go round by the
//! door.

use std::path::Path;

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::files::{GraphFileError, load_postcard, save_postcard};
use super::route::{LandmarkRoute, shortest_paths};
use crate::plan::exploration::LatentEpisodes;
use crate::plan::learned::Critic;
use crate::plan::numeric::to_vec;

/// Latents of frames the agent has seen: the graph's nodes, saved with the cost models.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LandmarkSet {
    /// Size of one latent.
    pub latent_dim: usize,
    /// `[landmarks · latent_dim]`.
    pub latents: Vec<f32>,
}

impl LandmarkSet {
    /// `count` frames drawn uniformly without replacement from all of `data`'s episodes
    /// (all of them when there are fewer).
    pub fn sample(data: &LatentEpisodes, count: usize, seed: u64) -> Self {
        let frames: Vec<&Vec<f32>> = data.latents.iter().flatten().collect();
        let latent_dim = frames.first().map_or(0, |f| f.len());
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1a2d);
        let mut chosen = sample(&mut rng, frames.len(), count.min(frames.len())).into_vec();
        // In recorded order, so that the set does not depend on how `sample` orders its picks.
        chosen.sort_unstable();
        Self {
            latent_dim,
            latents: chosen
                .into_iter()
                .flat_map(|i| frames[i].iter().copied())
                .collect(),
        }
    }

    /// Number of landmarks.
    pub fn len(&self) -> usize {
        self.latents.len() / self.latent_dim.max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the set to `path` (postcard).
    pub fn save(&self, path: &Path) -> Result<(), GraphFileError> {
        save_postcard(self, path)
    }

    /// Reads what [`save`](Self::save) wrote.
    pub fn load(path: &Path) -> Result<Self, GraphFileError> {
        let set: Self = load_postcard(path, "a landmark set")?;
        if set.latent_dim == 0 || !set.latents.len().is_multiple_of(set.latent_dim) {
            return Err(GraphFileError::Landmarks {
                path: path.to_owned(),
                numbers: set.latents.len(),
                latent_dim: set.latent_dim,
            });
        }
        Ok(set)
    }
}

/// The landmarks, joined by the critic's estimates of at most `edge_steps` steps.
pub struct LandmarkGraph {
    /// The critic's embedding of each landmark, `[n, embedding]`.
    embeddings: Tensor<2>,
    /// Per landmark `j`, the landmarks `i` with an edge `i → j` and its length in steps.
    incoming: Vec<Vec<(usize, f32)>>,
    /// The longest edge, in steps.
    edge_steps: f32,
}

/// Rows of a pairwise table computed at once: bounds the `[rows · n, embedding]` temporary.
const PAIRWISE_ROWS: usize = 64;

impl LandmarkGraph {
    /// Joins `set`'s landmarks with `critic`'s estimates; `None` when the critic is not a
    /// quasimetric (a regression critic has no embedding to measure many pairs cheaply) or
    /// the set is empty.
    pub fn build(
        set: &LandmarkSet,
        critic: &Critic,
        edge_steps: f32,
        device: &Device,
    ) -> Option<Self> {
        let n = set.len();
        if n == 0 {
            return None;
        }
        let latents = Tensor::<2>::from_data(
            TensorData::new(set.latents.clone(), [n, set.latent_dim]),
            device,
        );
        let embeddings = critic.embedding(latents)?;
        let mut table = Vec::with_capacity(n * n);
        for start in (0..n).step_by(PAIRWISE_ROWS) {
            let rows = PAIRWISE_ROWS.min(n - start);
            let from = embeddings.clone().narrow(0, start, rows);
            table.extend(to_vec(critic.embedded_steps(from, embeddings.clone())?));
        }
        let incoming = short_edges(&table, n, edge_steps);
        Some(Self {
            embeddings,
            incoming,
            edge_steps,
        })
    }

    /// Number of landmarks.
    pub fn len(&self) -> usize {
        self.incoming.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.incoming.is_empty()
    }

    /// Number of edges.
    pub fn edges(&self) -> usize {
        self.incoming.iter().map(Vec::len).sum()
    }

    /// Shortest paths from every landmark to `goal` (`[1, latent_dim]`): once per goal.
    pub fn route(&self, critic: &Critic, goal: Tensor<2>) -> Option<LandmarkRoute> {
        let goal = critic.embedding(goal)?;
        let direct = to_vec(critic.embedded_steps(self.embeddings.clone(), goal.clone())?);
        Some(LandmarkRoute::through_critic(
            self.embeddings.clone(),
            goal,
            shortest_paths(&direct, &self.incoming, self.edge_steps),
            self.edge_steps,
        ))
    }
}

/// The edges of a pairwise table (`table[i · n + j]`: steps from `i` to `j`) no longer than
/// `edge_steps`, listed per target: `incoming[j]` holds `(i, steps)`.
fn short_edges(table: &[f32], n: usize, edge_steps: f32) -> Vec<Vec<(usize, f32)>> {
    let mut incoming = vec![Vec::new(); n];
    for (i, row) in table.chunks(n).enumerate() {
        for (j, &s) in row.iter().enumerate() {
            if i != j && s <= edge_steps {
                incoming[j].push((i, s));
            }
        }
    }
    incoming
}

#[cfg(test)]
mod tests {
    use super::short_edges;
    use crate::plan::graph::route::{route_steps, shortest_paths};

    /// A U-shaped corridor of unit steps: up the left arm, across the top, down the right arm.
    /// The straight (Euclidean) estimate cuts across the 2-step gap between the arms, as a
    /// learned metric cuts through a wall; only the short estimates are right.
    fn corridor() -> Vec<[f32; 2]> {
        let mut points: Vec<[f32; 2]> = (0..=4).map(|y| [0.0, y as f32]).collect();
        points.push([1.0, 4.0]);
        points.extend((0..=4).rev().map(|y| [2.0, y as f32]));
        points
    }

    fn euclidean(a: [f32; 2], b: [f32; 2]) -> f32 {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }

    #[test]
    fn short_hops_go_round_where_the_straight_estimate_cuts_through() {
        let points = corridor();
        let n = points.len();
        let table: Vec<f32> = points
            .iter()
            .flat_map(|a| points.iter().map(|b| euclidean(*a, *b)))
            .collect();
        let goal = points[n - 1]; // the foot of the right arm
        let direct: Vec<f32> = points.iter().map(|p| euclidean(*p, goal)).collect();
        let edges = short_edges(&table, n, 1.2);
        assert!(edges.iter().all(|e| e.iter().all(|(_, s)| *s <= 1.2)));
        let to_goal = shortest_paths(&direct, &edges, 1.2);
        // Along the corridor, landmark i is n − 1 − i steps from the goal.
        for (i, d) in to_goal.iter().enumerate() {
            assert!((d - (n - 1 - i) as f32).abs() < 1e-5, "landmark {i}: {d}");
        }
        // A state at the foot of the left arm: straight 2 steps, but 10 along the corridor.
        let start = [0.0, -0.5];
        let hops: Vec<f32> = points.iter().map(|p| euclidean(start, *p)).collect();
        let routed = route_steps(euclidean(start, goal), &hops, &to_goal, 1.2);
        assert!((routed - 10.5).abs() < 1e-5, "routed {routed}");
        // Next to the goal the straight estimate is kept.
        let near = [2.0, -0.5];
        let hops: Vec<f32> = points.iter().map(|p| euclidean(near, *p)).collect();
        assert!((route_steps(0.5, &hops, &to_goal, 1.2) - 0.5).abs() < 1e-6);
        // A graph in two pieces: from the piece without the goal, the straight estimate.
        let cut = short_edges(&table, n, 0.5);
        let isolated = shortest_paths(&direct, &cut, 0.5);
        assert!(isolated[0].is_infinite());
        let mut hops = vec![5.0; n];
        hops[0] = 0.0;
        assert!((route_steps(2.0, &hops, &isolated, 0.5) - 2.0).abs() < 1e-6);
    }
}
