//! `analyse` on a small hand-made snapshot: the numbers, their JSON form, and the document
//! rendered from them.

use lrctl_report::{DivergenceCount, ReportOptions, Selection, analyse, render};
use lrctl_store::{
    CellId, CellResult, CellRow, CellState, Outcome, ProvenanceId, StudyId, StudyRow, Timestamp,
};
use lrctl_study::snapshot::Snapshot;

/// A cell of study 1; `result`: `None` while queued, else the outcome and held-out metric.
fn cell(id: i64, task: &str, method: &str, seed: u64, result: Option<(Outcome, f64)>) -> CellRow {
    CellRow {
        id: CellId(id),
        study: StudyId(1),
        task: task.into(),
        method: method.into(),
        seed,
        config_hash: format!("{task}-{method}"),
        // Unreadable on purpose: the task's metric is then "metric", larger is better.
        task_config: "{}".into(),
        method_config: "{}".into(),
        state: if result.is_some() {
            CellState::Done
        } else {
            CellState::Queued
        },
        worker: None,
        attempts: u32::from(result.is_some()),
        created_at: Timestamp(0),
        claimed_at: None,
        heartbeat_at: None,
        lease_expires_at: None,
        superseded_at: None,
        finished_at: None,
        result: result.map(|(outcome, metric)| CellResult {
            outcome,
            reason: None,
            steps: 10,
            total_steps: 10,
            n_params: 5,
            final_train_loss: Some(1.0 - metric),
            last_batch_loss: None,
            train_loss: None,
            train_metric: None,
            validation_loss: None,
            validation_metric: None,
            test_loss: None,
            test_metric: Some(metric).filter(|_| outcome == Outcome::Finished),
            metric_name: None,
            seconds: 1.0,
            eval_seconds: 0.1,
            cost_steps: 10,
            cost_seconds: 1.0,
            result_json: "{}".into(),
            provenance: ProvenanceId(0),
        }),
    }
}

/// Two tasks, three methods, two seeds: `m2` diverges on `a` and has a seed queued on `b`.
fn snapshot() -> Snapshot {
    let study = StudyRow {
        id: StudyId(1),
        name: "synthetic".into(),
        spec_json: r#"{"methods":[{"name":"m0"},{"name":"m1"},{"name":"m2"}]}"#.into(),
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    let done = |o, v| Some((o, v));
    let fin = |v| done(Outcome::Finished, v);
    let cells = vec![
        cell(1, "a", "m0", 0, fin(0.9)),
        cell(2, "a", "m0", 1, fin(0.8)),
        cell(3, "a", "m1", 0, fin(0.5)),
        cell(4, "a", "m1", 1, fin(0.6)),
        cell(5, "a", "m2", 0, done(Outcome::Diverged, f64::NAN)),
        cell(6, "a", "m2", 1, fin(0.7)),
        cell(7, "b", "m0", 0, fin(0.4)),
        cell(8, "b", "m0", 1, fin(0.4)),
        cell(9, "b", "m1", 0, fin(0.9)),
        cell(10, "b", "m1", 1, fin(0.7)),
        cell(11, "b", "m2", 0, fin(0.1)),
        cell(12, "b", "m2", 1, None),
    ];
    Snapshot::from_cells(study, cells)
}

#[test]
fn analyse_counts_ranks_and_divergences() {
    let a = analyse(&snapshot(), &ReportOptions::default());
    assert_eq!(a.methods, ["m0", "m1", "m2"]);
    assert_eq!((a.cells, a.done, a.unfinished), (12, 11, 1));
    let missing: Vec<_> = a
        .missing_seeds
        .iter()
        .map(|g| (g.task.as_str(), g.method.as_str(), g.finished, g.cells))
        .collect();
    assert_eq!(missing, [("a", "m2", 1, 2), ("b", "m2", 1, 2)]);

    // Task a: m0 best (0.85); m2's diverged seed is out of its mean.
    let a_task = &a.tasks[0];
    assert_eq!(a_task.name, "a");
    let best: Vec<_> = a_task.finals.iter().map(|r| r.best).collect();
    assert_eq!(best, [true, false, false]);
    let m2 = &a_task.finals[2];
    assert_eq!(
        (m2.diverged, m2.failed, m2.finished, m2.cells),
        (1, 0, 1, 2)
    );
    assert_eq!(m2.metric.map(|m| (m.mean, m.n)), Some((0.7, 1)));

    // Ranks by mean held-out metric, a diverged seed counting as the task's worst (0.5):
    // a: m0 0.85, m2 0.6, m1 0.55; b: m1 0.8, m0 0.4, m2 0.1.
    let across = a.across.as_ref().expect("scores exist");
    assert_eq!(
        across.ranks.per_task,
        [vec![1.0, 2.0], vec![3.0, 1.0], vec![2.0, 3.0]]
    );
    assert_eq!(across.ranks.mean, [1.5, 2.0, 2.5]);
    assert!(matches!(across.selection, Selection::TooFewTasks));

    let counts = |d: &lrctl_report::Divergences| {
        let mut v: Vec<_> = d.per_task.iter().map(|c| (c.diverged, c.done)).collect();
        v.push((d.total.diverged, d.total.done));
        v
    };
    assert_eq!(counts(&a.divergences[0]), [(0, 2), (0, 2), (0, 4)]);
    assert_eq!(counts(&a.divergences[2]), [(1, 2), (0, 1), (1, 3)]);
    assert_eq!(
        a.divergences[2].total,
        DivergenceCount {
            diverged: 1,
            done: 3
        }
    );
}

#[test]
fn analysis_serialises_nan_as_null() {
    let a = analyse(&snapshot(), &ReportOptions::default());
    let across = a.across.as_ref().expect("scores exist");
    // Without curves no task has a time-to-target target.
    assert!(across.time_to_target.targets.iter().all(|t| t.is_nan()));
    let json = serde_json::to_string(&a).expect("serialisable with NaNs present");
    assert!(json.contains(r#""targets":[null,null]"#), "{json}");
    assert!(json.contains(r#""selection":{"status":"too_few_tasks"}"#));
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(value["across"]["ranks"]["mean"][2], 2.5);
}

#[test]
fn render_shows_the_analysed_numbers() {
    let md = render(&analyse(&snapshot(), &ReportOptions::default())).to_markdown();
    assert!(md.contains(r"# lrctl report — study \`synthetic\`"), "{md}");
    assert!(md.contains("a · m2: 1 of 2 seeds finished"));
    assert!(md.contains("1 cell(s) have no result yet"));
    // m2's divergence row: a, b, total.
    assert!(
        md.contains("| m2 | **1 / 2** | 0 / 1 | **1 / 3** |"),
        "{md}"
    );
}

#[test]
fn learning_rates_are_averaged_on_a_log_scale_and_identical_runs_are_found() {
    let mut snap = snapshot();
    let point = |step: u64, lr: f64| lrctl_store::CurvePointRow {
        step,
        epoch: 0.0,
        train_loss: 1.0,
        lr,
        effective_lr: lr,
        grad_norm: 1.0,
        wall_seconds: 0.0,
        eval_loss: None,
        eval_metric: None,
    };
    // Task a: m0's seeds at 1e-4 and 1e0 (an arithmetic mean would say 0.5); m1's runs equal
    // m0's on both seeds.
    for (id, lr) in [(1, 1e-4), (2, 1.0), (3, 1e-4), (4, 1.0)] {
        snap.curves
            .insert(lrctl_store::CellId(id), vec![point(1, lr), point(2, lr)]);
    }
    let a = analyse(&snap, &ReportOptions::default());
    let lr = &a.tasks[0].effective_lr[0];
    assert_eq!(lr.method, "m0");
    assert!(
        (lr.mean[0] - 1e-2).abs() < 1e-12,
        "geometric mean: {:?}",
        lr.mean
    );
    assert!((lr.lo[0] * lr.hi[0] - lr.mean[0] * lr.mean[0]).abs() < 1e-12);
    assert!(lr.lo[0] > 0.0, "a log band never reaches 0");
    assert_eq!(a.tasks[0].identical, [("m1".to_string(), "m0".to_string())]);
    assert!(a.tasks[1].identical.is_empty(), "task b has no curves");
}
