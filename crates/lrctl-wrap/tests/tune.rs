//! The tuning driver on a real (embedded) task: the trials follow the tuner's plan, the cost
//! adds up, the incumbent is the best top-rung trial, diverged trials score the worst score,
//! and a tuning seed reproduces its run.

use std::sync::Arc;

use lrctl_engine::Outcome;
use lrctl_tasks::Task;
use lrctl_tune::TrialHooks as TuneHooks;
use lrctl_tune::{Fidelity, Objective, Param, SearchSpace, TunerSettings, run_sync};
use lrctl_wrap::{TuneReport, TuneSettings, tune};

fn iris() -> Arc<dyn Task> {
    let spec = lrctl_tasks::registry::find("logreg/iris").unwrap();
    lrctl_tasks::prepare(&spec, &lrctl_data::DataDirs::new(None)).unwrap()
}

fn adam() -> lrctl_method::MethodSpec {
    lrctl_method::find("adam-fixed").unwrap()
}

fn settings(tuner: &str, trials: usize, seed: u64) -> TuneSettings {
    TuneSettings {
        trials: Some(trials),
        seed,
        eval_limit: Some(64),
        ..TuneSettings::new(tuner, Fidelity::new(3, 27, 3.0).unwrap())
    }
}

/// The report without timings, for comparing runs.
fn untimed(report: &TuneReport) -> TuneReport {
    let mut r = report.clone();
    for t in &mut r.trials {
        t.seconds = 0.0;
    }
    r.cost.seconds = 0.0;
    r.cost.wall_seconds = 0.0;
    r
}

#[test]
fn hyperband_follows_its_plan_and_accounts_the_cost() {
    let task = iris();
    let method = adam();
    let space = lrctl_method::default_space(&method).unwrap();
    let s = settings("hyperband", 20, 3);
    let report = tune(task.as_ref(), &method, &space, &s, &TuneHooks::default()).unwrap();

    assert_eq!(report.trials.len(), 20);
    assert_eq!(report.tuner, "hyperband");
    let ids: Vec<u64> = report.trials.iter().map(|t| t.id).collect();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());

    // Replaying the scores into a fresh tuner with the same seed issues the same trials.
    let mut replay = lrctl_tune::tuner(
        "hyperband",
        &TunerSettings {
            space: space.clone(),
            fidelity: s.fidelity,
            seed: s.seed,
            trials: s.trials,
        },
    )
    .unwrap();
    let run = run_sync(
        replay.as_mut(),
        |request| {
            let t = &report.trials[request.id as usize];
            assert_eq!(
                (&t.config, t.budget, t.bracket, t.rung, t.parent),
                (
                    &request.config,
                    request.budget,
                    request.bracket,
                    request.rung,
                    request.parent
                ),
                "trial {}",
                request.id
            );
            t.score
        },
        u64::MAX,
    );
    assert_eq!(run.trials, 20);
    assert_eq!(run.incumbent, report.incumbent);

    // Budgets are Hyperband's rungs; finished trials ran their whole budget.
    for t in &report.trials {
        assert!([3, 9, 27].contains(&t.budget), "{t:?}");
        assert_eq!(t.outcome, Outcome::Finished, "{t:?}");
        assert_eq!(t.steps, t.budget);
        assert!(t.score >= 0.0 && t.score <= 1.0, "an error rate: {t:?}");
        assert_eq!(t.objective, Some(t.score));
    }

    // The cost is the sum over the trials.
    let steps: u64 = report.trials.iter().map(|t| t.steps).sum();
    assert_eq!(report.cost.steps, steps);
    assert_eq!(report.cost.budget_steps, steps);
    assert_eq!(report.cost.trials, 20);
    let seconds: f64 = report.trials.iter().map(|t| t.seconds).sum();
    assert!((report.cost.seconds - seconds).abs() < 1e-9);
    assert!((report.cost.full_runs - steps as f64 / 27.0).abs() < 1e-12);

    // The incumbent is the best trial at the top budget reached.
    let inc = report.incumbent.clone().unwrap();
    let top = report.trials.iter().map(|t| t.budget).max().unwrap();
    assert_eq!(inc.budget, top);
    let best = report
        .trials
        .iter()
        .filter(|t| t.budget == top)
        .map(|t| t.score)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(inc.score, best);
    assert_eq!(report.trials[inc.id as usize].config, inc.config);
    let tuned = report.tuned.unwrap();
    assert_eq!(tuned.controller.lr(), Some(inc.config["controller.lr"]));
}

#[test]
fn diverged_trials_score_the_worst_score() {
    let task = iris();
    let method = adam();
    let space = SearchSpace::new(vec![Param::float("controller.lr", 1e3, 1e6, true)]).unwrap();
    let mut s = settings("random", 4, 0);
    s.scoring.objective = Objective::FinalTrainLoss;
    s.scoring.worst_score = 7.5;
    let report = tune(task.as_ref(), &method, &space, &s, &TuneHooks::default()).unwrap();
    assert_eq!(report.trials.len(), 4);
    for t in &report.trials {
        assert_eq!(t.outcome, Outcome::Diverged, "{t:?}");
        assert_eq!(t.score, 7.5);
        assert_eq!(t.objective, None);
        assert!(t.steps < t.budget && t.reason.is_some(), "{t:?}");
    }
    assert_eq!(report.incumbent.unwrap().score, 7.5);
    // The cost counts the steps taken, not the budgets.
    let steps: u64 = report.trials.iter().map(|t| t.steps).sum();
    assert_eq!(report.cost.steps, steps);
    assert!(report.cost.budget_steps > steps);
}

#[test]
fn the_same_seed_gives_the_same_run_with_parallel_jobs() {
    let task = iris();
    let method = lrctl_method::find("cawr-default").unwrap();
    let space = lrctl_method::default_space(&method).unwrap();
    let mut s = settings("asha", 12, 11);
    s.jobs = 2;
    s.scoring.objective = Objective::MeanTrainLoss;
    let started = std::sync::atomic::AtomicUsize::new(0);
    let on_start = |_: &lrctl_tune::TrialRequest| {
        started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let hooks = TuneHooks {
        on_start: Some(&on_start),
        ..TuneHooks::default()
    };
    let a = tune(task.as_ref(), &method, &space, &s, &hooks).unwrap();
    let b = tune(task.as_ref(), &method, &space, &s, &TuneHooks::default()).unwrap();
    assert_eq!(started.into_inner(), 12);
    assert_eq!(a.trials.len(), 12);
    assert_eq!(untimed(&a), untimed(&b));
    assert!(a.incumbent.is_some());
    // ASHA promotes: some trial ran above the bottom rung.
    assert!(a.trials.iter().any(|t| t.rung > 0), "{:?}", a.trials);

    // Another tuning seed tunes differently.
    s.seed = 12;
    let c = tune(task.as_ref(), &method, &space, &s, &TuneHooks::default()).unwrap();
    assert_ne!(a.trials[0].config, c.trials[0].config);
}

#[test]
fn bad_input_fails_before_training() {
    let task = iris();
    let method = adam();
    let space = lrctl_method::default_space(&method).unwrap();
    let msg = tune(
        task.as_ref(),
        &method,
        &space,
        &settings("hyperbnad", 5, 0),
        &TuneHooks::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("unknown tuner") && msg.contains("hyperband"),
        "{msg}"
    );

    let t0 = SearchSpace::new(vec![Param::int("controller.t0", 1, 50, false)]).unwrap();
    let err = tune(
        task.as_ref(),
        &method,
        &t0,
        &settings("random", 5, 0),
        &TuneHooks::default(),
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("`controller.t0`") && msg.contains("controller.lr"),
        "{msg}"
    );
}

#[test]
fn cancelling_returns_the_trials_told_so_far() {
    let task = iris();
    let method = adam();
    let space = lrctl_method::default_space(&method).unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let on_trial = |t: &lrctl_tune::TrialResult, _: Option<&lrctl_tune::Incumbent>| {
        if t.id == 2 {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let hooks = TuneHooks {
        on_trial: Some(&on_trial),
        cancel: Some(&cancel),
        ..TuneHooks::default()
    };
    let report = tune(
        task.as_ref(),
        &method,
        &space,
        &settings("random", 10, 0),
        &hooks,
    )
    .unwrap();
    assert!(report.cancelled);
    assert_eq!(report.trials.len(), 3);
}

/// `tune` on `task` with `jobs × batch` slots, scored on the last mini-batch's loss.
fn slots(task: &dyn lrctl_tasks::Task, jobs: usize, batch: usize) -> TuneReport {
    let method = adam();
    let space = lrctl_method::default_space(&method).unwrap();
    let s = TuneSettings {
        jobs,
        batch,
        scoring: lrctl_tune::Scoring {
            objective: lrctl_tune::Objective::FinalTrainLoss,
            worst_score: 100.0,
        },
        ..settings("hyperband", 20, 5)
    };
    tune(task, &method, &space, &s, &TuneHooks::default()).unwrap()
}

#[test]
fn batched_trials_match_trials_one_at_a_time() {
    // Logistic regression trains each batch as one stacked model: every trial within the
    // family's tolerance of the same trial trained alone (same slots, so the same trials).
    let task = iris();
    let (batched, alone) = (slots(task.as_ref(), 1, 3), slots(task.as_ref(), 3, 1));
    assert_eq!(batched.trials.len(), alone.trials.len());
    for (b, a) in batched.trials.iter().zip(&alone.trials) {
        assert_eq!(
            (&b.config, b.budget, b.outcome, b.steps),
            (&a.config, a.budget, a.outcome, a.steps),
            "trial {}",
            a.id
        );
        let (x, y) = (b.objective.unwrap(), a.objective.unwrap());
        assert!(
            (x - y).abs() <= 1e-4 * x.abs().max(y.abs()),
            "trial {}: {x} vs {y}",
            a.id
        );
    }
    assert_eq!(batched.cost.steps, alone.cost.steps);
    assert_eq!(batched.batch, 3);

    // A family without a stacked form falls back to one run per trial: identical results.
    let mlp = {
        let spec = lrctl_tasks::registry::find("mlp/digits").unwrap();
        lrctl_tasks::prepare(&spec, &lrctl_data::DataDirs::new(None)).unwrap()
    };
    let (batched, alone) = (slots(mlp.as_ref(), 1, 2), slots(mlp.as_ref(), 2, 1));
    let strip = |r: &TuneReport| TuneReport {
        jobs: 0,
        batch: 0,
        ..untimed(r)
    };
    assert_eq!(strip(&batched), strip(&alone));
}
