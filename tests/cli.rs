//! End-to-end tests of the `kennel` binary: every subcommand runs from the command line,
//! writes what it promises, and fails with a clear message and a non-zero exit on bad input.

mod common;

use common::{assert_ok, kennel, stderr, stdout};

#[test]
fn every_subcommand_has_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["--help"],
        vec!["worlds", "--help"],
        vec!["worlds", "list", "--help"],
        vec!["worlds", "schema", "--help"],
        vec!["worlds", "validate", "--help"],
        vec!["render", "--help"],
        vec!["rollout", "--help"],
        vec!["bench", "--help"],
        vec!["bench", "sim", "--help"],
    ] {
        let output = kennel(&args, dir.path());
        assert_ok(&output);
        assert!(stdout(&output).contains("Usage"), "{args:?}");
    }
}

#[test]
fn worlds_list_schema_and_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = kennel(&["worlds", "list"], dir.path());
    assert_ok(&list);
    for name in ["reach", "two_rooms", "push", "playground"] {
        assert!(stdout(&list).contains(name));
    }
    let schema = kennel(&["worlds", "schema"], dir.path());
    assert_ok(&schema);
    let schema: serde_json::Value = serde_json::from_str(&stdout(&schema)).expect("schema is JSON");
    assert!(schema["properties"]["schema_version"].is_object());

    let repo = common::manifest_dir();
    let good = repo.join("worlds/two_rooms.json");
    let ok = kennel(
        &["worlds", "validate", good.to_str().expect("path"), "reach"],
        dir.path(),
    );
    assert_ok(&ok);

    let bad = dir.path().join("bad.json");
    let text = std::fs::read_to_string(&good).expect("read");
    std::fs::write(
        &bad,
        text.replace("\"thickness\": 0.06", "\"thickness\": -1"),
    )
    .expect("write");
    let output = kennel(&["worlds", "validate", "bad.json"], dir.path());
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("bad.json: $.walls[0].thickness"), "{text}");
    assert!(stderr(&output).contains("1 of 1 world files are invalid"));
}

#[test]
fn render_writes_a_png_of_the_asked_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (world, extra) in [
        ("two_rooms", vec![]),
        ("push", vec!["--goal"]),
        ("playground", vec!["--steps", "10"]),
    ] {
        let mut args = vec![
            "render", "--world", world, "--seed", "3", "--out", "f.png", "--size", "80",
        ];
        args.extend(extra);
        assert_ok(&kennel(&args, dir.path()));
        let image = image::open(dir.path().join("f.png")).expect("png");
        assert_eq!((image.width(), image.height()), (80, 80));
    }
    let output = kennel(&["render", "--world", "nowhere"], dir.path());
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("shipped worlds: reach"),
        "{}",
        stderr(&output)
    );
    let output = kennel(&["render", "--size", "4096"], dir.path());
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--size"));
}

#[test]
fn bench_sim_prints_json_with_the_promised_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kennel(
        &[
            "bench",
            "sim",
            "--world",
            "two_rooms",
            "--repeats",
            "1",
            "--env-steps",
            "200",
            "--envs",
            "4",
            "--json",
        ],
        dir.path(),
    );
    assert_ok(&output);
    let report: serde_json::Value =
        serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    for key in [
        "physics_steps_per_s",
        "render_us_per_frame_64",
        "render_us_per_frame_128",
        "pixel_env_steps_per_s_1_thread",
        "pixel_env_steps_per_s_all_threads",
    ] {
        let value = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(value.is_finite() && value > 0.0, "{key} = {value}");
    }
    let table = kennel(
        &[
            "bench",
            "sim",
            "--repeats",
            "1",
            "--env-steps",
            "100",
            "--envs",
            "2",
        ],
        dir.path(),
    );
    assert_ok(&table);
    assert!(stdout(&table).contains("pixel env steps/s, 1 thread"));
}

#[test]
fn unknown_flags_fail_with_usage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kennel(&["render", "--colour", "red"], dir.path());
    assert!(!output.status.success());
    assert!(stderr(&output).contains("unexpected argument '--colour'"));
}
