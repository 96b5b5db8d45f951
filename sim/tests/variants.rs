//! World variants (`worlds/variants/*.json`): every shipped variant applies to its world,
//! validates, builds, steps and changes what it says it changes; a variant file that no longer
//! fits its world, or is malformed, gives one error naming the file, the variant and the fix.

mod common;

use std::sync::Arc;

use common::{load, world_path};
use sim::{Env, EpisodeParams, SpecErrorKind, VariantReach, VariantSetSpec};

fn variants_of(name: &str) -> VariantSetSpec {
    let path = world_path(name)
        .parent()
        .expect("worlds folder")
        .join("variants")
        .join(format!("{name}.json"));
    VariantSetSpec::from_json_file(&path).expect("variant file")
}

#[test]
fn every_shipped_variant_applies_builds_and_steps() {
    let mut far = 0;
    for name in ["reach", "two_rooms", "push"] {
        let base = load(name);
        let set = variants_of(name);
        assert_eq!(set.base, name);
        let worlds = set.worlds(&base, "test").expect("variants apply");
        assert!(worlds.len() >= 4, "{name}: only {} variants", worlds.len());
        for (variant, spec) in worlds {
            assert!(!variant.description.is_empty(), "{}", variant.name);
            assert_ne!(spec, *base, "{name}/{} changes nothing", variant.name);
            far += usize::from(variant.reach == VariantReach::Far);
            let mut env = Env::new(Arc::new(spec));
            for seed in 0..5 {
                env.reset(seed).expect("reset");
                for _ in 0..3 {
                    env.step(&sim::Action([0.5, -0.5])).expect("step");
                }
            }
        }
    }
    assert!(far >= 3, "every world has a far-off variant");
}

#[test]
fn two_rooms_variants_change_what_they_say() {
    let base = load("two_rooms");
    let set = variants_of("two_rooms");
    let worlds = set.worlds(&base, "test").expect("variants apply");
    let get = |name: &str| {
        Arc::new(
            worlds
                .iter()
                .find(|(v, _)| v.name == name)
                .map(|(_, s)| s.clone())
                .expect(name),
        )
    };
    let divider = base
        .walls
        .iter()
        .position(|w| w.name == "divider")
        .expect("divider");
    for seed in 0..50 {
        let narrow = EpisodeParams::sample(&get("narrow_door"), seed).expect("sample");
        let width = narrow.door_widths[divider].expect("door");
        assert!((0.2..=0.22).contains(&width), "narrow door {width}");
        let edge = EpisodeParams::sample(&get("door_old_edge"), seed).expect("sample");
        let centre = edge.door_centres[divider].expect("door");
        assert!((0.85..=0.9).contains(&centre), "door centre {centre}");
        let third = EpisodeParams::sample(&get("third_hazard"), seed).expect("sample");
        assert_eq!(third.hazards.len(), 3);
        let radius = base.agent.shape.footprint_radius();
        for hazard in &third.hazards {
            assert!(!hazard.region.overlaps_disc(third.agent_start, radius));
            assert!(
                !hazard
                    .region
                    .overlaps_disc(third.goal.agent_position, radius)
            );
        }
        let purple = EpisodeParams::sample(&get("purple_hazards"), seed).expect("sample");
        let trained = EpisodeParams::sample(&base, seed).expect("sample");
        for (p, t) in purple.hazards.iter().zip(&trained.hazards) {
            assert!(
                p.colour[2] > 0.6 && t.colour[2] < 0.3,
                "{:?} {:?}",
                p.colour,
                t.colour
            );
        }
    }
}

#[test]
fn a_variant_that_no_longer_fits_its_world_names_the_operation() {
    let base = load("two_rooms");
    // The world's entries moved: the `test` guarding an index fails.
    let text = r#"{ "base": "two_rooms", "variants": [ { "name": "moved", "patch": [
        { "op": "test", "path": "/walls/0/name", "value": "divider" },
        { "op": "replace", "path": "/walls/0/door/centre", "value": [0.5, 0.5] } ] } ] }"#;
    let set = VariantSetSpec::from_json_str(text, "v.json").expect("parses");
    let err = set.worlds(&base, "v.json").expect_err("the test fails");
    let message = err.to_string();
    assert!(
        message.starts_with("v.json: $.variants[0].patch[0]"),
        "{message}"
    );
    assert!(
        message.contains("`moved`") && message.contains("/walls/0/name"),
        "{message}"
    );

    // A patched world that is not a valid world: the world's own error, naming the variant.
    let text = r#"{ "base": "two_rooms", "variants": [ { "name": "huge_door", "patch": [
        { "op": "replace", "path": "/walls/4/door/width", "value": 2.5 } ] } ] }"#;
    let set = VariantSetSpec::from_json_str(text, "v.json").expect("parses");
    let err = set.worlds(&base, "v.json").expect_err("invalid world");
    assert_eq!(err.origin, "v.json: variant `huge_door`");
    assert_eq!(err.location, "$.walls[4].door.width");

    // Variants of another world.
    let err = set
        .worlds(&load("reach"), "v.json")
        .expect_err("wrong base");
    assert_eq!(err.kind, SpecErrorKind::BadReference);
    assert!(err.message.contains("--world two_rooms"), "{}", err.message);
}

#[test]
fn malformed_variant_files_are_refused_with_the_place() {
    let cases = [
        (r#"{ "base": "two_rooms", "variants": [] }"#, "$.variants"),
        (
            r#"{ "base": "two_rooms", "variants": [ { "name": "a", "patch": [] }, { "name": "a", "patch": [] } ] }"#,
            "$.variants[1].name",
        ),
        (
            r#"{ "base": "two_rooms", "variants": [ { "name": "a b", "patch": [] } ] }"#,
            "$.variants[0].name",
        ),
        (
            r#"{ "base": "two_rooms", "variants": [ { "name": "a", "ptach": [] } ] }"#,
            "$.variants[0]",
        ),
        (
            r#"{ "base": "two_rooms", "variants": [ { "name": "a", "patch": [ { "op": "frobnicate", "path": "/x" } ] } ] }"#,
            "$.variants[0].patch",
        ),
    ];
    for (text, location) in cases {
        let err = VariantSetSpec::from_json_str(text, "v.json").expect_err(text);
        assert!(
            err.location.starts_with(location),
            "{text}: {} (wanted {location})",
            err.location
        );
    }
    let err = VariantSetSpec::from_json_file("/no/such/variants.json").expect_err("missing");
    assert_eq!(err.kind, SpecErrorKind::Io);
}

#[test]
fn a_test_of_a_number_matches_the_number_the_file_wrote() {
    let base = load("two_rooms");
    let text = r#"{ "base": "two_rooms", "variants": [ { "name": "wider", "patch": [
        { "op": "test", "path": "/walls/4/door/width", "value": 0.32 },
        { "op": "test", "path": "/walls/4/thickness", "value": 0.06 },
        { "op": "replace", "path": "/walls/4/door/width", "value": 0.5 } ] } ] }"#;
    let set = VariantSetSpec::from_json_str(text, "v.json").expect("parses");
    let worlds = set.worlds(&base, "v.json").expect("0.32 is 0.32");
    let door = worlds[0].1.walls[4].door.as_ref().expect("door");
    assert_eq!(door.width, 0.5);
}

#[test]
fn only_the_variants_asked_for_are_applied_and_errors_keep_the_files_indices() {
    let base = load("two_rooms");
    let text = r#"{ "base": "two_rooms", "variants": [
        { "name": "broken", "patch": [ { "op": "replace", "path": "/nothing/here", "value": 1 } ] },
        { "name": "wide", "patch": [ { "op": "replace", "path": "/walls/4/door/width", "value": 0.5 } ] },
        { "name": "also_broken", "patch": [ { "op": "remove", "path": "/walls/99" } ] } ] }"#;
    let set = VariantSetSpec::from_json_str(text, "v.json").expect("parses");
    let wide = set
        .worlds_named(&base, "v.json", &["wide".to_owned()])
        .expect("the broken ones are not asked for");
    assert_eq!(wide.len(), 1);
    let err = set
        .worlds_named(
            &base,
            "v.json",
            &["wide".to_owned(), "also_broken".to_owned()],
        )
        .expect_err("asked for");
    assert!(
        err.location.starts_with("$.variants[2]"),
        "{}",
        err.location
    );
    let twice = set
        .worlds_named(&base, "v.json", &["wide".to_owned(), "wide".to_owned()])
        .expect_err("twice");
    assert!(twice.message.contains("twice"), "{}", twice.message);
    let unknown = set
        .worlds_named(&base, "v.json", &["nope".to_owned()])
        .expect_err("unknown");
    assert!(
        unknown.message.contains("broken, wide, also_broken"),
        "{}",
        unknown.message
    );
}

#[test]
fn the_world_families_load_step_and_vary_per_episode() {
    let folder = world_path("reach")
        .parent()
        .expect("worlds folder")
        .join("families");
    for name in ["reach", "two_rooms", "push"] {
        let path = folder.join(format!("{name}_family.json"));
        let spec = Arc::new(sim::WorldSpec::from_json_file(&path).expect("family loads"));
        assert!(!spec.randomisation.is_empty(), "{name}: no randomisation");
        let [a, b] = [1, 2].map(|seed| EpisodeParams::sample(&spec, seed).expect("sample"));
        assert_ne!(a.light, b.light, "{name}: the light never changes");
        let mut env = Env::new(Arc::clone(&spec));
        env.reset(3).expect("reset");
        env.step(&sim::Action([0.3, 0.3])).expect("step");
    }
}

#[test]
fn material_randomisation_changes_mass_and_friction_not_the_picture() {
    let base = load("push");
    let mut heavy = (*base).clone();
    heavy.randomisation = vec![sim::RandomisationSpec::Material {
        body: "tblock".into(),
        friction: [0.5, 0.5],
        mass: [3.0, 3.0],
    }];
    heavy.validate().expect("valid");
    let (mut plain, mut changed) = (Env::new(base), Env::new(Arc::new(heavy.clone())));
    let (seen, _) = plain.reset(4).expect("reset");
    let (seen_heavy, _) = changed.reset(4).expect("reset");
    let physics = |env: &Env| {
        env.world()
            .and_then(|w| w.body_physics("tblock"))
            .expect("tblock")
    };
    let ((mass, friction), (heavy_mass, heavy_friction)) = (physics(&plain), physics(&changed));
    assert!(
        (heavy_mass / mass - 3.0).abs() < 1e-3,
        "{mass} -> {heavy_mass}"
    );
    assert!(
        (heavy_friction / friction - 0.5).abs() < 1e-4,
        "{friction} -> {heavy_friction}"
    );
    assert!(seen.rgb == seen_heavy.rgb, "the picture changed");

    // A hazard has no physics; a factor must be positive.
    let mut bad = heavy.clone();
    bad.hazards.push(sim::HazardSpec {
        name: "pit".into(),
        region: sim::RegionSpec {
            min: [-0.1, -0.1],
            max: [0.1, 0.1],
        },
        colour: [0.8, 0.2, 0.1],
    });
    bad.randomisation = vec![sim::RandomisationSpec::Material {
        body: "pit".into(),
        friction: [1.0, 1.0],
        mass: [1.0, 2.0],
    }];
    let err = bad.validate().expect_err("a hazard has no physics");
    assert_eq!(err.location, "$.randomisation[0].body", "{err}");
    assert!(err.message.contains("without physics"), "{err}");
    let mut bad = heavy;
    bad.randomisation = vec![sim::RandomisationSpec::Material {
        body: "tblock".into(),
        friction: [0.0, 1.0],
        mass: [1.0, 1.0],
    }];
    let err = bad.validate().expect_err("zero friction factor");
    assert_eq!(err.kind, SpecErrorKind::OutOfRange, "{err}");
    assert_eq!(err.location, "$.randomisation[0].friction[0]", "{err}");
}
