//! Measuring and recording the live app: frame times by state (`--fps-report`), a screenshot
//! of the whole window after N frames plus one crop per panel (`--screenshot`, `--frames`),
//! and the report that tests read (`--report`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agent::session::Command;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::PrimaryWindow;
use serde::Serialize;

use crate::camera::ViewArea;
use crate::controls::{Interaction, ScriptStep};
use crate::link::Live;
use crate::panel::PanelRects;

/// Frames a screenshot may take to arrive before the app gives up on it.
const SCREENSHOT_PATIENCE: u64 = 600;
/// Frames left out at the start of each measured state (pipelines compiling, the learner
/// starting).
const WARM_UP: usize = 30;

/// What to measure and record.
#[derive(Clone, Debug, Default)]
pub struct CaptureConfig {
    /// Exit after this many frames (after the screenshot, if one is asked for).
    pub frames: Option<u64>,
    /// Save the whole window here (PNG) at the last frame, and one crop per panel beside it.
    pub screenshot: Option<PathBuf>,
    /// Measure frame times: the first half of the frames paused with learning off, the second
    /// half running with learning on; printed and reported.
    pub fps_report: bool,
    /// Scripted input.
    pub script: Vec<ScriptStep>,
    /// Write the report (JSON) here.
    pub report: Option<PathBuf>,
}

/// Frame times in one state.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FrameTimeRow {
    /// `paused` (the actor paused, learning off) or `learning` (running, learning on).
    pub state: String,
    /// Frames measured.
    pub frames: usize,
    /// Median frame time, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// 1000 / p50.
    pub fps_p50: f64,
}

/// What a run of the app did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ViewReport {
    /// App frames drawn.
    pub frames: u64,
    /// Window size, physical pixels.
    pub window: [u32; 2],
    /// Logical-to-physical pixel scale.
    pub scale_factor: f32,
    /// Frame times by state (with `--fps-report`).
    pub frame_times: Vec<FrameTimeRow>,
    /// The whole-window screenshot.
    pub screenshot: Option<PathBuf>,
    /// One crop per panel section and the 3D view.
    pub panel_screenshots: Vec<PathBuf>,
    /// Where each section was, physical pixels `[min x, min y, max x, max y]`.
    pub panel_rects: Vec<(String, [f32; 4])>,
    /// The 3D view's area, physical pixels.
    pub view_rect: [f32; 4],
    /// The world at the end.
    pub world: String,
    /// The agent's position at the first and the last frame.
    pub agent_first: [f32; 2],
    /// The agent's position at the last frame.
    pub agent_last: [f32; 2],
    /// The goal's agent position at the first frame.
    pub goal_first: Option<[f32; 2]>,
    /// The goal's agent position (or pushed object's) at the last frame.
    pub goal_last: Option<[f32; 2]>,
    /// Goal images received.
    pub goal_images: u64,
    /// Goals set by clicking.
    pub goals_set: u64,
    /// The newest goal asked for (the agent's position, or the pushed object's).
    pub goal_asked: Option<[f32; 2]>,
    /// An episode took it: a frame from the session carried it as its goal.
    pub goal_taken: bool,
    /// Teleop commands sent.
    pub teleop_sent: u64,
    /// Steps the session took on the driver's action.
    pub teleop_steps: u64,
    /// Distance moved along the driver's direction over those steps, metres.
    pub teleop_progress: f64,
    /// Frames the session sent.
    pub session_frames: u64,
    /// The learner's newest step.
    pub learner_step: Option<u64>,
    /// Episodes ended.
    pub episodes: usize,
    /// Messages shown.
    pub messages: Vec<String>,
}

fn goal_point(goal: Option<sim::Goal>) -> Option<[f32; 2]> {
    goal.map(|g| g.object_pose.map_or(g.agent_position, |p| p.position))
}

impl ViewReport {
    /// Adds what the session said.
    pub fn fill_from(&mut self, live: &Live) {
        self.world.clone_from(&live.world);
        self.agent_last = live.agent;
        self.goal_last = goal_point(live.goal);
        self.goal_images = live.goal_image.version;
        self.goal_asked = goal_point(live.asked_goal.map(|(g, _)| g));
        self.goal_taken = live.asked_goal.is_some_and(|(_, taken)| taken);
        self.teleop_steps = live.teleop.steps;
        self.teleop_progress = live.teleop.progress;
        self.session_frames = live.frames;
        self.learner_step = live.metrics.as_ref().map(|m| m.step.step);
        self.episodes = live.outcomes.len();
        self.messages = live.messages.iter().cloned().collect();
    }
}

/// What the app hands back when it exits: its report and the session to stop.
#[derive(Resource, Clone, Default)]
pub struct Handoff(Arc<Mutex<(Option<ViewReport>, Option<agent::session::Session>)>>);

impl Handoff {
    /// The report and the session, once the app has exited.
    pub fn take(&self) -> (Option<ViewReport>, Option<agent::session::Session>) {
        self.0
            .lock()
            .map(|mut slot| (slot.0.take(), slot.1.take()))
            .unwrap_or((None, None))
    }
}

/// Where a saved screenshot's files (or why it failed) arrive from the observer.
type ShotResult = Arc<Mutex<Option<Result<Vec<PathBuf>, String>>>>;

/// Where a screenshot stands.
#[derive(Default)]
enum Shot {
    #[default]
    NotAsked,
    Waiting {
        since: u64,
        result: ShotResult,
    },
    Done,
}

/// Frame times, the screenshot, the report.
#[derive(Resource, Default)]
pub struct Recorder {
    config: CaptureConfig,
    frame: u64,
    /// `(state, milliseconds)` per frame.
    times: Vec<(&'static str, f64)>,
    shot: Shot,
    report: ViewReport,
}

impl Recorder {
    /// The report, with the frame-time rows.
    pub fn into_report(self) -> ViewReport {
        let mut report = self.report;
        report.frames = self.frame;
        for state in ["paused", "learning"] {
            let mut ms: Vec<f64> = self
                .times
                .iter()
                .filter(|(s, _)| *s == state)
                .skip(WARM_UP)
                .map(|(_, t)| *t)
                .collect();
            if ms.is_empty() {
                continue;
            }
            ms.sort_by(f64::total_cmp);
            let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
            let p50 = at(0.5);
            report.frame_times.push(FrameTimeRow {
                state: state.into(),
                frames: ms.len(),
                p50_ms: p50,
                p99_ms: at(0.99),
                fps_p50: 1000.0 / p50,
            });
        }
        report
    }
}

/// Frame counting, frame times, screenshots and the exit.
pub struct CapturePlugin {
    config: CaptureConfig,
}

impl CapturePlugin {
    /// Records as `config` says.
    pub fn new(config: CaptureConfig) -> Self {
        Self { config }
    }
}

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Recorder {
            config: self.config.clone(),
            ..default()
        })
        .add_systems(Last, (record_frame, hand_off_at_exit).chain());
    }
}

#[allow(clippy::too_many_arguments)]
fn record_frame(
    mut commands: Commands,
    mut recorder: ResMut<Recorder>,
    mut live: ResMut<Live>,
    interaction: Res<Interaction>,
    rects: Res<PanelRects>,
    area: Res<ViewArea>,
    time: Res<Time<Real>>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut exit: MessageWriter<AppExit>,
) {
    let r = &mut *recorder;
    r.frame += 1;
    let frame = r.frame;
    let scale = window.scale_factor();
    if frame == 1 {
        r.report.agent_first = live.agent;
        r.report.goal_first = goal_point(live.goal);
    }
    r.report.window = [window.physical_width(), window.physical_height()];
    r.report.scale_factor = scale;
    r.report.goals_set = interaction.goals_set;
    r.report.teleop_sent = interaction.teleop_sent;

    let last = r.config.frames;
    if r.config.fps_report {
        // First half paused with learning off, second half running with learning on.
        let half = last.unwrap_or(600) / 2;
        if frame == 1 {
            live.send(Command::Pause);
            live.send(Command::SetLearning(false));
        }
        if frame == half {
            live.send(Command::Resume);
            live.send(Command::SetLearning(true));
        }
        if frame > 1 {
            let state = if frame <= half { "paused" } else { "learning" };
            r.times.push((state, time.delta_secs_f64() * 1e3));
        }
    }

    let Some(last) = last else {
        return;
    };
    match &r.shot {
        Shot::NotAsked if frame >= last => match r.config.screenshot.clone() {
            Some(path) => {
                let sections = physical_sections(&rects, area.margins, &window, scale);
                r.report.panel_rects = sections
                    .iter()
                    .map(|(n, rect)| (n.clone(), *rect))
                    .collect();
                r.report.view_rect = sections
                    .iter()
                    .find(|(n, _)| n == "3d")
                    .map_or([0.0; 4], |(_, rect)| *rect);
                let result: ShotResult = Arc::new(Mutex::new(None));
                let sink = Arc::clone(&result);
                commands.spawn(Screenshot::primary_window()).observe(
                    move |captured: On<ScreenshotCaptured>| {
                        let saved = save_with_crops(&captured.image, &path, &sections);
                        if let Ok(mut slot) = sink.lock() {
                            *slot = Some(saved);
                        }
                    },
                );
                r.shot = Shot::Waiting {
                    since: frame,
                    result,
                };
            }
            None => {
                r.shot = Shot::Done;
                exit.write(AppExit::Success);
            }
        },
        Shot::Waiting { since, result } => {
            let outcome = result.lock().ok().and_then(|mut slot| slot.take());
            match outcome {
                Some(Ok(files)) => {
                    r.report.screenshot = files.first().cloned();
                    r.report.panel_screenshots = files.into_iter().skip(1).collect();
                    r.shot = Shot::Done;
                    exit.write(AppExit::Success);
                }
                Some(Err(why)) => {
                    live.say(format!("screenshot failed: {why}"));
                    r.shot = Shot::Done;
                    exit.write(AppExit::error());
                }
                None if frame > since + SCREENSHOT_PATIENCE => {
                    live.say("the screenshot never arrived".into());
                    r.shot = Shot::Done;
                    exit.write(AppExit::error());
                }
                None => {}
            }
        }
        _ => {}
    }
}

/// On exit (asked for here, or the window closed): the report and the session go to the
/// [`Handoff`].
fn hand_off_at_exit(
    mut exits: MessageReader<AppExit>,
    mut recorder: ResMut<Recorder>,
    mut live: ResMut<Live>,
    handoff: Option<Res<Handoff>>,
) {
    if exits.read().count() == 0 {
        return;
    }
    let Some(handoff) = handoff.filter(|h| h.0.lock().is_ok_and(|slot| slot.0.is_none())) else {
        return;
    };
    let mut report = std::mem::take(&mut *recorder).into_report();
    report.fill_from(&live);
    if let Ok(mut slot) = handoff.0.lock() {
        slot.0 = Some(report);
        if slot.1.is_none() {
            slot.1 = live.take_session();
        }
    }
}

/// The panel sections and the 3D view in physical pixels.
fn physical_sections(
    rects: &PanelRects,
    margins: [f32; 4],
    window: &Window,
    scale: f32,
) -> Vec<(String, [f32; 4])> {
    let (w, h) = (window.width(), window.height());
    let view = [margins[0], margins[1], w - margins[2], h - margins[3]];
    std::iter::once(("3d".to_string(), view))
        .chain(rects.sections.iter().map(|(n, r)| ((*n).to_string(), *r)))
        .map(|(n, r)| (n, r.map(|v| v * scale)))
        .collect()
}

/// Saves the window as `path` and each section as `<stem>-<section>.png` beside it.
fn save_with_crops(
    image: &Image,
    path: &Path,
    sections: &[(String, [f32; 4])],
) -> Result<Vec<PathBuf>, String> {
    let rgb = image
        .clone()
        .try_into_dynamic()
        .map_err(|err| format!("cannot read the captured frame: {err}"))?
        .to_rgb8();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    rgb.save(path)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    let mut files = vec![path.to_path_buf()];
    let stem = path
        .file_stem()
        .map_or_else(|| "screenshot".into(), |s| s.to_string_lossy().into_owned());
    for (name, [x0, y0, x1, y1]) in sections {
        let (x0, y0) = (x0.max(0.0) as u32, y0.max(0.0) as u32);
        let x1 = (x1.max(0.0) as u32).min(rgb.width());
        let y1 = (y1.max(0.0) as u32).min(rgb.height());
        if x1 <= x0 + 1 || y1 <= y0 + 1 {
            continue;
        }
        let crop = image::imageops::crop_imm(&rgb, x0, y0, x1 - x0, y1 - y0).to_image();
        let file = path.with_file_name(format!("{stem}-{name}.png"));
        crop.save(&file)
            .map_err(|err| format!("cannot write {}: {err}", file.display()))?;
        files.push(file);
    }
    Ok(files)
}
