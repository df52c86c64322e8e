//! Agreement with rliable 1.0.8 (Agarwal et al. 2021) on the fixed dataset recorded by
//! `scripts/fixtures/gen_rliable.py` in `tests/fixtures/rliable.json`.
//!
//! * Deterministic quantities — aggregate point estimates, performance profiles, probability of
//!   improvement, and percentile/BCa intervals computed from rliable's own recorded bootstrap
//!   replicates (with arch's jackknife and acceleration) — must match to 1e-9.
//! * rliable's random bootstrap intervals (50 000 replicates) are compared with this crate's own
//!   stratified bootstrap (a different generator) only up to Monte Carlo error: each bound within
//!   a fraction of the interval's width.

use lrctl_eval::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    confidence: f64,
    optimality_gap_gamma: f64,
    methods: Vec<String>,
    tasks: Vec<String>,
    scores: Vec<Vec<Vec<f64>>>,
    point: PerAggregate<Vec<f64>>,
    taus: Vec<f64>,
    profiles: Profiles,
    poi: Vec<Vec<f64>>,
    replicates: PerAggregate<Vec<Replicated>>,
    ci: RliableCi,
}

#[derive(Deserialize)]
struct Profiles {
    runs: Vec<Vec<f64>>,
    task_means: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct PerAggregate<T> {
    iqm: T,
    mean: T,
    median: T,
    optimality_gap: T,
}

impl<T> PerAggregate<T> {
    fn get(&self, agg: Aggregate) -> &T {
        match agg {
            Aggregate::Iqm => &self.iqm,
            Aggregate::Mean => &self.mean,
            Aggregate::Median => &self.median,
            Aggregate::OptimalityGap { .. } => &self.optimality_gap,
        }
    }
}

#[derive(Deserialize)]
struct Replicated {
    point: f64,
    replicates: Vec<f64>,
    jackknife: Vec<f64>,
    acceleration: f64,
    percentile: [f64; 2],
    bca: [f64; 2],
}

#[derive(Deserialize)]
struct RliableCi {
    reps: usize,
    percentile: PerAggregate<Vec<[f64; 2]>>,
    bca: PerAggregate<Vec<[f64; 2]>>,
    profile_reps: usize,
    profile_runs: Vec<Vec<[f64; 2]>>,
    poi_reps: usize,
    poi: Vec<PoiCi>,
}

#[derive(Deserialize)]
struct PoiCi {
    x: usize,
    y: usize,
    ci: [f64; 2],
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rliable.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn table(f: &Fixture) -> ScoreTable {
    ScoreTable::new(
        f.tasks.clone(),
        f.methods.clone(),
        f.scores.clone(),
        vec![true; f.tasks.len()],
    )
    .unwrap()
}

fn aggregates(f: &Fixture) -> [Aggregate; 4] {
    [
        Aggregate::Iqm,
        Aggregate::Mean,
        Aggregate::Median,
        Aggregate::OptimalityGap {
            gamma: f.optimality_gap_gamma,
        },
    ]
}

const TOL: f64 = 1e-9;

#[track_caller]
fn assert_near(what: &str, a: f64, b: f64, tol: f64) -> f64 {
    let d = (a - b).abs();
    assert!(d <= tol, "{what}: {a} vs rliable {b}");
    d
}

#[test]
fn point_estimates_match() {
    let f = fixture();
    let t = table(&f);
    let mut worst: f64 = 0.0;
    for agg in aggregates(&f) {
        let ours = aggregate(&t, agg);
        let theirs = f.point.get(agg);
        for (m, (a, b)) in ours.iter().zip(theirs).enumerate() {
            let what = format!("{} of {}", agg.name(), f.methods[m]);
            worst = worst.max(assert_near(&what, *a, *b, TOL));
        }
    }
    println!("point estimates: max |ours - rliable| = {worst:e}");
}

#[test]
fn performance_profiles_match() {
    let f = fixture();
    let t = table(&f);
    let mut worst: f64 = 0.0;
    for (kind, theirs) in [
        (ProfileKind::Runs, &f.profiles.runs),
        (ProfileKind::TaskMeans, &f.profiles.task_means),
    ] {
        let ours = performance_profile(&t, &f.taus, kind);
        for m in 0..t.n_methods() {
            for (j, tau) in f.taus.iter().enumerate() {
                let what = format!("{kind:?} profile of {} at {tau}", f.methods[m]);
                worst = worst.max(assert_near(&what, ours[m][j], theirs[m][j], TOL));
            }
        }
    }
    println!("profiles: max |ours - rliable| = {worst:e}");
}

#[test]
fn probability_of_improvement_matches() {
    let f = fixture();
    let t = table(&f);
    let ours = probability_of_improvement_matrix(&t);
    let mut worst: f64 = 0.0;
    for (x, (row, theirs)) in ours.iter().zip(&f.poi).enumerate() {
        for (y, (a, b)) in row.iter().zip(theirs).enumerate() {
            worst = worst.max(assert_near(&format!("P({x} > {y})"), *a, *b, TOL));
        }
    }
    println!("probability of improvement: max |ours - rliable| = {worst:e}");
}

/// Percentile and BCa intervals from rliable's recorded replicates, with the jackknife and
/// acceleration recomputed here from the data.
#[test]
fn intervals_from_rliable_replicates_match() {
    let f = fixture();
    let t = table(&f);
    let (mut worst_jk, mut worst_accel, mut worst_ci): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for agg in aggregates(&f) {
        for (m, rec) in f.replicates.get(agg).iter().enumerate() {
            let what = format!("{} of {}", agg.name(), f.methods[m]);
            let strata = &t.scores[m];
            assert_near(&what, agg.compute(strata), rec.point, TOL);
            let jk: Vec<f64> = jackknife(strata, |s| vec![agg.compute(s)])
                .into_iter()
                .map(|v| v[0])
                .collect();
            assert_eq!(jk.len(), rec.jackknife.len());
            for (a, b) in jk.iter().zip(&rec.jackknife) {
                worst_jk = worst_jk.max(assert_near(&format!("jackknife {what}"), *a, *b, TOL));
            }
            let accel = bca_acceleration(&jk);
            let d = assert_near(
                &format!("acceleration {what}"),
                accel,
                rec.acceleration,
                TOL,
            );
            worst_accel = worst_accel.max(d);
            for (method, theirs) in [
                (CiMethod::Percentile, rec.percentile),
                (CiMethod::Bca, rec.bca),
            ] {
                let iv = interval_from_replicates(
                    rec.point,
                    &rec.replicates,
                    f.confidence,
                    method,
                    accel,
                );
                let lo = assert_near(&format!("{method:?} lo {what}"), iv.lo, theirs[0], TOL);
                let hi = assert_near(&format!("{method:?} hi {what}"), iv.hi, theirs[1], TOL);
                worst_ci = worst_ci.max(lo).max(hi);
            }
        }
    }
    println!(
        "from rliable's replicates: max error jackknife {worst_jk:e}, acceleration \
         {worst_accel:e}, interval bounds {worst_ci:e}"
    );
}

/// Largest deviation of our bounds from rliable's, relative to rliable's interval width.
fn relative_deviation(ours: &Interval, theirs: [f64; 2]) -> f64 {
    let width = theirs[1] - theirs[0];
    (ours.lo - theirs[0]).abs().max((ours.hi - theirs[1]).abs()) / width
}

/// Our own stratified bootstrap against rliable's (different random numbers): Monte Carlo
/// agreement only. The standard error of a bootstrap 2.5% quantile is about 2.7 σ / √B (σ the
/// bootstrap standard deviation), ≈ 0.7% of the 95% interval's width for B = 10 000 (≈ 0.3% for
/// rliable's 50 000), and the rounded scores make the statistics discrete. Observed deviations
/// are at most ≈ 2% of the width; the bound is 10%.
#[test]
fn bootstrap_intervals_agree_with_rliable_up_to_monte_carlo_error() {
    let f = fixture();
    let t = table(&f);
    let mut worst: f64 = 0.0;
    for agg in aggregates(&f) {
        for (method, theirs) in [
            (CiMethod::Percentile, f.ci.percentile.get(agg)),
            (CiMethod::Bca, f.ci.bca.get(agg)),
        ] {
            let cfg = BootstrapConfig {
                reps: 10_000,
                confidence: f.confidence,
                seed: 2021,
                method,
            };
            let ours = aggregate_ci(&t, agg, &cfg).unwrap();
            for m in 0..t.n_methods() {
                let d = relative_deviation(&ours[m], theirs[m]);
                println!(
                    "{:>14} {method:?} {}: ours [{:.5}, {:.5}] rliable [{:.5}, {:.5}] ({} reps) dev {:.3}",
                    agg.name(),
                    f.methods[m],
                    ours[m].lo,
                    ours[m].hi,
                    theirs[m][0],
                    theirs[m][1],
                    f.ci.reps,
                    d
                );
                worst = worst.max(d);
                assert!(d < 0.1, "{} {method:?} {}: deviation {d}", agg.name(), m);
            }
        }
    }
    println!("worst relative deviation (aggregates): {worst:.4}");
}

#[test]
fn profile_and_poi_intervals_agree_with_rliable_up_to_monte_carlo_error() {
    let f = fixture();
    let t = table(&f);
    let cfg = BootstrapConfig {
        reps: f.ci.profile_reps,
        confidence: f.confidence,
        seed: 3,
        method: CiMethod::Percentile,
    };
    let ours = performance_profile_ci(&t, &f.taus, ProfileKind::Runs, &cfg).unwrap();
    // A profile point is a fraction of 50 runs: allow one step (0.02) plus 10% of the width.
    let mut worst: f64 = 0.0;
    for (m, (row, their_row)) in ours.iter().zip(&f.ci.profile_runs).enumerate() {
        for (j, (iv, theirs)) in row.iter().zip(their_row).enumerate() {
            let tol = 0.02 + 0.1 * (theirs[1] - theirs[0]);
            let d = (iv.lo - theirs[0]).abs().max((iv.hi - theirs[1]).abs());
            worst = worst.max(d);
            assert!(
                d <= tol + 1e-12,
                "profile {m} tau {}: {iv:?} vs {theirs:?}",
                f.taus[j]
            );
        }
    }
    println!("worst absolute deviation (profiles): {worst:.4}");
    let cfg = BootstrapConfig {
        reps: f.ci.poi_reps,
        seed: 4,
        ..cfg
    };
    for rec in &f.ci.poi {
        let iv = probability_of_improvement_ci(&t, rec.x, rec.y, &cfg).unwrap();
        let d = relative_deviation(&iv, rec.ci);
        println!(
            "poi {} > {}: ours [{:.4}, {:.4}] rliable {:?} dev {d:.3}",
            rec.x, rec.y, iv.lo, iv.hi, rec.ci
        );
        assert!(d < 0.1, "poi {} > {}: {iv:?} vs {:?}", rec.x, rec.y, rec.ci);
    }
}
