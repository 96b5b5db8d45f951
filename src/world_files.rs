//! The shipped worlds (compiled in, so the binary works from any directory) and how a
//! `--world` argument is resolved: a path to a file, or the name of a shipped world.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use sim::WorldSpec;

/// `(name, JSON text)` of every world in `worlds/`.
pub const BUILTIN_WORLDS: &[(&str, &str)] = &[
    ("reach", include_str!("../worlds/reach.json")),
    ("two_rooms", include_str!("../worlds/two_rooms.json")),
    ("push", include_str!("../worlds/push.json")),
    ("playground", include_str!("../worlds/playground.json")),
];

/// Loads `--world`: an existing file path, else a shipped world's name.
pub fn load_world(arg: &str) -> anyhow::Result<Arc<WorldSpec>> {
    let path = Path::new(arg);
    if path.exists() || arg.ends_with(".json") {
        return Ok(Arc::new(WorldSpec::from_json_file(path)?));
    }
    match BUILTIN_WORLDS.iter().find(|(name, _)| *name == arg) {
        Some((name, text)) => {
            let spec = WorldSpec::from_json_str(text, &format!("worlds/{name}.json"))
                .with_context(|| format!("the shipped world `{name}` is invalid"))?;
            Ok(Arc::new(spec))
        }
        None => bail!(
            "no world file `{arg}` and no shipped world of that name; shipped worlds: {} (or give a path to a .json file)",
            builtin_names().join(", ")
        ),
    }
}

/// Names of the shipped worlds.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN_WORLDS.iter().map(|(name, _)| *name).collect()
}
