//! kennel's desktop app: a Bevy window on the closed-loop runtime (`agent::session`).
//!
//! The window never waits for learning or planning: the session runs on its own threads and
//! the app drains its events once a frame ([`link`]). Plugins, one concern each:
//!
//! - [`link::SessionLinkPlugin`]: owns the session, keeps what its events said ([`link::Live`]);
//! - [`scene::ScenePlugin`]: the world in 3D from the simulator's drawables, a light with shadows;
//! - [`camera::OrbitCameraPlugin`]: orbit (right drag), pan (middle drag), zoom (wheel);
//! - [`overlay::OverlayPlugin`]: the imagined plan, the path taken, the goal, guardrail marks;
//! - [`controls::ControlsPlugin`]: keys and clicks become session commands (and scripted input);
//! - [`panel::PanelPlugin`]: the egui panels (agent's eye, learner, plan, episode, toolbar);
//! - [`capture::CapturePlugin`]: frame times, screenshots, a fixed number of frames, the report.

pub mod camera;
pub mod capture;
pub mod controls;
pub mod link;
pub mod overlay;
pub mod panel;
pub mod scene;

use std::path::PathBuf;
use std::sync::Arc;

use agent::session::{Session, SessionConfig, SessionError};
use bevy::prelude::*;
use bevy::window::{PresentMode, WindowResolution};
use bevy::winit::{UpdateMode, WinitSettings};
use sim::WorldSpec;

pub use self::capture::{CaptureConfig, FrameTimeRow, ViewReport};
pub use self::controls::{ScriptStep, load_script};

/// Everything `kennel view` needs.
#[derive(Clone, Debug)]
pub struct ViewConfig {
    /// The session: world, learner, planner (its clock should be real time).
    pub session: SessionConfig,
    /// Continue from this checkpoint (planning at once, learning on).
    pub checkpoint: Option<PathBuf>,
    /// Worlds offered in the toolbar (the shipped list).
    pub worlds: Vec<Arc<WorldSpec>>,
    /// Window size in logical pixels.
    pub window: [u32; 2],
    /// Frame counts, screenshots, frame times, scripted input.
    pub capture: CaptureConfig,
}

/// Why the app could not run.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// No display server to open a window on.
    #[error(
        "no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set); on a desktop run it from a graphical session, headless run it under `xvfb-run -a -s \"-screen 0 1280x720x24\" kennel view ...` (Debian: apt-get install xvfb mesa-vulkan-drivers)"
    )]
    NoDisplay,
    /// The window's renderer could not start (no graphics driver, most often).
    #[error(
        "the window could not be drawn: {0}\n  without a GPU, install Mesa's CPU Vulkan driver (Debian: apt-get install mesa-vulkan-drivers); the headless commands (demo, eval, train, ...) need none"
    )]
    Renderer(String),
    /// The session could not start.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The session failed while the window was open.
    #[error("the session stopped with an error: {0}")]
    SessionFailed(String),
    /// A file the app writes.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens the window, runs the session under it until the window closes (or the capture's
/// frame count is reached), stops the session and reports.
pub fn run(config: ViewConfig) -> Result<ViewReport, ViewError> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err(ViewError::NoDisplay);
    }
    let device = burn::prelude::Device::flex();
    let session = Session::start(config.session.clone(), &device)?;
    if let Some(checkpoint) = &config.checkpoint {
        session.send(agent::session::Command::LoadCheckpoint(checkpoint.clone()));
    }
    // `App::run` hands the app to the window's event loop and does not give it back: what
    // the app has to say at the end comes through this slot.
    let handoff = capture::Handoff::default();
    // Bevy panics when it finds no graphics driver (while building its render plugin); that is
    // the user's machine, not a bug, and gets an error that says what to install.
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut app = build_app(session, &config);
        app.insert_resource(handoff.clone());
        app.run()
    }));
    if let Err(panic) = ran {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "a panic without a message".into());
        return Err(ViewError::Renderer(what));
    }
    let (report, session) = handoff.take();
    let report = report.unwrap_or_default();
    if let Some(session) = session {
        link::stop_and_join(session).map_err(ViewError::SessionFailed)?;
    }
    if let Some(path) = &config.capture.report {
        let text = serde_json::to_string_pretty(&report).expect("the report serialises") + "\n";
        std::fs::write(path, text).map_err(|source| ViewError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(report)
}

/// The app: Bevy's default plugins with one window, egui, and kennel's plugins on `session`.
fn build_app(session: Session, config: &ViewConfig) -> App {
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: format!("kennel view · {}", config.session.world.name),
                    resolution: WindowResolution::new(config.window[0], config.window[1]),
                    // Frame times are the app's own, not the display's refresh.
                    present_mode: if config.capture.fps_report {
                        PresentMode::AutoNoVsync
                    } else {
                        PresentMode::AutoVsync
                    },
                    ..default()
                }),
                ..default()
            })
            // The CLI has set up `tracing` already.
            .disable::<bevy::log::LogPlugin>(),
    )
    // Keep drawing while unfocused (under Xvfb nothing has focus).
    .insert_resource(WinitSettings {
        focused_mode: UpdateMode::Continuous,
        unfocused_mode: UpdateMode::Continuous,
    })
    .add_plugins(bevy_egui::EguiPlugin::default())
    .add_plugins((
        link::SessionLinkPlugin::new(session, config),
        scene::ScenePlugin,
        camera::OrbitCameraPlugin,
        overlay::OverlayPlugin,
        controls::ControlsPlugin::new(config.capture.script.clone()),
        panel::PanelPlugin::new(config.worlds.clone(), config.checkpoint.clone()),
        capture::CapturePlugin::new(config.capture.clone()),
    ));
    app
}
