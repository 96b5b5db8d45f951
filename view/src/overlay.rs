//! What the model imagines, drawn in the world: the chosen plan's trajectory (positions read
//! off the imagined latents) beside the path actually taken, the goal, and a mark when the
//! guardrail rejected every candidate.

use std::f32::consts::FRAC_PI_2;

use bevy::prelude::*;

use crate::link::Live;
use crate::scene::to_bevy;

/// The imagined plan.
pub const IMAGINED: Color = Color::srgb(1.0, 0.62, 0.0);
/// The path taken this episode.
pub const TAKEN: Color = Color::srgb(0.3, 0.3, 0.4);
/// The goal.
pub const GOAL: Color = Color::srgb(0.1, 0.9, 0.3);
/// The guardrail rejected every candidate.
pub const ALL_REJECTED: Color = Color::srgb(1.0, 0.1, 0.1);
/// The driver's action.
pub const TELEOP: Color = Color::srgb(0.2, 0.85, 1.0);

/// Gizmos over the 3D scene.
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, thicker_lines)
            .add_systems(Update, draw_overlay);
    }
}

fn thicker_lines(mut store: ResMut<GizmoConfigStore>) {
    let (config, _) = store.config_mut::<DefaultGizmoConfigGroup>();
    config.line.width = 3.0;
}

/// A circle lying on the floor.
fn floor_circle(gizmos: &mut Gizmos, at: [f32; 2], height: f32, radius: f32, colour: Color) {
    let iso = Isometry3d::new(to_bevy(at, height), Quat::from_rotation_x(FRAC_PI_2));
    gizmos.circle(iso, radius, colour).resolution(48);
}

fn draw_overlay(live: Res<Live>, mut gizmos: Gizmos) {
    if let Some(goal) = live.goal {
        match goal.object_pose {
            Some(pose) => {
                floor_circle(&mut gizmos, pose.position, 0.02, 0.25, GOAL);
                let (s, c) = pose.yaw.sin_cos();
                let tip = [pose.position[0] + 0.3 * c, pose.position[1] + 0.3 * s];
                gizmos.arrow(to_bevy(pose.position, 0.02), to_bevy(tip, 0.02), GOAL);
            }
            None => {
                floor_circle(&mut gizmos, goal.agent_position, 0.02, 0.2, GOAL);
                gizmos.line(
                    to_bevy(goal.agent_position, 0.0),
                    to_bevy(goal.agent_position, 0.6),
                    GOAL,
                );
            }
        }
    }
    if live.path.len() >= 2 {
        gizmos.linestrip(live.path.iter().map(|&p| to_bevy(p, 0.03)), TAKEN);
    }
    let Some(decision) = &live.decision else {
        return;
    };
    if !decision.imagined_positions.is_empty() {
        let from = std::iter::once(live.decided_at);
        let points: Vec<Vec3> = from
            .chain(decision.imagined_positions.iter().copied())
            .map(|p| to_bevy(p, 0.06))
            .collect();
        gizmos.linestrip(points.iter().copied(), IMAGINED);
        // Where the plan imagines ending up.
        if let Some(end) = points.last() {
            gizmos.sphere(Isometry3d::from_translation(*end), 0.05, IMAGINED);
        }
    }
    if decision.all_rejected {
        floor_circle(&mut gizmos, live.agent, 0.04, 0.35, ALL_REJECTED);
        let [x, y] = live.agent;
        for (a, b) in [
            ([-0.25, -0.25], [0.25, 0.25]),
            ([-0.25, 0.25], [0.25, -0.25]),
        ] {
            gizmos.line(
                to_bevy([x + a[0], y + a[1]], 0.05),
                to_bevy([x + b[0], y + b[1]], 0.05),
                ALL_REJECTED,
            );
        }
    }
    if decision.teleop {
        let [dx, dy] = decision.taken;
        let tip = [live.agent[0] + 0.4 * dx, live.agent[1] + 0.4 * dy];
        gizmos.arrow(to_bevy(live.agent, 0.05), to_bevy(tip, 0.05), TELEOP);
    }
}
