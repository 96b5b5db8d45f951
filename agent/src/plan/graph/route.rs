//! Routes to one goal through a graph of seen frames: per node the shortest path to the goal,
//! and for any latent one hop onto the graph and on along it. Both graphs of the planner build
//! one: the critic's landmarks and the recorded exploration.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use burn::prelude::*;

use crate::plan::learned::Critic;
use crate::plan::numeric::to_vec;

/// Per landmark, the shortest path to the goal (infinite where there is none), given each
/// landmark's straight estimate to the goal (`direct`) and the graph's edges.
pub(crate) fn shortest_paths(
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
pub(crate) fn route_steps(straight: f32, hops: &[f32], to_goal: &[f32], edge_steps: f32) -> f32 {
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
/// ([`LandmarkGraph::route`](super::LandmarkGraph::route)) or the recorded exploration
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
    /// A route whose hops are the critic's estimates between `embeddings` (of the nodes) and
    /// `goal`'s embedding (see [`LandmarkGraph`](super::LandmarkGraph)).
    pub(crate) fn through_critic(
        embeddings: Tensor<2>,
        goal: Tensor<2>,
        to_goal: Vec<f32>,
        edge_steps: f32,
    ) -> Self {
        Self {
            hops: Hops::Critic { embeddings, goal },
            to_goal,
            edge_steps,
        }
    }

    /// A route whose hops are latent distances (see [`ReplayGraph`](super::ReplayGraph)).
    pub(crate) fn through_frames(
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
        let direct = steps_between(latents.clone(), goal.clone(), *step);
        let hops = steps_between(latents, nodes.clone(), *step);
        self.combine(&direct, &hops)
    }

    /// How far `latent` (`[1, latent_dim]`) is from the route's nearest node, in steps, as a
    /// multiple of the longest hop the route takes onto its graph (above 1: the route holds
    /// nothing like this state). `None` for a critic's route.
    pub fn nearest_hop(&self, latent: Tensor<2>) -> Option<f32> {
        let Hops::Latent {
            nodes, skip, step, ..
        } = &self.hops
        else {
            return None;
        };
        let [_, d] = latent.dims();
        let hops = steps_between(latent.narrow(1, *skip, d - skip), nodes.clone(), *step);
        let nearest = hops.into_iter().fold(f32::INFINITY, f32::min);
        Some(nearest / self.edge_steps.max(1e-6))
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

/// Latent distances between every row of `a` and every row of `b`, in typical steps.
///
/// # Shapes
/// - `a`: `[m, width]`, `b`: `[n, width]` → `m · n` values, row-major
pub(crate) fn steps_between(a: Tensor<2>, b: Tensor<2>, step: f32) -> Vec<f32> {
    let a_sq = a.clone().powf_scalar(2.0).sum_dim(1); // [m, 1]
    let b_sq = b.clone().powf_scalar(2.0).sum_dim(1).transpose(); // [1, n]
    let cross = a.matmul(b.transpose()); // [m, n]
    to_vec(
        (a_sq + b_sq - cross.mul_scalar(2.0))
            .clamp_min(0.0)
            .sqrt()
            .div_scalar(step),
    )
}
