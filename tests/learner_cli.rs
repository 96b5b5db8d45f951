//! End-to-end tests of the learner's commands: `kennel train` (fresh, resumed, refusing to
//! overwrite), `kennel probe` and `kennel bench train`.

mod common;

use common::{assert_ok, kennel, stderr};

#[test]
fn train_resume_and_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = [
        "train", "--world", "reach", "--batch", "4", "--out", "run", "--envs", "4",
    ];
    let mut args = base.to_vec();
    args.extend(["--steps", "3"]);
    assert_ok(&kennel(&args, dir.path()));
    let run = dir.path().join("run");
    assert!(run.join("checkpoints/step-00000003/model.bpk").is_file());
    assert!(run.join("loss.png").is_file());
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .expect("metrics")
            .lines()
            .count(),
        3
    );

    // Training into a folder that holds a run needs --resume: nothing is overwritten.
    let again = kennel(&args, dir.path());
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("pass --resume"),
        "{}",
        stderr(&again)
    );

    let mut resume = base.to_vec();
    resume.extend(["--steps", "5", "--resume"]);
    assert_ok(&kennel(&resume, dir.path()));
    assert!(run.join("checkpoints/step-00000005/model.bpk").is_file());
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .expect("metrics")
            .lines()
            .count(),
        5
    );

    let wrong_world = kennel(
        &[
            "train",
            "--world",
            "two_rooms",
            "--out",
            "run",
            "--steps",
            "6",
            "--resume",
        ],
        dir.path(),
    );
    assert!(!wrong_world.status.success());
    assert!(
        stderr(&wrong_world).contains("was trained on world `reach`"),
        "{}",
        stderr(&wrong_world)
    );

    let probe = kennel(
        &[
            "probe",
            "--checkpoint",
            "run",
            "--world",
            "reach",
            "--episodes",
            "4",
            "--json",
        ],
        dir.path(),
    );
    assert_ok(&probe);
    let report: serde_json::Value = serde_json::from_slice(&probe.stdout).expect("one JSON object");
    assert!(report["r2"]["agent_position"].is_f64());
    assert!(report["open_loop"]["10"]["model"].is_f64());
    assert!(report["open_loop"]["10"]["same_latent"].is_f64());
    assert!(report["open_loop"]["10"]["random_actions"].is_f64());
    assert!(report["effective_rank"].as_f64().is_some_and(|r| r >= 1.0));
    assert!(report["latent_spearman"].is_f64());
    assert!(
        report["checkpoint"]
            .as_str()
            .is_some_and(|c| c.ends_with("step-00000005"))
    );

    let missing = kennel(&["probe", "--checkpoint", "nowhere"], dir.path());
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no such file or folder"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn bench_train_prints_both_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kennel(
        &["bench", "train", "--repeats", "1", "--batch", "4", "--json"],
        dir.path(),
    );
    assert_ok(&output);
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert!(
        report["planner"][0]["decision_ms_p50"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    );
    for model in ["default", "reference"] {
        for key in ["train_step_ms", "encode_ms_b64", "predict_ms_b512"] {
            let value = report[model][key]
                .as_f64()
                .unwrap_or_else(|| panic!("{model}.{key}"));
            assert!(value > 0.0 && value.is_finite());
        }
    }
    assert!(
        report["default"]["score_pool4_ms"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    );
    assert!(report["reference"]["score_pool4_ms"].is_null());
}
