//! The shipped worlds (compiled in, so the binary works from any directory) and how a
//! `--world` argument is resolved: a path to a file, or the name of a shipped world.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use sim::{VariantSetSpec, VariantSpec, WorldSpec};

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

/// `(world name, JSON text)` of every variant file in `worlds/variants/`.
pub const BUILTIN_VARIANTS: &[(&str, &str)] = &[
    ("reach", include_str!("../worlds/variants/reach.json")),
    (
        "two_rooms",
        include_str!("../worlds/variants/two_rooms.json"),
    ),
    ("push", include_str!("../worlds/variants/push.json")),
];

/// The variants of `world` named by `--variants`: `shipped` (the file in `worlds/variants/`
/// for this world) or a path to a variant file; with `only`, just those, in that order. Each
/// comes patched and validated.
pub fn load_variants(
    world: &WorldSpec,
    arg: &str,
    only: &[String],
) -> anyhow::Result<Vec<(VariantSpec, Arc<WorldSpec>)>> {
    let (set, origin) = if arg == "shipped" {
        let Some((name, text)) = BUILTIN_VARIANTS
            .iter()
            .find(|(name, _)| *name == world.name)
        else {
            bail!(
                "no shipped variants for the world `{}` (shipped for: {}); pass --variants FILE",
                world.name,
                BUILTIN_VARIANTS
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let origin = format!("worlds/variants/{name}.json");
        (VariantSetSpec::from_json_str(text, &origin)?, origin)
    } else {
        (
            VariantSetSpec::from_json_file(arg)?,
            Path::new(arg).display().to_string(),
        )
    };
    let picked = set.worlds_named(world, &origin, only)?;
    Ok(picked
        .into_iter()
        .map(|(variant, spec)| (variant, Arc::new(spec)))
        .collect())
}
