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

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
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
