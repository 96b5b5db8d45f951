//! The world in 3D: one Bevy mesh per simulator drawable (the same unit meshes, placements
//! and colours the learner's rasterizer draws), PBR materials, a directional light with
//! shadows from the world's light direction, transforms mirrored from each new frame.
//!
//! The simulator is z-up; Bevy is y-up. [`SIM_TO_BEVY`] turns one into the other, and
//! [`to_bevy`] / [`to_sim`] convert points on the floor.

use std::collections::HashMap;
use std::f32::consts::FRAC_PI_2;

use bevy::light::{CascadeShadowConfigBuilder, DirectionalLightShadowMap, GlobalAmbientLight};
use bevy::prelude::*;
use sim::{Drawable, MeshKind};

use crate::link::Live;

/// The simulator's frame (z up) seen in Bevy's (y up): x stays, sim y becomes -z.
pub const SIM_TO_BEVY: Mat4 = Mat4::from_cols(
    Vec4::new(1.0, 0.0, 0.0, 0.0),
    Vec4::new(0.0, 0.0, -1.0, 0.0),
    Vec4::new(0.0, 1.0, 0.0, 0.0),
    Vec4::new(0.0, 0.0, 0.0, 1.0),
);

/// The Bevy point at planar simulator position `p`, `height` above the floor.
pub fn to_bevy(p: [f32; 2], height: f32) -> Vec3 {
    Vec3::new(p[0], height, -p[1])
}

/// The planar simulator position of a Bevy point.
pub fn to_sim(v: Vec3) -> [f32; 2] {
    [v.x, -v.z]
}

/// One spawned drawable: its index in the scene and the unit mesh it uses.
#[derive(Component)]
pub struct SimDrawable {
    index: usize,
    mesh: MeshKind,
}

/// The directional light (re-aimed when the world changes).
#[derive(Component)]
struct WorldLight;

/// Unit meshes by kind, materials by colour.
#[derive(Resource, Default)]
struct SceneAssets {
    meshes: HashMap<MeshKind, Handle<Mesh>>,
    materials: HashMap<[u8; 3], Handle<StandardMaterial>>,
    /// The `Live::scene_version` drawn.
    drawn: u64,
    /// The world whose light is set.
    lit: String,
}

/// Draws the world from the session's frames.
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SceneAssets>()
            .insert_resource(GlobalAmbientLight {
                brightness: 180.0,
                ..default()
            })
            // A room-sized arena needs no finer shadows; each texel costs on a CPU driver.
            .insert_resource(DirectionalLightShadowMap { size: 1024 })
            .add_systems(Startup, (unit_meshes, spawn_light))
            .add_systems(Update, (mirror_scene, aim_light));
    }
}

fn unit_meshes(mut assets: ResMut<SceneAssets>, mut meshes: ResMut<Assets<Mesh>>) {
    // The simulator's unit meshes, in its own (z-up) local frame.
    let unit = |kind| -> Mesh {
        match kind {
            MeshKind::Cube => Cuboid::new(2.0, 2.0, 2.0).into(),
            MeshKind::Sphere => Sphere::new(1.0).mesh().uv(32, 16),
            MeshKind::Cylinder => Mesh::from(Cylinder::new(1.0, 2.0).mesh().resolution(32))
                .rotated_by(Quat::from_rotation_x(FRAC_PI_2)),
            MeshKind::Quad => Plane3d::new(Vec3::Z, Vec2::ONE).into(),
            MeshKind::Disc => Circle::new(1.0).mesh().resolution(48).into(),
        }
    };
    for kind in [
        MeshKind::Cube,
        MeshKind::Sphere,
        MeshKind::Cylinder,
        MeshKind::Quad,
        MeshKind::Disc,
    ] {
        assets.meshes.insert(kind, meshes.add(unit(kind)));
    }
}

fn spawn_light(mut commands: Commands) {
    commands.spawn((
        WorldLight,
        DirectionalLight {
            // With no tone curve: bright enough to shade, dim enough not to clip the floor.
            illuminance: 2_500.0,
            shadow_maps_enabled: true,
            ..default()
        },
        // Shadows for a room-sized arena, not a landscape.
        CascadeShadowConfigBuilder {
            num_cascades: 1,
            maximum_distance: 30.0,
            ..default()
        }
        .build(),
        Transform::default(),
    ));
}

/// Points the light along the world's light direction and clears to its background.
fn aim_light(
    mut assets: ResMut<SceneAssets>,
    live: Res<Live>,
    mut light: Query<&mut Transform, With<WorldLight>>,
    mut clear: ResMut<ClearColor>,
) {
    if assets.lit == live.spec.name {
        return;
    }
    assets.lit.clone_from(&live.spec.name);
    let spec = &live.spec.light;
    let d = spec.direction;
    let direction = SIM_TO_BEVY.transform_vector3(Vec3::new(d[0], d[1], d[2]));
    for mut transform in &mut light {
        *transform = Transform::default().looking_to(direction.normalize_or(Vec3::NEG_Y), Vec3::Y);
    }
    let [r, g, b] = spec.background;
    clear.0 = Color::srgb(r, g, b);
}

fn transform_of(drawable: &Drawable) -> Transform {
    Transform::from_matrix(SIM_TO_BEVY * Mat4::from_cols_array(&drawable.world_from_mesh))
}

fn colour_key(colour: [f32; 3]) -> [u8; 3] {
    colour.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// Respawns the drawables when the scene's make-up changed (a new episode, a new world), else
/// moves them.
fn mirror_scene(
    mut commands: Commands,
    mut assets: ResMut<SceneAssets>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    live: Res<Live>,
    mut spawned: Query<(
        Entity,
        &SimDrawable,
        &mut Transform,
        &mut MeshMaterial3d<StandardMaterial>,
    )>,
) {
    if assets.drawn == live.scene_version {
        return;
    }
    assets.drawn = live.scene_version;
    let scene = &live.scene;
    let meshes = assets.meshes.clone();
    let mut material = |colour: [f32; 3]| {
        let key = colour_key(colour);
        assets
            .materials
            .entry(key)
            .or_insert_with(|| {
                materials.add(StandardMaterial {
                    base_color: Color::srgb_u8(key[0], key[1], key[2]),
                    perceptual_roughness: 0.8,
                    ..default()
                })
            })
            .clone()
    };
    let same_make_up = spawned.iter().count() == scene.len()
        && spawned
            .iter()
            .all(|(_, d, _, _)| scene.get(d.index).is_some_and(|s| s.mesh == d.mesh));
    if same_make_up {
        for (_, drawable, mut transform, mut handle) in &mut spawned {
            let now = &scene[drawable.index];
            *transform = transform_of(now);
            let wanted = material(now.colour);
            if handle.0 != wanted {
                handle.0 = wanted;
            }
        }
        return;
    }
    for (entity, ..) in &spawned {
        commands.entity(entity).despawn();
    }
    for (index, drawable) in scene.iter().enumerate() {
        let Some(mesh) = meshes.get(&drawable.mesh) else {
            continue;
        };
        commands.spawn((
            SimDrawable {
                index,
                mesh: drawable.mesh,
            },
            Mesh3d(mesh.clone()),
            MeshMaterial3d(material(drawable.colour)),
            transform_of(drawable),
        ));
    }
}
