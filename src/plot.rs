//! PNG line plots (loss curves and the like) with an embedded font, so no system fonts are
//! needed.

use std::path::Path;
use std::sync::Once;

use anyhow::Context;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // The embedded font is a valid TrueType file; failing here would only lose the labels.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../assets/fonts/DejaVuSans.ttf"),
        );
    });
}

/// One named line.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
}

// Eight, so that every loss term of a run (up to seven, with the episode context) has its own.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Draws `series` as lines in one 900×500 PNG; `log_y` uses a logarithmic y axis (points with
/// y ≤ 0 are then skipped).
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> anyhow::Result<()> {
    register_font();
    let keep = |(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0);
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(keep)
        .collect();
    anyhow::ensure!(!all.is_empty(), "nothing to plot in {}", path.display());
    let (x_min, x_max) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), (x, _)| {
        (a.min(*x), b.max(*x))
    });
    let (y_min, y_max) = all.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, y)| {
        (a.min(*y), b.max(*y))
    });
    let x_range = x_min..x_max.max(x_min + 1e-9);
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).context("plot background")?;
    let builder = |root| {
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(title, ("sans-serif", 22).into_font())
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70);
        builder
    };
    if log_y {
        let y_range = (y_min * 0.9)..(y_max * 1.1).max(y_min * 1.0001);
        let chart = builder(&root)
            .build_cartesian_2d(x_range, y_range.log_scale())
            .context("plot axes")?;
        draw_chart(chart, x_label, y_label, series, &keep)?;
    } else {
        let pad = (y_max - y_min).abs().max(1e-9) * 0.05;
        let chart = builder(&root)
            .build_cartesian_2d(x_range, (y_min - pad)..(y_max + pad))
            .context("plot axes")?;
        draw_chart(chart, x_label, y_label, series, &keep)?;
    }
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Draws the mesh with its axis labels, the lines and the legend.
fn draw_chart<'a, X, Y>(
    mut chart: ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    keep: &dyn Fn(&(f64, f64)) -> bool,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .context("plot mesh")?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| keep(p)).collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .context("plot series")?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .context("plot legend")?;
    Ok(())
}

/// Side of one panel of a filmstrip, in pixels (frames are scaled up to it).
const PANEL: u32 = 128;
const GAP: u32 = 8;
const LABEL: u32 = 22;

/// Writes a filmstrip of one played episode: the goal image, `frames` frames spread evenly
/// over the episode, and the agent's path in the arena (start green, end red, goal ×); the
/// title is `heading` with the outcome and length.
pub fn filmstrip(
    path: &Path,
    trace: &agent::eval::EpisodeTrace,
    frames: usize,
    heading: &str,
) -> anyhow::Result<()> {
    register_font();
    let title = format!(
        "{heading} ({}, {} steps)",
        if trace.success {
            "success"
        } else {
            "no success"
        },
        trace.path.len().saturating_sub(1)
    );
    let title = title.as_str();
    let (h, w) = (trace.height, trace.width);
    let frame_bytes = h * w * 3;
    anyhow::ensure!(
        frame_bytes > 0 && trace.frames.len() >= frame_bytes,
        "the episode has no frames to draw"
    );
    let count = trace.frames.len() / frame_bytes;
    let picks: Vec<usize> = (0..frames.max(2))
        .map(|i| i * (count - 1) / (frames.max(2) - 1))
        .collect();
    let panels = picks.len() as u32 + 2;
    let (width, height) = (GAP + panels * (PANEL + GAP), 2 * LABEL + PANEL + GAP);
    let mut canvas = vec![255u8; (width * height * 3) as usize];
    let blit = |canvas: &mut [u8], panel: u32, rgb: &[u8]| {
        let (x0, y0) = (GAP + panel * (PANEL + GAP), 2 * LABEL);
        for y in 0..PANEL {
            for x in 0..PANEL {
                let (sx, sy) = (
                    x as usize * w / PANEL as usize,
                    y as usize * h / PANEL as usize,
                );
                let src = (sy * w + sx) * 3;
                let dst = (((y0 + y) * width + x0 + x) * 3) as usize;
                canvas[dst..dst + 3].copy_from_slice(&rgb[src..src + 3]);
            }
        }
    };
    if trace.goal_frame.len() == frame_bytes {
        blit(&mut canvas, 0, &trace.goal_frame);
    }
    for (i, t) in picks.iter().enumerate() {
        blit(
            &mut canvas,
            i as u32 + 1,
            &trace.frames[t * frame_bytes..(t + 1) * frame_bytes],
        );
    }
    {
        let root = BitMapBackend::with_buffer(&mut canvas, (width, height)).into_drawing_area();
        let font = ("sans-serif", 15).into_font().color(&BLACK);
        root.draw_text(
            title,
            &("sans-serif", 16).into_font().color(&BLACK),
            (GAP as i32, 2),
        )
        .context("filmstrip title")?;
        let label_y = LABEL as i32 + 2;
        let x_of = |panel: u32| (GAP + panel * (PANEL + GAP)) as i32;
        root.draw_text("goal image", &font, (x_of(0), label_y))
            .context("filmstrip label")?;
        for (i, t) in picks.iter().enumerate() {
            root.draw_text(&format!("step {t}"), &font, (x_of(i as u32 + 1), label_y))
                .context("filmstrip label")?;
        }
        let path_panel = panels - 1;
        root.draw_text("path (top view)", &font, (x_of(path_panel), label_y))
            .context("filmstrip label")?;
        // The path panel: the arena as a square, +y up.
        let [hx, hy] = trace.arena_half_extents;
        let (px0, py0) = (x_of(path_panel), (2 * LABEL) as i32);
        let to_px = |p: [f32; 2]| {
            let u = ((p[0] + hx) / (2.0 * hx)).clamp(0.0, 1.0);
            let v = ((p[1] + hy) / (2.0 * hy)).clamp(0.0, 1.0);
            (
                px0 + (u * (PANEL - 1) as f32) as i32,
                py0 + ((1.0 - v) * (PANEL - 1) as f32) as i32,
            )
        };
        root.draw(&Rectangle::new(
            [(px0, py0), (px0 + PANEL as i32 - 1, py0 + PANEL as i32 - 1)],
            BLACK.stroke_width(1),
        ))
        .context("filmstrip arena")?;
        let points: Vec<(i32, i32)> = trace.path.iter().map(|p| to_px(*p)).collect();
        root.draw(&PathElement::new(
            points.clone(),
            COLOURS[0].stroke_width(2),
        ))
        .context("filmstrip path")?;
        if let (Some(first), Some(last)) = (points.first(), points.last()) {
            root.draw(&Circle::new(*first, 4, COLOURS[2].filled()))
                .context("filmstrip start")?;
            root.draw(&Circle::new(*last, 4, COLOURS[1].filled()))
                .context("filmstrip end")?;
        }
        root.draw(&Cross::new(
            to_px(trace.goal_position),
            6,
            BLACK.stroke_width(2),
        ))
        .context("filmstrip goal")?;
        root.present().context("filmstrip drawing")?;
    }
    image::save_buffer(path, &canvas, width, height, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("cannot write {}", path.display()))
}
