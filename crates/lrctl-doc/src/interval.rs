//! Horizontal point-estimate + confidence-interval charts, one row per
//! method, optionally in several side-by-side panels (IQM, mean, median,
//! optimality gap, ...).

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::render::{self, Area, FrameSpec, Mapper, Res};
use crate::style::{self, Axis, DEFAULT_SIZE, MUTED, TEXT, font_at, text_width};

/// A point estimate with a confidence interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Point estimate (NaN: not available).
    pub estimate: f64,
    /// Lower CI bound (NaN: no interval drawn).
    pub lower: f64,
    /// Upper CI bound (NaN: no interval drawn).
    pub upper: f64,
}

impl Interval {
    /// An estimate with its interval.
    pub fn new(estimate: f64, lower: f64, upper: f64) -> Self {
        Self {
            estimate,
            lower,
            upper,
        }
    }
}

/// One panel (one statistic) of an [`IntervalChart`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalPanel {
    /// Panel heading, e.g. "IQM".
    pub title: String,
    /// X-axis label with units, e.g. "normalised score".
    pub x_label: String,
    /// One interval per row label (same order); missing rows show "n/a".
    pub intervals: Vec<Interval>,
    /// Optional vertical reference line (e.g. 0 or the baseline's score).
    pub reference: Option<f64>,
}

impl IntervalPanel {
    /// A panel with heading, axis label and intervals.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        intervals: Vec<Interval>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            intervals,
            reference: None,
        }
    }
}

/// Rows of labelled estimates with horizontal CI bars, in one or more panels
/// sharing the row labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalChart {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// Row labels, top to bottom (e.g. methods).
    pub labels: Vec<String>,
    /// Panels, left to right.
    pub panels: Vec<IntervalPanel>,
    /// Style index per row (keeps a method's colour/marker consistent with
    /// other charts); rows beyond its length use their position.
    pub styles: Vec<usize>,
    /// Size in pixels; `None` is 720 px wide with a height fitting the rows.
    pub size: Option<(u32, u32)>,
}

impl IntervalChart {
    /// A chart over `labels` without panels yet.
    pub fn new(title: impl Into<String>, labels: Vec<String>) -> Self {
        Self {
            title: title.into(),
            labels,
            ..Self::default()
        }
    }

    /// Appends a panel.
    pub fn panel(mut self, p: IntervalPanel) -> Self {
        self.panels.push(p);
        self
    }
}

const ROW_H: i32 = 26;
const LABEL_PX: f64 = 12.0;

/// Renders an [`IntervalChart`] as an SVG string (never panics; no finite
/// estimate at all gives a "no data" chart).
pub fn interval_chart(chart: &IntervalChart) -> String {
    let rows = chart.labels.len().max(
        chart
            .panels
            .iter()
            .map(|p| p.intervals.len())
            .max()
            .unwrap_or(0),
    );
    let any = chart.panels.iter().any(|p| {
        p.intervals
            .iter()
            .any(|iv| style::ok(iv.estimate) || (style::ok(iv.lower) && style::ok(iv.upper)))
    });
    let title_h = if chart.title.trim().is_empty() { 6 } else { 32 };
    let any_x_label = chart.panels.iter().any(|p| !p.x_label.is_empty());
    let auto_h = title_h + 30 + rows as i32 * ROW_H + if any_x_label { 50 } else { 30 } + 8;
    let size = chart
        .size
        .unwrap_or((DEFAULT_SIZE.0, auto_h.max(160) as u32));
    if rows == 0 || !any {
        let size = chart.size.unwrap_or(DEFAULT_SIZE);
        return render::render(size, &chart.title, |root| {
            render::no_data(root, &chart.title, "no data")
        });
    }
    render::render(size, &chart.title, |root| draw(root, chart, rows))
}

fn panel_axis(p: &IntervalPanel, target: usize) -> Axis {
    let vals = p
        .intervals
        .iter()
        .flat_map(|iv| [iv.estimate, iv.lower, iv.upper]);
    let include: Vec<f64> = p.reference.into_iter().collect();
    Axis::fit_n(vals, false, &include, 0.06, target)
        .unwrap_or_else(|| Axis::from_range(0.0, 1.0, false, 0.0, target))
}

fn draw(root: &Area<'_>, c: &IntervalChart, rows: usize) -> Res {
    let title_h = render::title(root, &c.title)?;
    let (w, _) = root.dim_in_pixel();
    let max_label = c
        .labels
        .iter()
        .map(|l| text_width(l, LABEL_PX))
        .fold(0.0, f64::max);
    let label_w = (max_label + 18.0).clamp(40.0, w as f64 * 0.3).round() as i32;
    let (_, body) = root.split_vertically(title_h);
    let (_, panels_area) = body.split_horizontally(label_w);
    let areas = panels_area.split_evenly((1, c.panels.len().max(1)));
    let reserve_title = c.panels.iter().any(|p| !p.title.trim().is_empty());
    let reserve_x = c.panels.iter().any(|p| !p.x_label.is_empty());
    let mut first: Option<Mapper> = None;
    for (p, area) in c.panels.iter().zip(&areas) {
        let (pw, _) = area.dim_in_pixel();
        let xa = panel_axis(p, ((pw as usize) / 45).clamp(3, 6));
        let ya = Axis::plain(-0.5, rows as f64 - 0.5);
        let x_label = if p.x_label.is_empty() && reserve_x {
            " "
        } else {
            &p.x_label
        };
        let spec = FrameSpec {
            title: &p.title,
            x_label,
            y_label: "",
            show_y_ticks: false,
            title_px: 13.0,
            reserve_title,
        };
        let m = render::frame(area, &spec, &xa, &ya)?;
        draw_panel(root, c, p, &m, rows)?;
        if first.is_none() {
            first = Some(m);
        }
    }
    if let Some(m) = first {
        for (i, label) in c.labels.iter().enumerate().take(rows) {
            let (_, y) = m.px(0.0, row_y(i, rows));
            let t = style::truncate_to(label, LABEL_PX, label_w as f64 - 12.0);
            root.draw(&Text::new(
                t,
                (label_w - 8, y),
                font_at(LABEL_PX, TEXT, HPos::Right, VPos::Center),
            ))?;
        }
    }
    Ok(())
}

/// Plot-space y of row `i` (row 0 at the top).
fn row_y(i: usize, rows: usize) -> f64 {
    (rows - 1 - i) as f64
}

fn draw_panel(
    root: &Area<'_>,
    c: &IntervalChart,
    p: &IntervalPanel,
    m: &Mapper,
    rows: usize,
) -> Res {
    // Zebra stripes help reading rows across panels.
    for i in (0..rows).step_by(2) {
        let (_, ya) = m.px(0.0, row_y(i, rows) + 0.5);
        let (_, yb) = m.px(0.0, row_y(i, rows) - 0.5);
        root.draw(&Rectangle::new(
            [(m.x0 + 1, ya), (m.x1 - 1, yb)],
            RGBColor(0xF2, 0xF2, 0xF2).mix(0.6).filled(),
        ))?;
    }
    if let Some(r) = p.reference
        && let Some(x) = m.xa.to_plot(r)
    {
        let (xp, _) = m.px(x, 0.0);
        root.draw(&DashedPathElement::new(
            vec![(xp, m.y0), (xp, m.y1)],
            5,
            4,
            MUTED.stroke_width(1),
        ))?;
    }
    for i in 0..rows {
        let s = c.styles.get(i).copied().unwrap_or(i);
        let y = row_y(i, rows);
        let iv = p
            .intervals
            .get(i)
            .copied()
            .unwrap_or(Interval::new(f64::NAN, f64::NAN, f64::NAN));
        let mut drawn = false;
        if let (Some(a), Some(b)) = (
            m.xa.to_plot_clamped(iv.lower),
            m.xa.to_plot_clamped(iv.upper),
        ) {
            let (pa, pb) = (m.px(a.min(b), y), m.px(a.max(b), y));
            let st = style::color(s).stroke_width(2);
            root.draw(&PathElement::new(vec![pa, pb], st))?;
            for q in [pa, pb] {
                root.draw(&PathElement::new(vec![(q.0, q.1 - 5), (q.0, q.1 + 5)], st))?;
            }
            drawn = true;
        }
        if let Some(x) = m.xa.to_plot(iv.estimate) {
            root.draw(&style::marker(m.px(x, y), s, 5))?;
            drawn = true;
        }
        if !drawn {
            let (_, yp) = m.px(0.0, y);
            root.draw(&Text::new(
                "n/a",
                (m.x0 + 6, yp),
                font_at(11.0, MUTED, HPos::Left, VPos::Center),
            ))?;
        }
    }
    Ok(())
}
