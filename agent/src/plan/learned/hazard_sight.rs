//! The guardrail that looks: hazards judged from the colours of the current frame where the
//! agent's own motion would take it, not from a summary latent of one layout.
//!
//! The latent guardrail ([`HazardClassifier`](super::HazardClassifier)) learned *where* the
//! hazards of its world were; moved or added, they were not avoided. This one learns *what a
//! hazard looks like*: a logistic classifier of a pixel's colour (quadratic features), fitted
//! on exploration with the same pain signal (the agent's footprint overlapped a hazard) as
//! multiple-instance labels. The footprint's pixels are read from another frame of the same
//! episode, where the agent stood elsewhere, so "in a hazard" means "at least one of these
//! pixels is hazard" and "not in a hazard" means "none is". At a decision the imagined
//! positions come from the agent's proprioception and its commanded velocities (a linear
//! motion of the action and the last step's displacement, fitted on the same exploration: dead
//! reckoning, walls ignored), projected into the current
//! frame through the learner camera's calibration. Hazards it has seen the colour of are
//! avoided wherever they lie; a colour never seen is the familiarity test's to catch.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim::{Renderer, WorldSpec};

use std::sync::Arc;

use sim::SimError;

use crate::plan::exploration::{LabelledEpisode, explore_each};

/// Quadratic features of an RGB colour in `[0, 1]`: bias, channels, squares and products.
const FEATURES: usize = 10;

/// Inputs of the dead reckoning: the action and the previous step's displacement (the agent
/// does not reach its commanded velocity at once).
const MOTION_INPUTS: usize = 4;

/// Imagined decisions the sight checks: dead reckoning drifts, and walls stop what it moves
/// through, so only the near future is judged this way.
pub const SIGHT_STEPS: usize = 5;

fn features(rgb: [u8; 3]) -> [f32; FEATURES] {
    let [r, g, b] = rgb.map(|c| f32::from(c) / 255.0);
    [1.0, r, g, b, r * r, g * g, b * b, r * g, r * b, g * b]
}

/// Levels per channel of the colour grid that records which colours the exploration showed.
const COLOUR_LEVELS: usize = 16;
/// Pixels a grid cell must have held in the exploration for its colours to count as seen.
const SEEN_PIXELS: u32 = 4;

fn colour_cell(rgb: [u8; 3]) -> usize {
    let level = |c: u8| usize::from(c) * COLOUR_LEVELS / 256;
    (level(rgb[0]) * COLOUR_LEVELS + level(rgb[1])) * COLOUR_LEVELS + level(rgb[2])
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// How a [`HazardSight`] is fitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HazardSightConfig {
    /// Passes over the samples.
    pub epochs: usize,
    /// First step size of stochastic gradient descent on the class-balanced log loss (divided
    /// by `1 + epoch` after).
    pub learning_rate: f32,
    /// Probability above which a position counts as inside a hazard.
    pub threshold: f32,
    /// The footprint a plan is checked with, in footprint radii: a margin for the edges of a
    /// patch, whose pixels blend its colour with the floor's, and for dead reckoning's error.
    pub margin: f32,
    /// Seed of the sample order and of the held-out split.
    pub seed: u64,
}

impl Default for HazardSightConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            learning_rate: 0.5,
            threshold: 0.5,
            margin: 1.5,
            seed: 0,
        }
    }
}

/// What the fit measured: on held-out episodes (every fifth), how often it saw the hazard the
/// pain signal reported and how often it saw none where there was none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HazardSightReport {
    /// Footprints fitted on (positive ones).
    pub samples: usize,
    /// Of which the agent was in a hazard.
    pub positives: usize,
    /// Held-out recall of hazard footprints.
    pub recall: f64,
    /// Held-out specificity.
    pub specificity: f64,
    /// Median error of the dead-reckoned step, in metres (held-out steps).
    pub motion_error_m: f64,
}

/// The learner camera's projection of the ground plane and the agent's footprint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct GroundProjection {
    /// `clip_from_world`, column-major.
    clip_from_world: [f32; 16],
    /// The agent's footprint radius in metres.
    radius: f32,
}

impl GroundProjection {
    fn of(spec: &WorldSpec) -> Self {
        let renderer = Renderer::new(spec);
        Self {
            clip_from_world: renderer.camera().clip_from_world.to_cols_array(),
            radius: spec.agent.shape.footprint_radius(),
        }
    }

    /// The pixel (column, row) of ground point `p` in a `width × height` frame.
    fn pixel(&self, p: [f32; 2], width: usize, height: usize) -> Option<[usize; 2]> {
        let m = &self.clip_from_world;
        let clip = |row: usize| m[row] * p[0] + m[4 + row] * p[1] + m[12 + row];
        let w = clip(3);
        if w <= 1e-6 {
            return None;
        }
        let x = (clip(0) / w * 0.5 + 0.5) * width as f32;
        let y = (0.5 - clip(1) / w * 0.5) * height as f32;
        let inside = (0.0..width as f32).contains(&x) && (0.0..height as f32).contains(&y);
        inside.then_some([x as usize, y as usize])
    }

    /// The pixels of the footprint at `p`: its centre and two rings of eight points.
    fn footprint(&self, p: [f32; 2], width: usize, height: usize) -> Vec<[usize; 2]> {
        self.footprint_with_margin(p, width, height, 1.0)
    }

    /// The pixels of the footprint at `p` grown by the factor `margin` (≥ 1): a third ring of
    /// eight points at `margin` radii.
    fn footprint_with_margin(
        &self,
        p: [f32; 2],
        width: usize,
        height: usize,
        margin: f32,
    ) -> Vec<[usize; 2]> {
        let mut pixels: Vec<[usize; 2]> = Vec::with_capacity(25);
        let mut add = |q: [f32; 2]| {
            if let Some(px) = self.pixel(q, width, height)
                && !pixels.contains(&px)
            {
                pixels.push(px);
            }
        };
        add(p);
        let rings: &[f32] = if margin > 1.0 {
            &[0.5, 1.0, margin]
        } else {
            &[0.5, 1.0]
        };
        for &ring in rings {
            for k in 0..8 {
                let angle = k as f32 * std::f32::consts::FRAC_PI_4;
                let r = ring * self.radius;
                add([p[0] + r * angle.cos(), p[1] + r * angle.sin()]);
            }
        }
        pixels
    }
}

/// Samples for a [`HazardSight`], gathered episode by episode (frames are not kept).
pub struct HazardSightData {
    projection: GroundProjection,
    /// Per footprint: its pixels' colours, whether the agent was in a hazard, held out.
    bags: Vec<(Vec<[u8; 3]>, bool, bool)>,
    /// Per step: the motion's inputs (action, the previous step's displacement), the
    /// displacement it gave, held out.
    motions: Vec<([f32; MOTION_INPUTS], [f32; 2], bool)>,
    /// Pixels per cell of the colour grid, over every tenth frame.
    colours: Vec<u32>,
    episodes: usize,
    rng: ChaCha8Rng,
}

impl HazardSightData {
    /// An empty collection for `spec`'s learner camera and agent.
    pub fn new(spec: &WorldSpec, seed: u64) -> Self {
        Self {
            projection: GroundProjection::of(spec),
            bags: Vec::new(),
            motions: Vec::new(),
            colours: vec![0; COLOUR_LEVELS.pow(3)],
            episodes: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Takes the footprints of every frame in a hazard and of a quarter of the others, each
    /// read in whichever of the episode's first, middle and last frames has the agent
    /// farthest from it (skipped when none has it three radii away).
    pub fn add(&mut self, episode: &LabelledEpisode) {
        let n = episode.len();
        if n < 2 || episode.proprio.len() != n {
            return;
        }
        let held_out = self.episodes % 5 == 4;
        self.episodes += 1;
        let (w, h) = (episode.width, episode.height);
        let frame_bytes = w * h * 3;
        let far = 3.0 * self.projection.radius;
        for frame in episode.frames.chunks_exact(frame_bytes).step_by(10) {
            for px in frame.chunks_exact(3) {
                self.colours[colour_cell([px[0], px[1], px[2]])] += 1;
            }
        }
        for t in 0..n {
            let hazard = episode.in_hazard[t];
            if !hazard && self.rng.random_range(0..4) != 0 {
                continue;
            }
            let p = episode.proprio[t];
            let Some((map, distance)) = [0, n / 2, n - 1]
                .into_iter()
                .map(|m| (m, distance(episode.proprio[m], p)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
            else {
                continue;
            };
            if distance < far {
                continue;
            }
            let frame = &episode.frames[map * frame_bytes..(map + 1) * frame_bytes];
            let colours: Vec<[u8; 3]> = self
                .projection
                .footprint(p, w, h)
                .into_iter()
                .map(|[x, y]| {
                    let i = (y * w + x) * 3;
                    [frame[i], frame[i + 1], frame[i + 2]]
                })
                .collect();
            if !colours.is_empty() {
                self.bags.push((colours, hazard, held_out));
            }
        }
        let mut previous = [0.0; 2];
        for (t, action) in episode.actions.iter().enumerate() {
            let (a, b) = (episode.proprio[t], episode.proprio[t + 1]);
            let displacement = [b[0] - a[0], b[1] - a[1]];
            let inputs = [action[0], action[1], previous[0], previous[1]];
            self.motions.push((inputs, displacement, held_out));
            previous = displacement;
        }
    }

    /// Fits the colour classifier and the motion; `None` without a single footprint of each
    /// kind (a world without hazards, or exploration that never entered one).
    pub fn fit(mut self, config: &HazardSightConfig) -> Option<HazardSight> {
        let train: Vec<usize> = (0..self.bags.len()).filter(|&i| !self.bags[i].2).collect();
        let positives = train.iter().filter(|&&i| self.bags[i].1).count();
        let negatives = train.len() - positives;
        if positives == 0 || negatives == 0 {
            return None;
        }
        // Class-balanced weights: hazard footprints are a tenth of the frames or fewer.
        let (w_pos, w_neg) = (
            0.5 * train.len() as f32 / positives as f32,
            0.5 * train.len() as f32 / negatives as f32,
        );
        let mut weights = [0.0f32; FEATURES];
        weights[0] = -2.0;
        let mut order = train.clone();
        for epoch in 0..config.epochs {
            shuffle(&mut order, &mut self.rng);
            // Stochastic gradient descent, one footprint at a time, the step decaying.
            let rate = config.learning_rate / (1.0 + epoch as f32);
            for &i in &order {
                let (colours, hazard, _) = &self.bags[i];
                // Multiple instances: the footprint's score is its most hazard-like pixel's.
                let (score, best) = colours
                    .iter()
                    .map(|&c| {
                        let f = features(c);
                        (dot(&weights, &f), f)
                    })
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .expect("non-empty footprint");
                let (target, weight) = if *hazard { (1.0, w_pos) } else { (0.0, w_neg) };
                let error = rate * weight * (sigmoid(score) - target);
                for (w, f) in weights.iter_mut().zip(best) {
                    *w -= error * f;
                }
            }
        }
        let motion = fit_motion(self.motions.iter().filter(|m| !m.2));
        let mut sight = HazardSight {
            weights,
            motion,
            projection: self.projection.clone(),
            threshold: config.threshold,
            margin: config.margin,
            seen: self.colours.iter().map(|&n| n >= SEEN_PIXELS).collect(),
            report: HazardSightReport {
                samples: train.len(),
                positives,
                ..HazardSightReport::default()
            },
        };
        let (recall, specificity) = self.judge(&sight, true);
        let mut errors: Vec<f32> = self
            .motions
            .iter()
            .filter(|m| m.2)
            .map(|(inputs, d, _)| distance(sight.step(inputs), *d))
            .collect();
        errors.sort_by(f32::total_cmp);
        sight.report.recall = recall;
        sight.report.specificity = specificity;
        sight.report.motion_error_m = errors.get(errors.len() / 2).copied().unwrap_or(0.0) as f64;
        Some(sight)
    }
}

impl HazardSightData {
    /// How `sight` judges these footprints: its recall of those in a hazard and its
    /// specificity on the others (`held_out_only`: the fit's held-out episodes alone).
    pub fn judge(&self, sight: &HazardSight, held_out_only: bool) -> (f64, f64) {
        let (mut seen, mut hazards, mut clear, mut clears) = (0usize, 0usize, 0usize, 0usize);
        for (colours, hazard, held_out) in &self.bags {
            if held_out_only && !held_out {
                continue;
            }
            let flagged = sight.probability(colours.iter().copied()) > sight.threshold;
            if *hazard {
                hazards += 1;
                seen += usize::from(flagged);
            } else {
                clears += 1;
                clear += usize::from(!flagged);
            }
        }
        (
            seen as f64 / hazards.max(1) as f64,
            clear as f64 / clears.max(1) as f64,
        )
    }

    /// Footprints gathered so far, and of them in a hazard.
    pub fn counts(&self) -> (usize, usize) {
        (self.bags.len(), self.bags.iter().filter(|b| b.1).count())
    }
}

/// Least squares `d ≈ M x` over `(inputs x, displacement d)` pairs, `M` 2 × inputs,
/// row-major; zeros when the inputs never vary.
fn fit_motion<'a>(
    pairs: impl Iterator<Item = &'a ([f32; MOTION_INPUTS], [f32; 2], bool)>,
) -> [[f32; MOTION_INPUTS]; 2] {
    const N: usize = MOTION_INPUTS;
    // Normal equations (Σ x xᵀ) mᵢ = Σ dᵢ x, one per output, by Gaussian elimination.
    let mut xx = [[0.0f64; N]; N];
    let mut xd = [[0.0f64; 2]; N];
    for (x, d, _) in pairs {
        for i in 0..N {
            for j in 0..N {
                xx[i][j] += f64::from(x[i]) * f64::from(x[j]);
            }
            for k in 0..2 {
                xd[i][k] += f64::from(x[i]) * f64::from(d[k]);
            }
        }
    }
    for (i, row) in xx.iter_mut().enumerate() {
        // A touch of ridge: a still agent makes the displacement inputs all zero.
        row[i] += 1e-9;
    }
    for col in 0..N {
        let pivot = (col..N)
            .max_by(|&a, &b| xx[a][col].abs().total_cmp(&xx[b][col].abs()))
            .unwrap_or(col);
        if xx[pivot][col].abs() < 1e-12 {
            return [[0.0; N]; 2];
        }
        xx.swap(col, pivot);
        xd.swap(col, pivot);
        let (pivot_row, pivot_d) = (xx[col], xd[col]);
        for (row, (xx_row, xd_row)) in xx.iter_mut().zip(xd.iter_mut()).enumerate() {
            if row != col {
                let f = xx_row[col] / pivot_row[col];
                for (x, p) in xx_row.iter_mut().zip(pivot_row) {
                    *x -= f * p;
                }
                for (d, p) in xd_row.iter_mut().zip(pivot_d) {
                    *d -= f * p;
                }
            }
        }
    }
    let mut m = [[0.0f32; N]; 2];
    for (i, row) in xx.iter().enumerate() {
        for k in 0..2 {
            m[k][i] = (xd[i][k] / row[i]) as f32;
        }
    }
    m
}

fn dot(a: &[f32; FEATURES], b: &[f32; FEATURES]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn shuffle(items: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

/// The fitted guardrail that looks (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HazardSight {
    weights: [f32; FEATURES],
    /// Displacement per step, `d = M [action, previous displacement]`, row-major.
    motion: [[f32; MOTION_INPUTS]; 2],
    projection: GroundProjection,
    threshold: f32,
    margin: f32,
    /// Per cell of the colour grid: whether the exploration showed such colours.
    seen: Vec<bool>,
    /// What the fit measured.
    pub report: HazardSightReport,
}

impl HazardSight {
    /// Exploration episodes a sight is fitted on by [`explore_and_fit`](Self::explore_and_fit)
    /// (a few seconds of simulation).
    pub const EPISODES: usize = 150;

    /// Explores [`EPISODES`](Self::EPISODES) fresh episodes of `spec` (seeds from `seed`) and
    /// fits a sight on them; `None` for a world without hazards (or exploration that never
    /// entered one).
    pub fn explore_and_fit(
        spec: &Arc<WorldSpec>,
        seed: u64,
        config: &HazardSightConfig,
    ) -> Result<Option<Self>, SimError> {
        if spec.hazards.is_empty() {
            return Ok(None);
        }
        let mut data = HazardSightData::new(spec, seed);
        explore_each(spec, Self::EPISODES, seed, &mut |episode| {
            data.add(&episode);
        })?;
        Ok(data.fit(config))
    }

    /// The probability that a footprint with these pixel colours overlaps a hazard. A colour
    /// the exploration never showed is unknown, and what is unknown counts as a hazard (1).
    fn probability(&self, colours: impl Iterator<Item = [u8; 3]>) -> f32 {
        colours
            .map(|c| match self.seen[colour_cell(c)] {
                true => sigmoid(dot(&self.weights, &features(c))),
                false => 1.0,
            })
            .fold(0.0, f32::max)
    }

    /// The share of `frame`'s pixels in colours the exploration never showed.
    pub fn unseen_share(&self, frame: &[u8]) -> f64 {
        let pixels = frame.len() / 3;
        let unseen = frame
            .chunks_exact(3)
            .filter(|px| !self.seen[colour_cell([px[0], px[1], px[2]])])
            .count();
        unseen as f64 / pixels.max(1) as f64
    }

    /// The displacement of a step, by the fitted motion of its `inputs` (the action and the
    /// previous step's displacement).
    fn step(&self, inputs: &[f32; MOTION_INPUTS]) -> [f32; 2] {
        self.motion
            .map(|row| row.iter().zip(inputs).map(|(m, x)| m * x).sum())
    }

    /// Risk of each candidate (`actions`: `[samples][horizon × 2]`, flattened per sample)
    /// from `proprio`, having last moved by `velocity` (the previous step's displacement), in
    /// `frame` (`[H, W, 3]` bytes): the largest hazard probability over its
    /// first [`SIGHT_STEPS`] dead-reckoned positions (footprints grown by the margin), over
    /// the threshold (≥ 1: reject).
    /// Pixels of the agent's own footprint now are skipped: it hides what lies under it.
    pub fn risk(
        &self,
        frame: &[u8],
        width: usize,
        height: usize,
        proprio: [f32; 2],
        velocity: [f32; 2],
        candidates: &[&[f32]],
    ) -> Vec<f32> {
        let own = self.projection.footprint(proprio, width, height);
        let colour = |[x, y]: [usize; 2]| {
            let i = (y * width + x) * 3;
            [frame[i], frame[i + 1], frame[i + 2]]
        };
        candidates
            .iter()
            .map(|actions| {
                let (mut p, mut v) = (proprio, velocity);
                let mut worst = 0.0f32;
                for action in actions.chunks_exact(2).take(SIGHT_STEPS) {
                    v = self.step(&[action[0], action[1], v[0], v[1]]);
                    p = [p[0] + v[0], p[1] + v[1]];
                    let pixels =
                        self.projection
                            .footprint_with_margin(p, width, height, self.margin);
                    let seen = pixels.into_iter().filter(|px| !own.contains(px));
                    worst = worst.max(self.probability(seen.map(colour)));
                }
                worst / self.threshold
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_motion_fit_recovers_a_linear_map() {
        let truth = [[0.08, 0.01, 0.3, 0.0], [-0.02, 0.05, 0.0, 0.4]];
        let pairs: Vec<([f32; MOTION_INPUTS], [f32; 2], bool)> = (0..50)
            .map(|i| {
                let x = [
                    ((i * 7) % 11) as f32 / 5.0 - 1.0,
                    ((i * 3) % 13) as f32 / 6.0 - 1.0,
                    ((i * 5) % 7) as f32 / 30.0,
                    ((i * 11) % 9) as f32 / 40.0,
                ];
                let d = truth.map(|row: [f32; 4]| row.iter().zip(&x).map(|(m, x)| m * x).sum());
                (x, d, false)
            })
            .collect();
        let m = fit_motion(pairs.iter());
        for i in 0..2 {
            for j in 0..MOTION_INPUTS {
                assert!((m[i][j] - truth[i][j]).abs() < 1e-4, "{m:?}");
            }
        }
    }

    const BEIGE: [u8; 3] = [219, 212, 189];
    const RED: [u8; 3] = [217, 51, 38];

    /// A sight fitted on footprints of floor beige, wall grey and one red pixel among beige
    /// (a hazard's edge), for reach's camera, moving 0.1 m per unit of action.
    fn red_sight() -> HazardSight {
        let (beige, grey, red) = (BEIGE, [120, 120, 125], RED);
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it");
        let path = std::path::Path::new(&manifest).join("../worlds/reach.json");
        let spec = sim::WorldSpec::from_json_file(path).expect("reach");
        let mut data = HazardSightData::new(&spec, 1);
        for i in 0..400 {
            let held_out = i % 5 == 4;
            let hazard = i % 3 == 0;
            let mut bag = vec![beige; 8];
            bag.push(if i % 2 == 0 { grey } else { beige });
            if hazard {
                bag[i % 8] = red;
            }
            data.bags.push((bag, hazard, held_out));
        }
        for colour in [beige, grey, red] {
            data.colours[colour_cell(colour)] = 100;
        }
        for (x, d) in [
            ([1.0, 0.0, 0.0, 0.0], [0.1, 0.0]),
            ([0.0, 1.0, 0.0, 0.0], [0.0, 0.1]),
            ([1.0, 0.0, 0.1, 0.0], [0.1, 0.0]),
            ([0.0, 1.0, 0.0, 0.1], [0.0, 0.1]),
        ] {
            data.motions.push((x, d, false));
        }
        data.fit(&HazardSightConfig::default()).expect("fits")
    }

    fn frame_of(colour: [u8; 3]) -> Vec<u8> {
        colour.repeat(64 * 64)
    }

    #[test]
    fn a_red_footprint_is_learned_as_hazard_wherever_it_lies() {
        let (beige, red) = (BEIGE, RED);
        let sight = red_sight();
        assert!(sight.report.recall > 0.99, "{:?}", sight.report);
        assert!(sight.report.specificity > 0.99, "{:?}", sight.report);
        // A red hazard never seen at this spot: a candidate heading into it is rejected, one
        // heading away is not.
        let (w, h) = (64, 64);
        let mut frame = vec![0u8; w * h * 3];
        for px in frame.chunks_exact_mut(3) {
            px.copy_from_slice(&beige);
        }
        let start = [0.0, 0.0];
        for x in 0..w {
            for y in 0..h {
                let centre = sight.projection.pixel([0.3, 0.0], w, h).expect("in view");
                if x.abs_diff(centre[0]) <= 4 && y.abs_diff(centre[1]) <= 4 {
                    let i = (y * w + x) * 3;
                    frame[i..i + 3].copy_from_slice(&red);
                }
            }
        }
        let east: Vec<f32> = [1.0, 0.0].repeat(10);
        let west: Vec<f32> = [-1.0, 0.0].repeat(10);
        let risk = sight.risk(&frame, w, h, start, [0.0; 2], &[&east, &west]);
        assert!(risk[0] >= 1.0, "{risk:?}");
        assert!(risk[1] < 1.0, "{risk:?}");
        // A colour never seen is unknown, and unknown counts as a hazard: a purple patch west.
        let centre = sight.projection.pixel([-0.3, 0.0], w, h).expect("in view");
        for x in centre[0] - 4..=centre[0] + 4 {
            for y in centre[1] - 4..=centre[1] + 4 {
                let i = (y * w + x) * 3;
                frame[i..i + 3].copy_from_slice(&[150, 60, 200]);
            }
        }
        let risk = sight.risk(&frame, w, h, start, [0.0; 2], &[&east, &west]);
        assert!(risk[1] >= 1.0, "{risk:?}");
        assert!(sight.unseen_share(&frame) > 0.0);
    }

    #[test]
    fn the_planner_stands_still_where_every_step_is_seen_in_a_hazard() {
        use crate::model::JepaConfig;
        use crate::plan::{GoalCost, GoalCostConfig, Planner, PlannerConfig, SightView, decide};
        use burn::prelude::*;
        let device = Device::flex();
        let model = JepaConfig::new().with_latent(8).init(&device);
        let sight = red_sight();
        let config = GoalCostConfig::default();
        let plan_in = |frame: &[u8]| {
            let latent = Tensor::<2>::zeros([1, 8], &device);
            let goal = Tensor::<2>::ones([1, 8], &device);
            let view = SightView {
                sight: &sight,
                frame,
                width: 64,
                height: 64,
                proprio: [0.0, 0.0],
                velocity: [0.0, 0.0],
            };
            let mut cost =
                GoalCost::new(&model, None, None, &config, latent, goal).with_sight(Some(view));
            let mut planner = Planner::new(PlannerConfig::cem(3, 16, 4, 2));
            decide(&mut planner, &mut cost)
        };
        // Red all round: no step is safe, and standing still enters nothing.
        let plan = plan_in(&frame_of(RED));
        assert!(!plan.stats.feasible, "{:?}", plan.stats);
        assert!(plan.actions.iter().all(|a| *a == 0.0), "{:?}", plan.actions);
        // A clear floor: the search goes on as without the sight.
        let plan = plan_in(&frame_of(BEIGE));
        assert!(plan.stats.feasible, "{:?}", plan.stats);
        assert!(plan.actions.iter().any(|a| *a != 0.0), "{:?}", plan.actions);
    }
}
