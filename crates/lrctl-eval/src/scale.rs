//! Trends against scale: does tuning lose its edge as models grow?
//!
//! The seed paper's claim is that hyperparameter optimisation becomes less effective as models
//! grow. These functions measure it on a *ladder*: the same task at growing scale, one rung per
//! scale. Everything is on normalised, higher-is-better scores, with the stratified bootstrap
//! of [`crate::stratified_bootstrap_ci`] (Agarwal et al. 2021, rliable): the strata are the
//! (method, task) cells, whose runs (seeds) are resampled independently.
//!
//! * [`group_score`] / [`score_ci`]: a method's score on a rung — the mean over the rung's
//!   tasks of its mean over seeds (a ladder rung has one task; a family on the complexity axis
//!   has several) — with its interval;
//! * [`hpo_advantage`]: the best tuned method's score minus the best untuned method's, with its
//!   interval (the maximum is taken inside every bootstrap replicate, so the interval includes
//!   the uncertainty of which method is best);
//! * [`advantage_trend`]: the least-squares slope of the advantage against a scale coordinate
//!   (log parameters, log FLOPs, or a complexity index), its interval from the same joint
//!   bootstrap of every rung's runs, and a plain [`TrendVerdict`].
//!
//! Deviation from a regression textbook: the slope interval is a bootstrap over seeds only,
//! with the rungs fixed (the scales are chosen, not sampled), so it states how sure we are of
//! the trend *on these rungs*; with few rungs it says nothing about rungs not run.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::bootstrap::{BootstrapConfig, Interval, stratified_bootstrap_ci};

/// The runs of one method on the tasks of one rung: `[task][run]`, normalised scores.
pub type MethodRuns = Vec<Vec<f64>>;

/// One rung of a ladder: its scale coordinate and the runs of its tuned and untuned methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvantageRung {
    /// The scale coordinate the trend is fitted against (e.g. `ln(parameters)`).
    pub x: f64,
    /// Runs of every tuned method, `[method][task][run]`.
    pub tuned: Vec<MethodRuns>,
    /// Runs of every untuned method, `[method][task][run]`.
    pub untuned: Vec<MethodRuns>,
}

/// Which way the HPO advantage goes with scale, judged by the slope's interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendVerdict {
    /// The whole interval of the slope is below zero.
    Shrinks,
    /// The whole interval of the slope is above zero.
    Grows,
    /// The interval contains zero (or could not be computed).
    NoClearTrend,
}

impl TrendVerdict {
    /// The verdict of a slope interval.
    pub fn of(slope: &Interval) -> TrendVerdict {
        if slope.hi < 0.0 {
            TrendVerdict::Shrinks
        } else if slope.lo > 0.0 {
            TrendVerdict::Grows
        } else {
            TrendVerdict::NoClearTrend
        }
    }

    /// Words for a sentence: "shrinks", "grows", "shows no clear trend".
    pub fn as_str(self) -> &'static str {
        match self {
            TrendVerdict::Shrinks => "shrinks",
            TrendVerdict::Grows => "grows",
            TrendVerdict::NoClearTrend => "shows no clear trend",
        }
    }
}

/// A fitted trend of the HPO advantage against scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// Change of the advantage per unit of the scale coordinate, with its interval.
    pub slope: Interval,
    /// The fitted advantage at `x = 0`.
    pub intercept: f64,
    /// The verdict of the slope's interval.
    pub verdict: TrendVerdict,
}

/// A method's score on a rung: the mean over tasks of its mean over runs, NaN runs skipped
/// (normalised scores have none: a diverged run scores 0). NaN when it has no runs.
pub fn group_score(runs: &[Vec<f64>]) -> f64 {
    let means = runs.iter().filter_map(|r| {
        let v: Vec<f64> = r.iter().copied().filter(|x| !x.is_nan()).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    });
    let (s, n) = means.fold((0.0, 0usize), |(s, n), m| (s + m, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// [`group_score`] with its stratified-bootstrap interval (strata: the tasks).
pub fn score_ci(runs: &[Vec<f64>], cfg: &BootstrapConfig) -> Result<Interval, EvalError> {
    stratified_bootstrap_ci(runs, group_score, cfg)
}

/// The largest non-NaN score of the groups, NaN when none has one.
fn best(groups: &[&[Vec<f64>]]) -> f64 {
    groups
        .iter()
        .map(|g| group_score(g))
        .filter(|x| !x.is_nan())
        .fold(f64::NAN, f64::max)
}

/// The strata of a rung, tuned methods first, and where each method's tasks start.
fn flatten(rung: &AdvantageRung) -> (Vec<Vec<f64>>, Vec<(usize, usize)>) {
    let mut strata = Vec::new();
    let mut spans = Vec::new();
    for m in rung.tuned.iter().chain(&rung.untuned) {
        spans.push((strata.len(), m.len()));
        strata.extend(m.iter().cloned());
    }
    (strata, spans)
}

/// The advantage from flattened strata: best of the first `n_tuned` spans minus best of the
/// others.
fn advantage_of(strata: &[Vec<f64>], spans: &[(usize, usize)], n_tuned: usize) -> f64 {
    let groups: Vec<&[Vec<f64>]> = spans.iter().map(|&(s, n)| &strata[s..s + n]).collect();
    best(&groups[..n_tuned]) - best(&groups[n_tuned..])
}

fn check_rung(rung: &AdvantageRung) -> Result<(), EvalError> {
    let has = |ms: &[MethodRuns]| ms.iter().any(|m| !group_score(m).is_nan());
    if !has(&rung.tuned) || !has(&rung.untuned) {
        return Err(EvalError::InvalidArgument(format!(
            "the rung at x = {} needs runs of at least one tuned and one untuned method",
            rung.x
        )));
    }
    Ok(())
}

/// The HPO advantage on one rung: the best tuned method's [`group_score`] minus the best
/// untuned method's, with its stratified-bootstrap interval (every (method, task) a stratum).
/// An error when either side has no runs.
pub fn hpo_advantage(rung: &AdvantageRung, cfg: &BootstrapConfig) -> Result<Interval, EvalError> {
    check_rung(rung)?;
    let (strata, spans) = flatten(rung);
    let n_tuned = rung.tuned.len();
    stratified_bootstrap_ci(&strata, |s| advantage_of(s, &spans, n_tuned), cfg)
}

/// The transfer regret of tuning along width on one rung: the [`group_score`] of a method tuned
/// at the rung itself minus that of its copy tuned at a narrower width and transferred, with
/// its stratified-bootstrap interval. The two methods' runs are separate strata (two tunings,
/// so their seeds are not paired). Positive: the transfer lost that much; negative: the
/// narrow tuning did better. An error when either method has no runs.
pub fn transfer_regret(
    direct: &[Vec<f64>],
    transferred: &[Vec<f64>],
    cfg: &BootstrapConfig,
) -> Result<Interval, EvalError> {
    if group_score(direct).is_nan() || group_score(transferred).is_nan() {
        return Err(EvalError::InvalidArgument(
            "a transfer regret needs runs of both the directly tuned and the transferred method"
                .into(),
        ));
    }
    let split = direct.len();
    let strata: Vec<Vec<f64>> = direct.iter().chain(transferred).cloned().collect();
    stratified_bootstrap_ci(
        &strata,
        |s| group_score(&s[..split]) - group_score(&s[split..]),
        cfg,
    )
}

/// Ordinary least-squares slope and intercept of `y` on `x`; NaN when `x` has no spread.
pub fn ols(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len().min(y.len()) as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
    }
    if sxx <= 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

/// The least-squares trend of the HPO advantage against the rungs' `x`, with the slope's
/// interval from one stratified bootstrap over the runs of every rung at once (each replicate
/// recomputes every rung's advantage, then the slope), and its [`TrendVerdict`].
///
/// An error when fewer than two rungs have distinct `x`, or a rung lacks tuned or untuned runs.
pub fn advantage_trend(rungs: &[AdvantageRung], cfg: &BootstrapConfig) -> Result<Trend, EvalError> {
    for r in rungs {
        check_rung(r)?;
    }
    let x: Vec<f64> = rungs.iter().map(|r| r.x).collect();
    if x.iter().any(|v| !v.is_finite()) || x.iter().all(|&v| v == x[0]) {
        return Err(EvalError::InvalidArgument(
            "a trend needs at least two rungs at distinct, finite scales".into(),
        ));
    }
    let mut strata = Vec::new();
    let mut layout = Vec::new();
    for r in rungs {
        let offset = strata.len();
        let (s, spans) = flatten(r);
        strata.extend(s);
        layout.push((
            spans
                .into_iter()
                .map(|(a, n)| (a + offset, n))
                .collect::<Vec<_>>(),
            r.tuned.len(),
        ));
    }
    let slope_of = |s: &[Vec<f64>]| {
        let y: Vec<f64> = layout
            .iter()
            .map(|(spans, n_tuned)| advantage_of(s, spans, *n_tuned))
            .collect();
        ols(&x, &y).0
    };
    let slope = stratified_bootstrap_ci(&strata, slope_of, cfg)?;
    let y: Vec<f64> = layout
        .iter()
        .map(|(spans, n_tuned)| advantage_of(&strata, spans, *n_tuned))
        .collect();
    let (_, intercept) = ols(&x, &y);
    Ok(Trend {
        verdict: TrendVerdict::of(&slope),
        slope,
        intercept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Normal draws by Box–Muller (the crate has no `rand_distr`).
    fn normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
        let u: f64 = rng.random::<f64>().max(1e-300);
        let v: f64 = rng.random();
        mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A ladder whose true advantage is `a + b (x − x̄)`: one tuned method at `base + adv`, the
    /// best untuned at `base` and a clearly worse untuned one, `runs` seeds of noise `sd`.
    fn ladder(
        rng: &mut ChaCha8Rng,
        xs: &[f64],
        b: f64,
        runs: usize,
        sd: f64,
    ) -> Vec<AdvantageRung> {
        let xbar = xs.iter().sum::<f64>() / xs.len() as f64;
        xs.iter()
            .map(|&x| {
                let adv = 0.2 + b * (x - xbar);
                let mut draw = |m: f64| vec![(0..runs).map(|_| normal(rng, m, sd)).collect()];
                AdvantageRung {
                    x,
                    tuned: vec![draw(0.5 + adv)],
                    untuned: vec![draw(0.5), draw(0.2)],
                }
            })
            .collect()
    }

    const XS: [f64; 4] = [9.2, 10.6, 12.0, 13.4];

    #[test]
    fn group_scores_and_advantage() {
        assert_eq!(group_score(&[vec![1.0, 0.0], vec![0.5]]), 0.5);
        assert!(group_score(&[vec![], vec![f64::NAN]]).is_nan());
        let rung = AdvantageRung {
            x: 0.0,
            tuned: vec![vec![vec![0.9, 0.9]], vec![vec![0.1]]],
            untuned: vec![vec![vec![0.6, 0.6]], vec![vec![0.7, 0.7]]],
        };
        let a = hpo_advantage(&rung, &BootstrapConfig::default()).unwrap();
        assert!((a.point - 0.2).abs() < 1e-12, "{a:?}");
        // Constant runs: every replicate is the point.
        assert!((a.lo - 0.2).abs() < 1e-12 && (a.hi - 0.2).abs() < 1e-12);
        let lonely = AdvantageRung {
            untuned: vec![],
            ..rung
        };
        assert!(hpo_advantage(&lonely, &BootstrapConfig::default()).is_err());
    }

    #[test]
    fn ols_recovers_a_line() {
        let (b, a) = ols(&[1.0, 2.0, 3.0], &[3.0, 5.0, 7.0]);
        assert!((b - 2.0).abs() < 1e-12 && (a - 1.0).abs() < 1e-12);
        assert!(ols(&[1.0, 1.0], &[0.0, 1.0]).0.is_nan());
    }

    #[test]
    fn known_slopes_get_their_verdicts() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let cfg = BootstrapConfig {
            reps: 500,
            ..Default::default()
        };
        for (b, verdict) in [
            (-0.05, TrendVerdict::Shrinks),
            (0.05, TrendVerdict::Grows),
            (0.0, TrendVerdict::NoClearTrend),
        ] {
            let t = advantage_trend(&ladder(&mut rng, &XS, b, 10, 0.01), &cfg).unwrap();
            assert!((t.slope.point - b).abs() < 0.01, "{b}: {t:?}");
            assert!(t.slope.lo <= t.slope.point && t.slope.point <= t.slope.hi);
            assert_eq!(t.verdict, verdict, "{b}: {t:?}");
        }
        let same_x = ladder(&mut rng, &[1.0, 1.0], 0.0, 3, 0.01);
        assert!(advantage_trend(&same_x, &cfg).is_err());
    }

    #[test]
    fn transfer_regret_is_direct_minus_transferred() {
        let cfg = BootstrapConfig::default();
        let r = transfer_regret(&[vec![0.8, 0.8]], &[vec![0.5, 0.5, 0.5]], &cfg).unwrap();
        assert!(
            (r.point - 0.3).abs() < 1e-12 && (r.lo - 0.3).abs() < 1e-12,
            "{r:?}"
        );
        assert!((r.hi - 0.3).abs() < 1e-12, "{r:?}");
        assert!(transfer_regret(&[vec![0.8]], &[vec![]], &cfg).is_err());
        assert!(transfer_regret(&[], &[vec![0.8]], &cfg).is_err());
    }

    /// The regret's interval covers the true difference about as often as it says (at least
    /// 85 % of 300 synthetic rungs at nominal 95 %, 10 noisy runs a side).
    #[test]
    fn transfer_regret_interval_covers_the_true_difference() {
        let mut rng = ChaCha8Rng::seed_from_u64(20);
        let (truth, repeats) = (0.04, 300);
        let mut covered = 0;
        for i in 0..repeats {
            let cfg = BootstrapConfig {
                reps: 400,
                seed: i,
                ..Default::default()
            };
            let mut draw = |m: f64| vec![(0..10).map(|_| normal(&mut rng, m, 0.05)).collect()];
            let (direct, transferred) = (draw(0.7 + truth), draw(0.7));
            let r = transfer_regret(&direct, &transferred, &cfg).unwrap();
            if r.lo <= truth && truth <= r.hi {
                covered += 1;
            }
        }
        let coverage = f64::from(covered) / repeats as f64;
        assert!((0.85..=0.995).contains(&coverage), "coverage {coverage}");
    }

    /// The slope interval covers the true slope about as often as it says: at nominal 95 %,
    /// at least 85 % of 300 synthetic ladders (the percentile bootstrap of a mean of 10 runs
    /// is a little narrow, by √(9/10), so the expected coverage is about 93 %).
    #[test]
    fn slope_interval_covers_the_true_slope() {
        let mut rng = ChaCha8Rng::seed_from_u64(2026);
        let b = -0.03;
        let repeats = 300;
        let mut covered = 0;
        for i in 0..repeats {
            let cfg = BootstrapConfig {
                reps: 400,
                seed: i,
                ..Default::default()
            };
            let t = advantage_trend(&ladder(&mut rng, &XS, b, 10, 0.05), &cfg).unwrap();
            if t.slope.lo <= b && b <= t.slope.hi {
                covered += 1;
            }
        }
        let coverage = f64::from(covered) / repeats as f64;
        assert!((0.85..=0.995).contains(&coverage), "coverage {coverage}");
    }
}
