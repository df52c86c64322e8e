//! Writes a synthetic SQLite store for the dashboard's benchmark: one study of TASKS tasks ×
//! METHODS methods × SEEDS seeds, every cell done with a curve of POINTS points (defaults:
//! 10 × 20 × 50 = 10,000 cells, 500 points each: 5 million points).
//!
//! `cargo run --release -p lrctl-serve --example synthetic_store -- OUT.db [TASKS METHODS SEEDS POINTS]`

use std::time::Duration;

use lrctl_store::{
    CellResult, ClaimFilter, CurvePointRow, NewCell, Outcome, Provenance, SqliteStore, Store,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .expect("usage: synthetic_store OUT.db [TASKS METHODS SEEDS POINTS]");
    let n = |i: usize, d: usize| args.get(i).map_or(d, |a| a.parse().expect("a number"));
    let (tasks, methods, seeds, points) = (n(1, 10), n(2, 20), n(3, 50), n(4, 500));
    let mut s = SqliteStore::open(std::path::Path::new(out)).expect("store");
    let base = lrctl_tasks::registry::find("logreg/iris").unwrap();
    let method = serde_json::to_string(&lrctl_wrap::find("adam-fixed").unwrap()).unwrap();
    let method_names: Vec<String> = (0..methods).map(|m| format!("method-{m:02}")).collect();
    let spec = serde_json::json!({
        "methods": method_names.iter().map(|m| serde_json::json!({ "name": m })).collect::<Vec<_>>()
    });
    let study = s.upsert_study("synthetic", &spec.to_string()).unwrap();
    let mut cells = Vec::new();
    for t in 0..tasks {
        let mut task = base.clone();
        task.name = format!("task-{t:02}");
        let task_json = serde_json::to_string(&task).unwrap();
        for m in &method_names {
            for seed in 0..seeds as u64 {
                cells.push(NewCell {
                    task: task.name.clone(),
                    method: m.clone(),
                    seed,
                    config_hash: format!("{t}-{m}"),
                    task_config: task_json.clone(),
                    method_config: method.clone(),
                });
            }
        }
    }
    s.add_cells(study, &cells).unwrap();
    let prov = s
        .put_provenance(&Provenance {
            lrctl_version: "synthetic".into(),
            git_commit: None,
            config_hash: "synthetic".into(),
            machine: "synthetic".into(),
            backend: "none".into(),
        })
        .unwrap();
    let mut i = 0u64;
    while let Some(c) = s
        .claim(&ClaimFilter::any(), "synthetic", Duration::from_secs(3600))
        .unwrap()
    {
        i += 1;
        // A decaying loss with noise and a method-dependent rate; a metric every 10th point.
        let rate = 1.0 + (i % 7) as f64 / 7.0;
        let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let curve: Vec<CurvePointRow> = (0..points as u64)
            .map(|k| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let noise = (x % 1000) as f64 / 1e4;
                let step = (k + 1) * 10;
                let loss = 2.0 * (-(rate * k as f64) / points as f64 * 3.0).exp() + 0.1 + noise;
                CurvePointRow {
                    step,
                    epoch: step as f64 / 100.0,
                    train_loss: loss,
                    lr: 1e-3,
                    effective_lr: 1e-3 * (1.0 + noise),
                    grad_norm: loss,
                    wall_seconds: k as f64 * 0.01,
                    eval_loss: (k % 10 == 9).then_some(loss * 1.1),
                    eval_metric: (k % 10 == 9).then_some(1.0 - loss / 3.0),
                }
            })
            .collect();
        let last = curve.last().map_or(1.0, |p| p.train_loss);
        let result = CellResult {
            outcome: Outcome::Finished,
            reason: None,
            steps: points as u64 * 10,
            total_steps: points as u64 * 10,
            n_params: 15,
            final_train_loss: Some(last),
            last_batch_loss: Some(last),
            train_loss: Some(last),
            train_metric: Some(1.0 - last / 3.0),
            validation_loss: Some(last),
            validation_metric: Some(1.0 - last / 3.0),
            test_loss: Some(last),
            test_metric: Some(1.0 - last / 3.0),
            metric_name: Some("accuracy".into()),
            seconds: 5.0,
            eval_seconds: 0.1,
            cost_steps: points as u64 * 10,
            cost_seconds: 5.0,
            result_json: "{}".into(),
            provenance: prov,
        };
        s.finish(&c.lease, &result, &curve).unwrap();
    }
    println!("{out}: {i} cells, {} curve points", i * points as u64);
}
