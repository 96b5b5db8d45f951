//! Guards DESIGN decision 3: the same world file and seed give the same states and the same
//! frame bytes — run twice, on 1 or several threads, after a snapshot/restore, and against a
//! golden digest per shipped world (x86_64) for the first 200 steps of a scripted episode.
//!
//! When a change is *meant* to alter the simulation, regenerate the goldens with
//! `KENNEL_BLESS=1 cargo test --release -p kennel-sim --test determinism` and say why in the
//! commit message.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{WORLDS, load, scripted_action};
use sim::{Env, VecEnv, World, WorldSpec};
use xxhash_rust::xxh3::Xxh3;

const STEPS: u64 = 200;

/// Digest of an episode: every step's state hash and frame bytes.
fn episode_digest(spec: &Arc<WorldSpec>, seed: u64, steps: u64) -> u64 {
    let mut env = Env::new(Arc::clone(spec));
    let (obs, _) = env.reset(seed).expect("reset");
    let mut hasher = Xxh3::new();
    hasher.update(&obs.rgb.rgb);
    for t in 0..steps {
        let step = env.step(&scripted_action(t)).expect("step");
        hasher.update(&step.obs.rgb.rgb);
        let world = env.world().expect("world");
        hasher.update(&world.state_hash().to_le_bytes());
        if step.terminated || step.truncated {
            break;
        }
    }
    hasher.digest()
}

#[test]
fn same_seed_twice_gives_identical_states_and_frames() {
    for name in WORLDS {
        let spec = load(name);
        let a = episode_digest(&spec, 7, STEPS);
        let b = episode_digest(&spec, 7, STEPS);
        assert_eq!(a, b, "{name}: two runs of seed 7 differ");
        let c = episode_digest(&spec, 8, STEPS);
        assert_ne!(a, c, "{name}: seeds 7 and 8 gave the same episode");
    }
}

/// Runs a vector env and returns each environment's digest.
fn vec_env_digests(spec: &Arc<WorldSpec>, envs: usize, threads: usize, steps: u64) -> Vec<u64> {
    let mut vec_env = VecEnv::new(Arc::clone(spec), envs, 99, threads).expect("vec env");
    let mut hashers: Vec<Xxh3> = (0..envs).map(|_| Xxh3::new()).collect();
    for (hasher, (obs, _)) in hashers.iter_mut().zip(vec_env.reset().expect("reset")) {
        hasher.update(&obs.rgb.rgb);
    }
    for t in 0..steps {
        let actions: Vec<_> = (0..envs as u64)
            .map(|i| scripted_action(t + 3 * i))
            .collect();
        for (hasher, step) in hashers
            .iter_mut()
            .zip(vec_env.step(&actions).expect("step"))
        {
            hasher.update(&step.obs.rgb.rgb);
            for v in &step.obs.state {
                hasher.update(&v.to_bits().to_le_bytes());
            }
            hasher.update(&[u8::from(step.terminated), u8::from(step.truncated)]);
        }
    }
    hashers.iter().map(Xxh3::digest).collect()
}

#[test]
fn thread_count_does_not_change_results() {
    // Short episodes so autoresets (and their derived seeds) are part of what is compared.
    let mut spec = (*load("reach")).clone();
    spec.task.episode_steps = 30;
    let spec = Arc::new(spec);
    let one = vec_env_digests(&spec, 6, 1, 100);
    let two = vec_env_digests(&spec, 6, 2, 100);
    let three = vec_env_digests(&spec, 6, 3, 100);
    assert_eq!(one, two, "1 vs 2 threads");
    assert_eq!(one, three, "1 vs 3 threads");
    let distinct: std::collections::HashSet<_> = one.iter().collect();
    assert_eq!(
        distinct.len(),
        6,
        "environments should not repeat each other"
    );
}

#[test]
fn snapshot_restore_then_step_matches_stepping_on() {
    for name in WORLDS {
        let spec = load(name);
        let mut world = World::from_seed(Arc::clone(&spec), 3).expect("world");
        let run = |world: &mut World, from: u64| -> Vec<u64> {
            (from..from + 60)
                .map(|t| {
                    world.set_action(scripted_action(t).0.map(|v| v.clamp(-1.0, 1.0)));
                    world.step();
                    world.state_hash()
                })
                .collect()
        };
        run(&mut world, 0);
        let snapshot = world.snapshot().expect("snapshot");
        let straight_on = run(&mut world, 60);
        world.restore(&snapshot).expect("restore");
        let after_restore = run(&mut world, 60);
        assert_eq!(
            straight_on, after_restore,
            "{name}: restore changed the future"
        );

        // A snapshot restored into a freshly built world of the same episode works too.
        let mut fresh = World::from_seed(Arc::clone(&spec), 3).expect("world");
        fresh.restore(&snapshot).expect("restore into fresh");
        assert_eq!(
            straight_on,
            run(&mut fresh, 60),
            "{name}: fresh restore differs"
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn shipped_worlds_match_their_golden_digests() {
    let path = common::manifest_dir().join("tests/goldens/determinism.json");
    let actual: BTreeMap<String, String> = WORLDS
        .iter()
        .map(|name| {
            (
                name.to_string(),
                format!("{:016x}", episode_digest(&load(name), 1, STEPS)),
            )
        })
        .collect();
    if std::env::var_os("KENNEL_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&actual).expect("json") + "\n";
        std::fs::write(&path, text).expect("write goldens");
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; run with KENNEL_BLESS=1 to create it",
            path.display()
        )
    });
    let golden: BTreeMap<String, String> = serde_json::from_str(&text).expect("golden json");
    assert_eq!(
        golden, actual,
        "the simulation's bits changed; if that is intended, re-bless (see this file's header)"
    );
}
