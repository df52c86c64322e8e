//! Exporting a study's cells and curves as CSV or JSON (`lrctl export`).
//!
//! Cell table columns (CSV header order, JSON keys):
//! `study, cell_id, task, method, seed, config_hash, state, outcome, reason, steps, total_steps,
//! n_params, final_train_loss, last_batch_loss, train_loss, train_metric, validation_loss,
//! validation_metric, test_loss, test_metric, metric_name, seconds, eval_seconds, cost_steps,
//! cost_seconds, worker, attempts, created_at, finished_at` (timestamps in ISO 8601, UTC). Losses are mean cross-entropy in nats; `*_metric` is the
//! task's primary metric named by `metric_name` (accuracy in [0, 1], or bits per byte).
//! `final_train_loss` is the mean mini-batch loss over the last curve interval; `outcome` is
//! empty while a cell has no result.
//!
//! Curve table columns: `study, cell_id, task, method, seed, step, epoch, train_loss, lr,
//! effective_lr, grad_norm, wall_seconds, eval_loss, eval_metric` (evaluation columns empty
//! between evaluations; `effective_lr` is what the optimizer applied, e.g. d·lr).

use std::io::Write;

use lrctl_store::{CellRow, CurvePointRow, Store, StudyRow};
use serde::Serialize;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// One row per cell.
    Cells,
    /// One row per recorded curve point of every cell.
    Curves,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, with a header row.
    Csv,
    /// One JSON document: `{study, cells: [...]}` with each cell's curve inside when curves are
    /// asked for.
    Json,
}

/// The flat record of one cell, in export column order.
#[derive(Debug, Clone, Serialize)]
pub struct CellRecord {
    /// Study name.
    pub study: String,
    /// Cell id in the store.
    pub cell_id: i64,
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Hash of the resolved configuration.
    pub config_hash: String,
    /// queued, running or done.
    pub state: String,
    /// finished, diverged or failed (`None` while not done).
    pub outcome: Option<String>,
    /// Why it diverged or failed.
    pub reason: Option<String>,
    /// Steps taken.
    pub steps: Option<u64>,
    /// Budget in steps.
    pub total_steps: Option<u64>,
    /// Model parameters.
    pub n_params: Option<u64>,
    /// Mean mini-batch loss over the last curve interval.
    pub final_train_loss: Option<f64>,
    /// Loss of the last mini-batch.
    pub last_batch_loss: Option<f64>,
    /// Loss on the training split (full evaluation).
    pub train_loss: Option<f64>,
    /// Primary metric on the training split.
    pub train_metric: Option<f64>,
    /// Validation loss.
    pub validation_loss: Option<f64>,
    /// Validation primary metric.
    pub validation_metric: Option<f64>,
    /// Test loss.
    pub test_loss: Option<f64>,
    /// Test primary metric.
    pub test_metric: Option<f64>,
    /// Name of the primary metric.
    pub metric_name: Option<String>,
    /// Wall seconds of the cell.
    pub seconds: Option<f64>,
    /// Of which evaluating.
    pub eval_seconds: Option<f64>,
    /// Steps charged to the method (tuning included once tuners exist).
    pub cost_steps: Option<u64>,
    /// Seconds charged to the method.
    pub cost_seconds: Option<f64>,
    /// Worker that wrote the result.
    pub worker: Option<String>,
    /// How many times the cell was claimed.
    pub attempts: u32,
    /// When the cell was added (ISO 8601, UTC).
    pub created_at: String,
    /// When its result was written (ISO 8601, UTC).
    pub finished_at: Option<String>,
}

impl CellRecord {
    /// Flattens a stored cell.
    pub fn new(study: &str, c: &CellRow) -> Self {
        let r = c.result.as_ref();
        CellRecord {
            study: study.to_string(),
            cell_id: c.id.0,
            task: c.task.clone(),
            method: c.method.clone(),
            seed: c.seed,
            config_hash: c.config_hash.clone(),
            state: c.state.as_str().to_string(),
            outcome: r.map(|r| r.outcome.as_str().to_string()),
            reason: r.and_then(|r| r.reason.clone()),
            steps: r.map(|r| r.steps),
            total_steps: r.map(|r| r.total_steps),
            n_params: r.map(|r| r.n_params),
            final_train_loss: r.and_then(|r| r.final_train_loss),
            last_batch_loss: r.and_then(|r| r.last_batch_loss),
            train_loss: r.and_then(|r| r.train_loss),
            train_metric: r.and_then(|r| r.train_metric),
            validation_loss: r.and_then(|r| r.validation_loss),
            validation_metric: r.and_then(|r| r.validation_metric),
            test_loss: r.and_then(|r| r.test_loss),
            test_metric: r.and_then(|r| r.test_metric),
            metric_name: r.and_then(|r| r.metric_name.clone()),
            seconds: r.map(|r| r.seconds),
            eval_seconds: r.map(|r| r.eval_seconds),
            cost_steps: r.map(|r| r.cost_steps),
            cost_seconds: r.map(|r| r.cost_seconds),
            worker: c.worker.clone(),
            attempts: c.attempts,
            created_at: c.created_at.to_string(),
            finished_at: c.finished_at.map(|t| t.to_string()),
        }
    }

    /// The CSV header.
    pub const HEADER: &'static str = "study,cell_id,task,method,seed,config_hash,state,outcome,\
reason,steps,total_steps,n_params,final_train_loss,last_batch_loss,train_loss,train_metric,\
validation_loss,validation_metric,test_loss,test_metric,metric_name,seconds,eval_seconds,\
cost_steps,cost_seconds,worker,attempts,created_at,finished_at";

    fn csv_row(&self) -> String {
        [
            csv_text(&self.study),
            self.cell_id.to_string(),
            csv_text(&self.task),
            csv_text(&self.method),
            self.seed.to_string(),
            self.config_hash.clone(),
            self.state.clone(),
            opt_text(&self.outcome),
            opt_text(&self.reason),
            opt(self.steps),
            opt(self.total_steps),
            opt(self.n_params),
            opt(self.final_train_loss),
            opt(self.last_batch_loss),
            opt(self.train_loss),
            opt(self.train_metric),
            opt(self.validation_loss),
            opt(self.validation_metric),
            opt(self.test_loss),
            opt(self.test_metric),
            opt_text(&self.metric_name),
            opt(self.seconds),
            opt(self.eval_seconds),
            opt(self.cost_steps),
            opt(self.cost_seconds),
            opt_text(&self.worker),
            self.attempts.to_string(),
            self.created_at.clone(),
            opt_text(&self.finished_at),
        ]
        .join(",")
    }
}

const CURVE_HEADER: &str = "study,cell_id,task,method,seed,step,epoch,train_loss,lr,\
effective_lr,grad_norm,wall_seconds,eval_loss,eval_metric";

/// The curve columns after the cell's identifying prefix.
pub const CURVE_COLUMNS: &str =
    "step,epoch,train_loss,lr,effective_lr,grad_norm,wall_seconds,eval_loss,eval_metric";

/// Writes curve points as CSV rows, each starting with `prefix` (empty: no prefix column).
pub fn write_curve_rows(
    out: &mut dyn Write,
    prefix: &str,
    curve: &[CurvePointRow],
) -> std::io::Result<()> {
    let sep = if prefix.is_empty() { "" } else { "," };
    for p in curve {
        writeln!(
            out,
            "{prefix}{sep}{},{},{},{},{},{},{},{},{}",
            p.step,
            p.epoch,
            p.train_loss,
            p.lr,
            p.effective_lr,
            p.grad_norm,
            p.wall_seconds,
            opt(p.eval_loss),
            opt(p.eval_metric),
        )?;
    }
    Ok(())
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn opt_text(v: &Option<String>) -> String {
    v.as_deref().map(csv_text).unwrap_or_default()
}

/// Quotes a CSV field when it holds a separator, quote or newline (RFC 4180).
pub fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Serialize)]
struct JsonCell<'a> {
    #[serde(flatten)]
    cell: CellRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    curve: Option<&'a [CurvePointRow]>,
}

#[derive(Serialize)]
struct JsonStudy<'a> {
    lrctl_version: &'static str,
    study: &'a str,
    cells: Vec<JsonCell<'a>>,
}

/// Writes the study's current cells (superseded ones left out) in the given format.
pub fn export(
    store: &mut dyn Store,
    study: &StudyRow,
    table: Table,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), crate::StudyError> {
    let cells = store.cells(study.id, lrctl_store::CellSet::Current)?;
    let curves: Vec<Vec<CurvePointRow>> = if table == Table::Curves {
        cells
            .iter()
            .map(|c| store.curve(c.id))
            .collect::<lrctl_store::Result<_>>()?
    } else {
        Vec::new()
    };
    match format {
        Format::Json => {
            let doc = JsonStudy {
                lrctl_version: env!("CARGO_PKG_VERSION"),
                study: &study.name,
                cells: cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| JsonCell {
                        cell: CellRecord::new(&study.name, c),
                        curve: curves.get(i).map(Vec::as_slice),
                    })
                    .collect(),
            };
            serde_json::to_writer_pretty(&mut *out, &doc).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Csv if table == Table::Cells => {
            writeln!(out, "{}", CellRecord::HEADER)?;
            for c in &cells {
                writeln!(out, "{}", CellRecord::new(&study.name, c).csv_row())?;
            }
        }
        Format::Csv => {
            writeln!(out, "{CURVE_HEADER}")?;
            for (c, curve) in cells.iter().zip(&curves) {
                let prefix = format!(
                    "{},{},{},{},{}",
                    csv_text(&study.name),
                    c.id.0,
                    csv_text(&c.task),
                    csv_text(&c.method),
                    c.seed
                );
                write_curve_rows(out, &prefix, curve)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn header_matches_the_record() {
        let fields = serde_json::to_value(CellRecord {
            study: String::new(),
            cell_id: 0,
            task: String::new(),
            method: String::new(),
            seed: 0,
            config_hash: String::new(),
            state: String::new(),
            outcome: None,
            reason: None,
            steps: None,
            total_steps: None,
            n_params: None,
            final_train_loss: None,
            last_batch_loss: None,
            train_loss: None,
            train_metric: None,
            validation_loss: None,
            validation_metric: None,
            test_loss: None,
            test_metric: None,
            metric_name: None,
            seconds: None,
            eval_seconds: None,
            cost_steps: None,
            cost_seconds: None,
            worker: None,
            attempts: 0,
            created_at: String::new(),
            finished_at: None,
        })
        .unwrap();
        let keys: Vec<&str> = fields
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let header: Vec<&str> = CellRecord::HEADER.split(',').collect();
        let mut a = keys.clone();
        let mut b = header.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}
