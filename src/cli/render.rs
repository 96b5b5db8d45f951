//! `kennel render`: one frame of a world (optionally after some random steps, or its goal).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use sim::{Env, Renderer, SmoothRandomPolicy};

use crate::world_files::{load_variants, load_world};

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Episode seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output PNG.
    #[arg(long, default_value = "frame.png")]
    out: PathBuf,
    /// Square image size in pixels (default: the camera's own resolution).
    #[arg(long)]
    size: Option<u32>,
    /// Camera name (default: the learner's camera).
    #[arg(long)]
    camera: Option<String>,
    /// Render the episode's goal state instead of its start.
    #[arg(long)]
    goal: bool,
    /// Take this many env steps of smooth random actions first.
    #[arg(long, default_value_t = 0)]
    steps: u32,
    /// Render a variant of the world instead (a name from `worlds/variants/<world>.json`, or
    /// from the file given with --variants).
    #[arg(long)]
    variant: Option<String>,
    /// The variant file --variant names a variant of: `shipped` or a path.
    #[arg(long, default_value = "shipped", requires = "variant")]
    variants: String,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let mut spec = load_world(&args.world)?;
    if let Some(name) = &args.variant {
        let picked = load_variants(&spec, &args.variants, std::slice::from_ref(name))?;
        if let Some((_, variant)) = picked.into_iter().next() {
            spec = variant;
        }
    }
    let cameras = spec.effective_cameras();
    let camera = match &args.camera {
        None => spec.learner_camera(),
        Some(name) => match cameras.iter().find(|c| &c.name == name) {
            Some(camera) => camera.clone(),
            None => bail!(
                "world `{}` has no camera `{name}`; its cameras: {}",
                spec.name,
                cameras
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let (width, height) = match args.size {
        Some(0) => bail!("--size must be at least 1 pixel"),
        Some(size) if size > 1024 => bail!("--size must be at most 1024 pixels, got {size}"),
        Some(size) => (size, size),
        None => (camera.width, camera.height),
    };
    let mut env = Env::new(spec.clone());
    env.reset(args.seed)?;
    let mut policy = SmoothRandomPolicy::new(1, args.seed);
    for _ in 0..args.steps {
        env.step(&policy.next_action(0))?;
    }
    let world = env.world().context("the environment was just reset")?;
    let mut renderer = Renderer::with_size(&spec, &camera, width, height);
    let frame = if args.goal {
        renderer.render_goal(world)
    } else {
        renderer.render(world)
    };
    frame
        .save_png(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({}×{}, world {}{}, seed {}, camera {})",
        args.out.display(),
        width,
        height,
        spec.name,
        args.variant
            .as_ref()
            .map_or(String::new(), |v| format!(", variant {v}")),
        args.seed,
        camera.name
    );
    Ok(())
}
