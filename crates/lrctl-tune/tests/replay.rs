//! Resume after a kill: replaying stored trials reproduces the run exactly.

use lrctl_tune::{
    Ask, Fidelity, MultiFidelity, TUNER_NAMES, TestFunction, TrialRequest, Tuner, TunerSettings,
    tuner,
};

fn settings(bench: &MultiFidelity, seed: u64) -> TunerSettings {
    TunerSettings {
        seed,
        trials: Some(60),
        ..TunerSettings::new(bench.space(), bench.fidelity)
    }
}

/// A stored trial: what was asked and the score it got.
type Stored = (TrialRequest, f64);

/// Runs a tuner to completion synchronously; if `kill_after` is set, stops after that many
/// trials (the process "dies") and returns what the store holds.
fn run(tuner: &mut dyn Tuner, bench: &MultiFidelity, kill_after: Option<usize>) -> Vec<Stored> {
    let mut store = Vec::new();
    while let Ask::Trial(request) = tuner.ask() {
        if kill_after == Some(store.len()) {
            break;
        }
        let score = bench.evaluate(&request);
        tuner.tell(request.id, score).unwrap();
        store.push((request, score));
    }
    store
}

/// Resumes from `store`: ask; while the answer is a stored trial, check it is the same trial
/// and tell its stored score at once; then carry on training.
fn resume(tuner: &mut dyn Tuner, bench: &MultiFidelity, store: &[Stored]) -> Vec<Stored> {
    let mut out = Vec::new();
    while let Ask::Trial(request) = tuner.ask() {
        let score = match store.get(request.id as usize) {
            Some((stored, score)) => {
                assert_eq!(&request, stored, "replayed trial {} differs", request.id);
                *score
            }
            None => bench.evaluate(&request),
        };
        tuner.tell(request.id, score).unwrap();
        out.push((request, score));
    }
    out
}

#[test]
fn replaying_finished_trials_reproduces_every_tuner() {
    let fidelity = Fidelity::new(1, 27, 3.0).unwrap();
    let bench = MultiFidelity::new(TestFunction::Hartmann3, fidelity, 11);
    for name in TUNER_NAMES {
        let s = settings(&bench, 5);
        let mut full = tuner(name, &s).unwrap();
        let reference = run(full.as_mut(), &bench, None);
        assert!(reference.len() >= 50, "{name}: {} trials", reference.len());

        for kill in [1, 17, 40] {
            let mut first = tuner(name, &s).unwrap();
            let stored = run(first.as_mut(), &bench, Some(kill));
            assert_eq!(stored.len(), kill);
            let mut resumed = tuner(name, &s).unwrap();
            let replayed = resume(resumed.as_mut(), &bench, &stored);
            assert_eq!(
                replayed, reference,
                "{name}: trial sequence after a kill at {kill}"
            );
            assert_eq!(resumed.incumbent(), full.incumbent(), "{name}: incumbent");
        }

        // The seed matters: another seed gives another run.
        let mut other = tuner(name, &settings(&bench, 6)).unwrap();
        let other_run = run(other.as_mut(), &bench, None);
        assert_ne!(other_run[0].0.config, reference[0].0.config, "{name}");
    }
}
