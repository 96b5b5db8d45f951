//! Helpers shared by the agent's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shipped `reach` world file, found when the test runs (cargo sets
/// `CARGO_MANIFEST_DIR`): a test binary reused from another checkout sharing the target folder
/// must not read that checkout's files.
pub fn reach_world_path() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../worlds/reach.json")
}
