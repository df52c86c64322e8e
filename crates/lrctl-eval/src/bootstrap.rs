//! Stratified bootstrap confidence intervals, percentile and BCa.
//!
//! The stratified bootstrap of Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of
//! the Statistical Precipice" (rliable's `StratifiedBootstrap`): the data are *strata* (usually
//! the tasks of one method), and each bootstrap replicate resamples the runs of every stratum
//! with replacement, independently per stratum, keeping the stratum sizes. The interval
//! methods follow Efron & Tibshirani (1993), "An Introduction to the Bootstrap", ch. 13–14, in
//! the conventions of the `arch` package's `IIDBootstrap.conf_int` that rliable calls:
//!
//! * **percentile**: the `α/2` and `1 − α/2` quantiles of the replicates, α = 1 − confidence,
//!   with numpy's default linear interpolation ([`percentile`]);
//! * **BCa** (bias-corrected and accelerated, Efron 1987, "Better bootstrap confidence
//!   intervals", JASA 82): bias `z₀ = Φ⁻¹(#{θ*_b < θ̂} / B)`, acceleration `a` from the
//!   leave-one-out jackknife ([`jackknife`], [`bca_acceleration`]), and the quantiles
//!   `Φ(z₀ + (z₀ + z_q) / (1 − a (z₀ + z_q)))` for `z_q = Φ⁻¹(α/2), Φ⁻¹(1 − α/2)`.
//!
//! All randomness comes from `ChaCha8Rng::seed_from_u64(seed)`, so results are deterministic
//! given the seed (and portable: indices are drawn as `u32`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::EvalError;

/// How to turn bootstrap replicates into a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Percentile interval (rliable's default).
    Percentile,
    /// Bias-corrected and accelerated interval (Efron 1987).
    Bca,
}

/// Settings of a bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of bootstrap replicates (rliable uses 50 000 for aggregates, 2 000 for profiles).
    pub reps: usize,
    /// Coverage of the two-sided interval, in (0, 1).
    pub confidence: f64,
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
    /// Interval method.
    pub method: CiMethod,
}

impl Default for BootstrapConfig {
    /// 2 000 replicates, 95% percentile interval, seed 0.
    fn default() -> Self {
        Self {
            reps: 2000,
            confidence: 0.95,
            seed: 0,
            method: CiMethod::Percentile,
        }
    }
}

impl BootstrapConfig {
    fn check(&self) -> Result<(), EvalError> {
        if self.reps == 0 {
            return Err(EvalError::InvalidArgument(
                "bootstrap reps must be >= 1".into(),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(EvalError::InvalidArgument(format!(
                "confidence must lie in (0, 1), got {}",
                self.confidence
            )));
        }
        Ok(())
    }
}

/// A point estimate with a two-sided confidence interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The statistic on the original data.
    pub point: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// Stratified bootstrap confidence interval of a scalar statistic.
///
/// `strata` are the groups resampled independently (for one method: its runs per task,
/// `table.scores[m]`); NaN values are dropped first (missing runs). `stat` maps (resampled)
/// strata to the statistic; it sees every stratum with its original size, and empty strata stay
/// empty. Uses stream 0 of the ChaCha8 generator seeded with `cfg.seed`.
///
/// The BCa jackknife follows arch/rliable: jackknife replicate `i` leaves out run `i` of *every*
/// stratum at once (for strata of unequal size, of every stratum that has a run `i`). When the
/// BCa bias correction is undefined — no replicate, or every replicate, lies below the point
/// estimate, as for constant data — the percentile interval is returned instead (arch raises an
/// error there); a zero jackknife variance gives acceleration 0.
pub fn stratified_bootstrap_ci<F>(
    strata: &[Vec<f64>],
    stat: F,
    cfg: &BootstrapConfig,
) -> Result<Interval, EvalError>
where
    F: Fn(&[Vec<f64>]) -> f64,
{
    stratified_bootstrap_streamed(strata, |s| vec![stat(s)], cfg, 0).map(|v| v[0])
}

/// [`stratified_bootstrap_ci`] for a vector-valued statistic (e.g. a performance profile over
/// several thresholds): one interval per component, all from the same replicates. For BCa the
/// acceleration is computed per component (arch centres the jackknife values of a vector
/// statistic on their grand mean instead; both agree for scalar statistics).
///
/// # Panics
///
/// If `stat` returns vectors of different lengths for different inputs.
pub fn stratified_bootstrap_ci_vec<F>(
    strata: &[Vec<f64>],
    stat: F,
    cfg: &BootstrapConfig,
) -> Result<Vec<Interval>, EvalError>
where
    F: Fn(&[Vec<f64>]) -> Vec<f64>,
{
    stratified_bootstrap_streamed(strata, stat, cfg, 0)
}

/// The bootstrap replicates themselves, indexed `[replicate][component]`, drawn exactly as
/// [`stratified_bootstrap_ci_vec`] draws them (stream 0 of the generator seeded with `seed`).
pub fn bootstrap_replicates<F>(
    strata: &[Vec<f64>],
    stat: F,
    reps: usize,
    seed: u64,
) -> Vec<Vec<f64>>
where
    F: Fn(&[Vec<f64>]) -> Vec<f64>,
{
    let strata = drop_nan(strata);
    let mut rng = rng_for(seed, 0);
    let mut buf = strata.clone();
    (0..reps)
        .map(|_| {
            resample(&strata, &mut buf, &mut rng);
            stat(&buf)
        })
        .collect()
}

pub(crate) fn stratified_bootstrap_streamed<F>(
    strata: &[Vec<f64>],
    stat: F,
    cfg: &BootstrapConfig,
    stream: u64,
) -> Result<Vec<Interval>, EvalError>
where
    F: Fn(&[Vec<f64>]) -> Vec<f64>,
{
    cfg.check()?;
    let strata = drop_nan(strata);
    let point = stat(&strata);
    let k = point.len();
    let mut rng = rng_for(cfg.seed, stream);
    let mut buf = strata.clone();
    let mut replicates = vec![Vec::with_capacity(cfg.reps); k];
    for _ in 0..cfg.reps {
        resample(&strata, &mut buf, &mut rng);
        let v = stat(&buf);
        assert_eq!(v.len(), k, "statistic changed its length between calls");
        for (r, x) in replicates.iter_mut().zip(v) {
            r.push(x);
        }
    }
    let accel = match cfg.method {
        CiMethod::Percentile => vec![0.0; k],
        CiMethod::Bca => {
            let jk = jackknife(&strata, &stat);
            (0..k)
                .map(|c| {
                    let col: Vec<f64> = jk.iter().map(|row| row[c]).collect();
                    bca_acceleration(&col)
                })
                .collect()
        }
    };
    Ok((0..k)
        .map(|c| {
            interval_from_replicates(
                point[c],
                &replicates[c],
                cfg.confidence,
                cfg.method,
                accel[c],
            )
        })
        .collect())
}

fn drop_nan(strata: &[Vec<f64>]) -> Vec<Vec<f64>> {
    strata
        .iter()
        .map(|s| s.iter().copied().filter(|x| !x.is_nan()).collect())
        .collect()
}

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// One stratified resample of `strata` into `buf` (same shape).
fn resample(strata: &[Vec<f64>], buf: &mut [Vec<f64>], rng: &mut ChaCha8Rng) {
    for (s, b) in strata.iter().zip(buf.iter_mut()) {
        let n = s.len() as u32;
        for x in b.iter_mut() {
            *x = s[rng.random_range(0..n) as usize];
        }
    }
}

/// Leave-one-out jackknife values of `stat`, indexed `[i][component]`, in arch's convention for
/// rliable's stratified data: replicate `i` removes run `i` from every stratum that has one
/// (`i` runs over the largest stratum size). NaN values are dropped first.
pub fn jackknife<F>(strata: &[Vec<f64>], stat: F) -> Vec<Vec<f64>>
where
    F: Fn(&[Vec<f64>]) -> Vec<f64>,
{
    let strata = drop_nan(strata);
    let nobs = strata.iter().map(Vec::len).max().unwrap_or(0);
    (0..nobs)
        .map(|i| {
            let left_out: Vec<Vec<f64>> = strata
                .iter()
                .map(|s| {
                    s.iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, &x)| x)
                        .collect()
                })
                .collect();
            stat(&left_out)
        })
        .collect()
}

/// BCa acceleration from jackknife values θ₍ᵢ₎ (Efron 1987): with `u_i = mean(θ₍·₎) − θ₍ᵢ₎`,
/// `a = Σ u_i³ / (6 (Σ u_i²)^{3/2})`. NaN values are ignored; 0 when the jackknife variance
/// vanishes (arch raises an error there).
pub fn bca_acceleration(jackknife_values: &[f64]) -> f64 {
    let v: Vec<f64> = jackknife_values
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    if v.is_empty() {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let (mut num, mut den) = (0.0, 0.0);
    for &x in &v {
        let u = mean - x;
        num += u * u * u;
        den += u * u;
    }
    let den = 6.0 * den.powf(1.5);
    if den.is_nan() || den <= num.abs() * f64::EPSILON || den.is_infinite() {
        return 0.0;
    }
    num / den
}

/// Quantile `q ∈ [0, 1]` of ascending `sorted` values with linear interpolation between order
/// statistics (numpy's default `method="linear"`: position `q (n − 1)`). NaN for no values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || q.is_nan() {
        return f64::NAN;
    }
    let h = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = h.floor() as usize;
    if lo + 1 >= n {
        return sorted[n - 1];
    }
    let t = h - lo as f64;
    let (a, b) = (sorted[lo], sorted[lo + 1]);
    let d = b - a;
    // numpy's lerp: interpolate from the nearer end.
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Confidence interval from given bootstrap replicates of a scalar statistic whose value on the
/// original data is `point`; `acceleration` is used by BCa only (see [`bca_acceleration`]).
/// NaN replicates are dropped; with none left both bounds are NaN. Undefined BCa bias falls
/// back to the percentile interval as in [`stratified_bootstrap_ci`].
pub fn interval_from_replicates(
    point: f64,
    replicates: &[f64],
    confidence: f64,
    method: CiMethod,
    acceleration: f64,
) -> Interval {
    let mut v: Vec<f64> = replicates.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return Interval {
            point,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    v.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    let (mut ql, mut qh) = (alpha, 1.0 - alpha);
    if method == CiMethod::Bca {
        let below = v.iter().filter(|&&x| x < point).count() as f64 / v.len() as f64;
        if below > 0.0 && below < 1.0 {
            let normal = Normal::standard();
            let b = normal.inverse_cdf(below);
            let a = if acceleration.is_finite() {
                acceleration
            } else {
                0.0
            };
            let adjust = |q: f64| {
                let z = normal.inverse_cdf(q);
                normal.cdf(b + (b + z) / (1.0 - a * (b + z)))
            };
            let (l, h) = (adjust(ql), adjust(qh));
            if !l.is_nan() && !h.is_nan() {
                (ql, qh) = (l, h);
            }
        }
    }
    Interval {
        point,
        lo: percentile(&v, ql),
        hi: percentile(&v, qh),
    }
}
