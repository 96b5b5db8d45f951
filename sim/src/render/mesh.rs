//! Unit meshes, tessellated once per renderer.

use std::f32::consts::{PI, TAU};

use rapier3d::glamx::Vec3;

use crate::MeshKind;

/// Segments around round meshes at each level of detail, coarse to fine.
const LEVELS: [u32; 5] = [6, 8, 12, 16, 32];

/// A closed (or one-sided, for flat decals) triangle mesh, counter-clockwise seen from outside.
#[derive(Clone, Debug, Default)]
pub struct Mesh {
    /// Vertex positions.
    pub positions: Vec<Vec3>,
    /// Vertex indices, three per triangle.
    pub triangles: Vec<[u32; 3]>,
}

impl Mesh {
    /// The cube `[-1, 1]³`.
    pub fn cube() -> Self {
        let positions = (0..8)
            .map(|i| {
                Vec3::new(
                    if i & 1 == 0 { -1.0 } else { 1.0 },
                    if i & 2 == 0 { -1.0 } else { 1.0 },
                    if i & 4 == 0 { -1.0 } else { 1.0 },
                )
            })
            .collect();
        // Each face as a quad (a, b, c, d) counter-clockwise from outside.
        let quads = [
            [0, 2, 3, 1], // -z
            [4, 5, 7, 6], // +z
            [0, 1, 5, 4], // -y
            [2, 6, 7, 3], // +y
            [0, 4, 6, 2], // -x
            [1, 3, 7, 5], // +x
        ];
        let triangles = quads
            .iter()
            .flat_map(|[a, b, c, d]| [[*a, *b, *c], [*a, *c, *d]])
            .collect();
        Self {
            positions,
            triangles,
        }
    }

    /// The sphere of radius 1: a UV sphere of `SEGMENTS` segments and `SEGMENTS / 2` rings.
    pub fn sphere(segments: u32) -> Self {
        let (rings, segments) = ((segments / 2).max(2), segments.max(3));
        let mut positions = vec![Vec3::Z];
        for ring in 1..rings {
            let polar = PI * ring as f32 / rings as f32;
            for seg in 0..segments {
                let azimuth = TAU * seg as f32 / segments as f32;
                positions.push(Vec3::new(
                    polar.sin() * azimuth.cos(),
                    polar.sin() * azimuth.sin(),
                    polar.cos(),
                ));
            }
        }
        positions.push(-Vec3::Z);
        let south = positions.len() as u32 - 1;
        let ring_start = |ring: u32| 1 + (ring - 1) * segments;
        let mut triangles = Vec::new();
        for seg in 0..segments {
            let next = (seg + 1) % segments;
            triangles.push([0, ring_start(1) + seg, ring_start(1) + next]);
            let last = ring_start(rings - 1);
            triangles.push([south, last + next, last + seg]);
        }
        for ring in 1..rings - 1 {
            let (upper, lower) = (ring_start(ring), ring_start(ring + 1));
            for seg in 0..segments {
                let next = (seg + 1) % segments;
                triangles.push([upper + seg, lower + seg, lower + next]);
                triangles.push([upper + seg, lower + next, upper + next]);
            }
        }
        Self {
            positions,
            triangles,
        }
    }

    /// The cylinder of radius 1 from z = -1 to z = 1, with caps, of `segments` sides.
    pub fn cylinder(segments: u32) -> Self {
        let segments = segments.max(3);
        let mut positions = vec![Vec3::new(0.0, 0.0, 1.0), Vec3::new(0.0, 0.0, -1.0)];
        for seg in 0..segments {
            let azimuth = TAU * seg as f32 / segments as f32;
            let (s, c) = azimuth.sin_cos();
            positions.push(Vec3::new(c, s, 1.0));
            positions.push(Vec3::new(c, s, -1.0));
        }
        let top = |seg: u32| 2 + 2 * (seg % segments);
        let bottom = |seg: u32| 3 + 2 * (seg % segments);
        let mut triangles = Vec::new();
        for seg in 0..segments {
            triangles.push([0, top(seg), top(seg + 1)]);
            triangles.push([1, bottom(seg + 1), bottom(seg)]);
            triangles.push([top(seg), bottom(seg), bottom(seg + 1)]);
            triangles.push([top(seg), bottom(seg + 1), top(seg + 1)]);
        }
        Self {
            positions,
            triangles,
        }
    }

    /// The square `[-1, 1]²` at z = 0, facing +z.
    pub fn quad() -> Self {
        Self {
            positions: vec![
                Vec3::new(-1.0, -1.0, 0.0),
                Vec3::new(1.0, -1.0, 0.0),
                Vec3::new(1.0, 1.0, 0.0),
                Vec3::new(-1.0, 1.0, 0.0),
            ],
            triangles: vec![[0, 1, 2], [0, 2, 3]],
        }
    }

    /// The disc of radius 1 at z = 0, facing +z, of `segments` sides.
    pub fn disc(segments: u32) -> Self {
        let n = segments.max(3);
        let mut positions = vec![Vec3::ZERO];
        for seg in 0..n {
            let azimuth = TAU * seg as f32 / n as f32;
            let (s, c) = azimuth.sin_cos();
            positions.push(Vec3::new(c, s, 0.0));
        }
        let triangles = (0..n).map(|i| [0, 1 + i, 1 + (i + 1) % n]).collect();
        Self {
            positions,
            triangles,
        }
    }
}

/// One mesh of each [`MeshKind`], round ones at several levels of detail.
#[derive(Clone, Debug)]
pub struct MeshSet {
    cube: Mesh,
    quad: Mesh,
    spheres: Vec<Mesh>,
    cylinders: Vec<Mesh>,
    discs: Vec<Mesh>,
}

impl Default for MeshSet {
    fn default() -> Self {
        Self::new()
    }
}

impl MeshSet {
    /// Tessellates every kind.
    pub fn new() -> Self {
        Self {
            cube: Mesh::cube(),
            quad: Mesh::quad(),
            spheres: LEVELS.iter().map(|s| Mesh::sphere(*s)).collect(),
            cylinders: LEVELS.iter().map(|s| Mesh::cylinder(*s)).collect(),
            discs: LEVELS.iter().map(|s| Mesh::disc(*s)).collect(),
        }
    }

    /// The mesh of a kind, detailed enough for a radius of `radius_px` pixels on screen: about
    /// one segment per 1.5 pixels of circumference, so outlines look round without spending
    /// triangles a 64×64 frame cannot show.
    pub fn get(&self, kind: MeshKind, radius_px: f32) -> &Mesh {
        let wanted = radius_px * 4.0;
        let level = LEVELS
            .iter()
            .position(|s| *s as f32 >= wanted)
            .unwrap_or(LEVELS.len() - 1);
        match kind {
            MeshKind::Cube => &self.cube,
            MeshKind::Quad => &self.quad,
            MeshKind::Sphere => &self.spheres[level],
            MeshKind::Cylinder => &self.cylinders[level],
            MeshKind::Disc => &self.discs[level],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed mesh wound counter-clockwise from outside has a positive signed volume.
    fn signed_volume(mesh: &Mesh) -> f32 {
        mesh.triangles
            .iter()
            .map(|[a, b, c]| {
                let (a, b, c) = (
                    mesh.positions[*a as usize],
                    mesh.positions[*b as usize],
                    mesh.positions[*c as usize],
                );
                a.dot(b.cross(c)) / 6.0
            })
            .sum()
    }

    #[test]
    fn closed_meshes_face_outwards_with_the_right_volume() {
        assert!((signed_volume(&Mesh::cube()) - 8.0).abs() < 1e-4);
        for segments in LEVELS {
            let sphere = signed_volume(&Mesh::sphere(segments));
            assert!(
                sphere > 2.0 && sphere < 4.0 * PI / 3.0,
                "sphere volume {sphere}"
            );
            let cylinder = signed_volume(&Mesh::cylinder(segments));
            assert!(
                cylinder > 5.0 && cylinder < 2.0 * PI,
                "cylinder volume {cylinder}"
            );
        }
    }

    #[test]
    fn flat_meshes_face_up() {
        for mesh in [Mesh::quad(), Mesh::disc(8), Mesh::disc(32)] {
            for [a, b, c] in &mesh.triangles {
                let (a, b, c) = (
                    mesh.positions[*a as usize],
                    mesh.positions[*b as usize],
                    mesh.positions[*c as usize],
                );
                assert!((b - a).cross(c - a).z > 0.0);
            }
        }
    }
}
