//! A predictor refitted with the cost models is saved and loaded with them, and it is the
//! one the planner imagines with. Its own test binary: the backend's random generator is
//! global, and the determinism tests elsewhere must not share it with this one.

mod common;

use agent::model::{JepaConfig, JepaModel};
use agent::plan::{CostModels, CostModelsConfig, CriticConfig, LatentEpisodes, PredictorFitConfig};
use burn::prelude::*;

const D: usize = 8;

fn episodes() -> LatentEpisodes {
    common::random_latent_episodes(D)
}

#[test]
fn a_refitted_predictor_is_saved_loaded_and_planned_with() {
    let device = Device::flex();
    let model = JepaConfig::new().with_latent(D).init(&device);
    let config = CostModelsConfig::new()
        .with_critic(CriticConfig::new().with_latent_dim(D).with_hidden(16))
        .with_critic_steps(5)
        .with_guardrail_steps(5)
        .with_batch(8)
        .with_predictor(Some(
            PredictorFitConfig::new()
                .with_steps(20)
                .with_batch(8)
                .with_rollout_steps(3),
        ));
    let config = config
        .clone()
        .with_guardrail(config.guardrail.clone().with_latent_dim(D).with_hidden(16));
    let data = episodes();
    let mut models = CostModels::fit(&data, config, &device, &mut |_| {});
    assert!(models.predictor.is_none());
    models
        .refit_predictor(&model.predictor, &data, &device, &mut |_| {})
        .expect("refit");
    let report = models.report.predictor.clone().expect("a refit report");
    assert_eq!(report.steps, 20);

    let dir = std::env::temp_dir().join(format!("cost-models-predictor-{}", std::process::id()));
    models.save(&dir).expect("save");
    let loaded = CostModels::load(&dir, &device)
        .expect("load")
        .expect("saved");
    let reloaded = loaded
        .report
        .predictor
        .clone()
        .expect("the report is saved");
    assert_eq!(
        (reloaded.steps, reloaded.held_out_windows),
        (report.steps, report.held_out_windows)
    );

    let imagine = |m: &JepaModel| -> Vec<f32> {
        let z = Tensor::<2>::from_data(
            TensorData::new(
                (0..D).map(|i| i as f32 / D as f32).collect::<Vec<_>>(),
                [1, D],
            ),
            &device,
        );
        let a = Tensor::<3>::from_data(
            TensorData::new(vec![0.5f32, -0.5, 1.0, 0.0], [1, 2, 2]),
            &device,
        );
        m.rollout(z, a).into_data().iter::<f32>().collect()
    };
    let planned = imagine(&models.planning_model(&model));
    assert_eq!(planned, imagine(&loaded.planning_model(&model)));
    assert_ne!(
        planned,
        imagine(&model),
        "the planner should imagine with the refit"
    );
}
