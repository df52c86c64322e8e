//! The interpolation curves every annealing schedule shares, written once.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// How a schedule moves from a start value to an end value as its progress goes from 0 to 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// A straight line.
    #[default]
    Linear,
    /// Half a cosine wave, `end + (start - end) · (1 + cos(π·p)) / 2` (SGDR; PyTorch's `cos`).
    #[serde(alias = "cos")]
    Cosine,
    /// `end + (start - end) · (1 - √p)`: the "1-sqrt" cooldown of Hägele et al. 2024 (*Scaling
    /// Laws and Compute-Optimal Training Beyond Fixed Training Durations*), which falls fast at
    /// first and flattens towards the end.
    Sqrt,
}

impl Shape {
    /// The name used in configuration files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Shape::Linear => "linear",
            Shape::Cosine => "cosine",
            Shape::Sqrt => "sqrt",
        }
    }

    /// The value at progress `p` (clamped to `[0, 1]`) between `start` and `end`.
    pub fn interpolate(self, start: f64, end: f64, p: f64) -> f64 {
        Curve::Shape(self).interpolate(start, end, p)
    }
}

/// [`Shape`] plus the polynomial family, which is configured through a power instead of a name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Curve {
    /// One of the named shapes.
    Shape(Shape),
    /// `end + (start - end) · (1 - p)^power` (PyTorch's `PolynomialLR`).
    Power(f64),
}

impl Curve {
    /// The value at progress `p` (clamped to `[0, 1]`; NaN counts as the end) between `start`
    /// and `end`. At `p = 0` it is `start`, at `p = 1` it is `end`.
    pub(crate) fn interpolate(self, start: f64, end: f64, p: f64) -> f64 {
        let p = if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
        match self {
            // The argument order of PyTorch's `_annealing_linear`: (end - start) · p + start.
            Curve::Shape(Shape::Linear) => (end - start) * p + start,
            Curve::Shape(Shape::Cosine) => end + (start - end) * (1.0 + (PI * p).cos()) / 2.0,
            Curve::Shape(Shape::Sqrt) => end + (start - end) * (1.0 - p.sqrt()),
            Curve::Power(power) => end + (start - end) * (1.0 - p).powf(power),
        }
    }
}

/// Progress `t / n` of an integer position through an integer length, as used by every
/// schedule: `min(t, n) / n`, and 1 (the end) for an empty length.
pub(crate) fn progress(t: u64, n: u64) -> f64 {
    if n == 0 {
        1.0
    } else {
        t.min(n) as f64 / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_curve_runs_from_start_to_end() {
        let curves = [
            Curve::Shape(Shape::Linear),
            Curve::Shape(Shape::Cosine),
            Curve::Shape(Shape::Sqrt),
            Curve::Power(2.0),
            Curve::Power(0.5),
        ];
        for c in curves {
            assert_eq!(c.interpolate(3.0, 1.0, 0.0), 3.0, "{c:?}");
            assert!((c.interpolate(3.0, 1.0, 1.0) - 1.0).abs() < 1e-15, "{c:?}");
            // Clamped outside [0, 1].
            assert_eq!(c.interpolate(3.0, 1.0, -1.0), 3.0, "{c:?}");
            assert!((c.interpolate(3.0, 1.0, 7.0) - 1.0).abs() < 1e-15, "{c:?}");
            assert!(
                (c.interpolate(3.0, 1.0, f64::NAN) - 1.0).abs() < 1e-15,
                "{c:?}"
            );
        }
    }

    #[test]
    fn midpoints_by_hand() {
        // Linear and cosine meet at the midpoint; sqrt is below; power 2 is a quarter.
        assert_eq!(Shape::Linear.interpolate(2.0, 0.0, 0.5), 1.0);
        assert!((Shape::Cosine.interpolate(2.0, 0.0, 0.5) - 1.0).abs() < 1e-15);
        assert!((Shape::Cosine.interpolate(2.0, 0.0, 0.25) - (1.0 + 0.5f64.sqrt())).abs() < 1e-15);
        assert!((Shape::Sqrt.interpolate(2.0, 0.0, 0.25) - 1.0).abs() < 1e-15);
        assert_eq!(Curve::Power(2.0).interpolate(2.0, 0.0, 0.5), 0.5);
        // Increasing curves work the same way (warm-up).
        assert_eq!(Shape::Linear.interpolate(0.0, 4.0, 0.25), 1.0);
    }

    #[test]
    fn progress_clamps_and_handles_empty_lengths() {
        assert_eq!(progress(0, 4), 0.0);
        assert_eq!(progress(1, 4), 0.25);
        assert_eq!(progress(9, 4), 1.0);
        assert_eq!(progress(0, 0), 1.0);
    }
}
