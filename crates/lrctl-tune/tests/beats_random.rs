//! Every tuner beats random search at equal total budget on synthetic multi-fidelity
//! functions with known optima (mean simple regret over fixed seeds, with a margin).

use lrctl_tune::{
    Fidelity, MultiFidelity, TestFunction, TopK, Tuner, TunerSettings, run_sync, tuner,
};

/// Budget units 1..27 (eta = 3: four rungs); total budget = 30 full-budget trials.
const FIDELITY: (u64, u64) = (1, 27);
const CAP: u64 = 30 * 27;
const SEEDS: std::ops::Range<u64> = 0..16;

fn fidelity() -> Fidelity {
    Fidelity::new(FIDELITY.0, FIDELITY.1, 3.0).unwrap()
}

fn build(name: &str, bench: &MultiFidelity, seed: u64) -> Box<dyn Tuner + Send> {
    let f = bench.fidelity;
    if name == "top-k" {
        // Spend a quarter of the budget on one-unit screening runs, the rest on full runs.
        let n = (CAP / 4 / f.min_budget) as usize;
        let k = ((CAP - n as u64 * f.min_budget) / f.max_budget) as usize;
        return Box::new(TopK::new(bench.space(), f, n, k, seed).unwrap());
    }
    let settings = TunerSettings {
        seed,
        // The budget cap, not the trial count, ends every run.
        trials: Some(1_000_000),
        ..TunerSettings::new(bench.space(), f)
    };
    tuner(name, &settings).unwrap()
}

/// Mean regret (noise-free, full budget) of the incumbent over the seeds.
fn mean_regret(name: &str, function: TestFunction) -> f64 {
    let regrets: Vec<f64> = SEEDS
        .map(|seed| {
            let bench = MultiFidelity::new(function, fidelity(), 1000 + seed);
            let mut t = build(name, &bench, seed);
            let run = run_sync(t.as_mut(), |r| bench.evaluate(r), CAP);
            assert!(
                run.spent <= CAP && run.spent > CAP - FIDELITY.1,
                "{name}: {}",
                run.spent
            );
            let incumbent = run.incumbent.expect("trials were run");
            assert_eq!(
                incumbent.budget, FIDELITY.1,
                "{name}: incumbent at full budget"
            );
            bench.regret(&incumbent.config)
        })
        .collect();
    regrets.iter().sum::<f64>() / regrets.len() as f64
}

/// Asserts `tuner`'s mean regret is at most `ratio` times `baseline`'s on each function.
fn assert_beats(tuner: &str, baseline: &str, functions: &[TestFunction], ratio: f64) {
    for &function in functions {
        let base = mean_regret(baseline, function);
        let got = mean_regret(tuner, function);
        eprintln!(
            "{function:?}: {tuner} {got:.3} vs {baseline} {base:.3} (ratio {:.2}, bound {ratio})",
            got / base
        );
        assert!(
            got <= ratio * base,
            "{function:?}: {tuner} mean regret {got:.4} is not below {ratio} x {baseline}'s {base:.4}"
        );
    }
}

const EASY: [TestFunction; 2] = [TestFunction::Branin, TestFunction::Hartmann3];

#[test]
fn successive_halving_beats_random() {
    assert_beats("sh", "random", &EASY, 0.65);
}

#[test]
fn hyperband_beats_random() {
    assert_beats("hyperband", "random", &EASY, 0.65);
}

#[test]
fn asha_beats_random() {
    assert_beats("asha", "random", &EASY, 0.65);
}

#[test]
fn bohb_beats_random() {
    assert_beats("bohb", "random", &EASY, 0.65);
    assert_beats("bohb", "random", &[TestFunction::Hartmann6], 0.7);
}

#[test]
fn smac_beats_random() {
    assert_beats("smac", "random", &EASY, 0.65);
    assert_beats("smac", "random", &[TestFunction::Hartmann6], 0.7);
}

#[test]
fn top_k_beats_random() {
    assert_beats("top-k", "random", &EASY, 0.65);
}

/// On the 6-D function the models pay off over plain Hyperband's random sampling.
#[test]
fn models_beat_plain_hyperband_in_6d() {
    assert_beats("bohb", "hyperband", &[TestFunction::Hartmann6], 0.9);
    assert_beats("smac", "hyperband", &[TestFunction::Hartmann6], 0.9);
}
