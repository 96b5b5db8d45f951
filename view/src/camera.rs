//! The 3D camera: orbit (right drag, or left drag), pan (middle drag, or shift + right drag),
//! zoom (wheel); framed on the arena, from the south, whenever the world changes. A second
//! camera draws only the egui panels, over the whole window, so the 3D view can render into
//! the area the panels leave free.

use std::f32::consts::FRAC_PI_2;

use bevy::camera::{CameraOutputMode, Viewport, visibility::RenderLayers};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::light::ShadowFilteringMethod;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiGlobalSettings, PrimaryEguiContext, input::EguiWantsInput};

use crate::link::Live;
use crate::scene::to_bevy;

/// Where the orbit camera looks from.
#[derive(Component, Clone, Copy, Debug)]
pub struct OrbitCamera {
    /// The point it circles, Bevy coordinates.
    pub focus: Vec3,
    /// Around the vertical, radians (0: from the south, the simulator's -y).
    pub yaw: f32,
    /// Above the floor, radians.
    pub pitch: f32,
    /// From the focus, metres.
    pub distance: f32,
}

impl OrbitCamera {
    fn transform(&self) -> Transform {
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        let eye = self.focus + self.distance * Vec3::new(cp * sy, sp, cp * cy);
        Transform::from_translation(eye).looking_at(self.focus, Vec3::Y)
    }

    /// Framing of an arena of half extents `half` (metres).
    fn framing(half: [f32; 2]) -> Self {
        Self {
            focus: to_bevy([0.0, 0.0], 0.0),
            yaw: 0.0,
            pitch: 0.95,
            distance: 2.4 * half[0].max(half[1]).max(0.5),
        }
    }
}

/// The window area (logical pixels) the panels leave for the 3D view: left, top, right,
/// bottom margins.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct ViewArea {
    /// Margins taken by panels, logical pixels: left, top, right, bottom.
    pub margins: [f32; 4],
}

/// The pointer (the window's cursor, or a script's), where the primary button went down, and
/// whether it has moved far enough since to be a drag (orbit) rather than a click (a goal).
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct PointerDrag {
    /// Where the pointer is, logical window pixels.
    pub position: Option<Vec2>,
    /// A script moves it (egui does not know where it is: do not ask egui about it).
    pub scripted: bool,
    /// Where the left button went down, if it is down.
    pub pressed_at: Option<Vec2>,
    /// It moved more than a few pixels since.
    pub dragging: bool,
}

/// The orbit camera and the panels' camera.
pub struct OrbitCameraPlugin;

impl Plugin for OrbitCameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ViewArea>()
            .init_resource::<PointerDrag>()
            .add_systems(Startup, spawn_cameras)
            .add_systems(Update, (orbit, apply_viewport, reframe_on_new_world));
    }
}

fn spawn_cameras(
    mut commands: Commands,
    mut egui_settings: ResMut<EguiGlobalSettings>,
    live: Res<Live>,
) {
    // The panels get a camera of their own; the 3D camera then has a viewport.
    egui_settings.auto_create_primary_context = false;
    let orbit = OrbitCamera::framing(live.spec.arena.half_extents);
    commands.spawn((
        Camera3d::default(),
        // Mesa's CPU driver pays for every sample: no multisampling (the lines are thick).
        Msaa::Off,
        // One hardware-filtered shadow tap per pixel instead of a Gaussian of many.
        ShadowFilteringMethod::Hardware2x2,
        // The simulator's colours are display values: no tone curve on them.
        Tonemapping::None,
        orbit.transform(),
        orbit,
    ));
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Tonemapping::None,
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
}

fn reframe_on_new_world(
    live: Res<Live>,
    mut framed: Local<String>,
    mut cameras: Query<(&mut OrbitCamera, &mut Transform)>,
) {
    if *framed == live.spec.name {
        return;
    }
    framed.clone_from(&live.spec.name);
    for (mut orbit, mut transform) in &mut cameras {
        *orbit = OrbitCamera::framing(live.spec.arena.half_extents);
        *transform = orbit.transform();
    }
}

/// Orbits, pans and zooms (runs before the goal click reads the drag).
pub(crate) fn orbit(
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    egui: Res<EguiWantsInput>,
    mut drag: ResMut<PointerDrag>,
    mut cameras: Query<(&mut OrbitCamera, &mut Transform)>,
) {
    let cursor = drag.position;
    if buttons.just_pressed(MouseButton::Left) {
        let on_panels = egui.wants_any_pointer_input() && !drag.scripted;
        drag.pressed_at = cursor.filter(|_| !on_panels);
        drag.dragging = false;
    }
    if let (Some(from), Some(now)) = (drag.pressed_at, cursor)
        && buttons.pressed(MouseButton::Left)
        && from.distance(now) > 5.0
    {
        drag.dragging = true;
    }
    let over_panels = egui.wants_any_pointer_input() && drag.pressed_at.is_none();
    let delta = motion.delta;
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    let orbiting = (buttons.pressed(MouseButton::Right) && !shift)
        || (drag.dragging && buttons.pressed(MouseButton::Left));
    let panning =
        buttons.pressed(MouseButton::Middle) || (buttons.pressed(MouseButton::Right) && shift);
    let zoom = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
    };
    if over_panels && !orbiting && !panning {
        return;
    }
    for (mut orbit, mut transform) in &mut cameras {
        if orbiting {
            orbit.yaw -= delta.x * 0.008;
            orbit.pitch = (orbit.pitch + delta.y * 0.008).clamp(0.05, FRAC_PI_2 - 0.01);
        }
        if panning {
            let right = transform.right().as_vec3();
            let forward =
                Vec3::new(transform.forward().x, 0.0, transform.forward().z).normalize_or_zero();
            let scale = orbit.distance * 0.0015;
            orbit.focus += (-right * delta.x + forward * delta.y) * scale;
        }
        if zoom != 0.0 && !over_panels {
            orbit.distance = (orbit.distance * (1.0 - 0.1 * zoom)).clamp(0.5, 200.0);
        }
        *transform = orbit.transform();
    }
}

/// Renders the 3D view into the area the panels leave.
fn apply_viewport(
    area: Res<ViewArea>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut cameras: Query<&mut Camera, With<OrbitCamera>>,
) {
    let scale = window.scale_factor();
    let [left, top, right, bottom] = area.margins.map(|m| (m * scale).max(0.0) as u32);
    let (w, h) = (window.physical_width(), window.physical_height());
    let size = UVec2::new(
        w.saturating_sub(left + right).max(1),
        h.saturating_sub(top + bottom).max(1),
    );
    let viewport = Viewport {
        physical_position: UVec2::new(left.min(w.saturating_sub(1)), top.min(h.saturating_sub(1))),
        physical_size: size,
        ..default()
    };
    for mut camera in &mut cameras {
        if camera.viewport.as_ref().is_none_or(|v| {
            v.physical_position != viewport.physical_position
                || v.physical_size != viewport.physical_size
        }) {
            camera.viewport = Some(viewport.clone());
        }
    }
}
