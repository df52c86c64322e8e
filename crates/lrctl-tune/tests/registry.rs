//! The tuner registry and the objective settings.

use lrctl_tune::{
    Fidelity, Objective, Param, Scoring, SearchSpace, TUNER_NAMES, TuneError, TunerSettings,
    canonical_name, tuner,
};

fn settings() -> TunerSettings {
    let space = SearchSpace::new(vec![Param::float("lr", 1e-3, 1.0, true)]).unwrap();
    TunerSettings::new(space, Fidelity::new(20, 100, 3.0).unwrap())
}

#[test]
fn every_name_builds_its_tuner() {
    for name in TUNER_NAMES {
        assert_eq!(tuner(name, &settings()).unwrap().name(), name);
    }
    assert_eq!(
        tuner("successive-halving", &settings()).unwrap().name(),
        "sh"
    );
    assert_eq!(canonical_name("topk"), Some("top-k"));
}

#[test]
fn unknown_name_lists_the_known_ones() {
    let err = tuner("hyperbnd", &settings()).err().unwrap();
    assert!(matches!(err, TuneError::UnknownTuner { .. }));
    assert_eq!(
        err.to_string(),
        "unknown tuner \"hyperbnd\" (known: random, sh, hyperband, asha, bohb, smac, top-k, \
         successive-halving, random-search, topk)"
    );
}

#[test]
fn invalid_settings_are_errors() {
    let mut s = settings();
    s.trials = Some(0);
    assert!(tuner("random", &s).is_err());
    s.trials = Some(1);
    assert!(tuner("top-k", &s).is_err(), "top-k needs n >= k >= 1");
    let mut s = settings();
    s.fidelity.eta = 1.0;
    assert!(
        tuner("hyperband", &s)
            .err()
            .unwrap()
            .to_string()
            .contains("eta")
    );
}

#[test]
fn top_k_splits_trials() {
    let mut s = settings();
    s.trials = Some(50);
    let mut t = tuner("top-k", &s).unwrap();
    let run = lrctl_tune::run_sync(t.as_mut(), |r| r.config["lr"], u64::MAX);
    // k = floor(50 / 4) = 12 continuations of n = 38 short runs.
    assert_eq!(run.trials, 50);
    assert_eq!(run.spent, 38 * 20 + 12 * 100);
    assert_eq!(run.incumbent.unwrap().budget, 100);
}

#[test]
fn objective_names_and_sanitize() {
    assert_eq!(Objective::default(), Objective::ValidMetric);
    for o in Objective::ALL {
        assert_eq!(o.to_string().parse::<Objective>().unwrap(), o);
    }
    assert_eq!(
        "final-train-loss".parse::<Objective>().unwrap(),
        Objective::FinalTrainLoss
    );
    let err = "train-loss".parse::<Objective>().unwrap_err().to_string();
    assert!(err.contains("final-train-loss, mean-train-loss, valid-loss, valid-metric"));

    let scoring = Scoring::default();
    assert_eq!(scoring.worst_score, 100.0);
    assert_eq!(scoring.sanitize(0.25), 0.25);
    assert_eq!(scoring.sanitize(f64::NAN), 100.0);
    assert_eq!(scoring.sanitize(f64::INFINITY), 100.0);
    assert_eq!(scoring.sanitize(f64::NEG_INFINITY), 100.0);
    assert_eq!(scoring.sanitize(1e9), 100.0);
    let s: Scoring = toml::from_str("objective = \"final-train-loss\"\nworst_score = 10").unwrap();
    assert_eq!(
        (s.objective, s.sanitize(f64::NAN)),
        (Objective::FinalTrainLoss, 10.0)
    );
}
