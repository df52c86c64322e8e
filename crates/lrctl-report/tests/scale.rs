//! The Scale section on hand-made snapshots: a width ladder whose HPO advantage shrinks, and a
//! study without a ladder.

use lrctl_report::{MethodRole, ReportOptions, ScaleAnalysis, analyse, render, scale_tables};
use lrctl_store::{
    CellId, CellResult, CellRow, CellState, Outcome, ProvenanceId, StudyId, StudyRow, Timestamp,
};
use lrctl_study::snapshot::Snapshot;

fn cell(id: i64, task: &str, method: &str, seed: u64, metric: f64) -> CellRow {
    let spec = lrctl_tasks::registry::find(task).unwrap();
    let m = lrctl_wrap::find(method).unwrap();
    let tuned = m.tune().is_some();
    CellRow {
        id: CellId(id),
        study: StudyId(1),
        task: task.into(),
        method: method.into(),
        seed,
        config_hash: format!("{task}-{method}"),
        task_config: serde_json::to_string(&spec).unwrap(),
        method_config: serde_json::to_string(&m).unwrap(),
        state: CellState::Done,
        worker: None,
        attempts: 1,
        created_at: Timestamp(0),
        claimed_at: None,
        heartbeat_at: None,
        lease_expires_at: None,
        superseded_at: None,
        finished_at: None,
        result: Some(CellResult {
            outcome: Outcome::Finished,
            reason: None,
            steps: 10,
            total_steps: 10,
            n_params: 0,
            final_train_loss: Some(1.0),
            last_batch_loss: None,
            train_loss: None,
            train_metric: None,
            validation_loss: None,
            validation_metric: None,
            test_loss: None,
            test_metric: Some(metric),
            metric_name: None,
            seconds: 2.0,
            eval_seconds: 0.1,
            cost_steps: 10,
            // Tuning costs 30 s per cell.
            cost_seconds: if tuned { 32.0 } else { 2.0 },
            result_json: "{}".into(),
            provenance: ProvenanceId(0),
        }),
    }
}

fn study(methods: &[&str]) -> StudyRow {
    let ms: Vec<String> = methods
        .iter()
        .map(|m| format!(r#"{{"name":"{m}"}}"#))
        .collect();
    StudyRow {
        id: StudyId(1),
        name: "ladder".into(),
        spec_json: format!(r#"{{"methods":[{}]}}"#, ms.join(",")),
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

/// MLP width ×1, ×2, ×4 and logistic regression on iris: `smac-fixed` (tuned) ahead of
/// `adam-fixed` by less at every rung, `cocob` far behind everywhere.
fn ladder_snapshot() -> Snapshot {
    let methods = ["smac-fixed", "adam-fixed", "cocob"];
    let rungs = [
        ("mlp/fashion-mnist-10k", 0.9),
        ("mlp/fashion-mnist-10k@w2", 0.7),
        ("mlp/fashion-mnist-10k@w4", 0.55),
        ("logreg/iris", 0.6),
    ];
    let mut cells = Vec::new();
    let mut id = 0;
    for (task, tuned) in rungs {
        for seed in 0..3u64 {
            let noise = 0.004 * seed as f64;
            for (method, v) in methods.iter().zip([tuned, 0.5, 0.1]) {
                id += 1;
                cells.push(cell(id, task, method, seed, v + noise));
            }
        }
    }
    Snapshot::from_cells(study(&methods), cells)
}

#[test]
fn a_shrinking_advantage_is_found_and_shown() {
    let a = analyse(&ladder_snapshot(), &ReportOptions::default());
    let ScaleAnalysis::Ladders {
        roles,
        ladders,
        families,
    } = &a.scale
    else {
        panic!("a ladder: {:?}", a.scale);
    };
    assert_eq!(
        roles,
        &[MethodRole::Tuned, MethodRole::Untuned, MethodRole::Untuned]
    );
    assert_eq!(ladders.len(), 1);
    let l = &ladders[0];
    assert_eq!(l.base, "mlp/fashion-mnist-10k");
    let mult: Vec<u32> = l.rungs.iter().map(|r| r.multiplier).collect();
    assert_eq!(mult, [1, 2, 4]);
    // Normalised per task over (0.1 … 0.9+): advantages ≈ 0.5, 0.33, 0.11.
    let adv: Vec<f64> = l.rungs.iter().map(|r| r.advantage.unwrap().point).collect();
    assert!(adv[0] > adv[1] && adv[1] > adv[2], "{adv:?}");
    assert!((adv[0] - 0.5).abs() < 0.02, "{adv:?}");
    // Parameters from the configuration and the catalog (the results say 0), growing.
    let params: Vec<u64> = l.rungs.iter().map(|r| r.n_params.unwrap()).collect();
    assert!(params[0] < params[1] && params[1] < params[2], "{params:?}");
    assert!(l.rungs[0].flops_per_step.unwrap() > 0.0);
    assert_eq!(l.rungs[0].tuning_seconds, [Some(30.0), None, None]);
    let trend = l.trend_params.as_ref().unwrap();
    assert_eq!(
        trend.verdict,
        lrctl_eval::TrendVerdict::Shrinks,
        "{trend:?}"
    );
    assert!(trend.slope.hi < 0.0);
    // Families: logistic regression (iris) and MLP (the ×1 rung), complexity 0 and 1.
    let fam: Vec<(&str, u32)> = families
        .points
        .iter()
        .map(|p| (p.family.as_str(), p.complexity))
        .collect();
    assert_eq!(fam, [("linear", 0), ("mlp", 1)]);
    assert!(families.trend.is_ok());

    let tables = scale_tables(&a.scale);
    assert_eq!(tables.len(), 3);
    let md = render(&a).to_markdown();
    assert!(md.contains("## Scale"), "{md}");
    assert!(md.contains("The HPO advantage shrinks with scale"), "{md}");
    assert!(md.contains("| ×4 | mlp/fashion-mnist-10k@w4 |"), "{md}");
    serde_json::to_string(&a).expect("serialisable");
}

#[test]
fn a_study_without_a_ladder_says_so() {
    let methods = ["smac-fixed", "adam-fixed"];
    let cells = vec![
        cell(1, "logreg/iris", "smac-fixed", 0, 0.9),
        cell(2, "logreg/iris", "adam-fixed", 0, 0.8),
        cell(3, "mlp/digits", "smac-fixed", 0, 0.9),
        cell(4, "mlp/digits", "adam-fixed", 0, 0.8),
    ];
    let a = analyse(
        &Snapshot::from_cells(study(&methods), cells),
        &ReportOptions::default(),
    );
    assert!(matches!(a.scale, ScaleAnalysis::NoLadder { .. }));
    assert!(scale_tables(&a.scale).is_empty());
    let md = render(&a).to_markdown();
    assert!(md.contains("This study has no ladder"), "{md}");
}

#[test]
fn without_a_tuned_method_the_trend_says_why() {
    let methods = ["adam-fixed", "cocob"];
    let mut cells = Vec::new();
    for (i, task) in ["mlp/fashion-mnist-10k", "mlp/fashion-mnist-10k@w2"]
        .iter()
        .enumerate()
    {
        for (j, m) in methods.iter().enumerate() {
            cells.push(cell((i * 2 + j) as i64 + 1, task, m, 0, 0.5));
        }
    }
    let a = analyse(
        &Snapshot::from_cells(study(&methods), cells),
        &ReportOptions::default(),
    );
    let ScaleAnalysis::Ladders { ladders, .. } = &a.scale else {
        panic!("a ladder");
    };
    let why = ladders[0].trend_params.as_ref().unwrap_err();
    assert!(why.contains("no tuned method"), "{why}");
}

/// `smac-fixed-w1` is `smac-fixed` tuned at ×1 and transferred: on the MLP width ladder the
/// transfer table pairs them, the regret is tuned-here minus transferred, and the sentence
/// counts the wider rungs where the transfer lost.
#[test]
fn a_width_fidelity_copy_gets_a_transfer_table() {
    let methods = ["smac-fixed", "smac-fixed-w1", "cawr-tuned", "adam-fixed"];
    // (task, smac-fixed, smac-fixed-w1): equal at ×1, the transfer 0.2 behind at ×2 and ×4.
    let rungs = [
        ("mlp/fashion-mnist-10k", 0.9, 0.9),
        ("mlp/fashion-mnist-10k@w2", 0.9, 0.7),
        ("mlp/fashion-mnist-10k@w4", 0.9, 0.7),
    ];
    let mut cells = Vec::new();
    for (task, direct, transferred) in rungs {
        for seed in 0..3u64 {
            let noise = 0.004 * seed as f64;
            for (method, v) in methods.iter().zip([direct, transferred, 0.8, 0.1]) {
                cells.push(cell(cells.len() as i64 + 1, task, method, seed, v + noise));
            }
        }
    }
    let a = analyse(
        &Snapshot::from_cells(study(&methods), cells),
        &ReportOptions::default(),
    );
    let ScaleAnalysis::Ladders { ladders, .. } = &a.scale else {
        panic!("a ladder: {:?}", a.scale);
    };
    // `cawr-tuned` has no width-fidelity copy here, `adam-fixed` is untuned: one pair.
    let [t] = &ladders[0].transfers[..] else {
        panic!("one transfer: {:?}", ladders[0].transfers);
    };
    assert_eq!(
        (t.direct.as_str(), t.transferred.as_str()),
        ("smac-fixed", "smac-fixed-w1")
    );
    assert_eq!(t.from_width, 1);
    // Normalised per task over 0.1 … 0.908: a 0.2 gap is 0.2 / 0.808 of the spread.
    let regret: Vec<f64> = t.rungs.iter().map(|r| r.regret.unwrap().point).collect();
    assert!(regret[0].abs() < 1e-9, "{regret:?}");
    for r in &regret[1..] {
        assert!((r - 0.2 / 0.808).abs() < 0.01, "{regret:?}");
    }
    assert!(t.rungs[1].regret.unwrap().lo > 0.0);
    assert_eq!(t.rungs[2].direct_tuning_seconds, Some(30.0));
    let sentence = lrctl_report::transfer_sentence(t);
    assert!(
        sentence.contains("lost on 2 and gained on 0 of 2 wider rungs"),
        "{sentence}"
    );
    let tables = scale_tables(&a.scale);
    assert_eq!(tables.len(), 4, "rungs, scores, one transfer, families");
    let md = render(&a).to_markdown();
    assert!(md.contains("smac-fixed-w1 (from ×1)"), "{md}");
}
