//! Guards the world-file contract (DESIGN decision 4): every shipped world loads, builds and
//! steps; every class of bad input gives one error naming the file, the JSON path and what was
//! expected — never a panic.

mod common;

use std::sync::Arc;

use common::{WORLDS, load, scripted_action, world_path};
use serde_json::{Value, json};
use sim::{Env, SpecError, SpecErrorKind, WorldSpec};

#[test]
fn every_shipped_world_loads_builds_and_steps() {
    let folder = world_path("reach")
        .parent()
        .expect("worlds folder")
        .to_owned();
    let mut found = 0;
    for entry in std::fs::read_dir(&folder).expect("read worlds/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            found += 1;
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("name")
                .to_owned();
            assert!(
                WORLDS.contains(&name.as_str()),
                "{name} is not covered by the tests' list"
            );
            let spec = Arc::new(WorldSpec::from_json_file(&path).unwrap_or_else(|e| panic!("{e}")));
            let mut env = Env::new(Arc::clone(&spec));
            let (obs, info) = env.reset(0).expect("reset");
            assert_eq!(
                obs.rgb.rgb.len(),
                (obs.rgb.width * obs.rgb.height * 3) as usize
            );
            assert!(!info.in_hazard, "{name}: start inside a hazard");
            for t in 0..50 {
                let step = env.step(&scripted_action(t)).expect("step");
                assert!(
                    step.obs.state.iter().all(|v| v.is_finite()),
                    "{name}: non-finite state"
                );
            }
        }
    }
    assert_eq!(found, WORLDS.len());
}

fn base() -> Value {
    serde_json::from_str(&std::fs::read_to_string(world_path("two_rooms")).expect("read"))
        .expect("json")
}

fn load_value(value: &Value) -> Result<WorldSpec, SpecError> {
    WorldSpec::from_json_str(&value.to_string(), "test.json")
}

/// Applies `edit` to the two_rooms world and expects an error of `kind` whose location
/// contains `location` and whose message contains `message`.
#[track_caller]
fn expect_error(edit: impl FnOnce(&mut Value), kind: SpecErrorKind, location: &str, message: &str) {
    let mut value = base();
    edit(&mut value);
    match load_value(&value) {
        Ok(_) => panic!("expected an error at {location}"),
        Err(err) => {
            let text = err.to_string();
            assert_eq!(err.kind, kind, "{text}");
            assert!(text.starts_with("test.json: "), "{text}");
            assert!(err.location.contains(location), "location of: {text}");
            assert!(err.message.contains(message), "message of: {text}");
        }
    }
}

#[test]
fn shipped_world_round_trips_through_json() {
    let spec = load("push");
    let again = WorldSpec::from_json_str(&spec.to_json_pretty(), "again").expect("round trip");
    assert_eq!(*spec, again);
}

#[test]
fn missing_file_names_the_path() {
    let err = WorldSpec::from_json_file("no/such/world.json").expect_err("missing");
    assert_eq!(err.kind, SpecErrorKind::Io);
    assert!(err.to_string().contains("no/such/world.json"), "{err}");
}

#[test]
fn bad_json_gives_line_and_column() {
    let err = WorldSpec::from_json_str("{\n  \"schema_version\": 1,\n  oops\n}", "bad.json")
        .expect_err("syntax");
    assert_eq!(err.kind, SpecErrorKind::Syntax);
    assert!(err.location.contains("line 3"), "{err}");
}

#[test]
fn unknown_field_is_named_with_its_path() {
    expect_error(
        |v| v["agent"]["colour"] = json!([1, 0, 0]),
        SpecErrorKind::UnknownField,
        "$.agent.colour",
        "unknown field `colour`",
    );
    expect_error(
        |v| v["walls"][4]["door"]["widht"] = json!(0.3),
        SpecErrorKind::UnknownField,
        "$.walls[4].door.widht",
        "unknown field",
    );
}

#[test]
fn unknown_shape_type_is_rejected() {
    expect_error(
        |v| v["agent"]["shape"] = json!({"type": "torus", "radius": 1.0}),
        SpecErrorKind::UnknownField,
        "$.agent.shape",
        "unknown variant `torus`",
    );
}

#[test]
fn wrong_type_is_named_with_its_path() {
    expect_error(
        |v| v["task"]["episode_steps"] = json!("long"),
        SpecErrorKind::WrongType,
        "$.task.episode_steps",
        "invalid type",
    );
}

#[test]
fn missing_field_is_named() {
    // A top-level field is missing from the document, `$` (the fuzzer found this location
    // gave only a line and column).
    expect_error(
        |v| {
            v.as_object_mut().expect("object").remove("arena");
        },
        SpecErrorKind::MissingField,
        "$ (line",
        "missing field `arena`",
    );
    expect_error(
        |v| {
            v["agent"].as_object_mut().expect("object").remove("shape");
        },
        SpecErrorKind::MissingField,
        "$.agent (line",
        "missing field `shape`",
    );
}

#[test]
fn a_document_of_the_wrong_type_is_named_at_the_root() {
    for text in ["[]", "null", "3"] {
        let err = WorldSpec::from_json_str(text, "root.json").expect_err("not an object");
        assert_eq!(err.kind, SpecErrorKind::WrongType, "{err}");
        assert!(err.location.starts_with("$ (line 1"), "{err}");
    }
}

#[test]
fn bad_json_inside_a_tagged_shape_names_the_shape() {
    // Found by the fuzzer: the path ran into serde's buffered enum content and ended in `?`
    // (`$.agent.actuator.?`); it now stops at the last step it can name.
    let mut value = base();
    value["agent"]["actuator"] = json!({"type": "target_velocity", "max_speed": 1.0});
    let text = value
        .to_string()
        .replace("\"max_speed\":1.0", "\"max_speed\":1.0[");
    let err = WorldSpec::from_json_str(&text, "bad.json").expect_err("syntax");
    assert_eq!(err.kind, SpecErrorKind::Syntax, "{err}");
    assert!(
        err.location
            .starts_with("$.agent.actuator (line 1, column "),
        "{err}"
    );
}

#[test]
fn keys_that_are_not_identifiers_are_quoted_in_paths() {
    expect_error(
        |v| v["agent"]["a b"] = json!(1),
        SpecErrorKind::UnknownField,
        "$.agent[\"a b\"] (line",
        "unknown field `a b`",
    );
    expect_error(
        |v| v["light"][""] = json!(1),
        SpecErrorKind::UnknownField,
        "$.light[\"\"] (line",
        "unknown field ``",
    );
}

#[test]
fn valid_json_of_the_wrong_shape_is_not_called_a_syntax_error() {
    // Found by the fuzzer: serde_json reports these as syntax errors ("not valid JSON:
    // trailing characters", "... expected value") though the text is JSON.
    expect_error(
        |v| v["bodies"][0]["position"] = json!([0, 0, 0, 0]),
        SpecErrorKind::WrongType,
        "$.bodies[0].position (line",
        "more elements than this field takes",
    );
    for kind in [json!(null), json!(1), json!([]), json!({})] {
        expect_error(
            |v| v["bodies"][0]["kind"] = kind,
            SpecErrorKind::WrongType,
            "$.bodies[0].kind (line",
            "wrong type",
        );
    }
}

#[test]
fn non_positive_sizes_are_out_of_range() {
    expect_error(
        |v| v["agent"]["shape"]["radius"] = json!(-0.1),
        SpecErrorKind::OutOfRange,
        "$.agent.shape.radius",
        "positive",
    );
    expect_error(
        |v| v["bodies"][0]["material"]["density"] = json!(0.0),
        SpecErrorKind::OutOfRange,
        "$.bodies[0].material.density",
        "positive",
    );
    expect_error(
        |v| v["walls"][0]["thickness"] = json!(0.0),
        SpecErrorKind::OutOfRange,
        "$.walls[0].thickness",
        "positive",
    );
}

#[test]
fn absurd_sizes_and_distances_are_out_of_range() {
    // Found by the fuzzer: these loaded, then Rapier's contact query (parry's EPA) panicked
    // with "index out of bounds: the len is 2 but the index is 2" on the first steps.
    expect_error(
        |v| v["walls"][2]["thickness"] = json!(1e30),
        SpecErrorKind::OutOfRange,
        "$.walls[2].thickness",
        "at most 1000 m",
    );
    expect_error(
        |v| v["agent"]["shape"] = json!({"type": "cylinder", "radius": 0.08, "half_height": 1e19}),
        SpecErrorKind::OutOfRange,
        "$.agent.shape.half_height",
        "at most 1000 m",
    );
    expect_error(
        |v| v["bodies"][0]["shapes"][0]["shape"]["half_extents"] = json!([3.4e38, 1.0]),
        SpecErrorKind::OutOfRange,
        "$.bodies[0].shapes[0].shape.half_extents[0]",
        "at most 1000 m",
    );
    expect_error(
        |v| v["arena"]["half_extents"] = json!([1e6, 1.0]),
        SpecErrorKind::OutOfRange,
        "$.arena.half_extents[0]",
        "at most 1000 m",
    );
    // Positions stay within a kilometre of the origin, where f32 still resolves 0.1 mm.
    expect_error(
        |v| v["walls"][0]["to"] = json!([1e30, -1.0]),
        SpecErrorKind::OutOfRange,
        "$.walls[0].to",
        "within ±1000 m",
    );
    expect_error(
        |v| v["bodies"][0]["position"] = json!([0, 0, -2000]),
        SpecErrorKind::OutOfRange,
        "$.bodies[0].position",
        "within ±1000 m",
    );
}

#[test]
fn a_huge_scale_is_out_of_range() {
    // A box scaled by 1e30 made Rapier panic like the sizes above.
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(world_path("playground")).expect("read"))
            .expect("json");
    value["randomisation"] = json!([{"type": "scale", "body": "crate_1", "range": [1.0, 1e30]}]);
    let err = load_value(&value).expect_err("too large");
    assert_eq!(err.kind, SpecErrorKind::OutOfRange, "{err}");
    assert_eq!(err.location, "$.randomisation[0].range[1]", "{err}");
    assert!(err.message.contains("at most 100"), "{err}");
}

#[test]
fn resolution_must_be_between_1_and_1024() {
    for bad in [0, 1025] {
        expect_error(
            |v| {
                v["cameras"] = json!([{"position": [0, 0, 3], "look_at": [0, 0, 0], "width": bad}]);
            },
            SpecErrorKind::OutOfRange,
            "$.cameras[0].width",
            "1..=1024",
        );
    }
}

#[test]
fn camera_looking_at_nothing_is_rejected() {
    expect_error(
        |v| v["cameras"] = json!([{"position": [0, 0, 3], "look_at": [0, 0, 3]}]),
        SpecErrorKind::OutOfRange,
        "$.cameras[0].look_at",
        "looks at nothing",
    );
    expect_error(
        |v| v["cameras"] = json!([{"position": [0, 0, 3], "look_at": [0, 0, 6], "up": [0, 1, 0]}]),
        SpecErrorKind::OutOfRange,
        "$.cameras[0]",
        "looks at nothing",
    );
}

#[test]
fn door_wider_than_its_wall_is_rejected() {
    expect_error(
        |v| v["walls"][4]["door"]["width"] = json!(2.5),
        SpecErrorKind::OutOfRange,
        "$.walls[4].door.width",
        "narrower than its wall",
    );
}

#[test]
fn regions_must_lie_in_the_arena() {
    expect_error(
        |v| v["task"]["start_regions"][0]["max"] = json!([5.0, 0.5]),
        SpecErrorKind::OutOfRange,
        "$.task.start_regions[0]",
        "leaves the arena",
    );
}

#[test]
fn other_schema_versions_are_refused() {
    expect_error(
        |v| v["schema_version"] = json!(2),
        SpecErrorKind::UnsupportedVersion,
        "$.schema_version",
        "reads schema_version 1",
    );
}

#[test]
fn bad_references_and_duplicate_names_are_rejected() {
    expect_error(
        |v| v["randomisation"] = json!([{"type": "yaw", "body": "ghost", "range_deg": [0, 10]}]),
        SpecErrorKind::BadReference,
        "$.randomisation[0].body",
        "`ghost`",
    );
    expect_error(
        |v| v["walls"][1]["name"] = json!("wall_south"),
        SpecErrorKind::BadReference,
        "$.walls[1].name",
        "used twice",
    );
}

#[test]
fn schema_is_generated_and_lists_the_fields() {
    let schema = sim::world_schema();
    let text = schema.to_string();
    for field in [
        "schema_version",
        "hazards",
        "randomisation",
        "action_repeat",
        "door",
    ] {
        assert!(text.contains(field), "schema lacks {field}");
    }
}
