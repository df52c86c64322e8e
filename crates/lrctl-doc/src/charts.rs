//! Cartesian charts: line charts with bands, step profiles and scatter plots.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::render::{self, Area, FrameSpec, LegendItem, Mapper, Res};
use crate::style::{self, Axis, DEFAULT_SIZE, TEXT, font_at, text_width};

/// A shaded band around a line (e.g. mean ± standard error), given as lower
/// and upper values aligned with the series' `x`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Lower edge, one value per x.
    pub lower: Vec<f64>,
    /// Upper edge, one value per x.
    pub upper: Vec<f64>,
}

/// One series of a [`LineChart`] or [`ProfileChart`].
///
/// Points whose x, y (or, for the band, lower/upper) are NaN, infinite or
/// not positive on a log axis are skipped; the line is broken at gaps.
/// If the vectors differ in length the shortest length is used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineSeries {
    /// Legend name (e.g. the method).
    pub name: String,
    /// X values (e.g. training step).
    pub x: Vec<f64>,
    /// Y values (e.g. mean validation loss).
    pub y: Vec<f64>,
    /// Optional shaded band (e.g. mean ± SE).
    pub band: Option<Band>,
    /// Style index (colour, marker and dash); `None` uses the series' position.
    pub style: Option<usize>,
}

impl LineSeries {
    /// A series without band, styled by position.
    pub fn new(name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            x,
            y,
            band: None,
            style: None,
        }
    }

    /// Adds a shaded band between `lower` and `upper`.
    pub fn with_band(mut self, lower: Vec<f64>, upper: Vec<f64>) -> Self {
        self.band = Some(Band { lower, upper });
        self
    }

    /// Fixes the style index (keeps a method's look identical across charts).
    pub fn with_style(mut self, style: usize) -> Self {
        self.style = Some(style);
        self
    }
}

/// A line chart: learning curves (mean line + shaded ±SE band) or traces
/// such as the effective learning rate (usually with `log_y`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineChart {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// X-axis label including units, e.g. "training step".
    pub x_label: String,
    /// Y-axis label including units, e.g. "validation loss (nats)".
    pub y_label: String,
    /// Logarithmic x axis (non-positive x are skipped).
    pub log_x: bool,
    /// Logarithmic y axis (non-positive y are skipped; bands are clipped).
    pub log_y: bool,
    /// The series, drawn in order.
    pub series: Vec<LineSeries>,
    /// Size in pixels; `None` is [`DEFAULT_SIZE`].
    pub size: Option<(u32, u32)>,
}

impl LineChart {
    /// An empty chart with title and axis labels.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Self::default()
        }
    }

    /// Sets the logarithmic y axis.
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }

    /// Sets the logarithmic x axis.
    pub fn log_x(mut self, on: bool) -> Self {
        self.log_x = on;
        self
    }

    /// Appends a series.
    pub fn series(mut self, s: LineSeries) -> Self {
        self.series.push(s);
        self
    }
}

/// A performance (or cost) profile: one step curve per method of the
/// fraction of problems (y) solved within a factor / budget tau (x).
///
/// Points are sorted by x, drawn as a post-step function, and the last value
/// is held to the right edge of the chart. Bands (e.g. bootstrap CIs) are
/// drawn as steps too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileChart {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// X-axis label, e.g. "τ (factor of best loss)".
    pub x_label: String,
    /// Y-axis label, e.g. "fraction of tasks".
    pub y_label: String,
    /// Logarithmic x axis (cost profiles).
    pub log_x: bool,
    /// One curve per method.
    pub series: Vec<LineSeries>,
    /// Size in pixels; `None` is [`DEFAULT_SIZE`].
    pub size: Option<(u32, u32)>,
}

impl ProfileChart {
    /// An empty profile chart with title and axis labels.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Self::default()
        }
    }
}

/// One labelled point of a [`Scatter`], optionally with error bars.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScatterPoint {
    /// Label printed next to the point (e.g. the method).
    pub label: String,
    /// X value (e.g. cost in GPU-seconds).
    pub x: f64,
    /// Y value (e.g. final quality).
    pub y: f64,
    /// Optional x interval `(lower, upper)`.
    pub x_interval: Option<(f64, f64)>,
    /// Optional y interval `(lower, upper)`.
    pub y_interval: Option<(f64, f64)>,
    /// Style index; `None` uses the point's position.
    pub style: Option<usize>,
}

impl ScatterPoint {
    /// A point without error bars.
    pub fn new(label: impl Into<String>, x: f64, y: f64) -> Self {
        Self {
            label: label.into(),
            x,
            y,
            ..Self::default()
        }
    }
}

/// A cost (x, usually log) versus quality (y) scatter plot, one labelled
/// point per method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scatter {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// X-axis label with units, e.g. "cost (optimizer steps)".
    pub x_label: String,
    /// Y-axis label with units, e.g. "test accuracy (%)".
    pub y_label: String,
    /// Logarithmic x axis ([`Scatter::new`] turns it on).
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The points.
    pub points: Vec<ScatterPoint>,
    /// Size in pixels; `None` is [`DEFAULT_SIZE`].
    pub size: Option<(u32, u32)>,
}

impl Scatter {
    /// An empty scatter plot with a logarithmic x axis.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: true,
            ..Self::default()
        }
    }
}

/// One usable point: data-space x, y and the band `(lower, upper)` if any.
type Pt = (f64, f64, Option<(f64, f64)>);

/// A cleaned-up series: runs of consecutive usable points.
struct Runs {
    style: usize,
    /// Each run is drawn as one unbroken line.
    runs: Vec<Vec<Pt>>,
}

fn band_at(s: &LineSeries, i: usize) -> Option<(f64, f64)> {
    let b = s.band.as_ref()?;
    let (lo, hi) = (*b.lower.get(i)?, *b.upper.get(i)?);
    if lo.is_nan() || hi.is_nan() || lo == f64::INFINITY || hi == f64::NEG_INFINITY {
        return None;
    }
    Some((lo.min(hi), lo.max(hi)))
}

/// Splits a series into runs of plottable points (data space, unclamped).
fn data_runs(s: &LineSeries, log_x: bool, log_y: bool, sort: bool) -> Vec<Vec<Pt>> {
    let n = s.x.len().min(s.y.len());
    let mut pts: Vec<(Pt, bool)> = (0..n)
        .map(|i| {
            let (x, y) = (s.x[i], s.y[i]);
            let usable = style::ok_on(x, log_x) && style::ok_on(y, log_y);
            ((x, y, band_at(s, i)), usable)
        })
        .collect();
    if sort {
        pts.retain(|p| p.1);
        pts.sort_by(|a, b| a.0.0.total_cmp(&b.0.0));
    }
    let mut runs = Vec::new();
    let mut cur = Vec::new();
    for (p, usable) in pts {
        if usable {
            cur.push(p);
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

/// Values that should fit on the y axis for a run (data space).
fn y_extent(runs: &[Vec<Pt>], log_y: bool) -> Vec<f64> {
    let mut v = Vec::new();
    for r in runs {
        for &(_, y, b) in r {
            v.push(y);
            if let Some((lo, hi)) = b {
                for e in [lo, hi] {
                    if style::ok_on(e, log_y) {
                        v.push(e);
                    }
                }
            }
        }
    }
    v
}

/// Shared implementation of line and profile charts.
struct XyChart<'c> {
    title: &'c str,
    x_label: &'c str,
    y_label: &'c str,
    log_x: bool,
    log_y: bool,
    series: &'c [LineSeries],
    size: (u32, u32),
    step: bool,
    y_include: &'c [f64],
}

fn xy_chart(c: &XyChart<'_>) -> String {
    render::render(c.size, c.title, |root| draw_xy(root, c))
}

fn draw_xy(root: &Area<'_>, c: &XyChart<'_>) -> Res {
    let all: Vec<Runs> = c
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| Runs {
            style: s.style.unwrap_or(i),
            runs: data_runs(s, c.log_x, c.log_y, c.step),
        })
        .collect();
    let xs = all
        .iter()
        .flat_map(|r| r.runs.iter().flatten().map(|p| p.0));
    let ys: Vec<f64> = all
        .iter()
        .flat_map(|r| y_extent(&r.runs, c.log_y))
        .collect();
    let (Some(xa), Some(ya)) = (
        Axis::fit(xs, c.log_x, &[], if c.step { 0.0 } else { 0.02 }),
        Axis::fit(ys, c.log_y, c.y_include, 0.05),
    ) else {
        return render::no_data(root, c.title, "no data");
    };
    let (w, h) = root.dim_in_pixel();
    let items: Vec<LegendItem> = c
        .series
        .iter()
        .zip(&all)
        .map(|(s, r)| LegendItem {
            name: if r.runs.is_empty() {
                format!("{} (no data)", s.name)
            } else {
                s.name.clone()
            },
            style: r.style,
            line: true,
        })
        .collect();
    let lh = if items.len() > 1 || items.iter().any(|i| !i.name.is_empty()) {
        render::legend_height(&items, w)
    } else {
        0
    };
    let (upper, _) = root.split_vertically(h.saturating_sub(lh));
    let spec = FrameSpec {
        title: c.title,
        x_label: c.x_label,
        y_label: c.y_label,
        show_y_ticks: true,
        title_px: 16.0,
        reserve_title: false,
    };
    let m = render::frame(&upper, &spec, &xa, &ya)?;
    // Bands first (underneath every line), then lines, then markers.
    for r in &all {
        for run in &r.runs {
            draw_band(root, &m, run, c.step, r.style)?;
        }
    }
    for r in &all {
        for run in &r.runs {
            let pts = plot_points(&m, run, c.step);
            render::line(root, pts, r.style, 2)?;
        }
    }
    for r in &all {
        let flat: Vec<(f64, f64)> = r.runs.iter().flatten().map(|p| (p.0, p.1)).collect();
        for (x, y) in marker_positions(&flat, r.style) {
            if let Some(p) = m.data(x, y) {
                root.draw(&style::marker(p, r.style, 4))?;
            }
        }
    }
    if lh > 0 {
        render::legend(root, &items, (h - lh) as i32)?;
    }
    Ok(())
}

/// Pixel polyline of a run (step-post when `step`).
fn plot_points(m: &Mapper, run: &[Pt], step: bool) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    let mut prev: Option<(f64, f64)> = None;
    for &(x, y, _) in run {
        let (Some(px), Some(py)) = (m.xa.to_plot(x), m.ya.to_plot(y)) else {
            continue;
        };
        if step && let Some((_, qy)) = prev {
            out.push(m.px(px, qy));
        }
        out.push(m.px(px, py));
        prev = Some((px, py));
    }
    if step && let Some((_, qy)) = prev {
        out.push(m.px(m.xa.hi, qy));
    }
    out
}

/// Draws the band of a run, split where the band is missing.
fn draw_band(root: &Area<'_>, m: &Mapper, run: &[Pt], step: bool, s: usize) -> Res {
    let mut up: Vec<(i32, i32)> = Vec::new();
    let mut lo: Vec<(i32, i32)> = Vec::new();
    let mut prev: Option<(f64, f64, f64)> = None;
    let flush = |up: &mut Vec<(i32, i32)>, lo: &mut Vec<(i32, i32)>| -> Res {
        render::band(root, up, lo, s)?;
        up.clear();
        lo.clear();
        Ok(())
    };
    for (k, &(x, _, b)) in run.iter().enumerate() {
        let edges = b.and_then(|(l, h)| Some((m.ya.to_plot_clamped(l)?, m.ya.to_plot_clamped(h)?)));
        let px = m.xa.to_plot(x);
        match (px, edges) {
            (Some(px), Some((l, h))) => {
                if step && let Some((_, pl, ph)) = prev {
                    up.push(m.px(px, ph));
                    lo.push(m.px(px, pl));
                }
                up.push(m.px(px, h));
                lo.push(m.px(px, l));
                prev = Some((px, l, h));
                if step && k + 1 == run.len() {
                    up.push(m.px(m.xa.hi, h));
                    lo.push(m.px(m.xa.hi, l));
                }
            }
            _ => {
                prev = None;
                flush(&mut up, &mut lo)?;
            }
        }
    }
    flush(&mut up, &mut lo)
}

/// Up to eight evenly spaced points of a series that carry its marker,
/// phase-shifted per style so markers of different series do not coincide.
fn marker_positions(pts: &[(f64, f64)], style: usize) -> Vec<(f64, f64)> {
    let n = pts.len();
    if n == 0 {
        return Vec::new();
    }
    let m = n.min(8);
    let phase = (style % 4) as f64 / 4.0 + 0.5;
    let mut idx: Vec<usize> = (0..m)
        .map(|k| (((k as f64 + phase) * n as f64 / m as f64) as usize).min(n - 1))
        .collect();
    idx.dedup();
    idx.into_iter().map(|i| pts[i]).collect()
}

/// Renders a [`LineChart`] as an SVG document string.
///
/// Never panics: empty or entirely unusable data give a "no data" chart.
pub fn line_chart(chart: &LineChart) -> String {
    xy_chart(&XyChart {
        title: &chart.title,
        x_label: &chart.x_label,
        y_label: &chart.y_label,
        log_x: chart.log_x,
        log_y: chart.log_y,
        series: &chart.series,
        size: chart.size.unwrap_or(DEFAULT_SIZE),
        step: false,
        y_include: &[],
    })
}

/// Renders a [`ProfileChart`] (step curves over tau) as an SVG string. The
/// y axis always covers [0, 1].
pub fn profile_chart(chart: &ProfileChart) -> String {
    xy_chart(&XyChart {
        title: &chart.title,
        x_label: &chart.x_label,
        y_label: &chart.y_label,
        log_x: chart.log_x,
        log_y: false,
        series: &chart.series,
        size: chart.size.unwrap_or(DEFAULT_SIZE),
        step: true,
        y_include: &[0.0, 1.0],
    })
}

/// Renders a [`Scatter`] as an SVG string: one marker per point in its
/// style's colour and shape, error bars if given, and the label beside it.
pub fn scatter(chart: &Scatter) -> String {
    render::render(chart.size.unwrap_or(DEFAULT_SIZE), &chart.title, |root| {
        draw_scatter(root, chart)
    })
}

fn draw_scatter(root: &Area<'_>, c: &Scatter) -> Res {
    let usable: Vec<(usize, &ScatterPoint)> = c
        .points
        .iter()
        .enumerate()
        .filter(|(_, p)| style::ok_on(p.x, c.log_x) && style::ok_on(p.y, c.log_y))
        .collect();
    let interval = |iv: Option<(f64, f64)>, log: bool| -> Vec<f64> {
        iv.into_iter()
            .flat_map(|(a, b)| [a, b])
            .filter(|v| style::ok_on(*v, log))
            .collect()
    };
    let xs = usable
        .iter()
        .flat_map(|(_, p)| std::iter::once(p.x).chain(interval(p.x_interval, c.log_x)));
    let ys: Vec<f64> = usable
        .iter()
        .flat_map(|(_, p)| std::iter::once(p.y).chain(interval(p.y_interval, c.log_y)))
        .collect();
    let (Some(xa), Some(ya)) = (
        Axis::fit(xs, c.log_x, &[], 0.08),
        Axis::fit(ys, c.log_y, &[], 0.08),
    ) else {
        return render::no_data(root, &c.title, "no data");
    };
    let spec = FrameSpec {
        title: &c.title,
        x_label: &c.x_label,
        y_label: &c.y_label,
        show_y_ticks: true,
        title_px: 16.0,
        reserve_title: false,
    };
    let m = render::frame(root, &spec, &xa, &ya)?;
    // Labels placed so far (x0, y0, x1, y1): a new one moves until it overlaps none, so
    // methods with nearly equal cost and score stay readable.
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    for &(i, p) in &usable {
        let s = p.style.unwrap_or(i);
        let Some(at) = m.data(p.x, p.y) else { continue };
        let col = style::color(s).stroke_width(2);
        if let Some((a, b)) = p.x_interval
            && let (Some(a), Some(b)) = (m.xa.to_plot_clamped(a), m.xa.to_plot_clamped(b))
        {
            let (pa, pb) = (
                m.px(a, m.ya.to_plot(p.y).unwrap_or(0.0)),
                m.px(b, m.ya.to_plot(p.y).unwrap_or(0.0)),
            );
            root.draw(&PathElement::new(vec![pa, pb], col))?;
        }
        if let Some((a, b)) = p.y_interval
            && let (Some(a), Some(b)) = (m.ya.to_plot_clamped(a), m.ya.to_plot_clamped(b))
        {
            let x = m.xa.to_plot(p.x).unwrap_or(0.0);
            root.draw(&PathElement::new(vec![m.px(x, a), m.px(x, b)], col))?;
        }
        root.draw(&style::marker(at, s, 5))?;
        if !p.label.is_empty() {
            let label = style::truncate_to(&p.label, 12.0, 160.0);
            let width = text_width(&label, 12.0).ceil() as i32;
            let right_room = (m.x1 - at.0) as f64;
            let prefer_left = right_room < f64::from(width) + 12.0;
            let sides: [bool; 2] = if prefer_left {
                [true, false]
            } else {
                [false, true]
            };
            let boxed = |left: bool, dy: i32| {
                let x0 = if left { at.0 - 9 - width } else { at.0 + 9 };
                (x0, at.1 + dy - 7, x0 + width, at.1 + dy + 7)
            };
            let overlaps = |b: (i32, i32, i32, i32)| {
                placed
                    .iter()
                    .any(|o| b.0 < o.2 && o.0 < b.2 && b.1 < o.3 && o.1 < b.3)
            };
            let mut choice = (sides[0], -8);
            'search: for step in 0..8 {
                for dy in [-8 - 14 * step, -8 + 14 * step] {
                    for &left in &sides {
                        if !overlaps(boxed(left, dy)) {
                            choice = (left, dy);
                            break 'search;
                        }
                    }
                }
            }
            let (left, dy) = choice;
            placed.push(boxed(left, dy));
            let (dx, anchor) = if left {
                (-9, HPos::Right)
            } else {
                (9, HPos::Left)
            };
            root.draw(&Text::new(
                label,
                (at.0 + dx, at.1 + dy),
                font_at(12.0, TEXT, anchor, VPos::Center),
            ))?;
        }
    }
    Ok(())
}
