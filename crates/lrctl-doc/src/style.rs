//! Shared visual vocabulary: palette, markers, dash patterns, fonts, number
//! formatting and axis-tick computation.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The Okabe–Ito colour-blind-safe palette, ordered so that the first colours
/// are the most distinguishable on a white background (yellow last, it is
/// hard to see as a thin line).
///
/// Series `i` of any chart uses `PALETTE[i % 8]` unless it sets an explicit
/// style index; keep the method order (or the style index) consistent across
/// charts and a method keeps its colour, marker and dash pattern everywhere.
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0x00, 0x72, 0xB2), // blue
    (0xD5, 0x5E, 0x00), // vermillion
    (0x00, 0x9E, 0x73), // bluish green
    (0xCC, 0x79, 0xA7), // reddish purple
    (0xE6, 0x9F, 0x00), // orange
    (0x56, 0xB4, 0xE9), // sky blue
    (0x00, 0x00, 0x00), // black
    (0xF0, 0xE4, 0x42), // yellow
];

/// Hex strings (`#RRGGBB`, upper case, as plotters writes them) of [`PALETTE`].
pub const PALETTE_HEX: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

/// Default chart size in pixels (width, height): readable at laptop width.
pub const DEFAULT_SIZE: (u32, u32) = (720, 420);

/// Colour of series style `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

pub(crate) const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub(crate) const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
pub(crate) const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
pub(crate) const LIGHT_GRID: RGBColor = RGBColor(0xEE, 0xEE, 0xEE);
pub(crate) const NA_FILL: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
pub(crate) const NA_HATCH: RGBColor = RGBColor(0xC2, 0xC2, 0xC2);

/// Number of distinct marker shapes.
const N_MARKERS: usize = 7;
/// Dash patterns (dash, gap) in pixels; `None` is a solid line.
const DASHES: [Option<(i32, i32)>; 4] = [None, Some((9, 4)), Some((2, 3)), Some((14, 4))];

/// Dash pattern of series style `i`.
pub(crate) fn dash(i: usize) -> Option<(i32, i32)> {
    DASHES[i % DASHES.len()]
}

/// Polygon (pixel offsets around the centre) of the marker of style `i`.
pub(crate) fn marker_shape(i: usize, r: i32) -> Vec<(i32, i32)> {
    let h = r; // half size
    let t = (r as f64 * 0.4).round().max(1.0) as i32; // arm half-thickness
    match i % N_MARKERS {
        0 => (0..12)
            .map(|k| {
                let a = k as f64 * std::f64::consts::PI / 6.0;
                (
                    (a.cos() * r as f64).round() as i32,
                    (a.sin() * r as f64).round() as i32,
                )
            })
            .collect(),
        1 => vec![(-h, -h), (h, -h), (h, h), (-h, h)],
        2 => vec![(0, -h - 1), (h + 1, h), (-h - 1, h)],
        3 => vec![(0, -h - 1), (h + 1, 0), (0, h + 1), (-h - 1, 0)],
        4 => vec![(0, h + 1), (h + 1, -h), (-h - 1, -h)],
        5 => vec![
            (-t, -h - 1),
            (t, -h - 1),
            (t, -t),
            (h + 1, -t),
            (h + 1, t),
            (t, t),
            (t, h + 1),
            (-t, h + 1),
            (-t, t),
            (-h - 1, t),
            (-h - 1, -t),
            (-t, -t),
        ],
        _ => {
            // An "x": the plus rotated by 45 degrees.
            let s = std::f64::consts::FRAC_1_SQRT_2;
            marker_shape(5, r)
                .into_iter()
                .map(|(x, y)| {
                    let (x, y) = (x as f64, y as f64);
                    (((x - y) * s).round() as i32, ((x + y) * s).round() as i32)
                })
                .collect()
        }
    }
}

/// A filled polygon drawing the marker of style `i` centred on pixel `at`.
pub(crate) fn marker(at: (i32, i32), i: usize, r: i32) -> Polygon<(i32, i32)> {
    let pts = marker_shape(i, r)
        .into_iter()
        .map(|(x, y)| (at.0 + x, at.1 + y))
        .collect::<Vec<_>>();
    Polygon::new(pts, color(i).filled())
}

/// A text style with the given CSS pixel size. (plotters' SVG backend writes
/// `font-size = size / 1.24`, so the size is scaled up accordingly.)
pub(crate) fn font(px: f64) -> TextStyle<'static> {
    ("sans-serif", px * 1.24).into_font().color(&TEXT)
}

/// A text style with the given size, colour and anchor.
pub(crate) fn font_at(px: f64, c: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    ("sans-serif", px * 1.24)
        .into_font()
        .color(&c)
        .pos(Pos::new(h, v))
}

/// The same text style in bold.
pub(crate) fn bold(mut t: TextStyle<'static>) -> TextStyle<'static> {
    t.font = t.font.style(FontStyle::Bold);
    t
}

/// Rough rendered width (CSS pixels) of `s` in a sans-serif font of size `px`.
pub(crate) fn text_width(s: &str, px: f64) -> f64 {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() || c == 'm' || c == 'w' {
                0.72
            } else if matches!(
                c,
                'i' | 'l' | 'j' | 't' | 'f' | 'r' | '.' | ',' | ':' | '|' | '\'' | ' '
            ) {
                0.33
            } else {
                0.56
            }
        })
        .sum::<f64>()
        * px
}

/// Shortens `s` with an ellipsis so that it fits in `max_w` pixels.
pub(crate) fn truncate_to(s: &str, px: f64, max_w: f64) -> String {
    if text_width(s, px) <= max_w {
        return s.to_string();
    }
    let mut out: String = String::new();
    for c in s.chars() {
        let mut probe = out.clone();
        probe.push(c);
        probe.push('…');
        if text_width(&probe, px) > max_w {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Values whose magnitude exceeds this are treated like non-finite values
/// (they would overflow range arithmetic).
const HUGE: f64 = 1e300;

/// Whether `v` can be plotted on a linear axis.
pub(crate) fn ok(v: f64) -> bool {
    v.is_finite() && v.abs() < HUGE
}

/// Whether `v` can be plotted on an axis (log axes need `v > 0`).
pub(crate) fn ok_on(v: f64, log: bool) -> bool {
    ok(v) && (!log || v > 0.0)
}

/// Formats a number compactly for tick labels and cell values.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format_sci(v);
    }
    let decimals = if a >= 100.0 {
        1
    } else if a >= 1.0 {
        3
    } else {
        4
    };
    trim_zeros(&format!("{v:.decimals$}"))
}

/// Scientific notation without superfluous zeros: `1e-4`, `2.5e6`.
fn format_sci(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{}", trim_zeros(m), e),
        None => s,
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Formats `v` with a fixed number of decimals ("n/a" for NaN).
pub(crate) fn format_fixed(v: f64, decimals: usize) -> String {
    let decimals = decimals.min(20);
    if !v.is_finite() {
        return format_number(v);
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) && decimals > 0 {
        return format_sci(v);
    }
    let s = format!("{v:.decimals$}");
    // Avoid "-0.00".
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// One axis in plot space (log axes are plotted as `log10(v)` on a linear
/// plotters axis, with ticks labelled in data units).
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub ticks: Vec<f64>,
    pub minor: Vec<f64>,
    step: f64,
}

impl Axis {
    /// Builds an axis covering `values` (data space; unusable ones are
    /// skipped) and `include`, with some padding. `None` when nothing usable.
    pub fn fit(
        values: impl IntoIterator<Item = f64>,
        log: bool,
        include: &[f64],
        pad: f64,
    ) -> Option<Axis> {
        Self::fit_n(values, log, include, pad, 6)
    }

    /// Like [`Axis::fit`] with a target number of linear ticks.
    pub fn fit_n(
        values: impl IntoIterator<Item = f64>,
        log: bool,
        include: &[f64],
        pad: f64,
        target: usize,
    ) -> Option<Axis> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut any = false;
        for v in values {
            if ok_on(v, log) {
                let p = if log { v.log10() } else { v };
                lo = lo.min(p);
                hi = hi.max(p);
                any = true;
            }
        }
        if !any {
            return None;
        }
        for &v in include {
            if ok_on(v, log) {
                let p = if log { v.log10() } else { v };
                lo = lo.min(p);
                hi = hi.max(p);
            }
        }
        Some(Self::from_range(lo, hi, log, pad, target))
    }

    /// A linear axis over `[lo, hi]` without ticks (category axes).
    pub fn plain(lo: f64, hi: f64) -> Axis {
        Axis {
            lo,
            hi,
            log: false,
            ticks: Vec::new(),
            minor: Vec::new(),
            step: 1.0,
        }
    }

    /// Builds an axis over a plot-space range.
    pub fn from_range(mut lo: f64, mut hi: f64, log: bool, pad: f64, target: usize) -> Axis {
        let span = hi - lo;
        if span <= 0.0 || !span.is_finite() || span < 1e-12 * lo.abs().max(hi.abs()) {
            let d = if log {
                0.5
            } else if lo == 0.0 {
                1.0
            } else {
                lo.abs() * 0.1
            };
            lo -= d;
            hi += d;
        } else {
            lo -= span * pad;
            hi += span * pad;
        }
        let (ticks, minor, step) = if log {
            log_ticks(lo, hi)
        } else {
            let (t, s) = nice_ticks(lo, hi, target);
            (t, Vec::new(), s)
        };
        Axis {
            lo,
            hi,
            log,
            ticks,
            minor,
            step,
        }
    }

    /// Converts a data value to plot space (`None` if not plottable).
    pub fn to_plot(&self, v: f64) -> Option<f64> {
        if ok_on(v, self.log) {
            Some(if self.log { v.log10() } else { v })
        } else {
            None
        }
    }

    /// Like [`Axis::to_plot`] but clamps into the axis (used for band edges).
    pub fn to_plot_clamped(&self, v: f64) -> Option<f64> {
        if v.is_nan() {
            return None;
        }
        if v == f64::INFINITY {
            return Some(self.hi);
        }
        if v == f64::NEG_INFINITY || (self.log && v <= 0.0) {
            return Some(self.lo);
        }
        self.to_plot(v).map(|p| p.clamp(self.lo, self.hi))
    }

    /// Tick label for a plot-space tick position.
    pub fn label(&self, p: f64) -> String {
        if self.log && self.ticks.iter().any(|t| !(-3.01..4.99).contains(t)) {
            // One notation per axis: 1e-4 … 1e-2 rather than 1e-4 … 0.01.
            format_sci(10f64.powf(p))
        } else if self.log {
            format_number(10f64.powf(p))
        } else {
            let a = p.abs();
            if a != 0.0 && (!(1e-3..1e5).contains(&a) || self.step < 1e-4) {
                return format_sci(p);
            }
            let decimals = if self.step >= 1.0 {
                0
            } else {
                (-self.step.log10().floor()) as usize
            };
            format_fixed(p, decimals.min(8))
        }
    }
}

/// "Nice" linear ticks (1, 2, 5 × 10^k steps) inside `[lo, hi]`.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return (vec![lo], 1.0);
    }
    let rough = span / target.max(1) as f64;
    let mag = 10f64.powf(rough.log10().floor());
    let norm = rough / mag;
    let step = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    } * mag;
    let mut out = Vec::new();
    let first = (lo / step).ceil();
    for k in 0..200 {
        let t = (first + k as f64) * step;
        if t > hi + step * 1e-9 {
            break;
        }
        // Snap values like 0.30000000000000004.
        let t = if t.abs() < step * 1e-9 { 0.0 } else { t };
        out.push(t);
    }
    (out, step)
}

/// Ticks for a log10 plot-space range: decades (thinned if many), plus 2×
/// and 5× ticks when the range is narrow. Returns (ticks, minor ticks, step).
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let d0 = lo.ceil() as i64;
    let d1 = hi.floor() as i64;
    let decades = (d1 - d0 + 1).max(0);
    let mut ticks = Vec::new();
    let mut minor = Vec::new();
    let every = (decades / 8 + 1).max(1);
    if decades >= 3 {
        let mut d = d0;
        while d <= d1 && ticks.len() < 100 {
            if (d - d0) % every == 0 {
                ticks.push(d as f64);
            }
            d += 1;
        }
        if decades <= 4 {
            for d in (d0 - 1)..=d1 {
                for m in 2..10 {
                    let p = d as f64 + (m as f64).log10();
                    if p >= lo && p <= hi {
                        minor.push(p);
                    }
                }
            }
        }
    } else {
        for d in (lo.floor() as i64)..=(hi.ceil() as i64) {
            for m in [1.0f64, 2.0, 5.0] {
                let p = d as f64 + m.log10();
                if p >= lo && p <= hi {
                    ticks.push(p);
                }
            }
            if ticks.len() > 100 {
                break;
            }
        }
        if ticks.len() < 2 {
            // Very narrow range: fall back to linear-looking ticks in data space.
            let (t, _) = nice_ticks(10f64.powf(lo), 10f64.powf(hi), 4);
            ticks = t.into_iter().filter(|v| *v > 0.0).map(f64::log10).collect();
        }
    }
    (ticks, minor, 1.0)
}

/// Colour for a value in `[0, 1]` on a colour-blind-safe scale.
pub(crate) fn scale_color(t: f64, diverging: bool) -> RGBColor {
    // viridis (sequential) and Paul Tol's BuRd (diverging) anchors.
    const VIRIDIS: [(u8, u8, u8); 9] = [
        (0x44, 0x01, 0x54),
        (0x47, 0x2D, 0x7B),
        (0x3B, 0x52, 0x8B),
        (0x2C, 0x72, 0x8E),
        (0x21, 0x91, 0x8C),
        (0x28, 0xAE, 0x80),
        (0x5E, 0xC9, 0x62),
        (0xAD, 0xDC, 0x30),
        (0xFD, 0xE7, 0x25),
    ];
    const BURD: [(u8, u8, u8); 9] = [
        (0x21, 0x66, 0xAC),
        (0x43, 0x93, 0xC3),
        (0x92, 0xC5, 0xDE),
        (0xD1, 0xE5, 0xF0),
        (0xF7, 0xF7, 0xF7),
        (0xFD, 0xDB, 0xC7),
        (0xF4, 0xA5, 0x82),
        (0xD6, 0x60, 0x4D),
        (0xB2, 0x18, 0x2B),
    ];
    let anchors = if diverging { &BURD } else { &VIRIDIS };
    let t = if t.is_nan() { 0.5 } else { t.clamp(0.0, 1.0) };
    let x = t * (anchors.len() - 1) as f64;
    let i = (x.floor() as usize).min(anchors.len() - 2);
    let f = x - i as f64;
    let (a, b) = (anchors[i], anchors[i + 1]);
    let mix = |p: u8, q: u8| {
        (p as f64 + (q as f64 - p as f64) * f)
            .round()
            .clamp(0.0, 255.0) as u8
    };
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `bg`.
pub(crate) fn contrast_text(bg: RGBColor) -> RGBColor {
    let lin = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * lin(bg.0) + 0.7152 * lin(bg.1) + 0.0722 * lin(bg.2);
    if l > 0.22 {
        RGBColor(0, 0, 0)
    } else {
        RGBColor(255, 255, 255)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_inside_and_nice() {
        let (t, step) = nice_ticks(0.03, 0.97, 6);
        assert_eq!(step, 0.2);
        assert_eq!(t.first().copied(), Some(0.2));
        assert!(t.iter().all(|v| (0.03..=0.97).contains(v)));
        let a = Axis::from_range(-5.0, -1.0, true, 0.0, 6);
        assert_eq!(a.ticks, vec![-5.0, -4.0, -3.0, -2.0, -1.0]);
        assert_eq!(a.label(-3.0), "1e-3");
        assert_eq!(a.label(-1.0), "1e-1");
        let a = Axis::from_range(-2.0, 1.0, true, 0.0, 6);
        assert!(!a.minor.is_empty());
        assert_eq!(a.label(-2.0), "0.01");
        let a = Axis::from_range(1.5, 3.3, true, 0.0, 6);
        assert!(a.ticks.len() >= 4, "{:?}", a.ticks);
    }

    #[test]
    fn degenerate_ranges_are_widened() {
        let a = Axis::fit([2.0, 2.0], false, &[], 0.05).unwrap();
        assert!(a.lo < 2.0 && a.hi > 2.0);
        let a = Axis::fit([0.5], true, &[], 0.05).unwrap();
        assert!(a.lo < a.hi && !a.ticks.is_empty());
        assert!(Axis::fit([f64::NAN, f64::INFINITY], false, &[], 0.05).is_none());
        assert!(Axis::fit([-1.0, 0.0], true, &[], 0.05).is_none());
        let a = Axis::fit([-1e299, 1e299], false, &[], 0.05).unwrap();
        assert!(a.ticks.len() < 200);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(1e-5), "1e-5");
        assert_eq!(format_number(123456.0), "1.23e5");
        assert_eq!(format_number(f64::NAN), "n/a");
        assert_eq!(format_fixed(-0.0001, 2), "-1e-4");
        assert_eq!(format_fixed(-0.004, 2), "0.00");
        assert_eq!(format_fixed(2.0, 0), "2");
    }

    #[test]
    fn markers_are_distinct() {
        let shapes: Vec<_> = (0..N_MARKERS).map(|i| marker_shape(i, 4)).collect();
        for i in 0..shapes.len() {
            for j in 0..i {
                assert_ne!(shapes[i], shapes[j]);
            }
        }
    }
}
