//! Fidelity schedules of the tuning driver against restart-from-scratch, on an embedded task
//! with the same tuner and seed: continuing promoted trials saves exactly their parents'
//! budgets and reproduces the uninterrupted full-horizon runs bit for bit, a cut-short cosine
//! is not the trial's own cosine, and warmup-stable-decay branches reproduce the restarts.

use std::collections::HashMap;
use std::sync::Arc;

use lrctl_engine::Outcome;
use lrctl_method::MethodSpec;
use lrctl_tasks::Task;
use lrctl_tune::{Fidelity, Objective, Param, Scoring, SearchSpace};
use lrctl_tune::{FidelitySchedule, TrialHooks as TuneHooks};
use lrctl_wrap::{TuneReport, TuneSettings, tune};

fn iris() -> Arc<dyn Task> {
    let spec = lrctl_tasks::registry::find("logreg/iris").unwrap();
    lrctl_tasks::prepare(&spec, &lrctl_data::DataDirs::new(None)).unwrap()
}

fn method(name: &str) -> MethodSpec {
    lrctl_method::find(name).unwrap()
}

/// Learning rates that do not diverge on iris, so that every trial trains its whole budget.
fn space() -> SearchSpace {
    SearchSpace::new(vec![Param::float("controller.lr", 1e-3, 0.3, true)]).unwrap()
}

fn run(
    task: &dyn Task,
    method: &MethodSpec,
    tuner: &str,
    schedule: FidelitySchedule,
    jobs: usize,
) -> TuneReport {
    let settings = TuneSettings {
        trials: Some(40),
        seed: 7,
        // The last mini-batch loss: exact, and sensitive to every step.
        scoring: Scoring {
            objective: Objective::FinalTrainLoss,
            worst_score: 100.0,
        },
        jobs,
        eval_limit: Some(32),
        fidelity_schedule: schedule,
        ..TuneSettings::new(tuner, Fidelity::new(3, 27, 3.0).unwrap())
    };
    let report = tune(task, method, &space(), &settings, &TuneHooks::default()).unwrap();
    assert!(
        report.trials.iter().all(|t| t.outcome == Outcome::Finished),
        "{tuner} {schedule}: a trial did not finish"
    );
    assert_eq!(report.fidelity_schedule, schedule);
    report
}

/// What a trial is, as bits: id, configuration, budget, rung, parent, score, outcome.
fn trials(r: &TuneReport) -> Vec<String> {
    r.trials
        .iter()
        .map(|t| {
            format!(
                "{} {:?} {} {} {:?} {:x} {:?}",
                t.id,
                t.config,
                t.budget,
                t.rung,
                t.parent,
                t.score.to_bits(),
                t.outcome
            )
        })
        .collect()
}

/// The budgets of the parents of promoted trials, summed.
fn parent_steps(r: &TuneReport, step_of: impl Fn(u64) -> u64) -> u64 {
    let budget: HashMap<u64, u64> = r.trials.iter().map(|t| (t.id, t.budget)).collect();
    r.trials
        .iter()
        .filter_map(|t| t.parent)
        .map(|p| step_of(budget[&p]))
        .sum()
}

#[test]
fn continuing_saves_the_parents_budgets_and_is_exact() {
    let task = iris();
    let cosine = method("adamw-cosine");
    for tuner in ["hyperband", "sh"] {
        let restart = run(task.as_ref(), &cosine, tuner, FidelitySchedule::Restart, 1);
        let full = run(
            task.as_ref(),
            &cosine,
            tuner,
            FidelitySchedule::FullHorizon,
            1,
        );
        let cont = run(task.as_ref(), &cosine, tuner, FidelitySchedule::Continue, 1);

        // Restarting trains every budgeted step.
        assert_eq!(restart.cost.steps, restart.cost.budget_steps, "{tuner}");
        assert_eq!(full.cost.steps, full.cost.budget_steps, "{tuner}");
        assert_eq!((restart.cost.continued, full.cost.continued), (0, 0));
        // The bracket plan fixes the budgets whatever the scores.
        assert_eq!(cont.cost.budget_steps, restart.cost.budget_steps, "{tuner}");

        // Continuing charges each promoted trial only the steps beyond its parent's budget.
        let saved = parent_steps(&cont, |b| b);
        let promoted = cont.trials.iter().filter(|t| t.parent.is_some()).count();
        assert!(promoted > 0 && saved > 0, "{tuner}: nothing was promoted");
        assert_eq!(cont.cost.continued, promoted, "{tuner}");
        assert_eq!(cont.cost.steps, cont.cost.budget_steps - saved, "{tuner}");
        assert!(cont.cost.steps < restart.cost.steps, "{tuner}");
        for t in cont.trials.iter().filter(|t| t.parent.is_some()) {
            let parent = &cont.trials[t.parent.unwrap() as usize];
            assert_eq!(t.steps, t.budget - parent.budget, "{tuner} trial {}", t.id);
        }

        // Resuming is exact: every continued trial scores bit for bit what the uninterrupted
        // full-horizon run of the same length scores, so the tuner sees the same trials.
        assert_eq!(trials(&cont), trials(&full), "{tuner}");
        assert_eq!(cont.incumbent, full.incumbent, "{tuner}");

        // A cosine over the full 27 steps cut at 3 is not a cosine over 3 steps: the first
        // trial (the same configuration, sampled before any score is known) scores otherwise.
        let (r0, f0) = (&restart.trials[0], &full.trials[0]);
        assert_eq!((r0.config.clone(), r0.budget), (f0.config.clone(), 3));
        assert_ne!(r0.score, f0.score, "{tuner}");
    }
}

#[test]
fn continuing_on_other_threads_is_deterministic_and_exact() {
    // With two jobs a run continues on another thread than its parent ran on, and the
    // virtual clock charges a promotion only its extra steps, so the tuner may see results in
    // another order than under `full-horizon`; still, a seed reproduces the run, and every
    // trial scores what the uninterrupted full-horizon run of its configuration and budget
    // scores.
    let task = iris();
    let cosine = method("adamw-cosine");
    let cont = run(
        task.as_ref(),
        &cosine,
        "hyperband",
        FidelitySchedule::Continue,
        2,
    );
    let again = run(
        task.as_ref(),
        &cosine,
        "hyperband",
        FidelitySchedule::Continue,
        2,
    );
    assert_eq!(trials(&cont), trials(&again));
    assert_eq!(cont.cost.steps, again.cost.steps);
    assert_eq!(
        cont.cost.steps,
        cont.cost.budget_steps - parent_steps(&cont, |b| b)
    );

    let full = run(
        task.as_ref(),
        &cosine,
        "hyperband",
        FidelitySchedule::FullHorizon,
        1,
    );
    let key = |t: &lrctl_tune::TrialResult| format!("{:?} {}", t.config, t.budget);
    let scores: HashMap<String, u64> = full
        .trials
        .iter()
        .map(|t| (key(t), t.score.to_bits()))
        .collect();
    let mut compared = 0;
    for t in &cont.trials {
        if let Some(&s) = scores.get(&key(t)) {
            assert_eq!(t.score.to_bits(), s, "trial {}", t.id);
            compared += usize::from(t.parent.is_some());
        }
    }
    assert!(compared > 0, "no continued trial to compare");
}

#[test]
fn wsd_branches_reproduce_the_restarts_for_fewer_steps() {
    let task = iris();
    let wsd = method("adamw-wsd");
    let restart = run(
        task.as_ref(),
        &wsd,
        "hyperband",
        FidelitySchedule::Restart,
        1,
    );
    let branch = run(
        task.as_ref(),
        &wsd,
        "hyperband",
        FidelitySchedule::WsdBranch,
        1,
    );
    // Each trial's schedule is over its own budget, as when restarting, and branching off the
    // shared stable phase is exact.
    assert_eq!(trials(&branch), trials(&restart));
    // A promotion starts where its parent's decay began.
    let saved = parent_steps(&branch, |b| wsd.controller.branch_step(b).unwrap());
    assert!(saved > 0);
    assert_eq!(branch.cost.steps, branch.cost.budget_steps - saved);
    assert!(branch.cost.steps < restart.cost.steps);
    assert_eq!(
        branch.cost.continued,
        branch.trials.iter().filter(|t| t.parent.is_some()).count()
    );

    // Without a warmup-stable-decay controller there is nothing to branch.
    let settings = TuneSettings {
        fidelity_schedule: FidelitySchedule::WsdBranch,
        ..TuneSettings::new("hyperband", Fidelity::new(3, 27, 3.0).unwrap())
    };
    let e = tune(
        task.as_ref(),
        &method("adamw-cosine"),
        &space(),
        &settings,
        &TuneHooks::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("warmup-stable-decay"), "{e}");
}

#[test]
fn fidelity_names_round_trip() {
    for f in FidelitySchedule::ALL {
        assert_eq!(f.name().parse::<FidelitySchedule>().unwrap(), f);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            format!("\"{}\"", f.name())
        );
    }
    let e = "fast".parse::<FidelitySchedule>().unwrap_err();
    assert!(e.to_string().contains("full-horizon"), "{e}");
}
