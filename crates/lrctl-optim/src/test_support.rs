//! Helpers for the unit tests that check the fused per-step kernels against straightforward
//! references (one whole-vector operation at a time, sequential `f64` sums).

/// A small deterministic generator (64-bit LCG); uniform `f32` in `[-1, 1)`.
pub(crate) struct Lcg(pub u64);

impl Lcg {
    pub(crate) fn uniform(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// `Σ f(i)` in `f64`, one addition after the other.
pub(crate) fn sequential_sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |a, b| a + b)
}

/// Runs `fused` and `reference` (each `(params, grads, lr) -> effective lr`) side by side over
/// `steps` steps of a noisy quadratic on `n` parameters and asserts they agree: effective
/// learning rates to 1e-9 relative (the `d` estimates subtract nearly equal sums, so a
/// different summation order shows more than in the sums themselves), parameters to 1e-6 of
/// the distance each one travelled plus one `f32` rounding. The scenario covers two all-zero
/// first gradients, coordinates whose gradient is always zero (the first 11, across the first
/// 8-lane chunk, or a third of short vectors), a step at `lr = 0` and one at `lr = 0.5`.
pub(crate) fn assert_fused_matches_reference(
    what: &str,
    n: usize,
    steps: usize,
    mut fused: impl FnMut(&mut [f32], &[f32], f64) -> f64,
    mut reference: impl FnMut(&mut [f32], &[f32], f64) -> f64,
) {
    let mut rng = Lcg(0x5eed ^ n as u64);
    let start: Vec<f32> = (0..n).map(|_| rng.uniform()).collect();
    let target: Vec<f32> = (0..n).map(|_| rng.uniform()).collect();
    let curvature: Vec<f32> = (0..n).map(|_| 1.5 + rng.uniform()).collect();
    let (mut x, mut xr) = (start.clone(), start.clone());
    let dead = (n / 3).min(11);
    let mut moved = false;
    for t in 0..steps {
        let lr = match t {
            10 => 0.0,
            11 => 0.5,
            _ => 1.0,
        };
        let grads: Vec<f32> = (0..n)
            .map(|i| {
                let noise = 0.1 * rng.uniform();
                if t < 2 || i < dead {
                    0.0
                } else {
                    (x[i] - target[i]) * curvature[i] + noise
                }
            })
            .collect();
        let e = fused(&mut x, &grads, lr);
        let er = reference(&mut xr, &grads, lr);
        assert!(
            (e - er).abs() <= 1e-9 * er.abs(),
            "{what}, n {n}, step {t}: effective lr {e} vs {er}"
        );
        for (i, ((&a, &b), &a0)) in x.iter().zip(&xr).zip(&start).enumerate() {
            let travelled = f64::from(b) - f64::from(a0);
            let tol = 1e-6 * travelled.abs() + f64::from(f32::EPSILON * b.abs());
            assert!(
                (f64::from(a) - f64::from(b)).abs() <= tol,
                "{what}, n {n}, step {t}, coordinate {i}: {a} vs {b} (from {a0})"
            );
        }
        moved |= e > 0.0;
    }
    assert!(moved, "{what}: never stepped");
    assert_ne!(x, start, "{what}: never moved");
}
