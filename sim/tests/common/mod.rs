//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use sim::{Action, WorldSpec};

/// The shipped worlds, by name.
pub const WORLDS: [&str; 4] = ["reach", "two_rooms", "push", "playground"];

/// The crate's folder, read when the test runs (cargo sets it): a test binary reused from
/// another checkout sharing the target folder must not read that checkout's files.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Path of a file in the repository's `worlds/` folder.
pub fn world_path(name: &str) -> PathBuf {
    manifest_dir()
        .join("../worlds")
        .join(format!("{name}.json"))
}

/// Loads a shipped world.
pub fn load(name: &str) -> Arc<WorldSpec> {
    Arc::new(WorldSpec::from_json_file(world_path(name)).unwrap_or_else(|err| panic!("{err}")))
}

/// A fixed, platform-independent action sequence (integer arithmetic only) that sweeps the
/// whole action box and its outside (to exercise clipping).
pub fn scripted_action(step: u64) -> Action {
    let x = ((step * 7) % 25) as f32 / 10.0 - 1.2;
    let y = ((step * 13 + 5) % 23) as f32 / 10.0 - 1.1;
    Action([x, y])
}
