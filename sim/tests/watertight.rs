//! Guards the rasterizer's coverage: at every size a dataset might use, a pixel whose centre
//! lies well inside a floor patch (hazard, goal pad) never shows the floor, and a pixel well
//! inside a wall never shows what lies behind the wall (floor, patches, background). Cracks
//! along shared triangle edges and depth fights between a patch and the floor both break this.
//!
//! Footprints come from geometry, not from the renderer: each drawable's corners are projected
//! with the camera and their convex hull is shrunk by a margin, so pixels on an outline (where
//! either side may legitimately win) are not judged.

mod common;

use std::sync::Arc;

use common::{WORLDS, load};
use rapier3d::glamx::{Mat4, Vec2, Vec3};
use sim::render::Camera;
use sim::{CameraSpec, Drawable, MeshKind, Renderer, World, WorldSpec};

const SIZES: [u32; 9] = [32, 48, 64, 96, 128, 192, 256, 384, 512];
const SEEDS: [u64; 3] = [0, 1, 2];
/// Pixels within this distance of a footprint's outline are not judged.
const MARGIN_PX: f32 = 1.0;
/// Points around a disc's outline; its tessellation lies inside this circle.
const DISC_POINTS: usize = 64;
/// Channel tolerance when matching a pixel to a surface's shaded colour.
const COLOUR_TOLERANCE: u8 = 2;

/// What a footprint belongs to, and so which colours must not show inside it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    /// A flat patch lying on the floor: the floor must not show through.
    Patch,
    /// A fixed box standing on the floor: nothing behind it may show.
    Wall,
}

struct Footprint {
    role: Role,
    /// Convex outline in pixel coordinates, counter-clockwise (x right, y down).
    hull: Vec<Vec2>,
}

/// How the renderer shades a surface facing straight up, in bytes.
fn shaded_up(spec: &WorldSpec, colour: [f32; 3]) -> [u8; 3] {
    let to_light = -Vec3::from(spec.light.direction).normalize();
    let intensity = spec.light.ambient + spec.light.diffuse * to_light.z.max(0.0);
    colour.map(|c| to_u8(c * intensity))
}

fn to_u8(channel: f32) -> u8 {
    (channel.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

fn matches(pixel: [u8; 3], colour: [u8; 3]) -> bool {
    pixel
        .iter()
        .zip(colour)
        .all(|(p, c)| p.abs_diff(c) <= COLOUR_TOLERANCE)
}

/// Pixel position of a world point, or `None` behind (or too close to) the camera.
fn project(camera: &Camera, p: Vec3) -> Option<Vec2> {
    let clip = camera.clip_from_world * p.extend(1.0);
    (clip.w > 1e-3).then(|| {
        Vec2::new(
            (clip.x / clip.w * 0.5 + 0.5) * camera.width as f32,
            (0.5 - clip.y / clip.w * 0.5) * camera.height as f32,
        )
    })
}

/// Andrew's monotone chain; counter-clockwise in the (x, y) plane.
fn convex_hull(mut points: Vec<Vec2>) -> Vec<Vec2> {
    points.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    let cross = |o: Vec2, a: Vec2, b: Vec2| (a - o).perp_dot(b - o);
    let mut hull: Vec<Vec2> = Vec::with_capacity(2 * points.len());
    for pass in [
        &points[..],
        &points.iter().rev().copied().collect::<Vec<_>>()[..],
    ] {
        let floor = hull.len();
        for &p in pass {
            while hull.len() >= floor + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Whether `p` lies inside the counter-clockwise hull by at least `margin` pixels.
fn inside_by(hull: &[Vec2], p: Vec2, margin: f32) -> bool {
    hull.len() >= 3
        && (0..hull.len()).all(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
            let edge = b - a;
            edge.perp_dot(p - a) >= margin * edge.length()
        })
}

/// The patches and walls of the world as it stands, outlined on the camera's image.
fn footprints(world: &World, camera: &Camera) -> Vec<Footprint> {
    let mut out = Vec::new();
    for drawable in world.scene() {
        if drawable.moves {
            continue;
        }
        let world_from_mesh = Mat4::from_cols_array(&drawable.world_from_mesh);
        let lifted = world_from_mesh.w_axis.z > 0.0;
        let (role, corners): (Role, Vec<Vec3>) = match drawable.mesh {
            MeshKind::Quad if lifted => (
                Role::Patch,
                [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
                    .map(|(x, y)| Vec3::new(x, y, 0.0))
                    .to_vec(),
            ),
            MeshKind::Disc if lifted => (
                Role::Patch,
                (0..DISC_POINTS)
                    .map(|i| {
                        let azimuth = std::f32::consts::TAU * i as f32 / DISC_POINTS as f32;
                        Vec3::new(azimuth.cos(), azimuth.sin(), 0.0)
                    })
                    .collect(),
            ),
            MeshKind::Cube => (
                Role::Wall,
                (0..8)
                    .map(|i| {
                        let sign = |bit: i32| if i & bit == 0 { -1.0 } else { 1.0 };
                        Vec3::new(sign(1), sign(2), sign(4))
                    })
                    .collect(),
            ),
            _ => continue,
        };
        let corners: Vec<Vec3> = corners
            .iter()
            .map(|c| world_from_mesh.transform_point3(*c))
            .collect();
        // A box sunk into the floor (a ramp) has floor in front of part of its outline.
        if role == Role::Wall && corners.iter().any(|c| c.z < -1e-4) {
            continue;
        }
        let projected: Option<Vec<Vec2>> = corners.iter().map(|c| project(camera, *c)).collect();
        if let Some(points) = projected {
            out.push(Footprint {
                role,
                hull: convex_hull(points),
            });
        }
    }
    out
}

/// The colours of what can lie behind a patch and behind a wall.
fn colours_behind(spec: &WorldSpec, scene: &[Drawable]) -> (Vec<[u8; 3]>, Vec<[u8; 3]>) {
    let background = spec.light.background.map(to_u8);
    let mut floor = Vec::new();
    let mut patches = Vec::new();
    for drawable in scene.iter().filter(|d| !d.moves) {
        let lifted = drawable.world_from_mesh[14] > 0.0;
        match drawable.mesh {
            MeshKind::Quad if !lifted => floor.push(shaded_up(spec, drawable.colour)),
            MeshKind::Quad | MeshKind::Disc => patches.push(shaded_up(spec, drawable.colour)),
            _ => {}
        }
    }
    let behind_patch = floor.iter().copied().chain([background]).collect();
    let behind_wall = floor
        .into_iter()
        .chain(patches)
        .chain([background])
        .collect();
    (behind_patch, behind_wall)
}

/// The same view from `factor` times further away through a narrower lens: the depth gaps
/// between a wall and the floor behind it, or a patch and the floor under it, shrink with the
/// square of the distance in normalised device depth (which lost walls to the floor here).
fn from_afar(camera: &CameraSpec, factor: f32) -> CameraSpec {
    let (position, look_at) = (Vec3::from(camera.position), Vec3::from(camera.look_at));
    let half_fov = (camera.fov_deg.to_radians() * 0.5).tan() / factor;
    CameraSpec {
        name: format!("{} from {factor}× further", camera.name),
        position: (look_at + (position - look_at) * factor).to_array(),
        fov_deg: (2.0 * half_fov.atan()).to_degrees(),
        ..camera.clone()
    }
}

/// What one frame's check found.
#[derive(Default)]
struct Judgement {
    /// Pixels showing what lies behind a patch or a wall, described.
    leaks: Vec<String>,
    /// Pixels judged inside patches.
    judged_patch_pixels: usize,
    /// Pixels judged inside walls.
    judged_wall_pixels: usize,
}

/// Renders one world at one size and judges every pixel well inside a patch or a wall.
fn judge(spec: &Arc<WorldSpec>, camera_spec: &CameraSpec, seed: u64, size: u32) -> Judgement {
    let world = World::from_seed(Arc::clone(spec), seed).expect("world");
    let mut renderer = Renderer::with_size(spec, camera_spec, size, size);
    let frame = renderer.render(&world);
    let (behind_patch, behind_wall) = colours_behind(spec, &world.scene());
    let mut judgement = Judgement::default();
    for footprint in footprints(&world, renderer.camera()) {
        let (forbidden, judged) = match footprint.role {
            Role::Patch => (&behind_patch, &mut judgement.judged_patch_pixels),
            Role::Wall => (&behind_wall, &mut judgement.judged_wall_pixels),
        };
        let (min, max) = footprint
            .hull
            .iter()
            .fold((Vec2::MAX, Vec2::MIN), |(lo, hi), p| {
                (lo.min(*p), hi.max(*p))
            });
        let pixels = |lo: f32, hi: f32| {
            (lo.max(0.0) as u32)..(hi.clamp(0.0, size as f32) as u32 + 1).min(size)
        };
        for y in pixels(min.y, max.y) {
            for x in pixels(min.x, max.x) {
                let centre = Vec2::new(x as f32 + 0.5, y as f32 + 0.5);
                if !inside_by(&footprint.hull, centre, MARGIN_PX) {
                    continue;
                }
                *judged += 1;
                let pixel = frame.pixel(x, y);
                if forbidden.iter().any(|c| matches(pixel, *c)) {
                    let frame_name = format!("{} seed {seed} {size}×{size}", spec.name);
                    judgement.leaks.push(format!(
                        "{frame_name} camera {}, {:?}: pixel ({x}, {y}) shows {pixel:?}",
                        camera_spec.name, footprint.role
                    ));
                }
            }
        }
    }
    judgement
}

#[test]
fn patches_and_walls_hide_what_lies_behind_them_at_every_size() {
    let mut leaks = Vec::new();
    let mut frames = 0usize;
    for name in WORLDS {
        let spec = load(name);
        let (mut patch_pixels, mut wall_pixels) = (0, 0);
        let cameras = spec.effective_cameras();
        let distant = cameras.iter().map(|camera| from_afar(camera, 25.0));
        for camera in cameras.iter().cloned().chain(distant) {
            for seed in SEEDS {
                for size in SIZES {
                    let judgement = judge(&spec, &camera, seed, size);
                    frames += 1;
                    patch_pixels += judgement.judged_patch_pixels;
                    wall_pixels += judgement.judged_wall_pixels;
                    leaks.extend(judgement.leaks);
                }
            }
        }
        // A check that finds no footprints would pass vacuously.
        assert!(
            wall_pixels > 1000,
            "{name}: only {wall_pixels} wall pixels judged"
        );
        if !spec.hazards.is_empty() || spec.task.goal_marker.is_some() {
            assert!(
                patch_pixels > 1000,
                "{name}: only {patch_pixels} patch pixels judged"
            );
        }
    }
    let mut by_frame: std::collections::BTreeMap<&str, usize> = Default::default();
    for leak in &leaks {
        let frame = leak.split(": pixel").next().unwrap_or_default();
        *by_frame.entry(frame).or_default() += 1;
    }
    assert!(
        leaks.is_empty(),
        "{} leaking pixels in {} of {frames} frames:\n{}\nfirst pixels:\n{}",
        leaks.len(),
        by_frame.len(),
        by_frame
            .iter()
            .map(|(frame, n)| format!("  {frame}: {n}"))
            .collect::<Vec<_>>()
            .join("\n"),
        leaks[..leaks.len().min(10)].join("\n")
    );
}

#[test]
fn the_footprint_test_sees_a_missing_patch() {
    // The check must be able to fail: a world whose hazard is not drawn (its colour equal to
    // the floor's) shows the floor inside the hazard's footprint.
    let mut spec = (*load("two_rooms")).clone();
    // Without randomisation, so that the floor and the hazards keep the file's colours.
    spec.randomisation.clear();
    let floor = spec.bodies[0].material.colour;
    for hazard in &mut spec.hazards {
        hazard.colour = floor;
    }
    let spec = Arc::new(spec);
    let judgement = judge(&spec, &spec.learner_camera(), 0, 64);
    assert!(!judgement.leaks.is_empty(), "hidden hazards went unnoticed");
}
