//! Sample data shared by the store tests (the conformance suite and the process tests).

use lrctl_store::{
    CellId, CellResult, CurvePointRow, NewCell, Outcome, Provenance, ProvenanceId, Store,
};

/// `n` cells over two tasks and two methods, seeds counting up, hash `h`.
pub fn new_cells(n: usize, hash: &str) -> Vec<NewCell> {
    (0..n)
        .map(|i| NewCell {
            task: ["iris", "wine"][i % 2].to_string(),
            method: ["adam-fixed", "cawr-default"][(i / 2) % 2].to_string(),
            seed: (i / 4) as u64,
            config_hash: hash.to_string(),
            task_config: format!(r#"{{"task":{i}}}"#),
            method_config: r#"{"lr":0.001}"#.to_string(),
        })
        .collect()
}

/// A provenance record, stored.
pub fn provenance(store: &mut dyn Store) -> ProvenanceId {
    store
        .put_provenance(&Provenance {
            lrctl_version: "0.1.0-test".into(),
            git_commit: Some("abc123".into()),
            config_hash: "cfg".into(),
            machine: lrctl_store::machine_description(),
            backend: "test".into(),
        })
        .unwrap()
}

/// A result that depends only on the cell id and `tag`, so a reader can check it was stored
/// whole and by whom.
pub fn result_for(cell: CellId, tag: u32, provenance: ProvenanceId) -> CellResult {
    let x = cell.0 as f64 + f64::from(tag) / 1000.0;
    CellResult {
        outcome: [Outcome::Finished, Outcome::Diverged, Outcome::Failed][(cell.0 % 3) as usize],
        reason: (cell.0 % 3 != 0).then(|| format!("reason {}", cell.0)),
        steps: 100 + cell.0 as u64,
        total_steps: 200,
        n_params: 1234,
        final_train_loss: Some(x),
        last_batch_loss: Some(x + 0.5),
        train_loss: Some(x + 1.0),
        train_metric: Some(0.25),
        validation_loss: Some(x + 2.0),
        validation_metric: None,
        test_loss: Some(f64::INFINITY),
        test_metric: Some(0.75),
        metric_name: Some("accuracy".into()),
        seconds: 1.5,
        eval_seconds: 0.25,
        cost_steps: 300,
        cost_seconds: 2.5,
        result_json: format!(r#"{{"cell":{},"tag":{tag}}}"#, cell.0),
        provenance,
    }
}

/// A curve of `n` points that depends only on the cell id, with NaN, infinity and missing
/// evaluations in it.
pub fn curve_for(cell: CellId, n: usize) -> Vec<CurvePointRow> {
    (0..n)
        .map(|i| {
            let i64_ = i as i64;
            CurvePointRow {
                step: i as u64 * 10,
                epoch: i as f64 / 3.0,
                train_loss: if i + 1 == n && cell.0 % 3 == 1 {
                    f64::NAN
                } else {
                    1.0 / (1.0 + i as f64) + cell.0 as f64
                },
                lr: 1e-3,
                effective_lr: (i64_ - cell.0) as f64,
                grad_norm: if i == 1 { f64::INFINITY } else { 0.5 },
                wall_seconds: i as f64 * 0.01,
                eval_loss: (i % 5 == 0).then_some(2.0 + cell.0 as f64),
                eval_metric: (i % 10 == 0).then_some(0.5),
            }
        })
        .collect()
}

/// Whether two curves are equal bit for bit (NaN included).
pub fn same_curve(a: &[CurvePointRow], b: &[CurvePointRow]) -> bool {
    let key = |p: &CurvePointRow| {
        (
            p.step,
            [
                p.epoch,
                p.train_loss,
                p.lr,
                p.effective_lr,
                p.grad_norm,
                p.wall_seconds,
            ]
            .map(f64::to_bits),
            p.eval_loss.map(f64::to_bits),
            p.eval_metric.map(f64::to_bits),
        )
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}
