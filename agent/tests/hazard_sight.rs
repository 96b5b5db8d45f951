//! The guardrail that looks ([`HazardSight`]): fitted on two_rooms' exploration, where the
//! hazards never move, it still sees them where the variants move them, add a third or
//! recolour the floor and walls; its projection puts the agent where the frame draws it.

use std::path::PathBuf;
use std::sync::Arc;

use agent::plan::{HazardSight, HazardSightConfig, HazardSightData, explore_each};
use sim::{VariantSetSpec, WorldSpec};

mod common;

fn worlds() -> PathBuf {
    common::reach_world_path()
        .parent()
        .expect("worlds folder")
        .to_path_buf()
}

fn gather(spec: &Arc<WorldSpec>, episodes: usize, seed: u64) -> HazardSightData {
    let mut data = HazardSightData::new(spec, seed);
    explore_each(spec, episodes, seed, &mut |episode| data.add(&episode)).expect("explore");
    data
}

#[test]
fn a_sight_fitted_on_one_layout_sees_hazards_on_layouts_it_never_saw() {
    let spec = Arc::new(WorldSpec::from_json_file(worlds().join("two_rooms.json")).expect("world"));
    let data = gather(&spec, 150, 11);
    let (samples, positives) = data.counts();
    assert!(
        positives > 100,
        "{positives} hazard footprints of {samples}"
    );
    let sight: HazardSight = data.fit(&HazardSightConfig::default()).expect("fits");
    let report = &sight.report;
    assert!(report.recall > 0.9, "{report:?}");
    assert!(report.specificity > 0.9, "{report:?}");
    // Dead reckoning: a decision moves the agent ~5 cm; the fitted motion is off by far less.
    assert!(report.motion_error_m < 0.02, "{report:?}");

    let variants =
        VariantSetSpec::from_json_file(worlds().join("variants/two_rooms.json")).expect("variants");
    // Moved and added hazards are seen by their colour; a hazard in a colour never seen is
    // unknown, and unknown counts as a hazard.
    let names = ["hazards_moved", "third_hazard", "purple_hazards"];
    let worlds = variants
        .worlds_named(&spec, "two_rooms", &names.map(String::from))
        .expect("variants apply");
    assert_eq!(worlds.len(), names.len());
    for (variant, world) in worlds {
        let unseen = gather(&Arc::new(world), 60, 12);
        let (recall, specificity) = unseen.judge(&sight, false);
        eprintln!(
            "{}: recall {recall:.3}, specificity {specificity:.3}",
            variant.name
        );
        assert!(recall > 0.85, "{}: recall {recall}", variant.name);
        assert!(
            specificity > 0.85,
            "{}: specificity {specificity}",
            variant.name
        );
    }
}
