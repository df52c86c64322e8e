//! Low-level rendering helpers shared by all chart types: the SVG canvas with
//! a panic/error fallback, the "no data" placeholder, the cartesian frame
//! (axes, ticks, grid) with its data→pixel mapping, lines, bands and legends.

use std::error::Error;
use std::panic::{AssertUnwindSafe, catch_unwind};

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::style::{self, Axis, GRID, LIGHT_GRID, MUTED, TEXT, bold, font, font_at, text_width};

pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub(crate) type Res = Result<(), Box<dyn Error>>;

/// Clamps a requested chart size to something plotters can lay out.
pub(crate) fn clamp_size((w, h): (u32, u32)) -> (u32, u32) {
    (w.clamp(240, 4000), h.clamp(160, 8000))
}

/// Renders an SVG of `size` with `draw`; on error or panic returns a
/// placeholder SVG instead (never panics).
pub(crate) fn render<F>(size: (u32, u32), title: &str, draw: F) -> String
where
    F: FnOnce(&Area<'_>) -> Res,
{
    let size = clamp_size(size);
    let mut buf = String::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Res {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    }));
    match outcome {
        Ok(Ok(())) if buf.trim_end().ends_with("</svg>") => buf,
        _ => {
            let mut fallback = String::new();
            let ok = catch_unwind(AssertUnwindSafe(|| -> Res {
                let root = SVGBackend::with_string(&mut fallback, size).into_drawing_area();
                root.fill(&WHITE)?;
                no_data(&root, title, "chart could not be rendered")?;
                root.present()?;
                Ok(())
            }));
            match ok {
                Ok(Ok(())) => fallback,
                _ => minimal_svg(size),
            }
        }
    }
}

/// A hand-written SVG used only if plotters fails twice.
fn minimal_svg((w, h): (u32, u32)) -> String {
    format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"sans-serif\">chart could not be rendered</text>\n</svg>\n",
        w / 2,
        h / 2
    )
}

/// Draws the chart title (if any) centred at the top; returns its height.
pub(crate) fn title(root: &Area<'_>, title: &str) -> Result<i32, Box<dyn Error>> {
    if title.trim().is_empty() {
        return Ok(6);
    }
    let (w, _) = root.dim_in_pixel();
    let t = style::truncate_to(title, 16.0, w as f64 - 20.0);
    root.draw(&Text::new(
        t,
        (w as i32 / 2, 8),
        bold(font_at(16.0, TEXT, HPos::Center, VPos::Top)),
    ))?;
    Ok(32)
}

/// The "no data" placeholder: title, a light frame and a centred message.
pub(crate) fn no_data(root: &Area<'_>, title_text: &str, message: &str) -> Res {
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let top = title(root, title_text)?;
    root.draw(&Rectangle::new(
        [(10, top + 4), (w - 10, h - 10)],
        ShapeStyle::from(&GRID).stroke_width(1),
    ))?;
    root.draw(&Text::new(
        message.to_string(),
        (w / 2, (top + h) / 2),
        font_at(15.0, MUTED, HPos::Center, VPos::Center),
    ))?;
    Ok(())
}

/// A plotters coordinate over a plot-space range with our own ticks.
struct AxisRange {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    minor: Vec<f64>,
}

impl AxisRange {
    fn of(a: &Axis) -> Self {
        let inside = |v: &&f64| **v >= a.lo.min(a.hi) && **v <= a.hi.max(a.lo);
        AxisRange {
            lo: a.lo,
            hi: a.hi,
            ticks: a.ticks.iter().filter(inside).copied().collect(),
            minor: a.minor.iter().filter(inside).copied().collect(),
        }
    }
}

impl Ranged for AxisRange {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo);
        let f = if f.is_finite() {
            f.clamp(-0.05, 1.05)
        } else {
            0.5
        };
        (limit.0 as f64 + f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Maps plot-space values to backend pixels for a drawn frame.
#[derive(Debug, Clone)]
pub(crate) struct Mapper {
    pub xa: Axis,
    pub ya: Axis,
    pub x0: i32,
    pub x1: i32,
    pub y0: i32,
    pub y1: i32,
}

impl Mapper {
    /// Pixel of a plot-space point.
    pub fn px(&self, x: f64, y: f64) -> (i32, i32) {
        let fx = (x - self.xa.lo) / (self.xa.hi - self.xa.lo);
        let fy = (y - self.ya.lo) / (self.ya.hi - self.ya.lo);
        let fx = if fx.is_finite() {
            fx.clamp(-0.05, 1.05)
        } else {
            0.5
        };
        let fy = if fy.is_finite() {
            fy.clamp(-0.05, 1.05)
        } else {
            0.5
        };
        (
            (self.x0 as f64 + fx * (self.x1 - self.x0) as f64).round() as i32,
            (self.y1 as f64 - fy * (self.y1 - self.y0) as f64).round() as i32,
        )
    }

    /// Pixel of a data-space point (`None` if it cannot be plotted).
    pub fn data(&self, x: f64, y: f64) -> Option<(i32, i32)> {
        Some(self.px(self.xa.to_plot(x)?, self.ya.to_plot(y)?))
    }
}

/// Options of a cartesian frame.
pub(crate) struct FrameSpec<'s> {
    pub title: &'s str,
    pub x_label: &'s str,
    pub y_label: &'s str,
    pub show_y_ticks: bool,
    pub title_px: f64,
    /// Reserve the caption's space even when the title is empty (keeps
    /// side-by-side panels aligned).
    pub reserve_title: bool,
}

/// Draws title, axes, ticks, grid and axis descriptions on `area`; returns
/// the data→pixel mapping of the plotting area.
pub(crate) fn frame(
    area: &Area<'_>,
    spec: &FrameSpec<'_>,
    xa: &Axis,
    ya: &Axis,
) -> Result<Mapper, Box<dyn Error>> {
    let y_tick_w = if spec.show_y_ticks {
        ya.ticks
            .iter()
            .map(|t| text_width(&ya.label(*t), 12.0))
            .fold(0.0, f64::max)
    } else {
        0.0
    };
    let y_area = if spec.show_y_ticks {
        (y_tick_w + if spec.y_label.is_empty() { 14.0 } else { 34.0 }).ceil() as i32
    } else {
        0
    };
    let mut b = ChartBuilder::on(area);
    b.margin_top(8)
        .margin_bottom(4)
        .margin_left(8)
        .margin_right(18)
        .x_label_area_size(if spec.x_label.is_empty() { 26 } else { 46 })
        .y_label_area_size(y_area);
    if !spec.title.trim().is_empty() || spec.reserve_title {
        let (w, _) = area.dim_in_pixel();
        let t = style::truncate_to(spec.title.trim(), spec.title_px, w as f64 - 20.0);
        let t = if t.is_empty() { " ".to_string() } else { t };
        b.caption(t, bold(font(spec.title_px)));
    }
    let mut chart = b.build_cartesian_2d(AxisRange::of(xa), AxisRange::of(ya))?;
    let xf = |v: &f64| xa.label(*v);
    let yf = |v: &f64| ya.label(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(font(12.0).color(&MUTED))
        .axis_desc_style(font(13.0))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(LIGHT_GRID.stroke_width(1))
        .axis_style(MUTED.stroke_width(1));
    if !spec.x_label.is_empty() {
        mesh.x_desc(spec.x_label);
    }
    if !spec.y_label.is_empty() && spec.show_y_ticks {
        mesh.y_desc(spec.y_label);
    }
    mesh.draw()?;
    let (rx, ry) = chart.plotting_area().get_pixel_range();
    Ok(Mapper {
        xa: xa.clone(),
        ya: ya.clone(),
        x0: rx.start,
        x1: (rx.end - 1).max(rx.start + 1),
        y0: ry.start,
        y1: (ry.end - 1).max(ry.start + 1),
    })
}

/// Removes consecutive duplicate pixels.
fn dedup(mut pts: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
    pts.dedup();
    pts
}

/// Draws a polyline in the colour/dash pattern of style `s`.
pub(crate) fn line(root: &Area<'_>, pts: Vec<(i32, i32)>, s: usize, width: u32) -> Res {
    let pts = dedup(pts);
    if pts.len() < 2 {
        return Ok(());
    }
    let st = style::color(s).stroke_width(width);
    match style::dash(s) {
        None => root.draw(&PathElement::new(pts, st))?,
        Some((d, g)) => root.draw(&DashedPathElement::new(pts, d, g, st))?,
    }
    Ok(())
}

/// Draws a filled translucent band polygon in the colour of style `s`.
pub(crate) fn band(root: &Area<'_>, upper: &[(i32, i32)], lower: &[(i32, i32)], s: usize) -> Res {
    if upper.len() < 2 || lower.len() < 2 {
        return Ok(());
    }
    let mut pts: Vec<(i32, i32)> = upper.to_vec();
    pts.extend(lower.iter().rev().copied());
    root.draw(&Polygon::new(dedup(pts), style::color(s).mix(0.2).filled()))?;
    Ok(())
}

/// One legend entry.
pub(crate) struct LegendItem {
    pub name: String,
    pub style: usize,
    pub line: bool,
}

const LEGEND_ROW: i32 = 22;
const LEGEND_SAMPLE: i32 = 30;

fn legend_item_width(item: &LegendItem, max_w: f64) -> (String, i32) {
    let name = style::truncate_to(&item.name, 12.0, (max_w - 60.0).max(40.0));
    let w = LEGEND_SAMPLE + 8 + text_width(&name, 12.0).ceil() as i32 + 20;
    (name, w)
}

/// Lays legend items out in rows; returns (name, x, row) per item and the
/// number of rows.
fn legend_layout(items: &[LegendItem], width: i32) -> (Vec<(String, i32, i32)>, i32) {
    let left = 14;
    let mut x = left;
    let mut row = 0;
    let mut out = Vec::new();
    for it in items {
        let (name, w) = legend_item_width(it, width as f64);
        if x > left && x + w > width - 8 {
            row += 1;
            x = left;
        }
        out.push((name, x, row));
        x += w;
    }
    let rows = if items.is_empty() { 0 } else { row + 1 };
    (out, rows)
}

/// Height in pixels needed for the legend below a chart of width `width`.
pub(crate) fn legend_height(items: &[LegendItem], width: u32) -> u32 {
    let (_, rows) = legend_layout(items, width as i32);
    if rows == 0 {
        0
    } else {
        (rows * LEGEND_ROW + 10) as u32
    }
}

/// Draws the legend with its top edge at `top` (backend pixels).
pub(crate) fn legend(root: &Area<'_>, items: &[LegendItem], top: i32) -> Res {
    let (w, _) = root.dim_in_pixel();
    let (placed, _) = legend_layout(items, w as i32);
    for (it, (name, x, row)) in items.iter().zip(placed) {
        let yc = top + 4 + row * LEGEND_ROW + LEGEND_ROW / 2;
        if it.line {
            line(root, vec![(x, yc), (x + LEGEND_SAMPLE, yc)], it.style, 2)?;
        }
        root.draw(&style::marker((x + LEGEND_SAMPLE / 2, yc), it.style, 4))?;
        root.draw(&Text::new(
            name,
            (x + LEGEND_SAMPLE + 8, yc),
            font_at(12.0, TEXT, HPos::Left, VPos::Center),
        ))?;
    }
    Ok(())
}
