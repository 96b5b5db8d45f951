//! The desktop app, live, under a virtual display (`xvfb-run`, Mesa's CPU Vulkan driver):
//! a screenshot that shows the world and the agent's eye, and scripted input that sets a goal
//! and drives the agent. CI installs `xvfb` and `mesa-vulkan-drivers` (see `.ci/run`).
#![cfg(feature = "desktop")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{assert_ok, stderr};

/// Runs `kennel view` on two_rooms (two simulator environments, run folder `run`, report
/// `report.json`) with `args`, in `dir`, under a 1280×720 virtual display.
fn view_under_xvfb(args: &[&str], dir: &Path) -> Output {
    let found = Command::new("xvfb-run").arg("--help").output();
    assert!(
        found.is_ok(),
        "xvfb-run is missing: the desktop app's tests need a virtual display (Debian: apt-get install xvfb mesa-vulkan-drivers; .ci/run installs them)"
    );
    Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x720x24"])
        .arg(env!("CARGO_BIN_EXE_kennel"))
        .arg("view")
        .args(["--world", "two_rooms", "--envs", "2", "--out", "run"])
        .args(["--report", "report.json"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run xvfb-run kennel view")
}

fn report(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the app wrote its report");
    serde_json::from_str(&text).expect("the report is JSON")
}

/// Pixels of the agent's blue (`[0.12, 0.32, 0.92]` in two_rooms, lit or not) in a region.
fn blue_pixels(image: &image::RgbImage, rect: [f64; 4]) -> usize {
    let [x0, y0, x1, y1] = rect.map(|v| v.max(0.0) as u32);
    let (x1, y1) = (x1.min(image.width()), y1.min(image.height()));
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let [r, g, b] = image.get_pixel(x, y).0.map(u32::from);
            if b > 90 && b > 2 * r && 2 * b > 3 * g {
                n += 1;
            }
        }
    }
    n
}

fn rect_of(report: &serde_json::Value, name: &str) -> [f64; 4] {
    let rects = report["panel_rects"].as_array().expect("panel rects");
    let found = rects
        .iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no {name} section in {rects:?}"));
    let v: Vec<f64> = found[1]
        .as_array()
        .expect("a rect")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect();
    [v[0], v[1], v[2], v[3]]
}

#[test]
fn the_app_shows_the_world_and_the_agents_eye() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = view_under_xvfb(&["--frames", "120", "--screenshot", "shot.png"], dir.path());
    assert_ok(&out);
    let report = report(&dir.path().join("report.json"));
    assert!(
        report["session_frames"].as_u64().unwrap_or(0) > 0,
        "no frame from the session in 120 app frames: {report}"
    );
    let shot = image::open(dir.path().join("shot.png"))
        .expect("the screenshot is a PNG")
        .to_rgb8();
    assert_eq!(
        (shot.width(), shot.height()),
        (1280, 720),
        "the whole window"
    );
    // Not blank: many colours, and a spread of brightness.
    let mut colours = std::collections::HashSet::new();
    for p in shot.pixels() {
        colours.insert(p.0.map(|c| c >> 3));
    }
    assert!(
        colours.len() > 200,
        "only {} colours: blank?",
        colours.len()
    );
    let view = rect_of(&report, "3d");
    let eye = rect_of(&report, "eye");
    let in_view = blue_pixels(&shot, view);
    let in_eye = blue_pixels(&shot, eye);
    assert!(
        in_view >= 30,
        "the agent's blue is not in the 3D view ({in_view} pixels)"
    );
    assert!(
        in_eye >= 30,
        "the agent's blue is not in the agent's-eye panel ({in_eye} pixels)"
    );
    // One crop per panel beside the screenshot.
    for name in ["3d", "eye", "learner", "plan", "episode", "toolbar"] {
        let crop = dir.path().join(format!("shot-{name}.png"));
        assert!(crop.is_file(), "no {} ({})", crop.display(), stderr(&out));
    }
}

#[test]
fn scripted_input_sets_a_goal_and_drives_the_agent() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A click in the upper left of the 3D view (the camera looks north from the south, so the
    // floor there is at x < 0, y > 0), then the camera's right (D: +x) held.
    std::fs::write(
        dir.path().join("script.json"),
        r#"[{"at_frame": 5, "click": [300, 250]}, {"at_frame": 15, "hold": "D", "for_frames": 60}]"#,
    )
    .expect("write the script");
    let out = view_under_xvfb(&["--frames", "240", "--script", "script.json"], dir.path());
    assert_ok(&out);
    let report = report(&dir.path().join("report.json"));
    assert_eq!(report["goals_set"], 1, "{report}");
    let asked = report["goal_asked"]
        .as_array()
        .expect("a goal was asked for");
    let (x, y) = (asked[0].as_f64().unwrap(), asked[1].as_f64().unwrap());
    assert!(
        x < 0.0 && y > 0.0,
        "the click hit the floor at ({x:.2}, {y:.2}), not up and left: {report}"
    );
    assert_eq!(
        report["goal_taken"], true,
        "no frame carried the clicked goal: {report}"
    );
    assert!(
        report["goal_images"].as_u64().unwrap_or(0) >= 2,
        "no new goal image: {report}"
    );
    let steps = report["teleop_steps"].as_u64().unwrap_or(0);
    let progress = report["teleop_progress"].as_f64().unwrap_or(0.0);
    assert!(steps >= 5, "only {steps} steps driven by hand: {report}");
    // Full speed is 8 cm a step, but the arena is 2 m wide: held for 60 steps, the agent
    // reaches the east wall and stays there (a run measured 4.9 cm a step).
    assert!(
        progress > 0.03 * steps as f64,
        "the agent did not move where it was driven: {progress:.3} m over {steps} steps ({report})"
    );
}

/// Runs `command` in a fresh folder, checks that it fails and returns what it said.
fn refusal(command: &mut Command) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = command
        .current_dir(dir.path())
        .output()
        .expect("run kennel view");
    assert!(!out.status.success(), "it did not fail: {}", stderr(&out));
    stderr(&out)
}

#[test]
fn without_a_display_the_app_says_how_to_get_one() {
    let err = refusal(
        Command::new(env!("CARGO_BIN_EXE_kennel"))
            .args(["view", "--world", "reach", "--out", "run", "--frames", "5"])
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY"),
    );
    assert!(
        err.contains("no display") && err.contains("xvfb-run"),
        "{err}"
    );
}

#[test]
fn without_a_graphics_driver_the_app_says_what_to_install() {
    let err = refusal(
        Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x720x24"])
            .arg(env!("CARGO_BIN_EXE_kennel"))
            .args(["view", "--world", "reach", "--out", "run", "--frames", "5"])
            // No Vulkan driver to be found.
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("RUST_BACKTRACE", "0"),
    );
    assert!(
        err.contains("could not be drawn") && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
}

#[test]
fn a_missing_checkpoint_is_named_before_any_window_opens() {
    let err = refusal(Command::new(env!("CARGO_BIN_EXE_kennel")).args([
        "view",
        "--checkpoint",
        "no_such_run",
        "--frames",
        "5",
    ]));
    assert!(
        err.contains("--checkpoint no_such_run") && err.contains("no such file or folder"),
        "{err}"
    );
}

#[test]
fn a_bad_script_is_refused_with_its_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("bad.json");
    std::fs::write(&script, r#"[{"at_frame": 3, "hold": "Q"}]"#).expect("write");
    let err = refusal(
        Command::new(env!("CARGO_BIN_EXE_kennel"))
            .args(["view", "--frames", "5", "--script"])
            .arg(&script),
    );
    assert!(err.contains("bad.json") && err.contains("\"Q\""), "{err}");
}
