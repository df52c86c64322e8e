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

use lrctl_record::Value;
use lrctl_store::{CellResult, CellRow, CurvePointRow, Store, StudyRow};
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

/// The flat record of one cell, in export column order: who it is and where it stands, the
/// result's columns as `lrctl-record` defines them ([`CellResult::COLUMNS`], the JSON and
/// provenance left out), then its history. Empty (JSON `null`) while the cell has no result.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRecord(Vec<(&'static str, Value)>);

impl CellRecord {
    /// Flattens a stored cell.
    pub fn new(study: &str, c: &CellRow) -> Self {
        let text = |s: &str| Value::Text(Some(s.to_string()));
        let int = |x: u64| Value::Int(i64::try_from(x).ok());
        let mut fields = vec![
            ("study", text(study)),
            ("cell_id", Value::Int(Some(c.id.0))),
            ("task", text(&c.task)),
            ("method", text(&c.method)),
            ("seed", int(c.seed)),
            ("config_hash", text(&c.config_hash)),
            ("state", text(c.state.as_str())),
        ];
        let result: Vec<(&'static str, Value)> = match &c.result {
            Some(r) => r.columns().into_iter().take(CellResult::SHOWN).collect(),
            None => CellResult::COLUMNS
                .iter()
                .zip(CellResult::kinds())
                .take(CellResult::SHOWN)
                .map(|(name, kind)| (*name, empty(kind)))
                .collect(),
        };
        fields.extend(result);
        fields.extend([
            ("worker", Value::Text(c.worker.clone())),
            ("attempts", Value::Int(Some(i64::from(c.attempts)))),
            ("created_at", text(&c.created_at.to_string())),
            (
                "finished_at",
                Value::Text(c.finished_at.map(|t| t.to_string())),
            ),
        ]);
        CellRecord(fields)
    }

    /// The column names, in order.
    pub fn header() -> Vec<&'static str> {
        let mut h = vec![
            "study",
            "cell_id",
            "task",
            "method",
            "seed",
            "config_hash",
            "state",
        ];
        h.extend(CellResult::COLUMNS.iter().take(CellResult::SHOWN));
        h.extend(["worker", "attempts", "created_at", "finished_at"]);
        h
    }

    /// The value of a column.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == column).map(|(_, v)| v)
    }

    fn csv_row(&self) -> String {
        self.0
            .iter()
            .map(|(_, v)| match v {
                Value::Int(x) => opt(*x),
                Value::Real(x) => opt(*x),
                Value::Text(x) => opt_text(x),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A column without a value, of its kind.
fn empty(kind: lrctl_record::Kind) -> Value {
    match kind {
        lrctl_record::Kind::Int => Value::Int(None),
        lrctl_record::Kind::Real => Value::Real(None),
        lrctl_record::Kind::Text => Value::Text(None),
    }
}

impl Serialize for CellRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, v) in &self.0 {
            match v {
                Value::Int(x) => map.serialize_entry(name, x)?,
                Value::Real(x) => map.serialize_entry(name, x)?,
                Value::Text(x) => map.serialize_entry(name, x)?,
            }
        }
        map.end()
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
        let [epoch, train_loss, lr, effective_lr, grad_norm, wall_seconds] = p.reals();
        writeln!(
            out,
            "{prefix}{sep}{},{epoch},{train_loss},{lr},{effective_lr},{grad_norm},{wall_seconds},{},{}",
            p.step,
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
            writeln!(out, "{}", CellRecord::header().join(","))?;
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
        let row = CellRow {
            id: lrctl_store::CellId(1),
            study: lrctl_store::StudyId(1),
            task: "t".into(),
            method: "m".into(),
            seed: 0,
            config_hash: "h".into(),
            task_config: "{}".into(),
            method_config: "{}".into(),
            state: lrctl_store::CellState::Queued,
            worker: None,
            attempts: 0,
            created_at: lrctl_store::Timestamp(0),
            claimed_at: None,
            heartbeat_at: None,
            lease_expires_at: None,
            superseded_at: None,
            finished_at: None,
            result: None,
        };
        let queued = CellRecord::new("s", &row);
        let names: Vec<&str> = queued.0.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, CellRecord::header());
        let done = CellRecord::new(
            "s",
            &CellRow {
                result: Some(CellResult::failed("x".into())),
                state: lrctl_store::CellState::Done,
                ..row
            },
        );
        let names: Vec<&str> = done.0.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, CellRecord::header());
        assert_eq!(
            done.get("outcome"),
            Some(&Value::Text(Some("failed".into())))
        );
        let json = serde_json::to_value(&done).unwrap();
        assert_eq!(json["reason"], "x");
        assert!(json["test_metric"].is_null());
    }
}
