//! Annotated heat maps (rank tables, gap-to-best, probability of improvement).

use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, VPos};
use serde::{Deserialize, Serialize};

use crate::render::{self, Area, Res};
use crate::style::{
    self, DEFAULT_SIZE, MUTED, NA_FILL, NA_HATCH, TEXT, bold, contrast_text, font_at, format_fixed,
    text_width,
};

/// How heat-map values map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ColorScale {
    /// Perceptually uniform viridis (dark purple = low, yellow = high);
    /// `reversed` makes low values yellow.
    Sequential {
        /// Swap the ends of the scale.
        reversed: bool,
    },
    /// Paul Tol's blue–white–red scale centred on `center` (e.g. 0.5 for a
    /// probability-of-improvement matrix, 0 for differences).
    Diverging {
        /// The value drawn white.
        center: f64,
    },
}

impl Default for ColorScale {
    fn default() -> Self {
        ColorScale::Sequential { reversed: false }
    }
}

/// A rows × columns matrix drawn as coloured cells with the values printed
/// inside. NaN (or missing) cells are drawn grey and hatched with "n/a".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// Row labels, top to bottom (e.g. methods).
    pub row_labels: Vec<String>,
    /// Column labels, left to right (e.g. tasks).
    pub col_labels: Vec<String>,
    /// `values[row][col]`; ragged rows are padded with NaN.
    pub values: Vec<Vec<f64>>,
    /// What the rows are (printed above the row labels), e.g. "method".
    pub row_title: String,
    /// What the columns are (printed below the matrix), e.g. "task".
    pub col_title: String,
    /// What the colours mean, with units, e.g. "rank (1 = best)".
    pub value_label: String,
    /// Colour scale.
    pub scale: ColorScale,
    /// Value range mapped onto the colour scale; `None` uses the data range.
    pub range: Option<(f64, f64)>,
    /// Decimals printed in cells; `None` picks from the data.
    pub decimals: Option<usize>,
    /// Size in pixels; `None` is 720 px wide with a height that fits the rows.
    pub size: Option<(u32, u32)>,
}

impl Heatmap {
    /// A heat map of `values` with row and column labels.
    pub fn new(
        title: impl Into<String>,
        row_labels: Vec<String>,
        col_labels: Vec<String>,
        values: Vec<Vec<f64>>,
    ) -> Self {
        Self {
            title: title.into(),
            row_labels,
            col_labels,
            values,
            ..Self::default()
        }
    }
}

const LABEL_PX: f64 = 12.0;
const COLORBAR_H: i32 = 48;

/// Pixel layout of a heat map.
struct Layout {
    w: i32,
    h: i32,
    title_h: i32,
    header_h: i32,
    left_w: i32,
    grid_w: f64,
    cell_h: f64,
    rotate: bool,
    col_h: i32,
    col_title_h: i32,
    rows: usize,
    cols: usize,
}

impl Layout {
    fn new(hm: &Heatmap, rows: usize, cols: usize, has_values: bool) -> Layout {
        let w = hm.size.map_or(DEFAULT_SIZE.0, |s| s.0) as i32;
        let w = render::clamp_size((w as u32, 400)).0 as i32;
        let title_h = if hm.title.trim().is_empty() { 6 } else { 32 };
        let header_h = if hm.row_title.is_empty() { 4 } else { 20 };
        let max_row = hm
            .row_labels
            .iter()
            .map(|l| text_width(l, LABEL_PX))
            .fold(0.0, f64::max);
        let left_w = (max_row + 18.0).clamp(40.0, w as f64 * 0.35).round() as i32;
        let grid_w = (w - left_w - 14).max(20) as f64;
        let cell_w = grid_w / cols.max(1) as f64;
        let max_col = hm
            .col_labels
            .iter()
            .map(|l| text_width(l, LABEL_PX))
            .fold(0.0, f64::max);
        let rotate = max_col > cell_w - 4.0;
        let col_h = if rotate {
            (max_col + 12.0).min(150.0).ceil() as i32
        } else {
            22
        };
        let col_title_h = if hm.col_title.is_empty() { 0 } else { 22 };
        let bar_h = if has_values { COLORBAR_H } else { 0 };
        let fixed = title_h + header_h + col_h + col_title_h + bar_h + 10;
        let (cell_h, h) = match hm.size {
            Some((_, h)) => {
                let h = render::clamp_size((400, h)).1 as i32;
                (
                    ((h - fixed) as f64 / rows.max(1) as f64).clamp(8.0, 80.0),
                    h,
                )
            }
            None => {
                let ch = if rows > 25 { 22.0 } else { 28.0 };
                (ch, fixed + (ch * rows as f64).ceil() as i32)
            }
        };
        Layout {
            w,
            h,
            title_h,
            header_h,
            left_w,
            grid_w,
            cell_h,
            rotate,
            col_h,
            col_title_h,
            rows,
            cols,
        }
    }

    fn cell(&self, r: usize, c: usize) -> ((i32, i32), (i32, i32)) {
        let cw = self.grid_w / self.cols as f64;
        let gx = self.left_w as f64;
        let gy = (self.title_h + self.header_h) as f64;
        (
            (
                (gx + c as f64 * cw).round() as i32,
                (gy + r as f64 * self.cell_h).round() as i32,
            ),
            (
                (gx + (c + 1) as f64 * cw).round() as i32,
                (gy + (r + 1) as f64 * self.cell_h).round() as i32,
            ),
        )
    }

    fn grid_bottom(&self) -> i32 {
        (self.title_h + self.header_h) + (self.cell_h * self.rows as f64).round() as i32
    }
}

/// Maps values to `[0, 1]` on the colour scale.
struct Scale {
    lo: f64,
    hi: f64,
    kind: ColorScale,
}

impl Scale {
    fn t(&self, v: f64) -> f64 {
        match self.kind {
            ColorScale::Sequential { reversed } => {
                let t = if self.hi > self.lo {
                    (v - self.lo) / (self.hi - self.lo)
                } else {
                    0.5
                };
                if reversed { 1.0 - t } else { t }
            }
            ColorScale::Diverging { center } => {
                let half = (self.lo - center).abs().max((self.hi - center).abs());
                if half > 0.0 && half.is_finite() {
                    0.5 + 0.5 * (v - center) / half
                } else {
                    0.5
                }
            }
        }
    }

    fn color(&self, v: f64) -> RGBColor {
        style::scale_color(self.t(v), matches!(self.kind, ColorScale::Diverging { .. }))
    }
}

/// Renders a [`Heatmap`] as an SVG string (never panics; an empty matrix
/// gives a "no data" chart).
pub fn heatmap(hm: &Heatmap) -> String {
    let rows = hm.row_labels.len().max(hm.values.len());
    let cols = hm
        .col_labels
        .len()
        .max(hm.values.iter().map(Vec::len).max().unwrap_or(0));
    let finite: Vec<f64> = hm
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| style::ok(*v))
        .collect();
    if rows == 0 || cols == 0 {
        let size = hm.size.unwrap_or(DEFAULT_SIZE);
        return render::render(size, &hm.title, |root| {
            render::no_data(root, &hm.title, "no data")
        });
    }
    let layout = Layout::new(hm, rows, cols, !finite.is_empty());
    let size = (layout.w as u32, layout.h as u32);
    render::render(size, &hm.title, |root| draw(root, hm, &layout, &finite))
}

fn auto_decimals(finite: &[f64]) -> usize {
    if finite.iter().all(|v| v.fract() == 0.0) {
        return 0;
    }
    let max = finite.iter().map(|v| v.abs()).fold(0.0, f64::max);
    if max < 10.0 {
        2
    } else if max < 100.0 {
        1
    } else {
        0
    }
}

fn draw(root: &Area<'_>, hm: &Heatmap, l: &Layout, finite: &[f64]) -> Res {
    render::title(root, &hm.title)?;
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if let Some((a, b)) = hm.range
        && style::ok(a)
        && style::ok(b)
        && a < b
    {
        (lo, hi) = (a, b);
    }
    let scale = Scale {
        lo,
        hi,
        kind: hm.scale,
    };
    let decimals = hm.decimals.unwrap_or_else(|| auto_decimals(finite)).min(12);

    if !hm.row_title.is_empty() {
        let t = style::truncate_to(&hm.row_title, LABEL_PX, l.left_w as f64 - 8.0);
        root.draw(&Text::new(
            t,
            (l.left_w - 8, l.title_h + l.header_h - 4),
            bold(font_at(LABEL_PX, TEXT, HPos::Right, VPos::Bottom)),
        ))?;
    }
    for r in 0..l.rows {
        let ((_, y0), (_, y1)) = l.cell(r, 0);
        if let Some(label) = hm.row_labels.get(r) {
            let t = style::truncate_to(label, LABEL_PX, l.left_w as f64 - 12.0);
            root.draw(&Text::new(
                t,
                (l.left_w - 8, (y0 + y1) / 2),
                font_at(LABEL_PX, TEXT, HPos::Right, VPos::Center),
            ))?;
        }
        for c in 0..l.cols {
            let v = hm
                .values
                .get(r)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(f64::NAN);
            let ((x0, y0), (x1, y1)) = l.cell(r, c);
            let (x1, y1) = ((x1 - 1).max(x0 + 1), (y1 - 1).max(y0 + 1));
            if style::ok(v) {
                let bg = scale.color(v);
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], bg.filled()))?;
                cell_text(
                    root,
                    &format_fixed(v, decimals),
                    (x0, y0, x1, y1),
                    contrast_text(bg),
                )?;
            } else {
                na_cell(root, (x0, y0, x1, y1))?;
            }
        }
    }
    let gb = l.grid_bottom();
    for (c, label) in hm.col_labels.iter().enumerate().take(l.cols) {
        let ((x0, _), (x1, _)) = l.cell(0, c);
        let xc = (x0 + x1) / 2;
        if l.rotate {
            let t = style::truncate_to(label, LABEL_PX, (l.col_h - 10) as f64);
            root.draw(&Text::new(
                t,
                (xc, gb + 6),
                font_at(LABEL_PX, TEXT, HPos::Right, VPos::Center)
                    .transform(FontTransform::Rotate270),
            ))?;
        } else {
            root.draw(&Text::new(
                label.clone(),
                (xc, gb + 5),
                font_at(LABEL_PX, TEXT, HPos::Center, VPos::Top),
            ))?;
        }
    }
    let mut y = gb + l.col_h;
    if !hm.col_title.is_empty() {
        let t = style::truncate_to(&hm.col_title, LABEL_PX, l.grid_w);
        root.draw(&Text::new(
            t,
            (l.left_w + (l.grid_w / 2.0) as i32, y + 4),
            bold(font_at(13.0, TEXT, HPos::Center, VPos::Top)),
        ))?;
        y += l.col_title_h;
    }
    if !finite.is_empty() {
        colorbar(root, hm, l, &scale, y + 6, decimals)?;
    }
    Ok(())
}

/// Prints `text` centred in a cell, shrinking the font if needed (omitted
/// if it cannot fit).
fn cell_text(
    root: &Area<'_>,
    text: &str,
    (x0, y0, x1, y1): (i32, i32, i32, i32),
    c: RGBColor,
) -> Res {
    let (w, h) = ((x1 - x0) as f64, (y1 - y0) as f64);
    let mut px = (h * 0.5).min(12.0);
    while px >= 8.0 && text_width(text, px) > w - 4.0 {
        px -= 1.0;
    }
    if px < 8.0 {
        return Ok(());
    }
    root.draw(&Text::new(
        text.to_string(),
        ((x0 + x1) / 2, (y0 + y1) / 2),
        font_at(px, c, HPos::Center, VPos::Center),
    ))?;
    Ok(())
}

/// A grey, diagonally hatched "n/a" cell.
fn na_cell(root: &Area<'_>, (x0, y0, x1, y1): (i32, i32, i32, i32)) -> Res {
    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], NA_FILL.filled()))?;
    // Lines x + y = k, clipped to the cell.
    let mut k = x0 + y0 + 6;
    while k < x1 + y1 {
        let xa = x0.max(k - y1);
        let xb = x1.min(k - y0);
        if xa < xb {
            root.draw(&PathElement::new(
                vec![(xa, k - xa), (xb, k - xb)],
                NA_HATCH.stroke_width(1),
            ))?;
        }
        k += 7;
    }
    cell_text(root, "n/a", (x0, y0, x1, y1), RGBColor(0x44, 0x44, 0x44))
}

fn colorbar(
    root: &Area<'_>,
    hm: &Heatmap,
    l: &Layout,
    scale: &Scale,
    top: i32,
    decimals: usize,
) -> Res {
    let x0 = l.left_w;
    let bw = (l.grid_w.min(260.0) as i32).max(60);
    let bh = 12;
    let steps = 48;
    for k in 0..steps {
        let a = x0 + k * bw / steps;
        let b = x0 + (k + 1) * bw / steps;
        let v = scale.lo + (scale.hi - scale.lo) * (k as f64 + 0.5) / steps as f64;
        root.draw(&Rectangle::new(
            [(a, top), (b, top + bh)],
            scale.color(v).filled(),
        ))?;
    }
    root.draw(&Rectangle::new(
        [(x0, top), (x0 + bw, top + bh)],
        MUTED.stroke_width(1),
    ))?;
    let mut ticks = vec![(0.0, scale.lo), (1.0, scale.hi)];
    match scale.kind {
        ColorScale::Diverging { center } if center > scale.lo && center < scale.hi => {
            ticks.push(((center - scale.lo) / (scale.hi - scale.lo), center));
        }
        _ => ticks.push((0.5, (scale.lo + scale.hi) / 2.0)),
    }
    for (f, v) in ticks {
        let x = x0 + (f * bw as f64).round() as i32;
        root.draw(&PathElement::new(
            vec![(x, top + bh), (x, top + bh + 3)],
            MUTED.stroke_width(1),
        ))?;
        let d = if decimals == 0 && v.fract() != 0.0 {
            1
        } else {
            decimals
        };
        root.draw(&Text::new(
            format_fixed(v, d),
            (x, top + bh + 4),
            font_at(11.0, MUTED, HPos::Center, VPos::Top),
        ))?;
    }
    if !hm.value_label.is_empty() {
        let room = (l.w - (x0 + bw) - 16) as f64;
        if room > 40.0 {
            let t = style::truncate_to(&hm.value_label, LABEL_PX, room);
            root.draw(&Text::new(
                t,
                (x0 + bw + 12, top + bh / 2),
                font_at(LABEL_PX, TEXT, HPos::Left, VPos::Center),
            ))?;
        }
    }
    Ok(())
}
