//! The exploration the learned parts of the cost are fitted on: episodes of the world's own
//! exploration policy, recorded as frames with the simulator's labels ([`LabelledEpisode`]),
//! and the same episodes encoded by one model ([`LatentEpisodes`]).

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sim::{Env, SeedSequence, SimError, SmoothRandomPolicy, WorldSpec};

use super::poses::{POSE_DIM, PushPoses};
use crate::model::{JepaModel, PROPRIO_DIM, frames_to_tensor, proprio_to_tensor};

/// One exploration episode's frames and the simulator's hazard flag for each.
#[derive(Clone, Debug, Default)]
pub struct LabelledEpisode {
    /// Frame height.
    pub height: usize,
    /// Frame width.
    pub width: usize,
    /// `[frames, H, W, 3]` bytes.
    pub frames: Vec<u8>,
    /// Whether the agent overlapped a hazard in each frame.
    pub in_hazard: Vec<bool>,
    /// The action taken after each frame but the last.
    pub actions: Vec<[f32; 2]>,
    /// Push tasks: the true poses in each frame, as the pose readout's targets
    /// ([`PushPoses::to_target`]); empty for other tasks.
    pub poses: Vec<[f32; POSE_DIM]>,
    /// The agent's proprioception in each frame (`sim::Observation::proprio`).
    pub proprio: Vec<[f32; 2]>,
}

impl LabelledEpisode {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.in_hazard.len()
    }

    /// Whether the episode holds no frame.
    pub fn is_empty(&self) -> bool {
        self.in_hazard.is_empty()
    }
}

/// Runs `episodes` episodes of the world's exploration ([`SmoothRandomPolicy::for_world`]: a
/// smooth random walk, seeking the object in push; seeds derived from `seed`) and keeps
/// their frames and hazard flags.
pub fn collect_exploration(
    spec: &Arc<WorldSpec>,
    episodes: usize,
    seed: u64,
) -> Result<Vec<LabelledEpisode>, SimError> {
    let seeds = SeedSequence::new(seed);
    let mut env = Env::new(Arc::clone(spec));
    (0..episodes)
        .map(|episode| explore_episode(&mut env, &seeds, episode))
        .collect()
}

/// [`collect_exploration`]'s episodes handed to `on_episode` one at a time, so that only one
/// episode's frames are held at once.
pub fn explore_each(
    spec: &Arc<WorldSpec>,
    episodes: usize,
    seed: u64,
    on_episode: &mut dyn FnMut(LabelledEpisode),
) -> Result<(), SimError> {
    let seeds = SeedSequence::new(seed);
    let mut env = Env::new(Arc::clone(spec));
    for episode in 0..episodes {
        on_episode(explore_episode(&mut env, &seeds, episode)?);
    }
    Ok(())
}

/// Episode `episode` of the exploration seeded by `seeds`, played in `env`.
fn explore_episode(
    env: &mut Env,
    seeds: &SeedSequence,
    episode: usize,
) -> Result<LabelledEpisode, SimError> {
    // One action stream per episode, so each episode is the same however many are run.
    let mut policy = SmoothRandomPolicy::for_world(env.spec(), 1, seeds.derive(3, episode as u64));
    let (mut obs, info) = env.reset(seeds.episode_seed(0, episode as u64))?;
    let mut record = LabelledEpisode {
        height: obs.rgb.height as usize,
        width: obs.rgb.width as usize,
        frames: std::mem::take(&mut obs.rgb.rgb),
        in_hazard: vec![info.in_hazard],
        actions: Vec::new(),
        poses: Vec::new(),
        proprio: vec![obs.proprio],
    };
    record
        .poses
        .extend(env.world().and_then(PushPoses::of).map(|p| p.to_target()));
    loop {
        let action = policy.act_one(0, &obs);
        let step = env.step(&action)?;
        record.actions.push(action.0);
        record.frames.extend_from_slice(&step.obs.rgb.rgb);
        record.in_hazard.push(step.info.in_hazard);
        record.proprio.push(step.obs.proprio);
        record
            .poses
            .extend(env.world().and_then(PushPoses::of).map(|p| p.to_target()));
        if step.terminated || step.truncated {
            return Ok(record);
        }
        obs = step.obs;
    }
}

/// Exploration encoded by one model: per episode, each frame's latent and hazard flag.
/// Serialisable, so experiments can keep it between runs (encoding takes minutes).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LatentEpisodes {
    /// `[episode][frame][latent_dim]`.
    pub latents: Vec<Vec<Vec<f32>>>,
    /// `[episode][frame]`: the agent overlapped a hazard.
    pub in_hazard: Vec<Vec<bool>>,
    /// `[episode][step]`: the action taken after each frame but the last (what the predictor
    /// is refitted on).
    pub actions: Vec<Vec<[f32; 2]>>,
    /// `[episode][frame]`: push tasks' true poses (the pose readout's targets); empty
    /// episodes for other tasks.
    #[serde(default)]
    pub poses: Vec<Vec<[f32; POSE_DIM]>>,
}

impl LatentEpisodes {
    /// Encodes recorded episodes with `model`.
    pub fn encode(model: &JepaModel, episodes: &[LabelledEpisode], device: &Device) -> Self {
        let mut out = Self::default();
        for episode in episodes.iter().filter(|e| !e.is_empty()) {
            out.add(model, episode, device);
        }
        out
    }

    /// Explores `episodes` fresh episodes (seeds from `seed`) and encodes each as it ends, so
    /// only latents are kept (256 bytes a frame instead of 12 KiB); `progress` hears the
    /// fraction done.
    pub fn explore(
        spec: &Arc<WorldSpec>,
        model: &JepaModel,
        episodes: usize,
        seed: u64,
        device: &Device,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Self, SimError> {
        Self::explore_until(spec, model, 0..episodes, seed, None, device, progress)
    }

    /// Episodes `episodes` of [`explore`](Self::explore)'s sequence (so `n..m` continues the
    /// first `n`), stopping early once `deadline` has passed: the episodes kept are the first
    /// of the range.
    pub fn explore_until(
        spec: &Arc<WorldSpec>,
        model: &JepaModel,
        episodes: Range<usize>,
        seed: u64,
        deadline: Option<Instant>,
        device: &Device,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Self, SimError> {
        let seeds = SeedSequence::new(seed);
        let mut env = Env::new(Arc::clone(spec));
        let mut out = Self::default();
        let total = episodes.len().max(1) as f64;
        for (done, episode) in episodes.enumerate() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            out.add(model, &explore_episode(&mut env, &seeds, episode)?, device);
            progress((done + 1) as f64 / total);
        }
        Ok(out)
    }

    /// Appends `more`'s episodes.
    pub fn append(&mut self, more: Self) {
        self.latents.extend(more.latents);
        self.in_hazard.extend(more.in_hazard);
        self.actions.extend(more.actions);
        self.poses.extend(more.poses);
    }

    /// Encodes `episode` with `model` and appends it.
    pub fn add(&mut self, model: &JepaModel, episode: &LabelledEpisode, device: &Device) {
        let flat = encode_frames(
            model,
            &episode.frames,
            episode.proprio.as_flattened(),
            episode.len(),
            episode.height,
            episode.width,
            device,
        );
        let d = model.encoder.latent_dim();
        self.latents
            .push(flat.chunks(d).map(<[f32]>::to_vec).collect());
        self.in_hazard.push(episode.in_hazard.clone());
        self.actions.push(episode.actions.clone());
        self.poses.push(episode.poses.clone());
    }

    /// Frames over all episodes.
    pub fn frames(&self) -> usize {
        self.in_hazard.iter().map(Vec::len).sum()
    }
}

/// Encodes `n` frames (`[n, H, W, 3]` bytes) and their proprioception (`[n, 2]`, read only
/// by a model that reads it) in chunks; returns `[n · latent_dim]`.
pub fn encode_frames(
    model: &JepaModel,
    frames: &[u8],
    proprio: &[f32],
    n: usize,
    height: usize,
    width: usize,
    device: &Device,
) -> Vec<f32> {
    const CHUNK: usize = 256;
    let frame_bytes = height * width * 3;
    let mut out = Vec::new();
    for start in (0..n).step_by(CHUNK) {
        let count = CHUNK.min(n - start);
        let bytes = &frames[start * frame_bytes..(start + count) * frame_bytes];
        let proprio = proprio.get(start * PROPRIO_DIM..(start + count) * PROPRIO_DIM);
        let proprio = proprio_to_tensor(&model.encoder, proprio.unwrap_or(&[]), count, device);
        let latents = model.encoder.forward(
            frames_to_tensor(bytes, count, height, width, device),
            proprio,
        );
        out.extend(latents.into_data().iter::<f32>());
    }
    out
}
