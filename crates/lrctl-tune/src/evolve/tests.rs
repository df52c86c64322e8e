//! The evolvers on standard test functions, resume after serialisation, diverged evaluations
//! and errors.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::*;

fn sphere(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum()
}

/// `Σ 10^{6 (i−1)/(n−1)} x_i²`: separable, condition number 1e6.
fn ellipsoid(x: &[f64]) -> f64 {
    let n = x.len();
    x.iter()
        .enumerate()
        .map(|(i, v)| 10f64.powf(6.0 * i as f64 / (n - 1) as f64) * v * v)
        .sum()
}

fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[0] * w[0] - w[1]).powi(2) + (w[0] - 1.0).powi(2))
        .sum()
}

fn rastrigin(x: &[f64]) -> f64 {
    10.0 * x.len() as f64
        + x.iter()
            .map(|v| v * v - 10.0 * (2.0 * std::f64::consts::PI * v).cos())
            .sum::<f64>()
}

/// Runs until the best fitness is below `target` or `max_evals` evaluations are spent; returns
/// the evaluations spent and the best fitness.
fn minimise(
    es: &mut dyn Evolver,
    f: &mut dyn FnMut(&[f64]) -> f64,
    target: f64,
    max_evals: u64,
) -> (u64, f64) {
    while es.evaluations() < max_evals && es.best().is_none_or(|b| b.1 >= target) {
        let fitness: Vec<f64> = es.ask().iter().map(|x| f(x)).collect();
        es.tell(&fitness).unwrap();
    }
    (es.evaluations(), es.best().map_or(f64::INFINITY, |b| b.1))
}

fn cma(n: usize, x0: f64, sigma: f64, covariance: CovarianceModel, seed: u64) -> Cmaes {
    let settings = CmaesSettings {
        covariance,
        ..CmaesSettings::default()
    };
    Cmaes::with_settings(vec![x0; n], sigma, settings, seed).unwrap()
}

/// Asserts that `f` reaches 1e-8 within `budget` evaluations, from `x0` in every coordinate.
fn reaches(
    f: fn(&[f64]) -> f64,
    n: usize,
    x0: f64,
    sigma: f64,
    model: CovarianceModel,
    budget: u64,
) {
    let mut es = cma(n, x0, sigma, model, 1);
    let (evals, best) = minimise(&mut es, &mut |x| f(x), 1e-8, budget);
    assert!(
        best < 1e-8,
        "{} n = {n}: best {best:e} after {evals} evaluations",
        es.name()
    );
}

// Budgets: the tutorial's Figure/Table results and Hansen & Ostermeier (2001) put CMA-ES with
// the default population at roughly 1.3k (sphere), 6k (ellipsoid) and 6k (Rosenbrock)
// evaluations to 1e-8 in n = 10, scaling about linearly (sphere) to quadratically
// (ellipsoid) with n; the budgets below allow about twice that.

#[test]
fn cma_sphere() {
    reaches(sphere, 5, 1.0, 0.5, CovarianceModel::Full, 1500);
    reaches(sphere, 10, 1.0, 0.5, CovarianceModel::Full, 2500);
    reaches(sphere, 20, 1.0, 0.5, CovarianceModel::Full, 5000);
}

#[test]
fn cma_ellipsoid() {
    reaches(ellipsoid, 5, 1.0, 0.5, CovarianceModel::Full, 4000);
    reaches(ellipsoid, 10, 1.0, 0.5, CovarianceModel::Full, 12000);
    reaches(ellipsoid, 20, 1.0, 0.5, CovarianceModel::Full, 40000);
}

#[test]
fn cma_rosenbrock() {
    reaches(rosenbrock, 5, 0.0, 0.5, CovarianceModel::Full, 6000);
    reaches(rosenbrock, 10, 0.0, 0.5, CovarianceModel::Full, 15000);
}

#[test]
fn sep_cma_on_separable_functions() {
    // sep-CMA learns the diagonal in O(n) evaluations: on the separable ellipsoid it needs far
    // fewer evaluations than the full model's O(n²).
    reaches(ellipsoid, 20, 1.0, 0.5, CovarianceModel::Diagonal, 10000);
    reaches(sphere, 20, 1.0, 0.5, CovarianceModel::Diagonal, 5000);
    // Above the threshold `Auto` is diagonal: a sphere in 300 dimensions, cheaply; f at the
    // mean drops 100× within 8000 evaluations (about 400 generations of λ = 21).
    let mut es = Cmaes::new(vec![1.0; 300], 0.5, 2).unwrap();
    assert!(es.is_diagonal());
    assert_eq!(es.name(), "sep-cma-es");
    let start = sphere(es.mean());
    minimise(&mut es, &mut |x| sphere(x), 0.0, 8000);
    assert!(sphere(es.mean()) < start / 100.0, "{}", sphere(es.mean()));
}

#[test]
fn cma_rastrigin_with_a_large_population() {
    // From f(3, …, 3) = 9 n with λ = 10 n and σ = 2, within 150 generations: a modest value
    // (local minima lie near integer points, f ≈ the sum of their squares): at most one unit
    // coordinate off the optimum in n = 5 (best < 2), a few in n = 10 (best < 5).
    for (n, target) in [(5, 2.0), (10, 5.0)] {
        let settings = CmaesSettings {
            population: Some(10 * n),
            ..CmaesSettings::default()
        };
        let mut es = Cmaes::with_settings(vec![3.0; n], 2.0, settings, 3).unwrap();
        let budget = 150 * 10 * n as u64;
        let (evals, best) = minimise(&mut es, &mut |x| rastrigin(x), target, budget);
        assert!(
            best < target,
            "n = {n}: best {best} after {evals} evaluations"
        );
    }
}

#[test]
fn default_parameters_follow_the_tutorial() {
    let p = StrategyParams::new(10, 10, false);
    assert_eq!((p.lambda, p.mu), (10, 5));
    assert!((p.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(p.weights.windows(2).all(|w| w[0] > w[1]));
    // μ_eff ≈ 3.17 for λ = 10 (the tutorial: μ_eff ≈ λ/4 … λ/3 for the positive weights).
    assert!((p.mu_eff - 3.1672).abs() < 1e-3, "{}", p.mu_eff);
    assert!((p.chi_n - 3.0847).abs() < 1e-3, "{}", p.chi_n);
    assert!(p.c_1 + p.c_mu <= 1.0);
    assert_eq!(
        Cmaes::new(vec![0.0; 10], 1.0, 0).unwrap().params().lambda,
        10
    );
    assert_eq!(Cmaes::new(vec![0.0; 2], 1.0, 0).unwrap().params().lambda, 6);
    // sep-CMA: learning rates (n + 1.5) / 3 times larger.
    let sep = StrategyParams::new(30, 14, true);
    let full = StrategyParams::new(30, 14, false);
    assert!((sep.c_1 / full.c_1 - 31.5 / 3.0).abs() < 1e-9);
    assert_eq!(sep.eigen_interval, 0.0);
    // Lazy decomposition: every generation in small dimensions, every other one for n = 30
    // with λ = 4 (≈ 1.4 generations), more rarely as n / λ grows.
    assert!(full.eigen_interval < 1.0);
    let lazy = StrategyParams::new(30, 4, false).eigen_interval;
    assert!(lazy > 1.0 && lazy < 2.0, "{lazy}");
    assert!(StrategyParams::new(1000, 24, false).eigen_interval > 5.0);
}

/// ES with Adam on a sphere.
fn es(n: usize, x0: f64, seed: u64) -> OpenAiEs {
    OpenAiEs::new(vec![x0; n], EsSettings::new(0.1, 0.05), seed).unwrap()
}

#[test]
fn es_makes_progress_on_sphere() {
    // n = 10 from f = 10: at least a 100× drop of f at the mean within 3000 evaluations.
    let mut e = es(10, 1.0, 4);
    assert_eq!(e.population_size(), 20);
    let start = sphere(e.mean());
    minimise(&mut e, &mut |x| sphere(x), 0.0, 3000);
    let end = sphere(e.mean());
    assert!(end < start / 100.0, "{start} → {end}");

    // Plain gradient descent too (gradient of the rank-smoothed objective, not of f).
    let settings = EsSettings {
        optimizer: EsOptimizer::Sgd,
        ..EsSettings::new(0.1, 0.05)
    };
    let mut e = OpenAiEs::new(vec![1.0; 10], settings, 5).unwrap();
    minimise(&mut e, &mut |x| sphere(x), 0.0, 3000);
    let end = sphere(e.mean());
    assert!(end < start / 100.0, "sgd: {start} → {end}");
}

#[test]
fn noisy_objective_moves_the_mean_toward_the_optimum() {
    // Sphere in n = 5 from f(m) = 45, plus N(0, 1) noise on every evaluation.
    let mut noise_rng = ChaCha8Rng::seed_from_u64(11);
    let noise = Normal::new(0.0, 1.0).unwrap();
    let mut noisy = |x: &[f64]| sphere(x) + noise.sample(&mut noise_rng);
    let start = sphere(&[3.0; 5]);
    let settings = CmaesSettings {
        population: Some(20),
        ..CmaesSettings::default()
    };
    let mut c = Cmaes::with_settings(vec![3.0; 5], 1.0, settings, 6).unwrap();
    minimise(&mut c, &mut noisy, f64::NEG_INFINITY, 2000);
    let end = sphere(c.mean());
    assert!(end < start / 20.0, "cma-es: {start} → {end}");

    let mut e = OpenAiEs::new(vec![3.0; 5], EsSettings::new(0.3, 0.1), 7).unwrap();
    minimise(&mut e, &mut noisy, f64::NEG_INFINITY, 2000);
    let end = sphere(e.mean());
    assert!(end < start / 20.0, "openai-es: {start} → {end}");
}

/// Runs `generations` generations on the ellipsoid and returns every generation's candidates
/// concatenated with the final mean.
fn trace<E: Evolver>(es: &mut E, generations: usize) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..generations {
        let x = es.ask();
        let fitness: Vec<f64> = x.iter().map(|x| ellipsoid(x)).collect();
        es.tell(&fitness).unwrap();
        out.extend(x);
    }
    out.push(es.mean().to_vec());
    out
}

fn resumes_bit_identically<E>(make: impl Fn() -> E, k: usize, more: usize)
where
    E: Evolver + Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut whole = make();
    let expected = trace(&mut whole, k + more);

    let mut first = make();
    let mut got = trace(&mut first, k);
    got.pop();
    let json = serde_json::to_string(&first).unwrap();
    drop(first);
    let mut resumed: E = serde_json::from_str(&json).unwrap();
    got.extend(trace(&mut resumed, more));
    assert_eq!(got, expected, "{}", resumed.name());
    assert_eq!(resumed, whole);

    // Stored between ask and tell: asking again gives the same candidates.
    let mut paused = make();
    trace(&mut paused, k);
    let asked = paused.ask();
    let mut resumed: E = serde_json::from_str(&serde_json::to_string(&paused).unwrap()).unwrap();
    assert_eq!(resumed.ask(), asked);
}

#[test]
fn state_round_trips_through_json_bit_identically() {
    // Full CMA in n = 12 (λ = 11: decomposition every generation) and in n = 30 with λ = 4
    // (every other generation, so the stop at k = 7 falls between two decompositions).
    resumes_bit_identically(|| cma(12, 1.0, 0.5, CovarianceModel::Full, 8), 7, 30);
    let lazy = CmaesSettings {
        population: Some(4),
        covariance: CovarianceModel::Full,
    };
    resumes_bit_identically(
        || Cmaes::with_settings(vec![1.0; 30], 0.5, lazy, 17).unwrap(),
        7,
        30,
    );
    resumes_bit_identically(|| cma(12, 1.0, 0.5, CovarianceModel::Diagonal, 9), 7, 30);
    resumes_bit_identically(|| es(12, 1.0, 10), 7, 30);
    let sgd = EsSettings {
        optimizer: EsOptimizer::Sgd,
        weight_decay: 0.005,
        ..EsSettings::new(0.1, 0.05)
    };
    resumes_bit_identically(|| OpenAiEs::new(vec![1.0; 12], sgd, 11).unwrap(), 7, 30);
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let run = |seed| trace(&mut cma(6, 1.0, 0.5, CovarianceModel::Full, seed), 5);
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn non_finite_fitness_ranks_worst() {
    // Half the space "diverges": f = NaN or +∞ where x_0 < 0, -∞ where x_1 > 5. The optimum
    // of the rest, (1, …), is found and the mean never goes to the diverging half.
    let f = |x: &[f64]| {
        if x[0] < 0.0 {
            if x[1] < 0.0 { f64::NAN } else { f64::INFINITY }
        } else if x[1] > 5.0 {
            f64::NEG_INFINITY
        } else {
            x.iter().map(|v| (v - 1.0).powi(2)).sum()
        }
    };
    let mut evolvers: Vec<Box<dyn Evolver>> = vec![
        Box::new(cma(5, 0.5, 1.0, CovarianceModel::Full, 12)),
        Box::new(cma(5, 0.5, 1.0, CovarianceModel::Diagonal, 13)),
        Box::new(OpenAiEs::new(vec![0.5; 5], EsSettings::new(0.3, 0.05), 14).unwrap()),
    ];
    for es in &mut evolvers {
        let (_, best) = minimise(es.as_mut(), &mut |x| f(x), 1e-6, 3000);
        assert!(best.is_finite(), "{}", es.name());
        let m = es.mean();
        assert!(m[0] > 0.5 && m[1] < 5.0, "{}: {m:?}", es.name());
        let at_mean = f(m);
        assert!(at_mean < 0.5, "{}: f(mean) = {at_mean}", es.name());
    }

    // A generation of nothing but diverged runs is accepted and keeps the state finite.
    let mut c = cma(3, 0.0, 1.0, CovarianceModel::Full, 15);
    let mut e = es(3, 0.0, 16);
    for _ in 0..3 {
        let n = c.ask().len();
        c.tell(&vec![f64::NAN; n]).unwrap();
        let n = e.ask().len();
        e.tell(&vec![f64::INFINITY; n]).unwrap();
    }
    assert!(c.mean().iter().all(|v| v.is_finite()) && c.sigma().is_finite());
    assert!(c.best().is_none());
    assert_eq!(e.mean(), &[0.0; 3], "equal ranks: no gradient");
    assert!(serde_json::to_string(&c).is_ok());
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(
        Cmaes::new(Vec::new(), 1.0, 0).unwrap_err(),
        EvolveError::ZeroDimension
    );
    for sigma in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = Cmaes::new(vec![0.0], sigma, 0).unwrap_err();
        assert!(matches!(err, EvolveError::InvalidSigma(_)), "{err}");
        let err = OpenAiEs::new(vec![0.0], EsSettings::new(sigma, 0.1), 0).unwrap_err();
        assert!(matches!(err, EvolveError::InvalidSigma(_)), "{err}");
    }
    assert!(matches!(
        Cmaes::new(vec![0.0, f64::NAN], 1.0, 0).unwrap_err(),
        EvolveError::NonFiniteMean { index: 1, .. }
    ));
    let small = CmaesSettings {
        population: Some(1),
        ..CmaesSettings::default()
    };
    let err = Cmaes::with_settings(vec![0.0; 3], 1.0, small, 0).unwrap_err();
    assert!(
        matches!(err, EvolveError::PopulationTooSmall { got: 1, min: 2, .. }),
        "{err}"
    );
    let odd = EsSettings {
        population: Some(7),
        ..EsSettings::new(0.1, 0.1)
    };
    assert_eq!(
        OpenAiEs::new(vec![0.0; 3], odd, 0).unwrap_err(),
        EvolveError::OddPopulation(7)
    );
    let err = OpenAiEs::new(vec![0.0; 3], EsSettings::new(0.1, 0.0), 0).unwrap_err();
    assert!(err.to_string().contains("learning_rate"), "{err}");

    let mut c = cma(4, 0.0, 1.0, CovarianceModel::Full, 0);
    assert_eq!(c.tell(&[1.0; 8]).unwrap_err(), EvolveError::NotAsked);
    let lambda = c.ask().len();
    let err = c.tell(&[1.0; 3]).unwrap_err();
    assert_eq!(
        err,
        EvolveError::FitnessCount {
            expected: lambda,
            got: 3
        }
    );
    assert!(err.to_string().contains("one value per candidate"));
    // The generation is still outstanding after a rejected tell.
    c.tell(&vec![1.0; lambda]).unwrap();
    assert_eq!(c.generation(), 1);
}
