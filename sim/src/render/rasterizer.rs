//! The rasterizer: transforms meshes, clips at the near plane, fills triangles with a z-buffer.

use rapier3d::glamx::{Mat4, Vec3, Vec4};
use rapier3d::prelude::RigidBodyHandle;

use super::{Camera, Frame, MeshSet};
use crate::{CameraSpec, MeshKind, World, WorldSpec};

/// A vertex in screen space: pixel coordinates (x right, y down) and depth in `[0, 1]`.
#[derive(Clone, Copy, Debug)]
struct ScreenVertex {
    x: f32,
    y: f32,
    z: f32,
}

/// Renders [`World`]s from one camera into RGB [`Frame`]s.
///
/// Holds its buffers and tessellated meshes, so rendering allocates nothing; one renderer per
/// thread (it is `Send`, not shared).
pub struct Renderer {
    camera: Camera,
    to_light: Vec3,
    ambient: f32,
    diffuse: f32,
    background: [u8; 3],
    meshes: MeshSet,
    /// Supersampled colour buffer, `W·s × H·s × 3`.
    colour: Vec<u8>,
    /// Supersampled depth buffer (normalised device depth, 0 = near).
    depth: Vec<f32>,
    clip_scratch: Vec<Vec4>,
    world_scratch: Vec<Vec3>,
}

fn to_u8(channel: f32) -> u8 {
    (channel.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

impl Renderer {
    /// A renderer for the world's learner camera (its first camera, or the default top-down).
    pub fn new(spec: &WorldSpec) -> Self {
        Self::for_camera(spec, &spec.learner_camera())
    }

    /// A renderer for a given camera of the world.
    pub fn for_camera(spec: &WorldSpec, camera: &CameraSpec) -> Self {
        Self::with_size(spec, camera, camera.width, camera.height)
    }

    /// A renderer for a given camera, at `width × height` pixels instead of the camera's own.
    pub fn with_size(spec: &WorldSpec, camera: &CameraSpec, width: u32, height: u32) -> Self {
        let camera = Camera::from_spec_with_size(camera, width, height);
        let light = &spec.light;
        let s = camera.supersample as usize;
        let pixels = width as usize * height as usize * s * s;
        Self {
            camera,
            to_light: -Vec3::from(light.direction).normalize(),
            ambient: light.ambient,
            diffuse: light.diffuse,
            background: light.background.map(to_u8),
            meshes: MeshSet::new(),
            colour: vec![0; pixels * 3],
            depth: vec![1.0; pixels],
            clip_scratch: Vec::new(),
            world_scratch: Vec::new(),
        }
    }

    /// The camera in use.
    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// Renders the world as it is now.
    pub fn render(&mut self, world: &World) -> Frame {
        let mut frame = Frame::default();
        self.render_into(world, &mut frame);
        frame
    }

    /// Renders the world as it is now into `frame` (resized if needed).
    pub fn render_into(&mut self, world: &World, frame: &mut Frame) {
        self.draw(world, &[], frame);
    }

    /// Renders the episode's goal state: the agent (and a pushed object) placed at the goal.
    /// The world itself is left untouched.
    pub fn render_goal(&mut self, world: &World) -> Frame {
        let overrides = world.goal_overrides();
        let mut frame = Frame::default();
        self.draw(world, &overrides, &mut frame);
        frame
    }

    fn draw(&mut self, world: &World, overrides: &[(RigidBodyHandle, Mat4)], frame: &mut Frame) {
        let s = self.camera.supersample;
        let (width, height) = (self.camera.width * s, self.camera.height * s);
        for pixel in self.colour.chunks_exact_mut(3) {
            pixel.copy_from_slice(&self.background);
        }
        self.depth.fill(1.0);
        for (kind, world_from_mesh, colour) in world.drawables(overrides) {
            self.draw_mesh(kind, &world_from_mesh, colour, width, height);
        }
        self.resolve(frame);
    }

    fn draw_mesh(
        &mut self,
        kind: MeshKind,
        world_from_mesh: &Mat4,
        colour: [f32; 3],
        width: u32,
        height: u32,
    ) {
        let mesh = self.meshes.get(kind);
        let clip_from_world = self.camera.clip_from_world;
        self.world_scratch.clear();
        self.clip_scratch.clear();
        for p in &mesh.positions {
            let in_world = world_from_mesh.transform_point3(*p);
            self.world_scratch.push(in_world);
            self.clip_scratch.push(clip_from_world * in_world.extend(1.0));
        }
        let target = Target {
            colour: &mut self.colour,
            depth: &mut self.depth,
            width,
            height,
        };
        let mut target = target;
        for [a, b, c] in &mesh.triangles {
            let (a, b, c) = (*a as usize, *b as usize, *c as usize);
            let clip = [self.clip_scratch[a], self.clip_scratch[b], self.clip_scratch[c]];
            if outside_frustum(&clip) {
                continue;
            }
            let (wa, wb, wc) = (self.world_scratch[a], self.world_scratch[b], self.world_scratch[c]);
            let normal = (wb - wa).cross(wc - wa).normalize_or_zero();
            let intensity = self.ambient + self.diffuse * normal.dot(self.to_light).max(0.0);
            let rgb = colour.map(|c| to_u8(c * intensity));
            if clip.iter().all(|v| v.z >= 0.0) {
                let screen = clip.map(|v| to_screen(v, width, height));
                target.fill_triangle(screen, rgb);
            } else {
                // Crosses the near plane: clip the polygon to z >= 0, then fan it.
                let mut polygon = [Vec4::ZERO; 4];
                let n = clip_near(&clip, &mut polygon);
                for i in 1..n.saturating_sub(1) {
                    let tri = [polygon[0], polygon[i], polygon[i + 1]];
                    target.fill_triangle(tri.map(|v| to_screen(v, width, height)), rgb);
                }
            }
        }
    }

    /// Copies (or 2×2-averages) the internal buffer into the frame.
    fn resolve(&self, frame: &mut Frame) {
        let (w, h, s) = (self.camera.width, self.camera.height, self.camera.supersample);
        if frame.width != w || frame.height != h || frame.rgb.len() != (w * h * 3) as usize {
            *frame = Frame::new(w, h);
        }
        if s == 1 {
            frame.rgb.copy_from_slice(&self.colour);
            return;
        }
        let (w, h, s) = (w as usize, h as usize, s as usize);
        let row = w * s * 3;
        for y in 0..h {
            for x in 0..w {
                for ch in 0..3 {
                    let mut sum = 0u32;
                    for dy in 0..s {
                        for dx in 0..s {
                            sum += u32::from(self.colour[(y * s + dy) * row + (x * s + dx) * 3 + ch]);
                        }
                    }
                    let n = (s * s) as u32;
                    frame.rgb[(y * w + x) * 3 + ch] = ((sum + n / 2) / n) as u8;
                }
            }
        }
    }
}

/// True when all three vertices lie beyond the same frustum plane.
fn outside_frustum(clip: &[Vec4; 3]) -> bool {
    clip.iter().all(|v| v.x > v.w)
        || clip.iter().all(|v| v.x < -v.w)
        || clip.iter().all(|v| v.y > v.w)
        || clip.iter().all(|v| v.y < -v.w)
        || clip.iter().all(|v| v.z < 0.0)
        || clip.iter().all(|v| v.z > v.w)
}

/// Sutherland–Hodgman against the near plane `z >= 0`; returns the vertex count (0, 3 or 4).
fn clip_near(triangle: &[Vec4; 3], out: &mut [Vec4; 4]) -> usize {
    let mut n = 0;
    for i in 0..3 {
        let (p, q) = (triangle[i], triangle[(i + 1) % 3]);
        if p.z >= 0.0 {
            out[n] = p;
            n += 1;
        }
        if (p.z >= 0.0) != (q.z >= 0.0) && n < 4 {
            let t = p.z / (p.z - q.z);
            out[n] = p + (q - p) * t;
            n += 1;
        }
    }
    n
}

fn to_screen(clip: Vec4, width: u32, height: u32) -> ScreenVertex {
    let inv_w = 1.0 / clip.w;
    ScreenVertex {
        x: (clip.x * inv_w * 0.5 + 0.5) * width as f32,
        y: (0.5 - clip.y * inv_w * 0.5) * height as f32,
        z: clip.z * inv_w,
    }
}

/// The buffers a triangle is filled into.
struct Target<'a> {
    colour: &'a mut [u8],
    depth: &'a mut [f32],
    width: u32,
    height: u32,
}

impl Target<'_> {
    /// Fills a front-facing triangle (counter-clockwise in the world's view, so clockwise on
    /// the y-down screen); back faces are skipped.
    fn fill_triangle(&mut self, v: [ScreenVertex; 3], rgb: [u8; 3]) {
        let [v0, mut v1, mut v2] = v;
        let area = (v1.x - v0.x) * (v2.y - v0.y) - (v1.y - v0.y) * (v2.x - v0.x);
        // Front faces have negative area on a y-down screen; flip them to positive.
        if area >= 0.0 || !area.is_finite() {
            return;
        }
        std::mem::swap(&mut v1, &mut v2);
        let area = -area;
        let min_x = v0.x.min(v1.x).min(v2.x).floor().max(0.0) as i32;
        let max_x = (v0.x.max(v1.x).max(v2.x).ceil() as i32).min(self.width as i32 - 1);
        let min_y = v0.y.min(v1.y).min(v2.y).floor().max(0.0) as i32;
        let max_y = (v0.y.max(v1.y).max(v2.y).ceil() as i32).min(self.height as i32 - 1);
        if min_x > max_x || min_y > max_y {
            return;
        }
        let inv_area = 1.0 / area;
        // Edge functions: w0 opposite v0 (edge v1→v2), and so on; each steps linearly in x.
        let edge = |a: ScreenVertex, b: ScreenVertex, px: f32, py: f32| {
            (b.x - a.x) * (py - a.y) - (b.y - a.y) * (px - a.x)
        };
        let (dw0, dw1, dw2) = (-(v2.y - v1.y), -(v0.y - v2.y), -(v1.y - v0.y));
        // Depth is affine in screen space: z = z0 + dzdx·(x - x0) + dzdy·(y - y0).
        let z_at = |w0: f32, w1: f32, w2: f32| (w0 * v0.z + w1 * v1.z + w2 * v2.z) * inv_area;
        let width = self.width as usize;
        for y in min_y..=max_y {
            let py = y as f32 + 0.5;
            let px = min_x as f32 + 0.5;
            let mut w0 = edge(v1, v2, px, py);
            let mut w1 = edge(v2, v0, px, py);
            let mut w2 = edge(v0, v1, px, py);
            let row = y as usize * width;
            for x in min_x..=max_x {
                if w0 >= 0.0 && w1 >= 0.0 && w2 >= 0.0 {
                    let z = z_at(w0, w1, w2);
                    let i = row + x as usize;
                    if z < self.depth[i] && z >= 0.0 {
                        self.depth[i] = z;
                        self.colour[i * 3..i * 3 + 3].copy_from_slice(&rgb);
                    }
                }
                w0 += dw0;
                w1 += dw1;
                w2 += dw2;
            }
        }
    }
}
