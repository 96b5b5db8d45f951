//! Push's pose readout: exploration records the true poses, the cost models fit a readout on
//! them (and only then), and it is saved and loaded with them. Its own test binary: the
//! backend's random generator is global, and the determinism tests elsewhere must not share it.

mod common;

use std::sync::Arc;

use agent::plan::{
    CostModels, CostModelsConfig, CriticConfig, LatentEpisodes, POSE_DIM, collect_exploration,
};
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::{GoalSpec, WorldSpec};

const D: usize = 8;

fn config(pose_readout_steps: Option<usize>) -> CostModelsConfig {
    let config = CostModelsConfig::new()
        .with_critic(CriticConfig::new().with_latent_dim(D).with_hidden(16))
        .with_critic_steps(5)
        .with_guardrail_steps(5)
        .with_batch(8)
        .with_pose_readout_steps(pose_readout_steps);
    config
        .clone()
        .with_guardrail(config.guardrail.clone().with_latent_dim(D).with_hidden(16))
}

/// Random poses for every frame of `data` (what the readout is fitted on here).
fn random_poses(data: &LatentEpisodes, seed: u64) -> Vec<Vec<[f32; POSE_DIM]>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    data.latents
        .iter()
        .map(|episode| {
            episode
                .iter()
                .map(|_| std::array::from_fn::<f32, POSE_DIM, _>(|_| rng.random_range(-0.5..0.5)))
                .collect()
        })
        .collect()
}

#[test]
fn push_exploration_records_the_true_poses_of_every_frame() {
    let path = common::reach_world_path().with_file_name("push.json");
    let spec = Arc::new(WorldSpec::from_json_file(&path).expect("push world"));
    let episodes = collect_exploration(&spec, 1, 3).expect("exploration");
    let episode = &episodes[0];
    assert_eq!(episode.poses.len(), episode.len());
    let world = sim::World::from_seed(
        Arc::clone(&spec),
        sim::SeedSequence::new(3).episode_seed(0, 0),
    )
    .expect("world");
    let start = world.object_pose().expect("a pushed object");
    let first = episode.poses[0];
    assert!(
        (first[2] - start.position[0]).abs() < 1e-4 && (first[3] - start.position[1]).abs() < 1e-4
    );
    assert!((first[4] - start.yaw.cos()).abs() < 1e-4 && (first[5] - start.yaw.sin()).abs() < 1e-4);
    // The pusher moves; the readout's targets follow it.
    assert!(episode.poses.iter().any(|p| (p[0] - first[0]).abs() > 0.05));
    // Reach has no pushed object, hence no poses; and its default fit has no readout.
    let reach = Arc::new(WorldSpec::from_json_file(common::reach_world_path()).expect("reach"));
    assert!(
        collect_exploration(&reach, 1, 3).expect("exploration")[0]
            .poses
            .is_empty()
    );
    assert_eq!(
        CostModelsConfig::for_world(&reach, D, 0).pose_readout_steps,
        None
    );
    assert!(matches!(spec.task.goal, GoalSpec::ObjectPose { .. }));
    assert!(
        CostModelsConfig::for_world(&spec, D, 0)
            .pose_readout_steps
            .is_some_and(|s| s > 0)
    );
}

#[test]
fn a_pose_readout_is_fitted_on_poses_saved_and_loaded() {
    let device = Device::flex();
    let mut data = common::random_latent_episodes(D);
    let without = CostModels::fit(&data, config(Some(30)), &device, &mut |_| {});
    assert!(without.pose_readout.is_none() && without.report.pose_readout.is_none());

    data.poses = random_poses(&data, 1);
    // Twenty episodes, so one is held out for the report.
    for _ in 0..17 {
        data.latents.push(data.latents[0].clone());
        data.in_hazard.push(data.in_hazard[0].clone());
        data.actions.push(data.actions[0].clone());
        data.poses.push(data.poses[0].clone());
    }
    let off = CostModels::fit(&data, config(Some(0)), &device, &mut |_| {});
    assert!(off.pose_readout.is_none(), "0 steps: no readout");
    let models = CostModels::fit(&data, config(Some(30)), &device, &mut |_| {});
    let readout = models.pose_readout.as_ref().expect("a readout");
    let report = models.report.pose_readout.expect("a report");
    assert_eq!((report.steps, report.held_out_frames), (30, 30));
    assert!(report.agent_error_m.is_finite() && report.yaw_error_deg.is_finite());

    let dir = std::env::temp_dir().join(format!("cost-models-pose-readout-{}", std::process::id()));
    models.save(&dir).expect("save");
    let loaded = CostModels::load(&dir, &device)
        .expect("load")
        .expect("saved");
    assert_eq!(loaded.report.pose_readout, Some(report));
    let z = Tensor::<2>::from_data(
        TensorData::new(data.latents[0][..4].concat(), [4, D]),
        &device,
    );
    let read = |r: &agent::plan::PoseReadout| {
        r.forward(z.clone())
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32")
    };
    assert_eq!(
        read(readout),
        read(loaded.pose_readout.as_ref().expect("loaded"))
    );
}

#[test]
fn a_readout_of_proprioceptive_latents_passes_the_pusher_through_and_keeps_doing_so_on_load() {
    let device = Device::flex();
    let push = common::reach_world_path().with_file_name("push.json");
    let spec = WorldSpec::from_json_file(&push).expect("push world");
    assert_eq!(
        CostModelsConfig::for_world(&spec, D, 2).pose_readout_proprio,
        Some(true)
    );
    assert_eq!(
        CostModelsConfig::for_world(&spec, D, 0).pose_readout_proprio,
        Some(false)
    );
    let mut data = common::random_latent_episodes(D);
    data.poses = random_poses(&data, 2);
    let config = config(Some(30)).with_pose_readout_proprio(Some(true));
    let models = CostModels::fit(&data, config, &device, &mut |_| {});
    let frames = &data.latents[0][..4];
    let z = Tensor::<2>::from_data(TensorData::new(frames.concat(), [4, D]), &device);
    let pushers = |models: &CostModels| -> Vec<[f32; 2]> {
        let readout = models.pose_readout.as_ref().expect("a readout");
        readout.poses(z.clone()).iter().map(|p| p.agent).collect()
    };
    let tails: Vec<[f32; 2]> = frames.iter().map(|f| [f[D - 2], f[D - 1]]).collect();
    assert_eq!(
        pushers(&models),
        tails,
        "the pusher is the latent's last two numbers"
    );

    let dir = std::env::temp_dir().join(format!(
        "cost-models-proprio-readout-{}",
        std::process::id()
    ));
    models.save(&dir).expect("save");
    let loaded = CostModels::load(&dir, &device)
        .expect("load")
        .expect("saved");
    assert_eq!(pushers(&loaded), tails);
    // A readout fitted without the pass-through reads the pusher with its MLP instead.
    let plain = CostModels::fit(&data, self::config(Some(30)), &device, &mut |_| {});
    assert_ne!(pushers(&plain), tails);
    std::fs::remove_dir_all(&dir).ok();
}
