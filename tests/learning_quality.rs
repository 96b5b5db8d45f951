//! The learner's quality targets on two_rooms (issue 3), checked by a real 10-minute training
//! run. Slow, so ignored by default; run it with
//! `cargo test --release --test learning_quality -- --ignored --nocapture`.

mod common;

use common::kennel;

#[test]
#[ignore = "trains for 10 minutes"]
fn ten_minutes_of_two_rooms_meet_the_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let train = kennel(
        &[
            "train",
            "--world",
            "two_rooms",
            "--minutes",
            "10",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let probe = kennel(
        &[
            "probe",
            "--checkpoint",
            "run",
            "--world",
            "two_rooms",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&probe.stdout).expect("json");
    println!("{report:#}");
    let r2 = report["r2"]["agent_position"].as_f64().expect("r2");
    assert!(r2 >= 0.9, "agent-position R² {r2} < 0.9");
    let row = &report["open_loop"]["10"];
    let (model, same) = (
        row["model"].as_f64().expect("model"),
        row["same_latent"].as_f64().expect("same"),
    );
    assert!(
        model <= 0.5 * same,
        "10-step open-loop error {model} > 0.5 × {same}"
    );
    assert!(model < row["random_actions"].as_f64().expect("random"));
    let rank = report["effective_rank"].as_f64().expect("rank");
    let dim = report["latent_dim"].as_f64().expect("dim");
    assert!(rank >= 0.25 * dim, "effective rank {rank} < 25% of {dim}");
}
