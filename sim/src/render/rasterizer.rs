//! The rasterizer: transforms meshes, clips at the near plane, fills triangles with a z-buffer.

use rapier3d::glamx::{Mat4, Vec3, Vec4};
use rapier3d::prelude::RigidBodyHandle;

use super::camera::NEAR;
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
    meshes: MeshSet,
    /// Supersampled colour buffer, `W·s × H·s` pixels.
    colour: Vec<[u8; 3]>,
    /// The colour buffer's cleared state (background everywhere), copied in each frame.
    cleared: Vec<[u8; 3]>,
    /// Supersampled depth buffer (normalised device depth, 0 = near).
    depth: Vec<f32>,
    clip_scratch: Vec<Vec4>,
    world_scratch: Vec<Vec3>,
    screen_scratch: Vec<ScreenVertex>,
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
            meshes: MeshSet::new(),
            colour: vec![[0; 3]; pixels],
            cleared: vec![light.background.map(to_u8); pixels],
            depth: vec![1.0; pixels],
            clip_scratch: Vec::new(),
            world_scratch: Vec::new(),
            screen_scratch: Vec::new(),
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
        self.colour.copy_from_slice(&self.cleared);
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
        let clip_from_world = self.camera.clip_from_world;
        // Level of detail from the mesh's radius on screen, in pixels.
        let centre = clip_from_world * world_from_mesh.w_axis;
        let scale = world_from_mesh
            .x_axis
            .truncate()
            .length()
            .max(world_from_mesh.y_axis.truncate().length())
            .max(world_from_mesh.z_axis.truncate().length());
        let radius_px = if centre.w > NEAR {
            scale * self.camera.focal_px * self.camera.supersample as f32 / centre.w
        } else {
            f32::INFINITY
        };
        let mesh = self.meshes.get(kind, radius_px);
        self.world_scratch.clear();
        self.clip_scratch.clear();
        self.screen_scratch.clear();
        for p in &mesh.positions {
            let in_world = world_from_mesh.transform_point3(*p);
            let clip = clip_from_world * in_world.extend(1.0);
            self.world_scratch.push(in_world);
            self.clip_scratch.push(clip);
            self.screen_scratch.push(to_screen(clip, width, height));
        }
        let mut target = Target {
            colour: &mut self.colour,
            depth: &mut self.depth,
            width,
            height,
        };
        for [a, b, c] in &mesh.triangles {
            let (a, b, c) = (*a as usize, *b as usize, *c as usize);
            let clip = [
                self.clip_scratch[a],
                self.clip_scratch[b],
                self.clip_scratch[c],
            ];
            if outside_frustum(&clip) {
                continue;
            }
            let in_front = clip.iter().all(|v| v.z >= 0.0);
            let screen = [
                self.screen_scratch[a],
                self.screen_scratch[b],
                self.screen_scratch[c],
            ];
            if in_front && !is_front_facing(&screen) {
                continue;
            }
            let (wa, wb, wc) = (
                self.world_scratch[a],
                self.world_scratch[b],
                self.world_scratch[c],
            );
            let normal = (wb - wa).cross(wc - wa).normalize_or_zero();
            let intensity = self.ambient + self.diffuse * normal.dot(self.to_light).max(0.0);
            let rgb = colour.map(|c| to_u8(c * intensity));
            if in_front {
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
        let (w, h, s) = (
            self.camera.width,
            self.camera.height,
            self.camera.supersample,
        );
        if frame.width != w || frame.height != h || frame.rgb.len() != (w * h * 3) as usize {
            *frame = Frame::new(w, h);
        }
        if s == 1 {
            frame.rgb.copy_from_slice(self.colour.as_flattened());
            return;
        }
        let (w, h, s) = (w as usize, h as usize, s as usize);
        let row = w * s;
        for y in 0..h {
            for x in 0..w {
                for ch in 0..3 {
                    let mut sum = 0u32;
                    for dy in 0..s {
                        for dx in 0..s {
                            sum += u32::from(self.colour[(y * s + dy) * row + x * s + dx][ch]);
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

/// Counter-clockwise in the world's view is clockwise (negative area) on the y-down screen.
fn is_front_facing(v: &[ScreenVertex; 3]) -> bool {
    (v[1].x - v[0].x) * (v[2].y - v[0].y) - (v[1].y - v[0].y) * (v[2].x - v[0].x) < 0.0
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
    colour: &'a mut [[u8; 3]],
    depth: &'a mut [f32],
    width: u32,
    height: u32,
}

impl Target<'_> {
    /// Fills a front-facing triangle (counter-clockwise in the world's view, so clockwise on
    /// the y-down screen); back faces are skipped. Pixel centres inside or on all three edges
    /// are covered; depth is interpolated affinely in screen space (exact for z/w).
    fn fill_triangle(&mut self, v: [ScreenVertex; 3], rgb: [u8; 3]) {
        let [v0, mut v1, mut v2] = v;
        let area = (v1.x - v0.x) * (v2.y - v0.y) - (v1.y - v0.y) * (v2.x - v0.x);
        // Front faces have negative area on a y-down screen; flip them to positive.
        if area >= 0.0 || !area.is_finite() {
            return;
        }
        std::mem::swap(&mut v1, &mut v2);
        let area = -area;
        // Truncation instead of floor/ceil (which are library calls on baseline x86-64):
        // the bounds only need to be conservative, and negatives are clamped to 0 anyway.
        let min_x = (v0.x.min(v1.x).min(v2.x).max(0.0)) as i32;
        let max_x =
            (v0.x.max(v1.x).max(v2.x).min(self.width as f32) as i32 + 1).min(self.width as i32 - 1);
        let min_y = (v0.y.min(v1.y).min(v2.y).max(0.0)) as i32;
        let max_y = (v0.y.max(v1.y).max(v2.y).min(self.height as f32) as i32 + 1)
            .min(self.height as i32 - 1);
        if min_x > max_x || min_y > max_y {
            return;
        }
        let inv_area = 1.0 / area;
        // Edge functions: w0 opposite v0 (edge v1→v2), and so on. Each is affine in the pixel
        // position, so along a row w(x0 + dx) = w(x0) + step·dx.
        let edge = |a: ScreenVertex, b: ScreenVertex, px: f32, py: f32| {
            (b.x - a.x) * (py - a.y) - (b.y - a.y) * (px - a.x)
        };
        let steps = [-(v2.y - v1.y), -(v0.y - v2.y), -(v1.y - v0.y)];
        let row_steps = [v2.x - v1.x, v0.x - v2.x, v1.x - v0.x];
        // Where each edge crosses a row, relative to x0: -w / step (one division per triangle).
        let inv_steps = steps.map(|step| if step == 0.0 { 0.0 } else { 1.0 / step });
        let dz = (steps[0] * v0.z + steps[1] * v1.z + steps[2] * v2.z) * inv_area;
        let width = self.width as usize;
        let span_max = max_x - min_x;
        let x0 = min_x as f32 + 0.5;
        let py0 = min_y as f32 + 0.5;
        let mut at_row = [
            edge(v1, v2, x0, py0),
            edge(v2, v0, x0, py0),
            edge(v0, v1, x0, py0),
        ];
        for y in min_y..=max_y {
            let at_x0 = at_row;
            for (w, step) in at_row.iter_mut().zip(row_steps) {
                *w += step;
            }
            let inside = |dx: i32| {
                let fx = dx as f32;
                at_x0[0] + steps[0] * fx >= 0.0
                    && at_x0[1] + steps[1] * fx >= 0.0
                    && at_x0[2] + steps[2] * fx >= 0.0
            };
            // Solve each edge for x to bracket the covered span, then walk the ends in with
            // the exact per-pixel test. Each test is monotone in x (rounding is monotone), so
            // the covered pixels of a row are one interval and the ends decide it exactly.
            let (mut lo, mut hi) = (0.0f32, span_max as f32);
            for ((w, step), inv_step) in at_x0.iter().zip(steps).zip(inv_steps) {
                if step > 0.0 {
                    lo = lo.max(-w * inv_step);
                } else if step < 0.0 {
                    hi = hi.min(-w * inv_step);
                } else if *w < 0.0 {
                    hi = -1.0;
                }
            }
            if lo > hi + 2.0 || lo.is_nan() || hi.is_nan() {
                continue;
            }
            let mut first = (lo as i32 - 1).max(0);
            let mut last = (hi.max(0.0) as i32 + 2).min(span_max);
            while first <= last && !inside(first) {
                first += 1;
            }
            while last >= first && !inside(last) {
                last -= 1;
            }
            if first > last {
                continue;
            }
            let fx = first as f32;
            let mut z = ((at_x0[0] + steps[0] * fx) * v0.z
                + (at_x0[1] + steps[1] * fx) * v1.z
                + (at_x0[2] + steps[2] * fx) * v2.z)
                * inv_area;
            let begin = y as usize * width + (min_x + first) as usize;
            let end = begin + (last - first) as usize + 1;
            for (depth, colour) in self.depth[begin..end]
                .iter_mut()
                .zip(&mut self.colour[begin..end])
            {
                if z < *depth {
                    *depth = z;
                    *colour = rgb;
                }
                z += dz;
            }
        }
    }
}
