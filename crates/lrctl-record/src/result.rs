//! The result of a cell and its columns.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Outcome;

/// Identifies a provenance record (which lrctl build on which machine produced a result)
/// within one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProvenanceId(pub i64);

impl fmt::Display for ProvenanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The result of a cell, written once when it is done.
///
/// Optional numbers are absent when not measured (an evaluation over zero examples, a run
/// that diverged before its final evaluations). A NaN is stored as absent (SQL has no NaN
/// everywhere); the full record, as the engine serialised it, is in `result_json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// How the run ended.
    pub outcome: Outcome,
    /// Why it diverged or failed.
    pub reason: Option<String>,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Budget in steps.
    pub total_steps: u64,
    /// Trainable scalars.
    pub n_params: u64,
    /// Mean mini-batch loss over the last curve interval.
    pub final_train_loss: Option<f64>,
    /// Loss of the last mini-batch.
    pub last_batch_loss: Option<f64>,
    /// Final loss on the training split.
    pub train_loss: Option<f64>,
    /// Final primary metric on the training split.
    pub train_metric: Option<f64>,
    /// Final loss on the validation split.
    pub validation_loss: Option<f64>,
    /// Final primary metric on the validation split.
    pub validation_metric: Option<f64>,
    /// Final loss on the test split.
    pub test_loss: Option<f64>,
    /// Final primary metric on the test split.
    pub test_metric: Option<f64>,
    /// Name of the primary metric (`accuracy`, `bits_per_byte`).
    pub metric_name: Option<String>,
    /// Wall-clock seconds of the run, evaluations included.
    pub seconds: f64,
    /// Seconds spent evaluating.
    pub eval_seconds: f64,
    /// Steps charged to this cell, tuning and choosing included (equals `steps` for plain
    /// methods).
    pub cost_steps: u64,
    /// Seconds charged to this cell, tuning and choosing included.
    pub cost_seconds: f64,
    /// The full result as JSON text (everything the columns above do not hold).
    pub result_json: String,
    /// Which lrctl build on which machine produced it.
    pub provenance: ProvenanceId,
}

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer.
    Int,
    /// A double.
    Real,
    /// Text.
    Text,
}

/// A column's value, typed even when absent (SQL drivers need the type of a NULL).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer column.
    Int(Option<i64>),
    /// A real column (NaN is stored as absent).
    Real(Option<f64>),
    /// A text column.
    Text(Option<String>),
}

impl Value {
    /// The column type.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) => Kind::Int,
            Value::Real(_) => Kind::Real,
            Value::Text(_) => Kind::Text,
        }
    }
}

/// A stored value that cannot be part of a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column `{column}` {problem}")]
pub struct ColumnError {
    /// The column.
    pub column: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

fn int(x: u64) -> Value {
    Value::Int(Some(i64::try_from(x).unwrap_or(i64::MAX)))
}

fn real(x: f64) -> Value {
    Value::Real(Some(x).filter(|v| !v.is_nan()))
}

fn opt_real(x: Option<f64>) -> Value {
    Value::Real(x.filter(|v| !v.is_nan()))
}

impl CellResult {
    /// The columns, in the order of [`CellResult::values`].
    pub const COLUMNS: [&'static str; 20] = [
        "outcome",
        "reason",
        "steps",
        "total_steps",
        "n_params",
        "final_train_loss",
        "last_batch_loss",
        "train_loss",
        "train_metric",
        "validation_loss",
        "validation_metric",
        "test_loss",
        "test_metric",
        "metric_name",
        "seconds",
        "eval_seconds",
        "cost_steps",
        "cost_seconds",
        "result_json",
        "provenance_id",
    ];

    /// The columns a table of results shows (everything but the JSON and the provenance).
    pub const SHOWN: usize = 18;

    /// The column values, in [`CellResult::COLUMNS`] order (each written next to its name in
    /// [`CellResult::columns`]).
    pub fn values(&self) -> [Value; 20] {
        self.columns().map(|(_, v)| v)
    }

    /// The columns with their values.
    pub fn columns(&self) -> [(&'static str, Value); 20] {
        [
            ("outcome", Value::Text(Some(self.outcome.as_str().into()))),
            ("reason", Value::Text(self.reason.clone())),
            ("steps", int(self.steps)),
            ("total_steps", int(self.total_steps)),
            ("n_params", int(self.n_params)),
            ("final_train_loss", opt_real(self.final_train_loss)),
            ("last_batch_loss", opt_real(self.last_batch_loss)),
            ("train_loss", opt_real(self.train_loss)),
            ("train_metric", opt_real(self.train_metric)),
            ("validation_loss", opt_real(self.validation_loss)),
            ("validation_metric", opt_real(self.validation_metric)),
            ("test_loss", opt_real(self.test_loss)),
            ("test_metric", opt_real(self.test_metric)),
            ("metric_name", Value::Text(self.metric_name.clone())),
            ("seconds", real(self.seconds)),
            ("eval_seconds", real(self.eval_seconds)),
            ("cost_steps", int(self.cost_steps)),
            ("cost_seconds", real(self.cost_seconds)),
            ("result_json", Value::Text(Some(self.result_json.clone()))),
            ("provenance_id", Value::Int(Some(self.provenance.0))),
        ]
    }

    /// The type of each column, in [`CellResult::COLUMNS`] order.
    pub fn kinds() -> [Kind; 20] {
        CellResult::placeholder().values().map(|v| v.kind())
    }

    /// A result with every column at its zero value (only its column types matter).
    fn placeholder() -> CellResult {
        CellResult::failed(String::new())
    }

    /// The result of a cell that could not run, with the reason.
    pub fn failed(reason: String) -> CellResult {
        CellResult {
            outcome: Outcome::Failed,
            reason: Some(reason),
            steps: 0,
            total_steps: 0,
            n_params: 0,
            final_train_loss: None,
            last_batch_loss: None,
            train_loss: None,
            train_metric: None,
            validation_loss: None,
            validation_metric: None,
            test_loss: None,
            test_metric: None,
            metric_name: None,
            seconds: 0.0,
            eval_seconds: 0.0,
            cost_steps: 0,
            cost_seconds: 0.0,
            result_json: "{}".into(),
            provenance: ProvenanceId(0),
        }
    }

    /// Reads a result back from its column values, in [`CellResult::COLUMNS`] order, checking
    /// what SQL cannot: counts are not negative, required values are present, the outcome is
    /// one lrctl writes and the JSON parses.
    pub fn from_values(values: [Value; 20]) -> Result<CellResult, ColumnError> {
        let mut v = Reader {
            values: values.into_iter(),
            at: 0,
        };
        Ok(CellResult {
            outcome: {
                let s = v.text()?;
                Outcome::parse(&s).ok_or_else(|| {
                    v.error(format!("is {s:?}, not one of finished, diverged, failed"))
                })?
            },
            reason: v.opt_text()?,
            steps: v.count()?,
            total_steps: v.count()?,
            n_params: v.count()?,
            final_train_loss: v.opt_real()?,
            last_batch_loss: v.opt_real()?,
            train_loss: v.opt_real()?,
            train_metric: v.opt_real()?,
            validation_loss: v.opt_real()?,
            validation_metric: v.opt_real()?,
            test_loss: v.opt_real()?,
            test_metric: v.opt_real()?,
            metric_name: v.opt_text()?,
            seconds: v.real()?,
            eval_seconds: v.real()?,
            cost_steps: v.count()?,
            cost_seconds: v.real()?,
            result_json: {
                let s = v.text()?;
                serde_json::from_str::<serde::de::IgnoredAny>(&s)
                    .map_err(|e| v.error(format!("is not valid JSON ({e})")))?;
                s
            },
            provenance: ProvenanceId(v.int()?),
        })
    }
}

/// Reads column values in order, naming the column in errors.
struct Reader {
    values: std::array::IntoIter<Value, 20>,
    at: usize,
}

impl Reader {
    fn next(&mut self) -> (Value, usize) {
        let at = self.at;
        self.at += 1;
        (self.values.next().expect("20 values"), at)
    }

    fn error(&self, problem: String) -> ColumnError {
        ColumnError {
            column: CellResult::COLUMNS[self.at - 1],
            problem,
        }
    }

    fn kind_error(&self, want: Kind, got: &Value) -> ColumnError {
        self.error(format!(
            "holds a {:?} value where a {want:?} belongs",
            got.kind()
        ))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, ColumnError> {
        match self.next() {
            (Value::Int(x), _) => Ok(x),
            (other, _) => Err(self.kind_error(Kind::Int, &other)),
        }
    }

    fn int(&mut self) -> Result<i64, ColumnError> {
        self.opt_int()?
            .ok_or_else(|| self.error("is NULL, but a value is required".into()))
    }

    fn count(&mut self) -> Result<u64, ColumnError> {
        let x = self.int()?;
        u64::try_from(x).map_err(|_| self.error(format!("is {x}, not a count")))
    }

    fn opt_real(&mut self) -> Result<Option<f64>, ColumnError> {
        match self.next() {
            (Value::Real(x), _) => Ok(x),
            // An integer where a real belongs (SQLite stores whole reals as integers when it
            // can): the same number.
            (Value::Int(x), _) => Ok(x.map(|i| i as f64)),
            (other, _) => Err(self.kind_error(Kind::Real, &other)),
        }
    }

    fn real(&mut self) -> Result<f64, ColumnError> {
        self.opt_real()?
            .ok_or_else(|| self.error("is NULL, but a value is required".into()))
    }

    fn opt_text(&mut self) -> Result<Option<String>, ColumnError> {
        match self.next() {
            (Value::Text(x), _) => Ok(x),
            (other, _) => Err(self.kind_error(Kind::Text, &other)),
        }
    }

    fn text(&mut self) -> Result<String, ColumnError> {
        self.opt_text()?
            .ok_or_else(|| self.error("is NULL, but a value is required".into()))
    }
}

/// One point of a stored learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePointRow {
    /// Optimizer steps taken.
    pub step: u64,
    /// Epochs taken (fractional).
    pub epoch: f64,
    /// Mean mini-batch training loss since the previous point.
    pub train_loss: f64,
    /// Learning rate the controller chose.
    pub lr: f64,
    /// Learning rate the optimizer actually used.
    pub effective_lr: f64,
    /// Global gradient norm at the last step.
    pub grad_norm: f64,
    /// Seconds since the run started.
    pub wall_seconds: f64,
    /// Validation loss when an evaluation ran at this point.
    pub eval_loss: Option<f64>,
    /// Validation primary metric when an evaluation ran at this point.
    pub eval_metric: Option<f64>,
}

impl CurvePointRow {
    /// The fields every point has after `step`, in column order: `epoch`, `train_loss`, `lr`,
    /// `effective_lr`, `grad_norm`, `wall_seconds` (the stored curve's and the CSV's layout).
    pub fn reals(&self) -> [f64; 6] {
        [
            self.epoch,
            self.train_loss,
            self.lr,
            self.effective_lr,
            self.grad_norm,
            self.wall_seconds,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CellResult {
        CellResult {
            outcome: Outcome::Diverged,
            reason: Some("the loss became NaN at step 7".into()),
            steps: 7,
            total_steps: 100,
            n_params: 15,
            final_train_loss: Some(1.25),
            last_batch_loss: Some(f64::NAN),
            train_loss: None,
            train_metric: None,
            validation_loss: Some(0.5),
            validation_metric: Some(0.75),
            test_loss: None,
            test_metric: None,
            metric_name: Some("accuracy".into()),
            seconds: 1.5,
            eval_seconds: 0.25,
            cost_steps: 77,
            cost_seconds: 3.0,
            result_json: "{\"a\":1}".into(),
            provenance: ProvenanceId(3),
        }
    }

    #[test]
    fn names_and_kinds_follow_the_values() {
        let columns = sample().columns();
        for (i, (name, _)) in columns.iter().enumerate() {
            assert_eq!(*name, CellResult::COLUMNS[i]);
        }
        assert_eq!(CellResult::kinds()[0], Kind::Text);
        assert_eq!(CellResult::kinds()[2], Kind::Int);
        assert_eq!(CellResult::kinds()[5], Kind::Real);
    }

    #[test]
    fn values_round_trip_with_nan_as_absent() {
        let r = sample();
        let back = CellResult::from_values(r.values()).unwrap();
        assert_eq!(back.last_batch_loss, None, "NaN is stored as absent");
        assert_eq!(
            CellResult {
                last_batch_loss: None,
                ..r
            },
            back
        );
    }

    #[test]
    fn damaged_values_name_their_column() {
        let mut v = sample().values();
        v[2] = Value::Int(Some(-3));
        let e = CellResult::from_values(v).unwrap_err();
        assert_eq!(e.column, "steps");
        let mut v = sample().values();
        v[0] = Value::Text(Some("ok".into()));
        assert_eq!(CellResult::from_values(v).unwrap_err().column, "outcome");
        let mut v = sample().values();
        v[18] = Value::Text(Some("{".into()));
        assert_eq!(
            CellResult::from_values(v).unwrap_err().column,
            "result_json"
        );
        let mut v = sample().values();
        v[14] = Value::Text(Some("x".into()));
        assert_eq!(CellResult::from_values(v).unwrap_err().column, "seconds");
    }
}
