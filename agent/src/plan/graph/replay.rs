//! Shortest paths through the recorded exploration itself: the frames of the exploration
//! episodes the critic was fitted on, joined in time (one step per frame) and across episodes
//! where two latents are closer than a typical step, searched from the goal once per episode.
//!
//! Unlike [`LandmarkGraph`](super::LandmarkGraph), whose edges are the critic's short
//! estimates, every edge here is a transition that happened or two frames the encoder cannot
//! tell apart, so a path cannot cut through a wall the agent never went through. What differs
//! between episodes (the door of two_rooms) lives in the latent's episode-context dimensions,
//! so each goal's graph is made of the episodes whose context is nearest the goal's: the
//! exploration recorded behind the same door.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::files::{GraphFileError, load_postcard, save_postcard};
use super::route::{LandmarkRoute, shortest_paths, steps_between};
use crate::plan::exploration::LatentEpisodes;
use crate::plan::numeric::to_vec;

/// How a [`ReplayGraph`] is built and searched.
#[derive(Config, Debug, PartialEq)]
pub struct ReplayGraphConfig {
    /// Exploration episodes per goal: those whose episode context is nearest the goal's.
    #[config(default = 40)]
    pub episodes: usize,
    /// Leading latent dimensions that hold the episode context (they pick the episodes and are
    /// left out of the distances between frames).
    #[config(default = 4)]
    pub context_dims: usize,
    /// Frames of different moments are joined when their latents are closer than this many
    /// typical steps (the median distance between consecutive frames).
    #[config(default = 1.0)]
    pub link_steps: f32,
    /// An imagined latent joins the graph at frames within this many typical steps (at the
    /// nearest frame when none is that close).
    #[config(default = 2.0)]
    pub hop_steps: f32,
}

/// The recorded frames a [`ReplayGraph`] searches: every `stride`-th latent of each exploration
/// episode, saved with the cost models (`replay.bin`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayFrames {
    /// Size of one latent.
    pub latent_dim: usize,
    /// Recorded steps between two kept frames.
    pub stride: usize,
    /// Per episode, `[frames · latent_dim]`.
    pub episodes: Vec<Vec<f32>>,
}

impl ReplayFrames {
    /// Every `stride`-th latent of each of `data`'s episodes.
    pub fn keep(data: &LatentEpisodes, stride: usize) -> Self {
        let stride = stride.max(1);
        let latent_dim = data.latents.iter().flatten().next().map_or(0, |z| z.len());
        Self {
            latent_dim,
            stride,
            episodes: data
                .latents
                .iter()
                .map(|e| e.iter().step_by(stride).flatten().copied().collect())
                .filter(|e: &Vec<f32>| !e.is_empty())
                .collect(),
        }
    }

    /// Frames kept, over all episodes.
    pub fn len(&self) -> usize {
        self.episodes.iter().map(Vec::len).sum::<usize>() / self.latent_dim.max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the frames to `path` (postcard).
    pub fn save(&self, path: &Path) -> Result<(), GraphFileError> {
        save_postcard(self, path)
    }

    /// Reads what [`save`](Self::save) wrote.
    pub fn load(path: &Path) -> Result<Self, GraphFileError> {
        let frames: Self = load_postcard(path, "recorded exploration frames")?;
        if frames.latent_dim == 0
            || frames
                .episodes
                .iter()
                .any(|e| !e.len().is_multiple_of(frames.latent_dim))
        {
            return Err(GraphFileError::Frames {
                path: path.to_owned(),
                latent_dim: frames.latent_dim,
            });
        }
        Ok(frames)
    }
}

/// Recorded exploration ready to be searched towards goals.
pub struct ReplayGraph {
    config: ReplayGraphConfig,
    frames: ReplayFrames,
    /// Per episode, the mean of its context dimensions.
    contexts: Vec<Vec<f32>>,
    /// The median latent distance between consecutive kept frames, per recorded step.
    step: f32,
}

impl ReplayGraph {
    /// Prepares `frames` for search; `None` when there are no frames or the latents have no
    /// dimensions besides the context.
    pub fn new(frames: ReplayFrames, config: ReplayGraphConfig) -> Option<Self> {
        let d = frames.latent_dim;
        if frames.is_empty() || config.context_dims >= d {
            return None;
        }
        let skip = config.context_dims;
        let contexts = frames
            .episodes
            .iter()
            .map(|e| {
                let n = (e.len() / d) as f32;
                let mut mean = vec![0.0; skip];
                for z in e.chunks(d) {
                    for (m, v) in mean.iter_mut().zip(z) {
                        *m += v / n;
                    }
                }
                mean
            })
            .collect();
        let mut gaps: Vec<f32> = frames
            .episodes
            .iter()
            .flat_map(|e| {
                let frames: Vec<&[f32]> = e.chunks(d).collect();
                frames
                    .windows(2)
                    .map(|w| distance(&w[0][skip..], &w[1][skip..]))
                    .collect::<Vec<_>>()
            })
            .collect();
        gaps.sort_by(f32::total_cmp);
        let gap = gaps.get(gaps.len() / 2).copied().unwrap_or(1.0);
        let step = (gap / frames.stride as f32).max(1e-6);
        Some(Self {
            config,
            frames,
            contexts,
            step,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ReplayGraphConfig {
        &self.config
    }

    /// Recorded frames it searches (over all episodes).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The median latent distance of one recorded step (context dimensions left out).
    pub fn step(&self) -> f32 {
        self.step
    }

    /// The graph of the episodes nearest `goal`'s context (`[1, latent_dim]`) and its shortest
    /// paths to the goal, in recorded steps: once per goal.
    pub fn route(&self, goal: &Tensor<2>) -> Option<LandmarkRoute> {
        let d = self.frames.latent_dim;
        let skip = self.config.context_dims;
        let goal_latent = to_vec(goal.clone());
        if goal_latent.len() != d {
            return None;
        }
        let mut order: Vec<usize> = (0..self.contexts.len()).collect();
        order.sort_by(|&a, &b| {
            distance(&self.contexts[a], &goal_latent[..skip])
                .total_cmp(&distance(&self.contexts[b], &goal_latent[..skip]))
        });
        let chosen: Vec<&Vec<f32>> = order
            .into_iter()
            .take(self.config.episodes.max(1))
            .map(|e| &self.frames.episodes[e])
            .collect();
        // The nodes (context dimensions dropped) and the edges in time.
        let width = d - skip;
        let mut nodes: Vec<f32> = Vec::new();
        let mut edges: Vec<Vec<(usize, f32)>> = Vec::new();
        let in_time = self.frames.stride as f32;
        for episode in chosen {
            let first = edges.len();
            for (i, z) in episode.chunks(d).enumerate() {
                nodes.extend_from_slice(&z[skip..]);
                edges.push(Vec::new());
                if i > 0 {
                    edges[first + i - 1].push((first + i, in_time));
                    edges[first + i].push((first + i - 1, in_time));
                }
            }
        }
        let n = edges.len();
        let device = goal.device();
        let node_tensor = Tensor::<2>::from_data(TensorData::new(nodes, [n, width]), &device);
        // Links between frames the encoder can hardly tell apart.
        let link = self.config.link_steps;
        for start in (0..n).step_by(LINK_ROWS) {
            let rows = LINK_ROWS.min(n - start);
            let block = steps_between(
                node_tensor.clone().narrow(0, start, rows),
                node_tensor.clone(),
                self.step,
            );
            for (r, row) in block.chunks(n).enumerate() {
                let a = start + r;
                for (b, &s) in row.iter().enumerate() {
                    if b > a && s < link {
                        // Not shorter than half a step: two frames are never the same moment.
                        edges[a].push((b, s.max(0.5)));
                        edges[b].push((a, s.max(0.5)));
                    }
                }
            }
        }
        let goal_node = goal.clone().narrow(1, skip, width);
        let to_goal_direct = steps_between(node_tensor.clone(), goal_node.clone(), self.step);
        // The edges are symmetric, so they serve as their own reverse.
        let to_goal = shortest_paths(&to_goal_direct, &edges, self.config.hop_steps);
        Some(LandmarkRoute::through_frames(
            node_tensor,
            goal_node,
            to_goal,
            skip,
            self.step,
            self.config.hop_steps,
        ))
    }
}

/// Rows of the pairwise distance table computed at once (bounds the temporary).
const LINK_ROWS: usize = 512;

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f32>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LatentEpisodes;

    /// Three walks through two rooms side by side: down the left room's wall (x = 0), across
    /// the door, up the right room's wall (x = 2.5). The door is at the bottom (y = 0) or the
    /// top (y = 10); the rooms' walls are 2.5 apart, further than the graph's hop, and nothing
    /// ever went across them elsewhere. Latents are `[context, x, y]`.
    fn rooms(context: f32, door_at_top: bool) -> LatentEpisodes {
        let door_y = if door_at_top { 10.0 } else { 0.0 };
        let left: Vec<Vec<f32>> = (0..=10).map(|i| vec![context, 0.0, i as f32]).collect();
        let door: Vec<Vec<f32>> = (0..=10)
            .map(|i| vec![context, 0.25 * i as f32, door_y])
            .collect();
        let right: Vec<Vec<f32>> = (0..=10).map(|i| vec![context, 2.5, i as f32]).collect();
        LatentEpisodes {
            latents: vec![left, door, right],
            in_hazard: vec![vec![false; 11]; 3],
            ..LatentEpisodes::default()
        }
    }

    fn latent(context: f32, x: f32, y: f32) -> Tensor<2> {
        Tensor::<2>::from_data(
            TensorData::new(vec![context, x, y], [1, 3]),
            &Device::default(),
        )
    }

    #[test]
    fn paths_go_round_through_recorded_steps_not_across_the_wall() {
        let config = ReplayGraphConfig::new()
            .with_context_dims(1)
            .with_episodes(3);
        let graph =
            ReplayGraph::new(ReplayFrames::keep(&rooms(0.0, true), 1), config).expect("graph");
        // The walls' walks move one unit a step, the door's 0.25: the median step is 1.
        assert!((graph.step() - 1.0).abs() < 1e-6, "step {}", graph.step());
        // The goal: the bottom of the right room; the door is at the top.
        let route = graph.route(&latent(0.0, 2.5, 0.0)).expect("route");
        let steps = |x: f32, y: f32| route.steps_through_frames(latent(0.0, x, y))[0];
        // From the bottom of the left room, 2.5 away across the wall: up, through, down.
        let across = steps(0.0, 0.0);
        assert!(across > 20.0, "went through the wall: {across}");
        // Next to the goal it is the direct distance.
        assert!(
            steps(2.5, 0.5) <= 0.5 + 1e-4,
            "near the goal: {}",
            steps(2.5, 0.5)
        );
        // Further up the right room costs more.
        assert!(steps(2.5, 8.0) > steps(2.5, 3.0));
    }

    #[test]
    fn the_goal_picks_the_episodes_of_its_own_context() {
        // Context 0: the door at the top; context 100: at the bottom.
        let mut data = rooms(0.0, true);
        let other = rooms(100.0, false);
        data.latents.extend(other.latents);
        data.in_hazard.extend(other.in_hazard);
        let config = ReplayGraphConfig::new()
            .with_context_dims(1)
            .with_episodes(3);
        let graph = ReplayGraph::new(ReplayFrames::keep(&data, 1), config).expect("graph");
        let from_bottom_left = |context: f32| {
            let route = graph.route(&latent(context, 2.5, 0.0)).expect("route");
            route.steps_through_frames(latent(context, 0.0, 0.0))[0]
        };
        // Behind the bottom door, about the door's length (its 10 frames, linked in fewer
        // hops); behind the top one, round by the top.
        let (bottom, top) = (from_bottom_left(100.0), from_bottom_left(0.0));
        assert!(bottom < 5.0, "bottom door: {bottom}");
        assert!(top > 20.0, "top door: {top}");
    }

    #[test]
    fn frames_survive_a_save_and_load_and_bad_files_are_refused() {
        let frames = ReplayFrames::keep(&rooms(0.0, true), 2);
        assert_eq!(frames.len(), 3 * 6);
        let dir = std::env::temp_dir().join(format!("replay-frames-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("replay.bin");
        frames.save(&path).expect("save");
        assert_eq!(ReplayFrames::load(&path).expect("load"), frames);
        std::fs::write(&path, b"not postcard").expect("write");
        let error = ReplayFrames::load(&path).expect_err("garbage").to_string();
        assert!(error.contains("replay.bin"), "{error}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
