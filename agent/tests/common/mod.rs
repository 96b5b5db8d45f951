//! Helpers shared by the agent's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use agent::plan::LatentEpisodes;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The shipped `reach` world file, found when the test runs (cargo sets
/// `CARGO_MANIFEST_DIR`): a test binary reused from another checkout sharing the target folder
/// must not read that checkout's files.
pub fn reach_world_path() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../worlds/reach.json")
}

/// Three episodes of 30 random `dims`-sized latents (seed 5), every seventh frame in a hazard,
/// with smooth actions between the frames: data for fitting cost models and the predictor.
pub fn random_latent_episodes(dims: usize) -> LatentEpisodes {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut data = LatentEpisodes::default();
    for _ in 0..3 {
        let latents: Vec<Vec<f32>> = (0..30)
            .map(|_| (0..dims).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        data.in_hazard.push((0..30).map(|t| t % 7 == 0).collect());
        data.actions.push(
            (0..29)
                .map(|t| [(t as f32 * 0.3).sin(), (t as f32 * 0.7).cos()])
                .collect(),
        );
        data.latents.push(latents);
    }
    data
}
