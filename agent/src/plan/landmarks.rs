//! Search on the replay buffer (Eysenbach et al. 2019, "Search on the Replay Buffer"): latents
//! of frames the agent has seen become landmarks, joined where the quasimetric critic says they
//! are a few steps apart, and the planner's terminal cost becomes the shortest path through
//! that graph. A learned metric is trustworthy over short distances and not over long ones: on
//! two_rooms the critic's straight estimate sends the agent to the divider far from the door,
//! because both sides of the divider look alike; a chain of short hops has to go round by the
//! door.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Critic, LatentEpisodes};

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
    pub fn save(&self, path: &Path) -> Result<(), String> {
        save_postcard(self, path)
    }

    /// Reads what [`save`](Self::save) wrote.
    pub fn load(path: &Path) -> Result<Self, String> {
        let set: Self = load_postcard(path, "a landmark set")?;
        if set.latent_dim == 0 || !set.latents.len().is_multiple_of(set.latent_dim) {
            return Err(format!(
                "{}: {} numbers do not make latents of {}",
                path.display(),
                set.latents.len(),
                set.latent_dim
            ));
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
        Some(LandmarkRoute {
            hops: Hops::Critic {
                embeddings: self.embeddings.clone(),
                goal,
            },
            to_goal: shortest_paths(&direct, &self.incoming, self.edge_steps),
            edge_steps: self.edge_steps,
        })
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

/// Per landmark, the shortest path to the goal (infinite where there is none), given each
/// landmark's straight estimate to the goal (`direct`) and the graph's edges.
pub(super) fn shortest_paths(
    direct: &[f32],
    incoming: &[Vec<(usize, f32)>],
    edge_steps: f32,
) -> Vec<f32> {
    // Edges into the goal: the short ones, or the shortest when none is short (a goal unlike
    // every landmark still gets a way in).
    let reach = edge_steps.max(direct.iter().copied().fold(f32::INFINITY, f32::min));
    let mut to_goal = vec![f32::INFINITY; direct.len()];
    let mut queue = BinaryHeap::new();
    for (i, &s) in direct.iter().enumerate() {
        if s <= reach {
            to_goal[i] = s;
            queue.push(Reverse((s.to_bits(), i)));
        }
    }
    // Dijkstra towards the goal over the reversed edges (non-negative floats order like their
    // bit patterns).
    while let Some(Reverse((bits, j))) = queue.pop() {
        let d = f32::from_bits(bits);
        if d > to_goal[j] {
            continue;
        }
        for &(i, s) in &incoming[j] {
            if d + s < to_goal[i] {
                to_goal[i] = d + s;
                queue.push(Reverse(((d + s).to_bits(), i)));
            }
        }
    }
    to_goal
}

/// Steps from one state to the goal: `straight` is its straight estimate, `hops` its estimates
/// to every landmark. Straight to the goal when that is within one edge, else one hop to a
/// landmark within one edge (the nearest when none is) and on along the shortest path; the
/// straight estimate when no landmark leads to the goal.
fn route_steps(straight: f32, hops: &[f32], to_goal: &[f32], edge_steps: f32) -> f32 {
    let nearest = hops.iter().copied().fold(f32::INFINITY, f32::min);
    let reach = edge_steps.max(nearest);
    let through = hops
        .iter()
        .zip(to_goal)
        .filter(|(hop, _)| **hop <= reach)
        .map(|(hop, rest)| hop + rest)
        .fold(f32::INFINITY, f32::min);
    if straight <= edge_steps {
        straight.min(through)
    } else if through.is_finite() {
        through
    } else {
        straight
    }
}

/// Steps to one goal through a graph of seen frames: the critic's landmark graph
/// ([`LandmarkGraph::route`]) or the recorded exploration
/// ([`ReplayGraph::route`](super::ReplayGraph::route)).
pub struct LandmarkRoute {
    hops: Hops,
    /// Per node, the shortest path to the goal (infinite when there is none).
    to_goal: Vec<f32>,
    /// The longest hop onto the graph (and the longest edge), in steps.
    edge_steps: f32,
}

/// How a latent's hop onto a route's nodes is measured.
enum Hops {
    /// The critic's estimate between embeddings.
    Critic {
        /// The critic's embedding of each landmark, `[n, embedding]`.
        embeddings: Tensor<2>,
        /// The goal's embedding, `[1, embedding]`.
        goal: Tensor<2>,
    },
    /// Latent distance in typical recorded steps, the episode context left out.
    Latent {
        /// Each node's latent without the context, `[n, latent_dim - skip]`.
        nodes: Tensor<2>,
        /// The goal's latent without the context, `[1, latent_dim - skip]`.
        goal: Tensor<2>,
        /// Leading context dimensions to leave out of a query latent.
        skip: usize,
        /// Latent distance of one recorded step.
        step: f32,
    },
}

impl LandmarkRoute {
    /// A route whose hops are latent distances (see [`ReplayGraph`](super::ReplayGraph)).
    pub(super) fn through_frames(
        nodes: Tensor<2>,
        goal: Tensor<2>,
        to_goal: Vec<f32>,
        skip: usize,
        step: f32,
        hop_steps: f32,
    ) -> Self {
        Self {
            hops: Hops::Latent {
                nodes,
                goal,
                skip,
                step,
            },
            to_goal,
            edge_steps: hop_steps,
        }
    }

    /// Steps from each latent to the goal through the graph (see `route_steps`: one hop onto
    /// the graph, then its shortest path; straight when the goal is within one hop). A
    /// critic's route measures with `critic`; a recorded-frames route needs none.
    ///
    /// # Shapes
    /// - `latents`: `[batch, latent_dim]` → `batch` values (none for a critic route without a
    ///   critic embedding, which no route is built for)
    pub fn steps(&self, critic: &Critic, latents: Tensor<2>) -> Vec<f32> {
        let (direct, hops) = match &self.hops {
            Hops::Latent { .. } => return self.steps_through_frames(latents),
            Hops::Critic { embeddings, goal } => {
                let Some(embedded) = critic.embedding(latents) else {
                    return Vec::new();
                };
                match (
                    critic.embedded_steps(embedded.clone(), goal.clone()),
                    critic.embedded_steps(embedded, embeddings.clone()),
                ) {
                    (Some(direct), Some(hops)) => (to_vec(direct), to_vec(hops)),
                    _ => return Vec::new(),
                }
            }
        };
        self.combine(&direct, &hops)
    }

    /// [`steps`](Self::steps) of a recorded-frames route (empty for a critic's route).
    pub fn steps_through_frames(&self, latents: Tensor<2>) -> Vec<f32> {
        let Hops::Latent {
            nodes,
            goal,
            skip,
            step,
        } = &self.hops
        else {
            return Vec::new();
        };
        let [_, d] = latents.dims();
        let latents = latents.narrow(1, *skip, d - skip);
        let direct = super::replay_graph::steps_between(latents.clone(), goal.clone(), *step);
        let hops = super::replay_graph::steps_between(latents, nodes.clone(), *step);
        self.combine(&direct, &hops)
    }

    fn combine(&self, direct: &[f32], hops: &[f32]) -> Vec<f32> {
        let n = self.to_goal.len();
        direct
            .iter()
            .zip(hops.chunks(n))
            .map(|(&straight, row)| route_steps(straight, row, &self.to_goal, self.edge_steps))
            .collect()
    }
}

/// Writes `value` to `path` as postcard bytes.
pub(super) fn save_postcard<T: Serialize>(value: &T, path: &Path) -> Result<(), String> {
    let bytes = postcard::to_allocvec(value).map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads what [`save_postcard`] wrote; `what` names the expected content in the error.
pub(super) fn load_postcard<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    postcard::from_bytes(&bytes).map_err(|e| format!("{}: not {what}: {e}", path.display()))
}

fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{route_steps, short_edges, shortest_paths};

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
