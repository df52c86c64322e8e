//! Curves thinned on the server to the pixels a chart shows.
//!
//! Largest-triangle-three-buckets (Steinarsson, "Downsampling Time Series for Visual
//! Representation", MSc thesis, University of Iceland, 2013), from the `lttb` crate: it keeps
//! the first and last points and, per bucket, the point forming the largest triangle with its
//! neighbours, so peaks and divergences survive. Points with a non-finite value are dropped
//! first (the algorithm's areas need finite numbers); an error band travels with the point
//! LTTB keeps for its mean.

use lttb::DataPoint;

/// At most how many points a series gets, whatever the client asks.
pub const MAX_POINTS: usize = 20_000;

/// The indices of the points of `(x, y)` kept for `width` points (all of them when there are
/// no more than that). `x` must be increasing.
pub fn keep(x: &[f64], y: &[f64], width: usize) -> Vec<usize> {
    let finite: Vec<usize> = (0..x.len().min(y.len()))
        .filter(|&i| x[i].is_finite() && y[i].is_finite())
        .collect();
    let width = width.clamp(3, MAX_POINTS);
    if finite.len() <= width {
        return finite;
    }
    let points: Vec<DataPoint> = finite.iter().map(|&i| DataPoint::new(x[i], y[i])).collect();
    let kept = lttb::lttb(points, width);
    // LTTB returns points of the input in order: walk both to recover their indices.
    let mut out = Vec::with_capacity(kept.len());
    let mut at = 0;
    for p in kept {
        while at < finite.len() && (x[finite[at]] != p.x || y[finite[at]] != p.y) {
            at += 1;
        }
        if at < finite.len() {
            out.push(finite[at]);
            at += 1;
        }
    }
    out
}

/// `values` at `indices`.
pub fn pick(values: &[f64], indices: &[usize]) -> Vec<f64> {
    indices.iter().map(|&i| values[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ends_and_peaks_within_width() {
        let x: Vec<f64> = (0..10_000).map(f64::from).collect();
        let mut y: Vec<f64> = x.iter().map(|v| (v / 100.0).sin()).collect();
        y[5000] = 50.0;
        y[7000] = f64::NAN;
        let k = keep(&x, &y, 200);
        assert!(k.len() <= 200, "{}", k.len());
        assert_eq!(k[0], 0);
        assert_eq!(*k.last().unwrap(), 9999);
        assert!(k.contains(&5000), "the spike survives");
        assert!(!k.contains(&7000), "NaN dropped");
        assert!(k.windows(2).all(|w| w[0] < w[1]));
        // Short series are kept whole (non-finite points aside).
        assert_eq!(keep(&x[..10], &y[..10], 200), (0..10).collect::<Vec<_>>());
    }
}
