//! The rasterizer: transforms meshes, clips at the near plane (and a guard band far outside
//! the image), fills triangles with a z-buffer.
//!
//! Coverage is watertight: vertices are snapped to a 1/256-pixel grid and edge functions are
//! evaluated exactly in integers with a top-left fill rule, so triangles that share an edge
//! cover each pixel along it exactly once, at every image size.

use rapier3d::glamx::{Mat4, Vec3, Vec4};
use rapier3d::prelude::RigidBodyHandle;

use super::camera::{FAR, NEAR};
use super::{Camera, Frame, MeshSet};
use crate::visual::Layer;
use crate::{CameraSpec, MeshKind, World, WorldSpec};

/// Bits of sub-pixel precision in snapped vertex positions.
const SUBPIXEL_BITS: u32 = 8;
/// One pixel in snapped units.
const PIXEL: i64 = 1 << SUBPIXEL_BITS;
/// Snapped vertices stay within about this many pixels of the image (triangles reaching
/// further are clipped first): coordinates then stay below 2^29 units, and the products in an
/// edge function below 2^59, exact in `i64`.
const GUARD_BAND_PX: f32 = (1 << 20) as f32;
/// Most vertices a clipped triangle can have: three, plus one per clipping plane.
const MAX_CLIPPED: usize = 8;
/// How far behind what is already drawn a decal may lie and still win, as a fraction of the
/// distance. Only ground planes and earlier decals are drawn before decals, so this settles
/// the tie between a patch and the ground under it and cannot let a patch show through a solid.
const DECAL_DEPTH_SLACK: f32 = 0.01;

/// A vertex in screen space: position in 1/256 pixels (x right, y down) and inverse depth.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ScreenVertex {
    x: i64,
    y: i64,
    /// `1 / w`, the inverse of the distance along the view axis: affine on the screen, and held
    /// by an `f32` to the same relative precision near and far (normalised device depth loses
    /// precision with the square of the distance, and walls fought the floor 100 m away).
    inv_w: f32,
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
    /// Supersampled depth buffer: inverse depth (`1 / w`), larger is nearer.
    depth: Vec<f32>,
    clip_scratch: Vec<Vec4>,
    world_scratch: Vec<Vec3>,
    /// Snapped vertices; `None` where a vertex must be clipped first.
    screen_scratch: Vec<Option<ScreenVertex>>,
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
            depth: vec![1.0 / FAR; pixels],
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
        self.depth.fill(1.0 / FAR);
        // The episode's light (the file's, unless a `light` randomisation entry drew another).
        [self.ambient, self.diffuse] = world.episode().light;
        for (kind, world_from_mesh, colour, layer) in world.drawables(overrides) {
            let decal = layer == Layer::Decal;
            self.draw_mesh(kind, &world_from_mesh, colour, decal, width, height);
        }
        self.resolve(frame);
    }

    fn draw_mesh(
        &mut self,
        kind: MeshKind,
        world_from_mesh: &Mat4,
        colour: [f32; 3],
        decal: bool,
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
        let guard = [
            GUARD_BAND_PX / width.max(1) as f32,
            GUARD_BAND_PX / height.max(1) as f32,
        ];
        self.world_scratch.clear();
        self.clip_scratch.clear();
        self.screen_scratch.clear();
        for p in &mesh.positions {
            let in_world = world_from_mesh.transform_point3(*p);
            let clip = clip_from_world * in_world.extend(1.0);
            self.world_scratch.push(in_world);
            self.clip_scratch.push(clip);
            self.screen_scratch
                .push(inside_guard_band(clip, guard).then(|| to_screen(clip, width, height)));
        }
        let mut target = Target {
            colour: &mut self.colour,
            depth: &mut self.depth,
            width,
            height,
        };
        let fill = |target: &mut Target, triangle, rgb| {
            if decal {
                target.fill_triangle::<true>(triangle, rgb);
            } else {
                target.fill_triangle::<false>(triangle, rgb);
            }
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
            let snapped = match [
                self.screen_scratch[a],
                self.screen_scratch[b],
                self.screen_scratch[c],
            ] {
                [Some(a), Some(b), Some(c)] => Some([a, b, c]),
                _ => None,
            };
            if let Some([a, b, c]) = snapped
                && orientation(a, b, c) >= 0
            {
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
            if let Some(triangle) = snapped {
                fill(&mut target, triangle, rgb);
            } else if clip.iter().all(|v| v.is_finite()) {
                // Crosses the near plane or leaves the guard band: clip, then fan.
                let mut polygon = [Vec4::ZERO; MAX_CLIPPED];
                let n = clip_polygon(&clip, guard, &mut polygon);
                for i in 1..n.saturating_sub(1) {
                    let triangle = [polygon[0], polygon[i], polygon[i + 1]];
                    fill(
                        &mut target,
                        triangle.map(|v| to_screen(v, width, height)),
                        rgb,
                    );
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

/// Whether a clip-space vertex can be snapped as it is: in front of the near plane and inside
/// the guard band (`guard` is its half-width and half-height in normalised device units).
fn inside_guard_band(clip: Vec4, guard: [f32; 2]) -> bool {
    clip.z >= 0.0 && clip.x.abs() <= guard[0] * clip.w && clip.y.abs() <= guard[1] * clip.w
}

/// Signed distances of a clip-space point from the clipping planes, inside where `>= 0`: the
/// near plane, then the four sides of the guard band.
fn plane_distances(v: Vec4, guard: [f32; 2]) -> [f32; 5] {
    [
        v.z,
        guard[0] * v.w - v.x,
        guard[0] * v.w + v.x,
        guard[1] * v.w - v.y,
        guard[1] * v.w + v.y,
    ]
}

/// Sutherland–Hodgman against the near plane and the guard band; returns the vertex count.
/// Each crossing point is interpolated from the edge's inside end, so the two triangles that
/// share an edge (and walk it in opposite directions) cut it at bit-identical points.
fn clip_polygon(triangle: &[Vec4; 3], guard: [f32; 2], out: &mut [Vec4; MAX_CLIPPED]) -> usize {
    out[..3].copy_from_slice(triangle);
    let mut n = 3;
    let mut next = [Vec4::ZERO; MAX_CLIPPED];
    for plane in 0..5 {
        let distance = |v: Vec4| plane_distances(v, guard)[plane];
        if out[..n].iter().all(|v| distance(*v) >= 0.0) {
            continue;
        }
        let mut m = 0;
        for i in 0..n {
            let (p, q) = (out[i], out[(i + 1) % n]);
            let (dp, dq) = (distance(p), distance(q));
            if dp >= 0.0 && m < MAX_CLIPPED {
                next[m] = p;
                m += 1;
            }
            if (dp >= 0.0) != (dq >= 0.0) && m < MAX_CLIPPED {
                next[m] = if dp >= 0.0 {
                    p + (q - p) * (dp / (dp - dq))
                } else {
                    q + (p - q) * (dq / (dq - dp))
                };
                m += 1;
            }
        }
        if m < 3 {
            return 0;
        }
        out[..m].copy_from_slice(&next[..m]);
        n = m;
    }
    n
}

/// Twice the signed area of a screen triangle, in squared snapped units: negative when it is
/// counter-clockwise in the world's view (clockwise on the y-down screen), i.e. front-facing.
fn orientation(v0: ScreenVertex, v1: ScreenVertex, v2: ScreenVertex) -> i64 {
    (v1.x - v0.x) * (v2.y - v0.y) - (v1.y - v0.y) * (v2.x - v0.x)
}

/// A clip-space vertex on the screen, snapped to the sub-pixel grid. Only for vertices inside
/// the guard band, where the snapped coordinates stay small enough for exact edge functions.
fn to_screen(clip: Vec4, width: u32, height: u32) -> ScreenVertex {
    let inv_w = 1.0 / clip.w;
    ScreenVertex {
        x: snap((clip.x * inv_w * 0.5 + 0.5) * width as f32),
        y: snap((0.5 - clip.y * inv_w * 0.5) * height as f32),
        inv_w,
    }
}

/// Pixels to the nearest sub-pixel unit (`as` rather than `round`, a library call on baseline
/// x86-64; how ties go does not matter, only that a vertex always snaps the same way).
fn snap(pixels: f32) -> i64 {
    let units = pixels * PIXEL as f32;
    (units + 0.5f32.copysign(units)) as i64
}

/// Inverse depth along one row of covered pixels: `at_first + per_pixel · i` at the `i`-th.
#[derive(Clone, Copy, Debug)]
struct DepthSpan {
    at_first: f32,
    per_pixel: f32,
}

/// Calls `fill(row, first, last, depth)` for every row of pixels whose centres a front-facing
/// triangle covers (`first..=last` in that row); back faces and degenerate triangles cover
/// nothing.
///
/// Edge functions of the snapped vertices are exact integers, and a centre exactly on an edge
/// is covered only by a top or left edge (top-left rule), so triangles sharing an edge cover
/// each centre along it exactly once: no cracks, no double blending.
fn for_each_span(
    v: [ScreenVertex; 3],
    width: u32,
    height: u32,
    mut fill: impl FnMut(usize, usize, usize, DepthSpan),
) {
    let [v0, mut v1, mut v2] = v;
    let area = orientation(v0, v1, v2);
    // Front faces have negative area on a y-down screen; flip them to positive.
    if area >= 0 {
        return;
    }
    std::mem::swap(&mut v1, &mut v2);
    let area = -area;
    // Pixel i's centre is at i·PIXEL + PIXEL/2; the shifts floor, so the box holds every
    // centre inside the triangle's bounds (and perhaps one more column or row).
    let half = PIXEL / 2;
    let min_x = ((v0.x.min(v1.x).min(v2.x) - half) >> SUBPIXEL_BITS).max(0);
    let max_x = ((v0.x.max(v1.x).max(v2.x) - half) >> SUBPIXEL_BITS).min(i64::from(width) - 1);
    let min_y = ((v0.y.min(v1.y).min(v2.y) - half) >> SUBPIXEL_BITS).max(0);
    let max_y = ((v0.y.max(v1.y).max(v2.y) - half) >> SUBPIXEL_BITS).min(i64::from(height) - 1);
    if min_x > max_x || min_y > max_y {
        return;
    }
    let origin = [min_x * PIXEL + half, min_y * PIXEL + half];
    // Edge i runs between the two vertices other than v_i and is positive on v_i's side.
    let edges = [(v1, v2), (v2, v0), (v0, v1)];
    let mut at_row = [0i64; 3];
    let mut step_x = [0i64; 3];
    let mut step_y = [0i64; 3];
    for (i, (a, b)) in edges.into_iter().enumerate() {
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        // With this winding a left edge goes up the y-down screen and a top edge goes right;
        // centres on any other edge belong to the neighbour across it.
        let owns_centres_on_edge = dy < 0 || (dy == 0 && dx > 0);
        let bias = if owns_centres_on_edge { 0 } else { -1 };
        at_row[i] = dx * (origin[1] - a.y) - dy * (origin[0] - a.x) + bias;
        step_x[i] = -dy * PIXEL;
        step_y[i] = dx * PIXEL;
    }
    let inv_step_x = step_x.map(|step| if step == 0 { 0.0 } else { 1.0 / step as f64 });
    // Inverse depth as a plane through v0: rounding then scales with how much it changes across
    // the triangle, not with its size (as a weighted sum of all three vertices does).
    let (e1, e2) = ([v1.x - v0.x, v1.y - v0.y], [v2.x - v0.x, v2.y - v0.y]);
    let (z0, z1, z2) = (
        f64::from(v0.inv_w),
        f64::from(v1.inv_w),
        f64::from(v2.inv_w),
    );
    let inv_area = PIXEL as f64 / area as f64;
    let dz_dx = ((z1 - z0) * e2[1] as f64 - (z2 - z0) * e1[1] as f64) * inv_area;
    let dz_dy = ((z2 - z0) * e1[0] as f64 - (z1 - z0) * e2[0] as f64) * inv_area;
    let z_origin =
        z0 + (dz_dx * (origin[0] - v0.x) as f64 + dz_dy * (origin[1] - v0.y) as f64) / PIXEL as f64;
    let span_max = max_x - min_x;
    for (row, y) in (min_y..=max_y).enumerate() {
        let at_x0 = at_row;
        for (w, step) in at_row.iter_mut().zip(step_y) {
            *w += step;
        }
        let inside = |dx: i64| {
            at_x0[0] + step_x[0] * dx >= 0
                && at_x0[1] + step_x[1] * dx >= 0
                && at_x0[2] + step_x[2] * dx >= 0
        };
        // Solve each edge for x in floating point to bracket the covered span, then walk the
        // ends in with the exact test. Each test is monotone in x, so the covered pixels of a
        // row are one interval and the exact tests at its ends decide it.
        let (mut lo, mut hi) = (0.0f64, span_max as f64);
        for i in 0..3 {
            let crossing = -(at_x0[i] as f64) * inv_step_x[i];
            if step_x[i] > 0 {
                lo = lo.max(crossing);
            } else if step_x[i] < 0 {
                hi = hi.min(crossing);
            } else if at_x0[i] < 0 {
                hi = -2.0;
            }
        }
        if hi < -1.0 || lo > hi + 2.0 {
            continue;
        }
        let mut first = (lo as i64 - 1).max(0);
        let mut last = (hi as i64 + 1).min(span_max);
        while first <= last && !inside(first) {
            first += 1;
        }
        while last >= first && !inside(last) {
            last -= 1;
        }
        if first > last {
            continue;
        }
        let at_first = z_origin + dz_dy * row as f64 + dz_dx * first as f64;
        fill(
            y as usize,
            (min_x + first) as usize,
            (min_x + last) as usize,
            DepthSpan {
                at_first: at_first as f32,
                per_pixel: dz_dx as f32,
            },
        );
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
    /// the y-down screen); back faces are skipped. A `DECAL` also wins over what lies a little
    /// in front of it (see [`DECAL_DEPTH_SLACK`]).
    fn fill_triangle<const DECAL: bool>(&mut self, v: [ScreenVertex; 3], rgb: [u8; 3]) {
        let width = self.width as usize;
        let (colour, depth) = (&mut *self.colour, &mut *self.depth);
        for_each_span(v, self.width, self.height, |y, first, last, span| {
            let (begin, end) = (y * width + first, y * width + last + 1);
            for (i, (stored, pixel)) in depth[begin..end]
                .iter_mut()
                .zip(&mut colour[begin..end])
                .enumerate()
            {
                let z = span.at_first + span.per_pixel * i as f32;
                if DECAL {
                    // Keeps the nearer depth: a patch hides what the surface under it hid.
                    if z > *stored * (1.0 - DECAL_DEPTH_SLACK) {
                        *stored = stored.max(z);
                        *pixel = rgb;
                    }
                } else if z > *stored {
                    *stored = z;
                    *pixel = rgb;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), enough for sub-pixel jitter.
    struct Jitter(u64);

    impl Jitter {
        /// A value in `[-amplitude, amplitude]`.
        fn next(&mut self, amplitude: f32) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        }
    }

    /// How many triangles cover each pixel of a `size × size` image when a grid of cells
    /// (corners from `corner(col, row)`, in pixels) is split into triangles, the diagonal
    /// alternating from cell to cell so edges run every way.
    fn coverage(size: u32, cells: usize, corner: impl Fn(usize, usize) -> (f32, f32)) -> Vec<u32> {
        let vertex = |col, row| {
            let (x, y) = corner(col, row);
            ScreenVertex {
                x: snap(x),
                y: snap(y),
                inv_w: 0.5,
            }
        };
        let mut counts = vec![0u32; (size * size) as usize];
        for row in 0..cells {
            for col in 0..cells {
                let [a, b, c, d] = [
                    vertex(col, row),
                    vertex(col + 1, row),
                    vertex(col + 1, row + 1),
                    vertex(col, row + 1),
                ];
                let triangles = if (row + col) % 2 == 0 {
                    [[a, b, c], [a, c, d]]
                } else {
                    [[a, b, d], [b, c, d]]
                };
                for [p, q, r] in triangles {
                    // Front-facing means clockwise on the screen, negative orientation.
                    let front = if orientation(p, q, r) < 0 {
                        [p, q, r]
                    } else {
                        [p, r, q]
                    };
                    for_each_span(front, size, size, |y, first, last, _| {
                        for x in first..=last {
                            counts[y * size as usize + x] += 1;
                        }
                    });
                }
            }
        }
        counts
    }

    #[test]
    fn a_jittered_mesh_covers_every_pixel_exactly_once() {
        let (size, cells) = (64, 9);
        let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15);
        // Corners jittered by up to 3 px; the grid reaches past the image on every side.
        let offsets: Vec<(f32, f32)> = (0..(cells + 1) * (cells + 1))
            .map(|_| (jitter.next(3.0), jitter.next(3.0)))
            .collect();
        let counts = coverage(size, cells, |col, row| {
            let (dx, dy) = offsets[row * (cells + 1) + col];
            let step = (size as f32 + 20.0) / cells as f32;
            (
                -10.0 + col as f32 * step + dx,
                -10.0 + row as f32 * step + dy,
            )
        });
        assert!(counts.iter().all(|&n| n == 1), "{counts:?}");
    }

    #[test]
    fn edges_through_pixel_centres_belong_to_one_side() {
        // Corners on pixel centres: every edge, horizontal, vertical and diagonal, passes
        // through centres, which the top-left rule must give to exactly one triangle.
        let (size, cells) = (40, 10);
        let counts = coverage(size, cells, |col, row| {
            (
                -4.5 + col as f32 * 5.0,
                -4.5 + row as f32 * 5.0 + if col % 3 == 0 { 1.0 } else { 0.0 },
            )
        });
        assert!(counts.iter().all(|&n| n == 1), "{counts:?}");
    }

    #[test]
    fn decals_win_ties_with_what_lies_under_them_and_nothing_more() {
        let (size, ground, patch, box_top) = (8, [1, 1, 1], [2, 2, 2], [3, 3, 3]);
        let mut colour = vec![[0; 3]; size * size];
        let mut depth = vec![1.0 / FAR; size * size];
        let mut target = Target {
            colour: &mut colour,
            depth: &mut depth,
            width: size as u32,
            height: size as u32,
        };
        // Two triangles covering the whole image, all at one inverse depth.
        let cover = |inv_w: f32| {
            let corner = |x: f32, y: f32| ScreenVertex {
                x: snap(x),
                y: snap(y),
                inv_w,
            };
            let (a, b, c, d) = (
                corner(-1.0, -1.0),
                corner(9.0, -1.0),
                corner(9.0, 9.0),
                corner(-1.0, 9.0),
            );
            [[a, c, b], [a, d, c]]
        };
        let fill = |target: &mut Target, inv_w: f32, rgb, decal: bool| {
            for triangle in cover(inv_w) {
                if decal {
                    target.fill_triangle::<true>(triangle, rgb);
                } else {
                    target.fill_triangle::<false>(triangle, rgb);
                }
            }
        };
        fill(&mut target, 0.5, ground, false);
        fill(
            &mut target,
            0.5 * (1.0 - 0.2 * DECAL_DEPTH_SLACK),
            patch,
            true,
        );
        assert!(
            colour_everywhere(&target, patch),
            "a patch at the ground's depth lost"
        );
        fill(&mut target, 0.5, box_top, false);
        assert!(
            colour_everywhere(&target, patch),
            "a solid at the same depth won"
        );
        fill(
            &mut target,
            0.5 * (1.0 + 2.0 * DECAL_DEPTH_SLACK),
            box_top,
            false,
        );
        fill(&mut target, 0.5, patch, true);
        assert!(
            colour_everywhere(&target, box_top),
            "a patch showed through a solid"
        );
    }

    fn colour_everywhere(target: &Target, rgb: [u8; 3]) -> bool {
        target.colour.iter().all(|c| *c == rgb)
    }

    #[test]
    fn triangles_sharing_an_edge_cut_it_at_the_same_point() {
        // Edge a–b crosses the near plane; the two triangles walk it in opposite directions.
        let guard = [GUARD_BAND_PX / 64.0; 2];
        let a = Vec4::new(0.3, -0.2, -0.4, 0.1);
        let b = Vec4::new(-0.7, 0.9, 2.3, 3.0);
        let (c, d) = (
            Vec4::new(1.5, 0.4, 1.0, 2.0),
            Vec4::new(-1.1, -0.8, 0.7, 1.5),
        );
        let mut first = [Vec4::ZERO; MAX_CLIPPED];
        let mut second = [Vec4::ZERO; MAX_CLIPPED];
        let n = clip_polygon(&[a, b, c], guard, &mut first);
        let m = clip_polygon(&[b, a, d], guard, &mut second);
        let on_near_plane = |points: &[Vec4]| -> Vec<Vec4> {
            points
                .iter()
                .copied()
                .filter(|p| p.z.abs() < 1e-5)
                .collect()
        };
        let shared: Vec<Vec4> = on_near_plane(&first[..n])
            .into_iter()
            .filter(|p| on_near_plane(&second[..m]).contains(p))
            .collect();
        assert_eq!(shared.len(), 1, "{:?} vs {:?}", &first[..n], &second[..m]);
    }

    #[test]
    fn the_guard_band_keeps_far_vertices_out_of_the_edge_functions() {
        // A vertex almost on the camera plane lands millions of pixels away; clipping to the
        // guard band keeps every snapped coordinate where the edge functions stay exact.
        let guard = [GUARD_BAND_PX / 64.0; 2];
        let triangle = [
            Vec4::new(0.0, 0.0, 0.5, 1.0),
            Vec4::new(0.5, 0.0, 0.5, 1.0),
            Vec4::new(3.0, 0.0, 1e-7, 1e-6),
        ];
        assert!(!inside_guard_band(triangle[2], guard));
        let mut polygon = [Vec4::ZERO; MAX_CLIPPED];
        let n = clip_polygon(&triangle, guard, &mut polygon);
        assert!(n >= 3);
        for p in &polygon[..n] {
            let v = to_screen(*p, 64, 64);
            let limit = 2 * GUARD_BAND_PX as i64 * PIXEL;
            assert!(v.x.abs() <= limit && v.y.abs() <= limit, "{v:?}");
        }
    }
}
