//! The exact (erf) GELU, `x·Φ(x)` (Hendrycks & Gimpel 2016, "Gaussian error linear units"), in one
//! pass forward and one backward, with a branch-free `erf` that vectorises.
//!
//! `erf` is its Maclaurin series below 0.5 and Abramowitz & Stegun 7.1.26 above (absolute error
//! ≤ 1.5·10⁻⁷ before f32 rounding), `exp` a degree-6 polynomial after range reduction (within 3 ulp, tested).
//! The error enters GELU as `x/2 · δerf`; the test measures it against an f64 reference over
//! [−12, 12] (bounds asserted there: `|δgelu| ≤ 2·10⁻⁷·|x| + 2 ulp`,
//! `|δgelu'| ≤ 3·10⁻⁷·(1 + |x|)`), where the textbook formula `x/2·(1 + erf(x/√2))` that PyTorch
//! and burn evaluate in f32 already carries about `3·10⁻⁸·|x|` from rounding `erf` near ±1. So
//! this is the exact GELU to within a few of its own rounding errors — not the tanh
//! approximation (off by up to 10⁻³·|x|). burn's exact GELU calls a scalar `erff` per element and builds its
//! derivative from several batch-sized temporaries.

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// 1.5·2²³: adding and subtracting it rounds to the nearest integer (`f32::round` is a library
/// call on baseline x86-64 and blocks vectorisation).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// The range reduction of `e^y`, `y ∈ [−87, 0]`: `(t, k, p)` with `k = round(y·log2 e)`,
/// `t = y·log2 e + ROUND_MAGIC` (so `k = t − ROUND_MAGIC`) and `p ≈ e^(y − k·ln 2)`, a degree-6
/// polynomial; `e^y = p·2^k`.
#[inline(always)]
fn exp_reduced(y: f32) -> (f32, f32, f32) {
    // |y·log2 e| < 126 here.
    let t = y * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let k = t - ROUND_MAGIC;
    // Cody–Waite: ln 2 split so that k·LN2_HI is exact.
    let r = y - k * 0.693_145_75 - k * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    (t, k, p)
}

/// `e^y` for `y ≤ 0` (clamped below at −87, where it is ≈ 1.6·10⁻³⁸), within 3 ulp, branch-free, so
/// that a loop of them vectorises (a softmax's exponentials after subtracting the maximum).
#[inline(always)]
pub fn exp_neg(y: f32) -> f32 {
    let (t, _, p) = exp_reduced(y.max(-87.0));
    // 2^k from `t`'s bits: `t` and ROUND_MAGIC share their exponent, so their bits differ by
    // the integer `k` (the same value as `k as i32`, whose saturating conversion does not
    // vectorise).
    let k_int = t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    p * f32::from_bits(k_int.wrapping_add(127) << 23)
}

/// `erf(x)`: its Maclaurin series below 0.5 (relative accuracy where erf is small), Abramowitz &
/// Stegun 7.1.26 above. Both are computed and one selected, so the loop has no branch.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    // 2/√π · Σ (−1)ⁿ x²ⁿ⁺¹ / (n!(2n+1)), n ≤ 6 (next term < 5·10⁻¹⁰ at 0.5).
    let series = x
        * (std::f32::consts::FRAC_2_SQRT_PI
            + z * (-0.376_126_38
                + z * (0.112_837_92
                    + z * (-0.026_866_17
                        + z * (0.005_223_977_6 + z * (-0.000_854_832_7 + z * 0.000_120_552_9))))));
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let tail = (1.0 - poly * exp_neg(-z)).copysign(x);
    if a < 0.5 { series } else { tail }
}

/// `Φ(x)`, the standard normal distribution function.
#[inline(always)]
fn phi_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `gelu(x) = x·Φ(x)` elementwise.
pub fn gelu(x: &[f32]) -> Vec<f32> {
    crate::par_zeroed(x.len(), CHUNK, |i, y| {
        for (y, &x) in y.iter_mut().zip(&x[i * CHUNK..]) {
            *y = x * phi_cdf(x);
        }
    })
}

/// The input gradient `g·(Φ(x) + x·φ(x))` from the output gradient `g`.
pub fn gelu_backward(x: &[f32], grad: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), grad.len(), "gelu gradient length");
    crate::par_zeroed(x.len(), CHUNK, |i, dx| {
        let (x, g) = (&x[i * CHUNK..], &grad[i * CHUNK..]);
        for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            let pdf = FRAC_1_SQRT_2PI * exp_neg(-0.5 * x * x);
            *d = g * (phi_cdf(x) + x * pdf);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2^k` read from the rounding's bits is `k as i32` exactly: the same bits as the
    /// conversion it replaced, on every 101st float of [−100, 0] (clamped below −87) and
    /// both ends; and within 3 ulp of `exp` in f64.
    #[test]
    fn exp_neg_takes_the_power_of_two_from_the_bits() {
        let converted = |y: f32| -> f32 {
            let (_, k, p) = exp_reduced(y.max(-87.0));
            p * f32::from_bits(((k as i32 + 127) as u32) << 23)
        };
        let (lo, hi) = ((-0.0f32).to_bits(), (-100.0f32).to_bits());
        let mut checked = 0;
        for bits in (lo..=hi).step_by(101).chain([lo, hi]) {
            let y = f32::from_bits(bits);
            let got = exp_neg(y);
            assert_eq!(got.to_bits(), converted(y).to_bits(), "exp_neg({y})");
            let want = f64::from(y.max(-87.0)).exp();
            let ulp = f64::from(f32::from_bits(got.to_bits() + 1) - got);
            assert!(
                (f64::from(got) - want).abs() <= 3.0 * ulp,
                "exp_neg({y}) = {got}, not {want}"
            );
            checked += 1;
        }
        assert!(checked > 10_000_000);
    }

    /// erf in f64 from its Maclaurin series (exact enough for |x| ≤ 4; ±1 beyond in f32 terms).
    fn erf64(x: f64) -> f64 {
        // Maclaurin series, converges fast for |x| ≤ 3; beyond, erf = ±1 to f32 precision.
        if x.abs() > 4.0 {
            return x.signum();
        }
        let mut sum = 0.0f64;
        let mut term = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
            if n > 200.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn gelu_and_its_derivative_match_the_exact_function_to_f32_precision() {
        let xs: Vec<f32> = (-20000..=20000)
            .map(|i| i as f32 * 6e-4)
            .chain([-40.0, -9.0, 9.0, 40.0, 0.0])
            .collect();
        let y = gelu(&xs);
        let ones = vec![1.0f32; xs.len()];
        let dy = gelu_backward(&xs, &ones);
        let (mut worst, mut worst_d) = (0.0f64, 0.0f64);
        for ((&x, &y), &d) in xs.iter().zip(&y).zip(&dy) {
            let x64 = x as f64;
            let cdf = 0.5 * (1.0 + erf64(x64 / std::f64::consts::SQRT_2));
            let want = x64 * cdf;
            let pdf = (-0.5 * x64 * x64).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let want_d = cdf + x64 * pdf;
            // The erf error (≈ 3·10⁻⁷ absolute in f32 arithmetic) scaled by x/2, plus rounding.
            let (err, err_d) = ((y as f64 - want).abs(), (d as f64 - want_d).abs());
            worst = worst.max(err / x64.abs().max(1e-30));
            worst_d = worst_d.max(err_d / (1.0 + x64.abs()));
            let tol = 2e-7 * x64.abs() + 2.0 * f32::EPSILON as f64 * want.abs();
            assert!(err <= tol, "gelu({x}) = {y}, want {want}");
            assert!(
                err_d <= 3e-7 * (1.0 + x64.abs()),
                "gelu'({x}) = {d}, want {want_d}"
            );
        }
        eprintln!("max |δgelu|/|x| = {worst:e}, max |δgelu'|/(1+|x|) = {worst_d:e}");
    }
}
