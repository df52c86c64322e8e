//! Hand-computed cases for every statistic, and degenerate inputs that must not panic.

use lrctl_eval::*;

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

#[track_caller]
fn assert_close(a: f64, b: f64) {
    assert!(close(a, b), "{a} != {b}");
}

#[track_caller]
fn assert_all_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(close(*x, *y), "{a:?} != {b:?}");
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn table(scores: Vec<Vec<Vec<f64>>>, higher_is_better: Vec<bool>) -> ScoreTable {
    let n_t = higher_is_better.len();
    ScoreTable::new(
        names("t", n_t),
        names("m", scores.len()),
        scores,
        higher_is_better,
    )
    .unwrap()
}

#[test]
fn validate_rejects_bad_shapes() {
    let bad = ScoreTable::new(
        names("t", 2),
        names("m", 1),
        vec![vec![vec![1.0]]],
        vec![true, true],
    );
    assert!(matches!(bad, Err(EvalError::Shape(_))));
    let bad = ScoreTable::new(
        names("t", 1),
        names("m", 2),
        vec![vec![vec![1.0]]],
        vec![true],
    );
    assert!(bad.is_err());
    let bad = ScoreTable::new(names("t", 1), names("m", 1), vec![vec![vec![1.0]]], vec![]);
    assert!(bad.is_err());
    let ok = table(vec![vec![vec![1.0], vec![]]], vec![true, false]);
    assert_eq!(ok.method_index("m0"), Some(0));
    assert_eq!(ok.task_index("t1"), Some(1));
    assert!(ok.cell_mean(0, 1).is_nan());
}

#[test]
fn minmax_normalisation_is_direction_aware() {
    let t = table(
        vec![
            vec![vec![1.0, 3.0], vec![10.0], vec![5.0, 5.0], vec![NAN]],
            vec![vec![2.0, NAN], vec![20.0, 30.0], vec![5.0], vec![]],
        ],
        vec![true, false, true, true],
    );
    let n = normalize_minmax(&t);
    assert!(n.higher_is_better.iter().all(|&h| h));
    assert_all_close(&n.scores[0][0], &[0.0, 1.0]);
    assert_all_close(&n.scores[1][0], &[0.5, 0.0]); // diverged -> 0
    assert_all_close(&n.scores[0][1], &[1.0]); // lowest loss -> 1
    assert_all_close(&n.scores[1][1], &[0.5, 0.0]);
    assert_all_close(&n.scores[0][2], &[1.0, 1.0]); // all equal -> all best
    assert_all_close(&n.scores[1][2], &[1.0]);
    assert_all_close(&n.scores[0][3], &[0.0]); // no finite score on the task
    assert!(n.scores[1][3].is_empty());
}

#[test]
fn normalisation_to_best() {
    let t = table(
        vec![
            vec![vec![2.0, 4.0], vec![2.0]],
            vec![vec![1.0, INF], vec![4.0, 8.0]],
        ],
        vec![true, false],
    );
    let n = normalize_to_best(&t).unwrap();
    assert_all_close(&n.scores[0][0], &[0.5, 1.0]);
    assert_all_close(&n.scores[1][0], &[0.25, 0.0]);
    assert_all_close(&n.scores[0][1], &[1.0]);
    assert_all_close(&n.scores[1][1], &[0.5, 0.25]);
    let neg = table(vec![vec![vec![-1.0, 2.0]]], vec![false]);
    assert!(matches!(
        normalize_to_best(&neg),
        Err(EvalError::InvalidArgument(_))
    ));
    let neg_best = table(vec![vec![vec![-1.0, -2.0]]], vec![true]);
    assert!(normalize_to_best(&neg_best).is_err());
}

#[test]
fn ranks_average_ties_and_put_missing_last() {
    // Task 0 (higher better): means 1, 1, 0 -> 1.5, 1.5, 3.
    // Task 1 (lower better): means 3, 1, 2 -> 3, 1, 2.
    // Task 2 (higher better): A = {diverged, 4} counts as {4, 4} (4 is the worst finite score),
    // B = {4, 4}, C has no runs -> 1.5, 1.5, 3.
    let t = table(
        vec![
            vec![vec![0.0, 2.0], vec![3.0], vec![NAN, 4.0]],
            vec![vec![1.0], vec![0.0, 2.0], vec![4.0, 4.0]],
            vec![vec![0.0], vec![2.0, 2.0], vec![]],
        ],
        vec![true, false, true],
    );
    let r = ranks(&t);
    assert_all_close(&r.per_task[0], &[1.5, 3.0, 1.5]);
    assert_all_close(&r.per_task[1], &[1.5, 1.0, 1.5]);
    assert_all_close(&r.per_task[2], &[3.0, 2.0, 3.0]);
    assert_all_close(&r.mean, &[2.0, 4.0 / 3.0, 8.0 / 3.0]);

    // Gap to best in normalised units: task 0 range [0, 2]: A 0.5, B 0.5, C 0 -> gaps 0, 0, 0.5.
    let g = gap_to_best(&t);
    assert_all_close(&[g[0][0], g[1][0], g[2][0]], &[0.0, 0.0, 0.5]);
    // Task 1 (lower better, best 0, worst 3, x -> (3 - x) / 3): A {0}, B {1, 1/3},
    // C {1/3, 1/3}.
    assert_all_close(&[g[0][1], g[1][1], g[2][1]], &[2.0 / 3.0, 0.0, 1.0 / 3.0]);
    // Task 2: A {0 (diverged), 1}, B {1, 1}, C none.
    assert_close(g[0][2], 0.5);
    assert_close(g[1][2], 0.0);
    assert!(g[2][2].is_nan());
}

#[test]
fn iqm_of_known_vectors() {
    assert_close(iqm(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]), 4.5); // keeps 3..6
    assert_close(iqm(&[100.0, 2.0, 3.0, 1.0]), 2.5); // keeps 2, 3
    assert_close(iqm(&[5.0, 1.0, 4.0, 2.0, 3.0]), 3.0); // cut 1 each side
    assert_close(iqm(&(0..10).map(f64::from).collect::<Vec<_>>()), 4.5); // scipy: cut 2
    assert_close(iqm(&[1.0, 2.0, 9.0]), 4.0); // fewer than 4: plain mean
    assert_close(iqm(&[7.0]), 7.0);
    assert_close(iqm(&[1.0, NAN, 2.0, 3.0, 4.0]), 2.5); // NaN skipped
    assert!(iqm(&[]).is_nan());
    assert_close(trimmed_mean(&[1.0, 2.0, 3.0, 10.0], 0.0), 4.0);
    assert_close(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
}

#[test]
fn aggregates_by_hand() {
    let per_task = vec![vec![0.0, 1.0], vec![2.0, 2.0], vec![4.0, 6.0]];
    // Task means 0.5, 2, 5.
    assert_close(aggregate_mean(&per_task), 2.5);
    assert_close(aggregate_median(&per_task), 2.0);
    // Pooled 0 1 2 2 4 6, cut 1 each side -> 1 2 2 4.
    assert_close(aggregate_iqm(&per_task), 2.25);
    // min(x, 1) = 0 1 1 1 1 1 -> 1 - 5/6.
    assert_close(aggregate_optimality_gap(&per_task, 1.0), 1.0 / 6.0);
    assert_close(
        Aggregate::OptimalityGap { gamma: 1.0 }.compute(&per_task),
        1.0 / 6.0,
    );
    // Unequal run counts and an empty task: the empty task is skipped.
    let ragged = vec![vec![1.0], vec![], vec![2.0, 4.0, NAN]];
    assert_close(aggregate_mean(&ragged), 2.0);
    assert_close(aggregate_median(&ragged), 2.0);
    assert_close(aggregate_iqm(&ragged), 7.0 / 3.0);
    let t = table(vec![per_task.clone(), ragged], vec![true; 3]);
    assert_all_close(&aggregate(&t, Aggregate::Mean), &[2.5, 2.0]);
}

#[test]
fn mann_whitney_on_tiny_samples() {
    // 1 vs {2, 2}: 0; 2 vs {2, 2}: two ties = 1; 3 vs {2, 2}: 2 -> U = 3 of 6 pairs.
    assert_close(mann_whitney_u(&[1.0, 2.0, 3.0], &[2.0, 2.0]), 3.0);
    assert_close(
        task_probability_of_improvement(&[1.0, 2.0, 3.0], &[2.0, 2.0]),
        0.5,
    );
    // 3 vs {1, 2, 3}: 2.5; 4 vs {1, 2, 3}: 3 -> 5.5 / 6.
    assert_close(
        task_probability_of_improvement(&[3.0, 4.0], &[1.0, 2.0, 3.0]),
        5.5 / 6.0,
    );
    assert_close(
        task_probability_of_improvement(&[1.0, 2.0], &[1.0, 2.0]),
        0.5,
    );
    assert!(task_probability_of_improvement(&[], &[1.0]).is_nan());

    // Task 0 higher-better: P = 5.5/6. Task 1 lower-better: X = {1} beats Y = {2, NaN}
    // (diverged) fully -> 1. Task 2: Y has no runs, skipped.
    let t = table(
        vec![
            vec![vec![3.0, 4.0], vec![1.0], vec![1.0]],
            vec![vec![1.0, 2.0, 3.0], vec![2.0, NAN], vec![]],
        ],
        vec![true, false, true],
    );
    let p = probability_of_improvement(&t, 0, 1);
    assert_close(p, (5.5 / 6.0 + 1.0) / 2.0);
    let mat = probability_of_improvement_matrix(&t);
    assert_close(mat[0][1], p);
    assert_close(mat[1][0], 1.0 - p);
    assert_close(mat[0][0], 0.5);
    assert_close(mat[1][1], 0.5);
}

#[test]
fn performance_profiles_count_strictly_above() {
    let t = table(
        vec![
            vec![vec![0.1, 0.5], vec![0.9]],
            vec![vec![0.5, 0.5], vec![NAN, 1.0]],
        ],
        vec![true, true],
    );
    let taus = [0.0, 0.5, 1.0];
    let p = performance_profile(&t, &taus, ProfileKind::Runs);
    assert_all_close(&p[0], &[1.0, 1.0 / 3.0, 0.0]);
    assert_all_close(&p[1], &[1.0, 1.0 / 3.0, 0.0]); // NaN skipped
    // Task means: m0 0.3, 0.9; m1 0.5, 1.0.
    let q = performance_profile(&t, &taus, ProfileKind::TaskMeans);
    assert_all_close(&q[0], &[1.0, 0.5, 0.0]);
    assert_all_close(&q[1], &[1.0, 0.5, 0.0]);
    let cis =
        performance_profile_ci(&t, &taus, ProfileKind::Runs, &BootstrapConfig::default()).unwrap();
    for (m, row) in cis.iter().enumerate() {
        for (j, iv) in row.iter().enumerate() {
            assert_close(iv.point, p[m][j]);
            assert!(iv.lo <= iv.hi && (0.0..=1.0).contains(&iv.lo) && iv.hi <= 1.0);
        }
    }
}

#[test]
fn cost_to_target_from_curves() {
    let up = [(1.0, 0.2), (2.0, 0.5), (3.0, 0.7), (4.0, 0.4)];
    assert_eq!(cost_to_target(&up, 0.5, true), 2.0);
    assert_eq!(cost_to_target(&up, 0.6, true), 3.0);
    assert_eq!(cost_to_target(&up, 0.8, true), INF);
    let down = [(10.0, 2.0), (20.0, NAN), (30.0, 0.9), (40.0, 0.5)];
    assert_eq!(cost_to_target(&down, 1.0, false), 30.0);
    assert_eq!(cost_to_target(&down, 0.1, false), INF);
    assert_eq!(cost_to_target(&[], 0.1, false), INF);
}

fn cost_table(costs: Vec<Vec<Vec<f64>>>, tuning: Vec<Vec<f64>>) -> CostTable {
    let n_t = costs[0].len();
    CostTable::new(names("t", n_t), names("m", costs.len()), costs, tuning).unwrap()
}

#[test]
fn cost_profile_integral_of_step_functions() {
    // Best costs: t0 = 10, t1 = 20. Ratios: A {1, 2}, B {2, 1}, C {∞ (miss), 1.5}.
    let t = cost_table(
        vec![
            vec![vec![10.0], vec![40.0]],
            vec![vec![20.0], vec![20.0]],
            vec![vec![INF], vec![30.0]],
        ],
        vec![],
    );
    let cfg = CostProfileConfig {
        tau_max: 4.0,
        n_taus: 2001,
        aggregation: CostAggregation::PerRun,
        axis: TauAxis::Log,
    };
    let p = cost_profile(&t, &cfg).unwrap();
    assert_all_close(&p.best_cost, &[10.0, 20.0]);
    assert_eq!(p.ratios[2][0][0], INF);
    // Log axis: ratio r earns 1 - ln r / ln 4: r = 1 -> 1, r = 2 -> 1/2.
    let c15 = 1.0 - 1.5f64.ln() / 4f64.ln();
    assert_all_close(&p.score, &[0.75, 0.75, c15 / 2.0]);
    assert_close(p.taus[0], 1.0);
    assert_close(p.taus[2000], 4.0);
    // rho: at tau = 1 A and B are best on one task each.
    assert_all_close(&[p.rho[0][0], p.rho[1][0], p.rho[2][0]], &[0.5, 0.5, 0.0]);
    assert_all_close(
        &[p.rho[0][2000], p.rho[1][2000], p.rho[2][2000]],
        &[1.0, 1.0, 0.5],
    );
    // The exact score is the area under rho over log tau: compare with a trapezoid rule.
    for m in 0..3 {
        let mut area = 0.0;
        for j in 1..p.taus.len() {
            let dx = p.taus[j].ln() - p.taus[j - 1].ln();
            area += 0.5 * (p.rho[m][j] + p.rho[m][j - 1]) * dx;
        }
        assert!((area / 4f64.ln() - p.score[m]).abs() < 2e-3, "{m}: {area}");
    }
    // Linear axis (AlgoPerf): r = 2 earns (4 - 2) / 3.
    let lin = cost_profile(
        &t,
        &CostProfileConfig {
            axis: TauAxis::Linear,
            n_taus: 4,
            ..cfg
        },
    )
    .unwrap();
    assert_all_close(&lin.taus, &[1.0, 2.0, 3.0, 4.0]);
    assert_all_close(
        &lin.score,
        &[(1.0 + 2.0 / 3.0) / 2.0, (1.0 + 2.0 / 3.0) / 2.0, 2.5 / 6.0],
    );
}

#[test]
fn cost_profile_runs_tuning_and_median() {
    // A: t0 runs {10, miss}, tuning 10 -> {20, ∞}. B: {20, 40}, no tuning. Best = 20.
    let t = cost_table(
        vec![vec![vec![10.0, NAN]], vec![vec![20.0, 40.0]]],
        vec![vec![10.0], vec![0.0]],
    );
    let cfg = CostProfileConfig {
        tau_max: 4.0,
        n_taus: 3,
        aggregation: CostAggregation::PerRun,
        axis: TauAxis::Log,
    };
    let p = cost_profile(&t, &cfg).unwrap();
    assert_all_close(&p.best_cost, &[20.0]);
    assert_all_close(&p.ratios[0][0], &[1.0, INF]);
    assert_all_close(&p.ratios[1][0], &[1.0, 2.0]);
    assert_all_close(&p.score, &[0.5, 0.75]);
    assert_all_close(&p.rho[0], &[0.5, 0.5, 0.5]); // taus 1, 2, 4
    assert_all_close(&p.rho[1], &[0.5, 1.0, 1.0]);
    // Median: A = median{20, ∞} = ∞ (half missed), B = 30 -> B best.
    let med = cost_profile(
        &t,
        &CostProfileConfig {
            aggregation: CostAggregation::Median,
            ..cfg
        },
    )
    .unwrap();
    assert_all_close(&med.best_cost, &[30.0]);
    assert_all_close(&med.score, &[0.0, 1.0]);
    assert_close(
        integrated_score(&[vec![2.0], vec![]], 4.0, TauAxis::Log),
        0.25,
    );
    // Invalid settings and shapes.
    assert!(
        cost_profile(
            &t,
            &CostProfileConfig {
                tau_max: 1.0,
                ..cfg
            }
        )
        .is_err()
    );
    assert!(cost_profile(&t, &CostProfileConfig { n_taus: 1, ..cfg }).is_err());
    assert!(
        CostTable::new(
            names("t", 1),
            names("m", 1),
            vec![vec![vec![]]],
            vec![vec![]]
        )
        .is_err()
    );
}

#[test]
fn portfolio_on_a_3x3_example() {
    // Cell means:   t0   t1   t2
    //   A          1.0  0.2  0.5
    //   B          0.8  0.9  0.4
    //   C          0.1  0.3  0.6
    let t = table(
        vec![
            vec![vec![1.0], vec![0.1, 0.3], vec![0.5]],
            vec![vec![0.8], vec![0.9], vec![0.3, 0.5]],
            vec![vec![0.1], vec![0.3], vec![0.6, NAN]],
        ],
        vec![true; 3],
    );
    let p = portfolio(&t);
    assert_all_close(&p.method_scores, &[1.7 / 3.0, 2.1 / 3.0, 1.0 / 3.0]);
    assert_eq!(p.single_best, Some(1));
    assert_close(p.single_best_score, 0.7);
    assert_close(p.virtual_best_score, 2.5 / 3.0);
    assert_eq!(p.oracle_choice, vec![Some(0), Some(1), Some(2)]);
    assert_close(p.sbs_vbs_gap, 2.5 / 3.0 - 0.7);
    // Without A: 0.8 + 0.9 + 0.6; without B: 1.0 + 0.3 + 0.6; without C: 1.0 + 0.9 + 0.5.
    assert_all_close(&p.marginal_contribution, &[0.2 / 3.0, 0.6 / 3.0, 0.1 / 3.0]);
    assert_close(virtual_best_score(&[vec![1.0], vec![2.0]], &[0], 1), 1.0);
    // A lower-is-better raw task enters negated: the lowest loss is the oracle's choice.
    let raw = table(vec![vec![vec![2.0]], vec![vec![1.0]]], vec![false]);
    assert_eq!(portfolio(&raw).single_best, Some(1));
}

#[test]
fn percentile_and_bca_from_given_replicates() {
    let reps: Vec<f64> = (0..100).map(f64::from).collect();
    // numpy linear: position 0.05 * 99 = 4.95.
    assert_close(percentile(&reps, 0.05), 4.95);
    assert_close(percentile(&reps, 1.0), 99.0);
    assert_close(percentile(&[3.0], 0.3), 3.0);
    let pct = interval_from_replicates(49.5, &reps, 0.9, CiMethod::Percentile, 0.0);
    assert_close(pct.lo, 4.95);
    assert_close(pct.hi, 94.05);
    // Half the replicates below the point and no acceleration: BCa = percentile (up to the
    // ~1e-11 relative accuracy of statrs' normal CDF in the tails).
    let bca = interval_from_replicates(49.5, &reps, 0.9, CiMethod::Bca, 0.0);
    assert!((bca.lo - pct.lo).abs() < 1e-8 && (bca.hi - pct.hi).abs() < 1e-8);
    // A point in the upper part shifts both BCa quantiles up.
    let up = interval_from_replicates(70.0, &reps, 0.9, CiMethod::Bca, 0.0);
    assert!(up.lo > pct.lo && up.hi > pct.hi);
    // Positive acceleration stretches the upper tail.
    let acc = interval_from_replicates(49.5, &reps, 0.9, CiMethod::Bca, 0.1);
    assert!(acc.hi > pct.hi && acc.lo > pct.lo);
    // Undefined bias (nothing below the point) falls back to the percentile interval.
    let fb = interval_from_replicates(-1.0, &reps, 0.9, CiMethod::Bca, 0.0);
    assert_eq!((fb.lo, fb.hi), (pct.lo, pct.hi));
    // Acceleration: jackknife values 0, 0, 3 -> u = 1, 1, -2: (1 + 1 - 8) / (6 * 6^1.5).
    assert_close(
        bca_acceleration(&[0.0, 0.0, 3.0]),
        -6.0 / (6.0 * 6f64.powf(1.5)),
    );
    assert_eq!(bca_acceleration(&[2.0, 2.0]), 0.0);
    // Jackknife leaves run i out of every stratum that has one.
    let jk = jackknife(&[vec![1.0, 2.0, 3.0], vec![10.0]], |s| {
        vec![s.iter().flatten().sum::<f64>()]
    });
    assert_eq!(jk, vec![vec![5.0], vec![14.0], vec![13.0]]);
}

#[test]
fn bootstrap_is_deterministic_and_sane() {
    let per_task = vec![
        vec![0.1, 0.4, 0.35, 0.8, 0.2, 0.5],
        vec![0.9, 0.7, 0.75, 0.6],
        vec![0.3, 0.33, 0.1, 0.05, 0.4],
    ];
    for method in [CiMethod::Percentile, CiMethod::Bca] {
        let cfg = BootstrapConfig {
            reps: 3000,
            confidence: 0.95,
            seed: 7,
            method,
        };
        let a = stratified_bootstrap_ci(&per_task, aggregate_iqm, &cfg).unwrap();
        let b = stratified_bootstrap_ci(&per_task, aggregate_iqm, &cfg).unwrap();
        assert_eq!(a, b);
        assert_close(a.point, aggregate_iqm(&per_task));
        assert!(a.lo < a.point && a.point < a.hi, "{a:?}");
        let other = stratified_bootstrap_ci(
            &per_task,
            aggregate_iqm,
            &BootstrapConfig { seed: 8, ..cfg },
        )
        .unwrap();
        assert_ne!(a, other);
        // The vector form with one component gives the same interval.
        let v = stratified_bootstrap_ci_vec(&per_task, |s| vec![aggregate_iqm(s)], &cfg).unwrap();
        assert_eq!(v, vec![a]);
    }
    // Replicates: reproducible, and every resample keeps the stratum sizes.
    let r = bootstrap_replicates(
        &per_task,
        |s| s.iter().map(|x| x.len() as f64).collect(),
        5,
        1,
    );
    assert_eq!(r, vec![vec![6.0, 4.0, 5.0]; 5]);
    // A method's interval does not depend on the other methods of the table.
    let t2 = table(vec![per_task.clone(), vec![vec![1.0]; 3]], vec![true; 3]);
    let t1 = table(vec![per_task.clone()], vec![true; 3]);
    let cfg = BootstrapConfig::default();
    assert_eq!(
        aggregate_ci(&t2, Aggregate::Iqm, &cfg).unwrap()[0],
        aggregate_ci(&t1, Aggregate::Iqm, &cfg).unwrap()[0]
    );
    let bad = BootstrapConfig {
        confidence: 1.0,
        ..cfg
    };
    assert!(aggregate_ci(&t1, Aggregate::Iqm, &bad).is_err());
    assert!(aggregate_ci(&t1, Aggregate::Iqm, &BootstrapConfig { reps: 0, ..cfg }).is_err());
}

#[test]
fn probability_of_improvement_interval() {
    let t = table(
        vec![
            vec![vec![0.5, 0.6, 0.7, 0.9], vec![0.2, 0.4, 0.3]],
            vec![vec![0.4, 0.5, 0.55], vec![0.1, 0.25, 0.3, 0.2]],
        ],
        vec![true, true],
    );
    for method in [CiMethod::Percentile, CiMethod::Bca] {
        let cfg = BootstrapConfig {
            method,
            ..BootstrapConfig::default()
        };
        let iv = probability_of_improvement_ci(&t, 0, 1, &cfg).unwrap();
        assert_close(iv.point, probability_of_improvement(&t, 0, 1));
        assert!(iv.lo <= iv.point && iv.point <= iv.hi && iv.lo >= 0.0 && iv.hi <= 1.0);
    }
}

/// Every function on degenerate tables: one method, one run, all-equal scores, all-NaN, empty.
#[test]
fn degenerate_inputs_do_not_panic() {
    let cases = vec![
        table(vec![vec![vec![0.5]]], vec![true]),
        table(vec![vec![vec![0.5, 0.5, 0.5]; 2]; 3], vec![true, false]),
        table(vec![vec![vec![NAN, NAN]], vec![vec![NAN]]], vec![true]),
        table(vec![vec![vec![]], vec![vec![1.0]]], vec![false]),
        table(vec![vec![]], vec![]),
        table(vec![], vec![true]),
        table(vec![], vec![]),
    ];
    let taus = [0.0, 0.5, 1.0];
    for t in &cases {
        for raw in [true, false] {
            let t = if raw { t.clone() } else { normalize_minmax(t) };
            let _ = normalize_to_best(&t);
            let r = ranks(&t);
            assert_eq!(r.per_task.len(), t.n_methods());
            let _ = gap_to_best(&t);
            for agg in [
                Aggregate::Mean,
                Aggregate::Median,
                Aggregate::Iqm,
                Aggregate::OptimalityGap { gamma: 1.0 },
            ] {
                let _ = aggregate(&t, agg);
                for method in [CiMethod::Percentile, CiMethod::Bca] {
                    let cfg = BootstrapConfig {
                        reps: 50,
                        method,
                        ..BootstrapConfig::default()
                    };
                    let cis = aggregate_ci(&t, agg, &cfg).unwrap();
                    assert_eq!(cis.len(), t.n_methods());
                    let _ =
                        performance_profile_ci(&t, &taus, ProfileKind::TaskMeans, &cfg).unwrap();
                    if t.n_methods() >= 2 {
                        let _ = probability_of_improvement_ci(&t, 0, 1, &cfg).unwrap();
                    }
                }
            }
            let _ = performance_profile(&t, &taus, ProfileKind::Runs);
            let m = probability_of_improvement_matrix(&t);
            assert_eq!(m.len(), t.n_methods());
            let p = portfolio(&t);
            assert_eq!(p.marginal_contribution.len(), t.n_methods());
        }
    }
    // Constant data: both interval methods collapse onto the point.
    let flat = normalize_minmax(&cases[1]);
    for method in [CiMethod::Percentile, CiMethod::Bca] {
        let cfg = BootstrapConfig {
            method,
            ..BootstrapConfig::default()
        };
        for iv in aggregate_ci(&flat, Aggregate::Iqm, &cfg).unwrap() {
            assert_eq!((iv.point, iv.lo, iv.hi), (1.0, 1.0, 1.0));
        }
    }
    // Single method: it is the single best and the oracle, contributing its whole score.
    let p = portfolio(&cases[0]);
    assert_eq!(p.single_best, Some(0));
    assert_close(p.sbs_vbs_gap, 0.0);
    assert_all_close(&p.marginal_contribution, &[0.5]);
    // Degenerate cost tables.
    let empty = CostTable::new(vec![], names("m", 2), vec![vec![], vec![]], vec![]).unwrap();
    let cp = cost_profile(&empty, &CostProfileConfig::default()).unwrap();
    assert!(cp.score.iter().all(|s| s.is_nan()));
    let all_miss = cost_table(vec![vec![vec![INF]], vec![vec![NAN, INF]]], vec![]);
    let cp = cost_profile(&all_miss, &CostProfileConfig::default()).unwrap();
    assert_all_close(&cp.score, &[0.0, 0.0]);
    let zero = cost_table(vec![vec![vec![0.0]], vec![vec![1.0]]], vec![]);
    let cp = cost_profile(&zero, &CostProfileConfig::default()).unwrap();
    assert_all_close(&cp.score, &[1.0, 0.0]);
}

#[test]
fn serde_round_trips_non_finite_values() {
    let t = table(vec![vec![vec![0.5, NAN, INF]]], vec![true]);
    let json = serde_json::to_string(&t).unwrap();
    assert!(json.contains("[0.5,null,null]"), "{json}");
    let back: ScoreTable = serde_json::from_str(&json).unwrap();
    assert_eq!(back.scores[0][0][0], 0.5);
    assert!(back.scores[0][0][1].is_nan() && back.scores[0][0][2].is_nan());
    let c = cost_table(vec![vec![vec![3.0, INF, NAN]]], vec![]);
    let json = serde_json::to_string(&c).unwrap();
    let back: CostTable = serde_json::from_str(&json).unwrap();
    assert_eq!(back.costs[0][0], vec![3.0, INF, INF]);
    let no_tuning: CostTable =
        serde_json::from_str(r#"{"tasks":["a"],"methods":["m"],"costs":[[[1.0]]]}"#).unwrap();
    assert!(no_tuning.tuning_cost.is_empty());
    let agg: Aggregate = serde_json::from_str(r#"{"kind":"optimality_gap","gamma":1.0}"#).unwrap();
    assert_eq!(agg, Aggregate::OptimalityGap { gamma: 1.0 });
}
