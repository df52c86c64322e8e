//! Leave-one-task-out evaluation on synthetic studies with a known best method per task.

use std::cell::RefCell;
use std::rc::Rc;

use lrctl_eval::{ScoreTable, portfolio};
use lrctl_select::{
    MetaFeatures, SELECTOR_NAMES, SelectError, Selector, evaluate_loto, evaluate_loto_with,
    performance_matrix, selector_with_seed,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N_TASKS: usize = 30;

/// 30 tasks with feature `x` evenly spread over [0, 1] (shuffled) and a uniform noise feature.
/// Method A is best when x < 0.5, method B otherwise, method C is mediocre everywhere. Three
/// noisy runs per cell; raw scores are losses on half of the tasks (lower is better).
fn study(seed: u64) -> (ScoreTable, MetaFeatures, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut xs: Vec<f64> = (0..N_TASKS)
        .map(|i| (i as f64 + 0.5) / N_TASKS as f64)
        .collect();
    // Fisher–Yates, so the task order says nothing about x.
    for i in (1..xs.len()).rev() {
        let j = rng.random_range(0..=i);
        xs.swap(i, j);
    }
    let noise: Vec<f64> = (0..N_TASKS).map(|_| rng.random::<f64>()).collect();
    let higher_is_better: Vec<bool> = (0..N_TASKS).map(|t| t % 2 == 0).collect();
    let mut scores = vec![vec![Vec::new(); N_TASKS]; 3];
    for t in 0..N_TASKS {
        let x = xs[t];
        // Underlying quality in [0, 1]: the winner is clearly best.
        let quality = [
            if x < 0.5 { 0.9 } else { 0.2 },
            if x < 0.5 { 0.2 } else { 0.9 },
            0.5,
        ];
        for (m, q) in quality.iter().enumerate() {
            for _ in 0..3 {
                let v = q + 0.02 * (rng.random::<f64>() - 0.5);
                let raw = if higher_is_better[t] { v } else { 2.0 - v };
                scores[m][t].push(raw);
            }
        }
    }
    let table = ScoreTable::new(
        (0..N_TASKS).map(|t| format!("task{t}")).collect(),
        vec!["A".into(), "B".into(), "C".into()],
        scores,
        higher_is_better,
    )
    .unwrap();
    let features = MetaFeatures::new(
        vec!["x".into(), "noise".into()],
        xs.iter().zip(&noise).map(|(&x, &z)| vec![x, z]).collect(),
    )
    .unwrap();
    (table, features, xs)
}

#[test]
fn synthetic_study_fixture_is_as_designed() {
    let (table, _, xs) = study(1);
    let p = portfolio(&lrctl_eval::normalize_minmax(&table));
    for (t, choice) in p.oracle_choice.iter().enumerate() {
        assert_eq!(*choice, Some(if xs[t] < 0.5 { 0 } else { 1 }));
    }
    assert!(p.sbs_vbs_gap > 0.3, "gap {}", p.sbs_vbs_gap);
}

#[test]
fn learned_selectors_find_the_known_best_method() {
    for seed in 1..=3 {
        check_learned_selectors(seed);
    }
}

fn check_learned_selectors(seed: u64) {
    let (table, features, xs) = study(seed);
    for name in ["regression", "pairwise", "knn"] {
        let report = evaluate_loto(&table, &features, name, None).unwrap();
        assert_eq!(report.selector, name);
        let correct = report
            .tasks
            .iter()
            .zip(&xs)
            .filter(|(r, x)| r.chosen == Some(if **x < 0.5 { 0 } else { 1 }))
            .count();
        let frac = correct as f64 / N_TASKS as f64;
        eprintln!(
            "seed {seed} {name}: correct {frac:.3}, gap closed {:?}, regret {:.3}",
            report.gap_closed, report.mean_regret
        );
        assert!(frac >= 0.8, "{name}: correct on {frac}");
        assert!(report.optimal_fraction >= 0.8, "{name}");
        let closed = report.gap_closed.unwrap();
        assert!(closed > 0.7, "{name}: closed {closed}");
        assert!(
            report.mean_regret < 0.15,
            "{name}: regret {}",
            report.mean_regret
        );
        assert!(report.mean_score > report.mean_sbs_score, "{name}");
    }
}

#[test]
fn without_the_informative_feature_no_selector_does_well() {
    // Negative control: replace x by a rescaled copy of the noise feature. The selectors must
    // then fall well short of the 80% reached above, so that test measures what it claims.
    let (table, mut features, _) = study(1);
    for row in &mut features.values {
        row[0] = 0.3 * row[1];
    }
    for name in ["regression", "pairwise", "knn"] {
        let report = evaluate_loto(&table, &features, name, None).unwrap();
        assert!(
            report.optimal_fraction < 0.7,
            "{name}: {}",
            report.optimal_fraction
        );
        assert!(report.gap_closed.unwrap() < 0.7, "{name}");
    }
}

#[test]
fn single_best_closes_none_of_the_gap() {
    let (table, features, _) = study(1);
    let report = evaluate_loto(&table, &features, "sbs", None).unwrap();
    assert_eq!(report.gap_closed, Some(0.0));
    for r in &report.tasks {
        assert_eq!(r.chosen, r.sbs);
        assert_eq!(r.score, r.sbs_score);
    }
    assert!(report.mean_regret > 0.3);
}

#[test]
fn report_fields_are_consistent() {
    let (table, features, _) = study(2);
    let cost: Vec<f64> = (0..N_TASKS).map(|t| t as f64).collect();
    let report = evaluate_loto(&table, &features, "knn", Some(&cost)).unwrap();
    let perf = performance_matrix(&table);
    assert_eq!(report.tasks.len(), N_TASKS);
    for (t, r) in report.tasks.iter().enumerate() {
        assert_eq!(r.task, table.tasks[t]);
        assert_eq!(r.score, perf[t][r.chosen.unwrap()]);
        let best = perf[t].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(r.oracle_score, best);
        assert!((r.regret - (best - r.score)).abs() < 1e-15);
        assert_eq!(r.probe_cost, Some(t as f64));
    }
    assert_eq!(report.probe_cost_total, Some(435.0));
    assert_eq!(report.probe_cost_mean, Some(14.5));
    let expected_closed = (report.mean_score - report.mean_sbs_score)
        / (report.mean_oracle_score - report.mean_sbs_score);
    assert!((report.gap_closed.unwrap() - expected_closed).abs() < 1e-9);
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"gap_closed\""));
}

/// A selector that records what it is fitted on, then behaves like the single best.
struct Spy {
    log: Rc<RefCell<Vec<Vec<Vec<f64>>>>>,
    inner: Box<dyn Selector>,
}

impl Selector for Spy {
    fn name(&self) -> &str {
        "spy"
    }
    fn fit(&mut self, features: &[Vec<f64>], performance: &[Vec<f64>]) {
        assert_eq!(features.len(), performance.len());
        self.log.borrow_mut().push(performance.to_vec());
        self.inner.fit(features, performance);
    }
    fn predict(&self, features: &[f64]) -> Vec<f64> {
        self.inner.predict(features)
    }
}

#[test]
fn loto_never_fits_on_the_held_out_task() {
    let (table, features, _) = study(3);
    let perf = performance_matrix(&table);
    // Every task's performance row is distinct, so a row identifies its task.
    for a in 0..N_TASKS {
        for b in a + 1..N_TASKS {
            assert_ne!(perf[a], perf[b]);
        }
    }
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut observed = Vec::new();
    let mut make = || -> Box<dyn Selector> {
        Box::new(Spy {
            log: Rc::clone(&log),
            inner: selector_with_seed("sbs", 0).unwrap(),
        })
    };
    let report = evaluate_loto_with(&table, &features, &mut make, None, &mut |t, train| {
        observed.push((t, train.to_vec()))
    })
    .unwrap();
    assert_eq!(report.selector, "spy");
    let log = log.borrow();
    assert_eq!(log.len(), N_TASKS, "one fit per held-out task");
    assert_eq!(observed.len(), N_TASKS);
    for (t, fitted_rows) in log.iter().enumerate() {
        let (held_out, train) = &observed[t];
        assert_eq!(*held_out, t);
        assert!(!train.contains(&t));
        assert_eq!(train.len(), N_TASKS - 1);
        assert_eq!(fitted_rows.len(), N_TASKS - 1);
        assert!(
            !fitted_rows.contains(&perf[t]),
            "task {t}'s performance was passed to fit"
        );
        // Exactly the training tasks' rows, in order.
        let expected: Vec<Vec<f64>> = train.iter().map(|&u| perf[u].clone()).collect();
        assert_eq!(fitted_rows, &expected);
    }
}

#[test]
fn held_out_features_do_not_affect_the_fit() {
    // Standardisation is fitted on training tasks only: moving the held-out task's features
    // far away changes nothing about what the selector was fitted on.
    let (table, features, _) = study(4);
    let log_a = Rc::new(RefCell::new(Vec::new()));
    let log_b = Rc::new(RefCell::new(Vec::new()));
    struct FeatureSpy(Rc<RefCell<Vec<Vec<Vec<f64>>>>>);
    impl Selector for FeatureSpy {
        fn name(&self) -> &str {
            "feature-spy"
        }
        fn fit(&mut self, features: &[Vec<f64>], _performance: &[Vec<f64>]) {
            self.0.borrow_mut().push(features.to_vec());
        }
        fn predict(&self, _features: &[f64]) -> Vec<f64> {
            Vec::new()
        }
    }
    let mut moved = features.clone();
    moved.values[0] = vec![1e6, -1e6];
    for (f, log) in [(&features, &log_a), (&moved, &log_b)] {
        let mut make = || -> Box<dyn Selector> { Box::new(FeatureSpy(Rc::clone(log))) };
        evaluate_loto_with(&table, f, &mut make, None, &mut |_, _| {}).unwrap();
    }
    assert_eq!(log_a.borrow()[0], log_b.borrow()[0]);
    assert_ne!(log_a.borrow()[1], log_b.borrow()[1]);
}

#[test]
fn same_seed_same_choices() {
    let (table, features, _) = study(5);
    for name in SELECTOR_NAMES {
        let a = evaluate_loto(&table, &features, name, None).unwrap();
        let b = evaluate_loto(&table, &features, name, None).unwrap();
        assert_eq!(a, b, "{name}");
        for seed in [7, 8] {
            let run = || {
                let mut make = || selector_with_seed(name, seed).unwrap();
                evaluate_loto_with(&table, &features, &mut make, None, &mut |_, _| {}).unwrap()
            };
            assert_eq!(run(), run(), "{name} seed {seed}");
        }
    }
}

fn tiny_table(n_methods: usize, n_tasks: usize) -> ScoreTable {
    ScoreTable::new(
        (0..n_tasks).map(|t| format!("t{t}")).collect(),
        (0..n_methods).map(|m| format!("m{m}")).collect(),
        (0..n_methods)
            .map(|m| {
                (0..n_tasks)
                    .map(|t| vec![((m * 7 + t * 3) % 5) as f64])
                    .collect()
            })
            .collect(),
        vec![true; n_tasks],
    )
    .unwrap()
}

fn features_for(n_tasks: usize, f: impl Fn(usize) -> Vec<f64>) -> MetaFeatures {
    let values: Vec<Vec<f64>> = (0..n_tasks).map(f).collect();
    let n = values.first().map_or(0, Vec::len);
    MetaFeatures::new((0..n).map(|j| format!("f{j}")).collect(), values).unwrap()
}

#[test]
fn degenerate_inputs_do_not_panic() {
    let cases: Vec<(&str, ScoreTable, MetaFeatures)> = vec![
        ("one task", tiny_table(3, 1), features_for(1, |_| vec![1.0])),
        (
            "two tasks",
            tiny_table(3, 2),
            features_for(2, |t| vec![t as f64]),
        ),
        (
            "one method",
            tiny_table(1, 6),
            features_for(6, |t| vec![t as f64]),
        ),
        (
            "no methods",
            tiny_table(0, 4),
            features_for(4, |t| vec![t as f64]),
        ),
        ("no tasks", tiny_table(3, 0), features_for(0, |_| vec![])),
        (
            "constant features",
            tiny_table(3, 8),
            features_for(8, |_| vec![2.0, 2.0]),
        ),
        ("no features", tiny_table(3, 8), features_for(8, |_| vec![])),
        (
            "NaN features",
            tiny_table(3, 8),
            features_for(8, |t| {
                vec![
                    if t % 2 == 0 { f64::NAN } else { t as f64 },
                    f64::NAN,
                    f64::INFINITY,
                ]
            }),
        ),
    ];
    for (what, table, features) in &cases {
        for name in SELECTOR_NAMES {
            let r = evaluate_loto(table, features, name, None)
                .unwrap_or_else(|e| panic!("{what}/{name}: {e}"));
            assert_eq!(r.tasks.len(), table.n_tasks(), "{what}/{name}");
            for t in &r.tasks {
                assert!(t.score.is_finite() && t.regret >= -1e-12, "{what}/{name}");
                if table.n_tasks() > 1 && table.n_methods() > 0 {
                    assert!(t.chosen.is_some(), "{what}/{name}");
                }
            }
        }
    }
    // One method: every selector picks it, and there is no gap to close.
    let r = evaluate_loto(&cases[2].1, &cases[2].2, "pairwise", None).unwrap();
    assert!(r.tasks.iter().all(|t| t.chosen == Some(0)));
    assert_eq!(r.gap_closed, None);
    assert_eq!(r.mean_regret, 0.0);
    // One task: nothing to train on.
    let r = evaluate_loto(&cases[0].1, &cases[0].2, "regression", None).unwrap();
    assert_eq!(r.tasks[0].chosen, None);
    assert_eq!(r.tasks[0].score, 0.0);
}

#[test]
fn malformed_inputs_are_errors() {
    let (table, features, _) = study(6);
    assert!(matches!(
        evaluate_loto(&table, &features, "oracle", None),
        Err(SelectError::UnknownSelector(_))
    ));
    assert!(matches!(
        evaluate_loto(&table, &features, "knn", Some(&[1.0])),
        Err(SelectError::Shape(_))
    ));
    let short = features_for(3, |t| vec![t as f64]);
    assert!(matches!(
        evaluate_loto(&table, &short, "knn", None),
        Err(SelectError::Shape(_))
    ));
}
