//! Throughput measurements behind `kennel bench`: medians over repeats, taken side by side in
//! one process so their ratios are meaningful on a noisy shared machine.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use sim::{Frame, Policy, Renderer, SmoothRandomPolicy, VecEnv, WorldSpec};

/// What to measure and how hard.
#[derive(Clone, Debug)]
pub struct SimBenchConfig {
    /// Environments in the vector-env measurements.
    pub envs: usize,
    /// Threads for the "all threads" measurement.
    pub threads: usize,
    /// Timed repeats of each measurement; the median is reported.
    pub repeats: usize,
    /// Env steps per repeat of the pixel-env measurements (split over the environments).
    pub env_steps: usize,
}

/// The figures `kennel bench sim --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct SimBenchReport {
    pub world: String,
    pub envs: usize,
    pub threads: usize,
    pub repeats: usize,
    pub action_repeat: u32,
    /// Physics steps per second on one thread (median).
    pub physics_steps_per_s: f64,
    /// Microseconds per physics step (median).
    pub physics_us_per_step: f64,
    /// Microseconds to render one 64×64 frame (median).
    pub render_us_per_frame_64: f64,
    /// Microseconds to render one 128×128 frame (median).
    pub render_us_per_frame_128: f64,
    /// Env steps per second (action repeat physics steps + one 64×64 frame) on one thread.
    pub pixel_env_steps_per_s_1_thread: f64,
    /// The same on `threads` threads.
    pub pixel_env_steps_per_s_all_threads: f64,
    /// Ratio of the two, measured side by side.
    pub all_threads_speedup: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

/// Runs `f` `repeats` times (after one warm-up) and returns the median of what it returns.
fn median_of(repeats: usize, mut f: impl FnMut() -> anyhow::Result<f64>) -> anyhow::Result<f64> {
    f()?;
    let values = (0..repeats.max(1))
        .map(|_| f())
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(median(values))
}

fn physics_steps_per_s(spec: &Arc<WorldSpec>) -> anyhow::Result<f64> {
    const STEPS: u32 = 2_000;
    let mut world = sim::World::from_seed(Arc::clone(spec), 0)?;
    let mut policy = SmoothRandomPolicy::new(1, 0);
    let start = Instant::now();
    for i in 0..STEPS {
        if i % spec.agent.action_repeat == 0 {
            world.set_action(policy.next_action(0).0.map(|v| v.clamp(-1.0, 1.0)));
        }
        world.step();
    }
    Ok(f64::from(STEPS) / start.elapsed().as_secs_f64())
}

fn render_us(spec: &Arc<WorldSpec>, size: u32) -> anyhow::Result<f64> {
    const FRAMES: u32 = 3_000;
    let world = sim::World::from_seed(Arc::clone(spec), 0)?;
    let mut renderer = Renderer::with_size(spec, &spec.learner_camera(), size, size);
    let mut frame = Frame::default();
    let start = Instant::now();
    for _ in 0..FRAMES {
        renderer.render_into(&world, &mut frame);
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(FRAMES))
}

pub fn pixel_env_steps_per_s(
    spec: &Arc<WorldSpec>,
    envs: usize,
    threads: usize,
    env_steps: usize,
) -> anyhow::Result<f64> {
    let mut vec_env = VecEnv::new(Arc::clone(spec), envs, 0, threads)?;
    let mut policy = SmoothRandomPolicy::new(envs, 0);
    let mut observations: Vec<_> = vec_env.reset()?.into_iter().map(|(o, _)| o).collect();
    let mut actions = Vec::new();
    let vec_steps = env_steps.div_ceil(envs);
    let start = Instant::now();
    for _ in 0..vec_steps {
        policy.act(&observations, &mut actions);
        observations = vec_env.step(&actions)?.into_iter().map(|s| s.obs).collect();
    }
    Ok((vec_steps * envs) as f64 / start.elapsed().as_secs_f64())
}

/// Measures a world.
pub fn sim_bench(spec: &Arc<WorldSpec>, config: &SimBenchConfig) -> anyhow::Result<SimBenchReport> {
    let repeats = config.repeats;
    let physics = median_of(repeats, || physics_steps_per_s(spec))?;
    let render_64 = median_of(repeats, || render_us(spec, 64))?;
    let render_128 = median_of(repeats, || render_us(spec, 128))?;
    // Alternate 1-thread and all-thread repeats so drift on a shared machine hits both alike.
    let (mut one, mut all) = (Vec::new(), Vec::new());
    pixel_env_steps_per_s(spec, config.envs, 1, config.env_steps / 4)?;
    for _ in 0..repeats.max(1) {
        one.push(pixel_env_steps_per_s(
            spec,
            config.envs,
            1,
            config.env_steps,
        )?);
        all.push(pixel_env_steps_per_s(
            spec,
            config.envs,
            config.threads,
            config.env_steps,
        )?);
    }
    let speedups: Vec<f64> = one.iter().zip(&all).map(|(o, a)| a / o).collect();
    Ok(SimBenchReport {
        world: spec.name.clone(),
        envs: config.envs,
        threads: config.threads,
        repeats,
        action_repeat: spec.agent.action_repeat,
        physics_steps_per_s: physics,
        physics_us_per_step: 1e6 / physics,
        render_us_per_frame_64: render_64,
        render_us_per_frame_128: render_128,
        pixel_env_steps_per_s_1_thread: median(one),
        pixel_env_steps_per_s_all_threads: median(all),
        all_threads_speedup: median(speedups),
    })
}
