//! End-to-end tests of the planning commands on a tiny budget: `kennel demo` runs the closed
//! loop and writes its report, plots and filmstrip; `kennel eval` evaluates the demo's
//! checkpoint with the reference rows and prints the documented JSON keys; bad input gets a
//! clear error.

mod common;

use common::{assert_ok, kennel, stderr, stdout};

const FAST: [&str; 12] = [
    "--fit-episodes",
    "3",
    "--practice-critic-steps",
    "200",
    "--predictor-fit-steps",
    "30",
    "--practice-predictor-fit-steps",
    "10",
    "--diagnostic-episodes",
    "2",
    "--samples",
    "16",
];

#[test]
fn demo_then_eval_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = vec![
        "demo",
        "--world",
        "reach",
        "--minutes",
        "0.3",
        "--explore-fraction",
        "0.5",
        "--eval-episodes",
        "2",
        "--envs",
        "4",
        "--out",
        "run",
    ];
    demo.extend(FAST);
    let output = kennel(&demo, dir.path());
    assert_ok(&output);
    let text = stdout(&output);
    for row in ["learned", "no_critic", "no_guardrail", "random", "oracle"] {
        assert!(text.contains(row), "no {row} row in:\n{text}");
    }
    let run = dir.path().join("run");
    for file in ["report.json", "loss.png", "success.png", "filmstrip.png"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).expect("report"))
            .expect("report is JSON");
    assert_eq!(report["world"], "reach");
    assert!(report["learner"]["steps"].as_u64().is_some());
    assert!(report["eval"]["success_rate"].as_f64().is_some());
    assert!(report["practice"].is_array());
    // The defaults: the learner's episode context and the quasimetric critic.
    assert_eq!(report["learner"]["context_dims"], 4);
    assert_eq!(report["critic"], "quasimetric");
    // The landmarks are saved with the critic; the graph through them is opt-in. The search
    // through the recorded exploration is on by default, its frames saved with the critic.
    assert!(report["landmark_graph"].is_null());
    assert_eq!(report["replay_graph"]["episodes_per_goal"], 40);
    assert!(
        report["replay_graph"]["frames"].as_u64().expect("frames") > 10,
        "{}",
        report["replay_graph"]
    );
    let checkpoint = report["learner"]["checkpoint"]
        .as_str()
        .expect("checkpoint");
    assert!(
        dir.path()
            .join(checkpoint)
            .join("cost_models/critic.bpk")
            .is_file(),
        "the critic is saved beside the weights"
    );
    assert!(
        dir.path()
            .join(checkpoint)
            .join("cost_models/landmarks.bin")
            .is_file(),
        "the landmarks are saved with the critic"
    );
    assert!(
        dir.path()
            .join(checkpoint)
            .join("cost_models/replay.bin")
            .is_file(),
        "the recorded exploration is saved with the critic"
    );
    // The predictor is refitted with the cost models (rollouts as long as the horizon), saved
    // beside them, and its held-out error reported.
    let refit = &report["cost_models"]["predictor"];
    assert_eq!(refit["steps"], 30, "{refit}");
    assert_eq!(refit["rollout_steps"], 15, "{refit}");
    assert_eq!(
        refit["held_out_error_after"].as_array().map(Vec::len),
        Some(15),
        "{refit}"
    );
    assert!(
        dir.path()
            .join(checkpoint)
            .join("cost_models/predictor.bpk")
            .is_file(),
        "the refitted predictor is saved with the critic"
    );

    // A second demo into the same folder is refused: nothing is overwritten.
    let again = kennel(&demo, dir.path());
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already holds a run"),
        "{}",
        stderr(&again)
    );

    // `kennel eval` on the run folder (its latest checkpoint, whose cost models exist).
    let base = [
        "eval",
        "--world",
        "reach",
        "--checkpoint",
        "run",
        "--episodes",
        "2",
        "--seeds",
        "3,4",
    ];
    let mut eval = base.to_vec();
    eval.extend([
        "--json",
        "--landmark-edge-steps",
        "4",
        "--replay-graph-episodes",
        "0",
    ]);
    eval.extend(FAST);
    let output = kennel(&eval, dir.path());
    assert_ok(&output);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("eval JSON");
    for key in [
        "success_rate",
        "success_ci95",
        "mean_steps_to_success",
        "hazard_entries",
        "plan_ms_p50",
        "plan_ms_p99",
        "cost_spearman",
    ] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
        for row in ["random", "oracle", "no_critic"] {
            assert!(json[row].get(key).is_some(), "no {row}.{key} in {json}");
        }
    }
    assert_eq!(json["success_ci95"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["oracle"]["cost_spearman"], 1.0);
    assert!(json["plan_ms_p99"].as_f64().expect("p99") > 0.0);
    // The landmark graph over the saved landmarks, as asked, and no replay graph.
    assert!(json["replay_graph"].is_null(), "{}", json["replay_graph"]);
    assert_eq!(json["landmark_graph"]["edge_steps"], 4.0);
    assert!(
        json["landmark_graph"]["landmarks"]
            .as_u64()
            .expect("landmarks")
            > 10,
        "{}",
        json["landmark_graph"]
    );

    // Without a deadline the search does not depend on timing: two evaluations agree.
    let mut repeatable = base.to_vec();
    repeatable.extend(["--json", "--no-baselines", "--deadline-ms", "0"]);
    repeatable.extend(FAST);
    let outcomes: Vec<serde_json::Value> = (0..2)
        .map(|_| {
            let output = kennel(&repeatable, dir.path());
            assert_ok(&output);
            let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
            serde_json::json!([
                json["success_rate"],
                json["env_steps"],
                json["hazard_entries"]
            ])
        })
        .collect();
    assert_eq!(outcomes[0], outcomes[1]);

    // MPPI instead of CEM, named in the budget line.
    let mut mppi = base.to_vec();
    mppi.extend(["--no-baselines", "--method", "mppi"]);
    mppi.extend(FAST);
    let output = kennel(&mppi, dir.path());
    assert_ok(&output);
    assert!(
        stdout(&output).contains("learned planner: MPPI 16 samples"),
        "{}",
        stdout(&output)
    );

    // The saved critic is a quasimetric one (the default): asking for a hindsight critic says
    // so instead of silently evaluating the other kind.
    let mut hindsight = base.to_vec();
    hindsight.extend(["--critic", "hindsight"]);
    hindsight.extend(FAST);
    let output = kennel(&hindsight, dir.path());
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(
            "holds a quasimetric critic but a hindsight one was asked for; pass --critic quasimetric"
        ),
        "{}",
        stderr(&output)
    );

    // The learned planner records expert data; its episodes do not depend on the parallelism
    // either (no deadline: every decision runs the full search).
    let record = |out: &str, envs: &str, threads: &str| {
        let mut args = vec![
            "rollout",
            "--world",
            "reach",
            "--policy",
            "planner:run",
            "--episodes",
            "3",
            "--seed",
            "5",
            "--quiet",
            "--out",
            out,
            "--envs",
            envs,
            "--threads",
            threads,
        ];
        args.extend(FAST);
        let output = kennel(&args, dir.path());
        assert_ok(&output);
        std::fs::read(dir.path().join(out).join("manifest.json")).expect("manifest")
    };
    let one = record("expert1", "1", "1");
    let two = record("expert2", "3", "2");
    assert_eq!(one, two, "planner episodes depend on --envs or --threads");
    let manifest: serde_json::Value = serde_json::from_slice(&one).expect("manifest JSON");
    assert_eq!(manifest["policy"]["name"], "planner:run");
    assert_eq!(
        manifest["policy"]["sha256"].as_str().map(str::len),
        Some(64),
        "{}",
        manifest["policy"]
    );
    assert_eq!(manifest["counts"]["episodes"], 3);
    // The planner's settings are part of its identity.
    assert_eq!(
        manifest["policy"]["config"]["samples"], 16,
        "{}",
        manifest["policy"]
    );
}

#[test]
fn eval_explains_a_missing_checkpoint_and_bad_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kennel(
        &["eval", "--world", "reach", "--checkpoint", "nowhere"],
        dir.path(),
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("nowhere"), "{err}");
    assert!(err.contains("--checkpoint"), "{err}");

    let output = kennel(
        &["demo", "--world", "reach", "--minutes", "0", "--out", "x"],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--minutes"), "{}", stderr(&output));
    assert!(
        !dir.path().join("x").exists(),
        "nothing written on bad flags"
    );

    // Hard-sequence selection would split the episode context's pairs: the fix is named.
    let output = kennel(
        &[
            "demo",
            "--world",
            "reach",
            "--sequence-pool",
            "2",
            "--out",
            "x",
        ],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("add --context-dims 0"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("x").exists());
}

/// Drops what depends on timing (and the run folder's name) from a report, so that two runs
/// can be compared: wall times, latencies and paths.
fn without_timings(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            for key in [
                "timings_s",
                "minutes",
                "seconds",
                "plan_ms_p50",
                "plan_ms_p99",
                "checkpoint",
                "files",
            ] {
                object.remove(key);
            }
            object.values_mut().for_each(without_timings);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_timings),
        _ => {}
    }
}

#[test]
fn a_lockstep_demo_gives_the_same_report_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut reports = Vec::new();
    for run in ["first", "second"] {
        let mut demo = vec![
            "demo",
            "--world",
            "reach",
            "--learner-steps",
            "24",
            "--explore-fraction",
            "0.5",
            "--eval-episodes",
            "2",
            "--no-baselines",
            "--envs",
            "4",
            "--critic-steps",
            "200",
            "--out",
            run,
        ];
        demo.extend(FAST);
        let output = kennel(&demo, dir.path());
        assert_ok(&output);
        let text =
            std::fs::read_to_string(dir.path().join(run).join("report.json")).expect("report.json");
        let mut report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(report["learner"]["steps"], 24, "{}", report["learner"]);
        assert_eq!(report["clock"], "Lockstep");
        // Syncs at steps 12 and 20: one practice episode each, both learned from.
        assert_eq!(
            report["practice"].as_array().map(Vec::len),
            Some(2),
            "{}",
            report["practice"]
        );
        assert_eq!(report["learner"]["practice_episodes_learned_from"], 2);
        without_timings(&mut report);
        reports.push(report);
    }
    assert_eq!(
        reports[0], reports[1],
        "two lockstep runs of one seed differ beyond their timings"
    );
}

#[test]
fn a_seed_grid_evaluates_every_seed_on_the_variants_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_args = "--explore-fraction 0.5 --eval-episodes 1 --envs 4 --critic-steps 200 \
        --practice-critic-steps 200 --fit-episodes 3 --predictor-fit-steps 30 \
        --practice-predictor-fit-steps 10 --diagnostic-episodes 2 --samples 16";
    let grid = [
        "grid",
        "--world",
        "reach",
        "--seeds",
        "0,1",
        "--learner-steps",
        "24",
        "--episodes",
        "2",
        "--variant-episodes",
        "1",
        "--only",
        "pit_elsewhere,purple_hazard",
        "--demo-args",
        demo_args,
        "--eval-args",
        "--diagnostic-episodes 2 --samples 16",
        "--out",
        "grid",
    ];
    let output = kennel(&grid, dir.path());
    assert_ok(&output);
    let text = stdout(&output);
    for row in [
        "in-distribution",
        "pit_elsewhere",
        "purple_hazard",
        "practice success",
    ] {
        assert!(text.contains(row), "no {row} in:\n{text}");
    }
    let path = dir.path().join("grid/grid.json");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("grid.json")).expect("JSON");
    assert_eq!(report["seeds"], serde_json::json!([0, 1]));
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0]["name"], "in-distribution");
    assert_eq!(rows[2]["reach"], "far");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["success"]["values"].as_array().map(Vec::len), Some(2));
        // Two seeds: 2 episodes each on the world, 1 on each variant.
        assert_eq!(row["episodes"], if i == 0 { 4 } else { 2 }, "{row}");
        let mean = row["success"]["mean"].as_f64().expect("mean");
        let [lo, hi] = [0, 1].map(|i| row["success"]["ci95"][i].as_f64().expect("ci"));
        assert!(lo <= mean && mean <= hi, "{row}");
    }
    // Each seed's variant table is kept beside its run.
    let seed1 = dir.path().join("grid/seed-1/variants.json");
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&seed1).expect("variants.json"))
            .expect("JSON");
    assert_eq!(table["variants"][1]["name"], "pit_elsewhere");
    assert!(table["variants"][0]["learned"]["unsure_decisions"].is_u64());

    // Again: nothing is redone; without seed 1's evaluation, only that is.
    let again = kennel(&grid, dir.path());
    assert_ok(&again);
    // Two seeds, each a demo and an evaluation already done.
    assert_eq!(
        stderr(&again).matches("skipping").count(),
        4,
        "{}",
        stderr(&again)
    );
    assert!(
        !stderr(&again).contains("kennel eval"),
        "{}",
        stderr(&again)
    );
    std::fs::remove_file(&seed1).expect("remove");
    let resumed = kennel(&grid, dir.path());
    assert_ok(&resumed);
    let log = stderr(&resumed);
    assert!(log.contains("seed 1: kennel eval"), "{log}");
    assert!(!log.contains("seed 0: kennel eval"), "{log}");

    // Bad input: a variant the file does not have, before any demo runs.
    let bad = kennel(
        &["grid", "--world", "reach", "--only", "nope", "--out", "bad"],
        dir.path(),
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("no variant `nope`"),
        "{}",
        stderr(&bad)
    );
    assert!(!dir.path().join("bad").exists());
}
