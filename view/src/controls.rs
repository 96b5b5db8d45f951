//! What a person does becomes session commands: keys (pause, step, reset, speed, learning,
//! guardrail, save), driving with WASD or the arrows (relative to the camera), and a click on
//! the floor that sets the goal. A script (`--script FILE`) presses the same keys and clicks
//! through the same systems, for tests and demos.

use std::path::Path;
use std::time::{Duration, Instant};

use agent::session::{Command, Speed};
use bevy::input::InputSystems;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;
use serde::Deserialize;
use sim::{Goal, PlanarPose};

use crate::camera::{OrbitCamera, PointerDrag, orbit};
use crate::link::Live;
use crate::scene::to_sim;

/// The shortcuts, as the help window lists them.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Space", "pause / resume the agent's episode"),
    ("N", "single step (pauses)"),
    ("R", "reset the episode"),
    ("1 / 2 / 3", "speed: real time / ×4 / as fast as possible"),
    (
        "W A S D, arrows",
        "drive the agent (relative to the camera); learned from",
    ),
    (
        "left click on the floor",
        "set the goal there (its goal image is rendered)",
    ),
    ("right drag, left drag", "orbit the camera"),
    ("middle drag, shift + right drag", "pan"),
    ("wheel", "zoom"),
    ("L", "learning on / off"),
    ("G", "hazard guardrail on / off"),
    ("Ctrl + S", "save a checkpoint"),
    ("F1 or ?", "this help"),
];

/// Teleop commands are sent at most this often while a key is held.
const TELEOP_EVERY: Duration = Duration::from_millis(40);

/// One scripted input: at frame `at_frame` (counted from the session's first frame), click at `click` (logical window pixels) or hold
/// the key `hold` (`W`, `A`, `S`, `D`, `Up`, `Down`, `Left`, `Right`, `Space`, `N`, `R`, `L`,
/// `G`, `1`, `2`, `3`, `F1`) for `for_frames` frames.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    /// The app frame it happens at.
    pub at_frame: u64,
    /// A left click at this window position (logical pixels from the top left).
    #[serde(default)]
    pub click: Option<[f32; 2]>,
    /// A key held down.
    #[serde(default)]
    pub hold: Option<String>,
    /// How long the key is held, frames.
    #[serde(default = "one_frame")]
    pub for_frames: u64,
}

fn one_frame() -> u64 {
    1
}

fn key_code(name: &str) -> Option<KeyCode> {
    Some(match name {
        "W" => KeyCode::KeyW,
        "A" => KeyCode::KeyA,
        "S" => KeyCode::KeyS,
        "D" => KeyCode::KeyD,
        "Up" => KeyCode::ArrowUp,
        "Down" => KeyCode::ArrowDown,
        "Left" => KeyCode::ArrowLeft,
        "Right" => KeyCode::ArrowRight,
        "Space" => KeyCode::Space,
        "N" => KeyCode::KeyN,
        "R" => KeyCode::KeyR,
        "L" => KeyCode::KeyL,
        "G" => KeyCode::KeyG,
        "1" => KeyCode::Digit1,
        "2" => KeyCode::Digit2,
        "3" => KeyCode::Digit3,
        "F1" => KeyCode::F1,
        _ => return None,
    })
}

/// Reads and checks a script file: a JSON list of [`ScriptStep`].
pub fn load_script(path: &Path) -> Result<Vec<ScriptStep>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the script {}: {err}", path.display()))?;
    let steps: Vec<ScriptStep> = serde_json::from_str(&text).map_err(|err| {
        format!(
            "{} is not a script: {err}; expected a JSON list such as [{{\"at_frame\": 30, \"click\": [600, 400]}}, {{\"at_frame\": 60, \"hold\": \"D\", \"for_frames\": 20}}]",
            path.display()
        )
    })?;
    for (i, step) in steps.iter().enumerate() {
        match (&step.click, &step.hold) {
            (Some(_), None) => {}
            (None, Some(key)) if key_code(key).is_some() => {}
            (None, Some(key)) => {
                return Err(format!(
                    "{}: step {i} holds the unknown key {key:?}; use one of W A S D Up Down Left Right Space N R L G 1 2 3 F1",
                    path.display()
                ));
            }
            _ => {
                return Err(format!(
                    "{}: step {i} must have exactly one of \"click\" and \"hold\"",
                    path.display()
                ));
            }
        }
    }
    Ok(steps)
}

/// The script being played and what a person has done, for the report.
#[derive(Resource, Default)]
pub struct Interaction {
    script: Vec<ScriptStep>,
    frame: u64,
    /// Keys the script holds, until (exclusive) this frame.
    held: Vec<(KeyCode, u64)>,
    /// The script's pointer, once it has clicked.
    scripted_pointer: Option<Vec2>,
    release_click: bool,
    last_teleop: Option<Instant>,
    /// Goals set by clicking.
    pub goals_set: u64,
    /// Teleop commands sent.
    pub teleop_sent: u64,
    /// The help window is open.
    pub show_help: bool,
}

/// Keys, clicks and scripts.
pub struct ControlsPlugin {
    script: Vec<ScriptStep>,
}

impl ControlsPlugin {
    /// Plays `script` (empty: none) on top of real input.
    pub fn new(script: Vec<ScriptStep>) -> Self {
        Self { script }
    }
}

impl Plugin for ControlsPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Interaction {
            script: self.script.clone(),
            ..default()
        })
        .add_systems(
            PreUpdate,
            (play_script, track_pointer).chain().after(InputSystems),
        )
        .add_systems(Update, (shortcuts, drive, click_goal.after(orbit)));
    }
}

/// Presses and releases what the script says for this frame. Script frames count from the
/// session's first frame (the world is live), so a script does not depend on how long the
/// session takes to start.
fn play_script(
    live: Res<Live>,
    mut interaction: ResMut<Interaction>,
    mut keys: ResMut<ButtonInput<KeyCode>>,
    mut buttons: ResMut<ButtonInput<MouseButton>>,
) {
    let it = &mut *interaction;
    if it.script.is_empty() || live.frames == 0 {
        return;
    }
    it.frame += 1;
    let frame = it.frame;
    if std::mem::take(&mut it.release_click) {
        buttons.release(MouseButton::Left);
    }
    it.held.retain(|&(key, until)| {
        if frame >= until {
            keys.release(key);
            false
        } else {
            keys.press(key);
            true
        }
    });
    for step in it.script.iter().filter(|s| s.at_frame == frame) {
        if let Some([x, y]) = step.click {
            it.scripted_pointer = Some(Vec2::new(x, y));
            buttons.press(MouseButton::Left);
            it.release_click = true;
        }
        if let Some(key) = step.hold.as_deref().and_then(key_code) {
            keys.press(key);
            it.held.push((key, frame + step.for_frames.max(1)));
        }
    }
}

fn track_pointer(
    interaction: Res<Interaction>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut drag: ResMut<PointerDrag>,
) {
    drag.scripted = interaction.scripted_pointer.is_some();
    drag.position = interaction
        .scripted_pointer
        .or_else(|| window.cursor_position());
}

fn shortcuts(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Res<EguiWantsInput>,
    mut live: ResMut<Live>,
    mut interaction: ResMut<Interaction>,
) {
    if egui.wants_any_keyboard_input() {
        return;
    }
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if keys.just_pressed(KeyCode::F1) || (shift && keys.just_pressed(KeyCode::Slash)) {
        interaction.show_help = !interaction.show_help;
    }
    if keys.just_pressed(KeyCode::Escape) {
        interaction.show_help = false;
    }
    if ctrl {
        if keys.just_pressed(KeyCode::KeyS) {
            live.send(Command::SaveCheckpoint);
        }
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        let command = if live.asked.paused {
            Command::Resume
        } else {
            Command::Pause
        };
        live.send(command);
    }
    if keys.just_pressed(KeyCode::KeyN) || keys.just_pressed(KeyCode::Period) {
        live.send(Command::Step);
    }
    if keys.just_pressed(KeyCode::KeyR) {
        live.send(Command::ResetEpisode);
    }
    for (key, speed) in [
        (KeyCode::Digit1, Speed::Times(1.0)),
        (KeyCode::Digit2, Speed::Times(4.0)),
        (KeyCode::Digit3, Speed::Unpaced),
    ] {
        if keys.just_pressed(key) {
            live.send(Command::SetSpeed(speed));
        }
    }
    if keys.just_pressed(KeyCode::KeyL) {
        let on = !live.asked.learning;
        live.send(Command::SetLearning(on));
    }
    if keys.just_pressed(KeyCode::KeyG) {
        let on = !live.asked.guardrail;
        live.send(Command::SetGuardrail(on));
    }
}

/// WASD / arrows: an action along the camera's view of the floor.
fn drive(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Res<EguiWantsInput>,
    camera: Query<&Transform, With<OrbitCamera>>,
    mut live: ResMut<Live>,
    mut interaction: ResMut<Interaction>,
) {
    if egui.wants_any_keyboard_input() {
        return;
    }
    let axis = |plus: [KeyCode; 2], minus: [KeyCode; 2]| {
        f32::from(u8::from(keys.any_pressed(plus))) - f32::from(u8::from(keys.any_pressed(minus)))
    };
    let ahead = axis(
        [KeyCode::KeyW, KeyCode::ArrowUp],
        [KeyCode::KeyS, KeyCode::ArrowDown],
    );
    let aside = axis(
        [KeyCode::KeyD, KeyCode::ArrowRight],
        [KeyCode::KeyA, KeyCode::ArrowLeft],
    );
    if ahead == 0.0 && aside == 0.0 {
        return;
    }
    if interaction
        .last_teleop
        .is_some_and(|t| t.elapsed() < TELEOP_EVERY)
    {
        return;
    }
    let Ok(camera) = camera.single() else {
        return;
    };
    // The camera's forward and right, flattened onto the floor, in simulator coordinates.
    let flat = |v: Vec3| {
        let [x, y] = to_sim(Vec3::new(v.x, 0.0, v.z));
        Vec2::new(x, y).normalize_or_zero()
    };
    let direction =
        flat(camera.forward().as_vec3()) * ahead + flat(camera.right().as_vec3()) * aside;
    // Full speed along the direction (the simulator clips to the action bounds).
    let largest = direction.x.abs().max(direction.y.abs());
    if largest == 0.0 {
        return;
    }
    let action = direction / largest;
    live.send(Command::Teleop([action.x, action.y]));
    interaction.last_teleop = Some(Instant::now());
    interaction.teleop_sent += 1;
}

/// A left click (not a drag, not on a panel) on the floor sets the goal there: the agent's,
/// or the pushed object's where the task is to push.
fn click_goal(
    buttons: Res<ButtonInput<MouseButton>>,
    egui: Res<EguiWantsInput>,
    drag: Res<PointerDrag>,
    cameras: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    mut live: ResMut<Live>,
    mut interaction: ResMut<Interaction>,
) {
    if !buttons.just_released(MouseButton::Left) || drag.dragging || drag.pressed_at.is_none() {
        return;
    }
    if egui.wants_any_pointer_input() && !drag.scripted {
        return;
    }
    let (Some(position), Ok((camera, transform))) = (drag.position, cameras.single()) else {
        return;
    };
    let Ok(ray) = camera.viewport_to_world(transform, position) else {
        return;
    };
    let Some(distance) = ray.intersect_plane(Vec3::ZERO, InfinitePlane3d::new(Vec3::Y)) else {
        return;
    };
    let point = to_sim(ray.get_point(distance));
    let current = live.goal;
    let goal = match current.and_then(|g| g.object_pose.map(|pose| (g, pose))) {
        Some((goal, pose)) => Goal {
            agent_position: goal.agent_position,
            object_pose: Some(PlanarPose {
                position: point,
                yaw: pose.yaw,
            }),
        },
        None => Goal {
            agent_position: point,
            object_pose: None,
        },
    };
    live.send(Command::SetGoal(goal));
    interaction.goals_set += 1;
}
