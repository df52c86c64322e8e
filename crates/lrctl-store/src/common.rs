//! Rules every back end applies the same way: input checks, and the explanation of a write
//! that a lease no longer covers.

use lrctl_record::{Kind, Value};

use crate::error::{Result, StoreError};
use crate::types::{
    CellBrief, CellId, CellResult, CellRow, CellState, ClaimedCell, Lease, Outcome, Progress,
    Provenance, ProvenanceId, ProvenanceRow, ResultBrief, StudyId, StudyRow, Timestamp, TrialRow,
};

/// One step of a back end's schema history. Applied in order, each in the same transaction as
/// the version bump, so a store is always at exactly one version; both back ends keep the same
/// version numbers for the same tables and semantics.
pub(crate) struct Migration {
    /// The version the store has after this step.
    pub version: u32,
    /// SQL run as one batch.
    pub sql: &'static str,
}

/// What the `created_by` meta row of a new store says.
pub(crate) fn created_by() -> String {
    format!("lrctl-store {}", env!("CARGO_PKG_VERSION"))
}

/// Both back ends' migration lists end at [`crate::SCHEMA_VERSION`] and are numbered 1, 2, …
#[cfg(test)]
pub(crate) fn assert_numbered(migrations: &[Migration]) {
    assert_eq!(
        migrations.last().map(|m| m.version),
        Some(crate::SCHEMA_VERSION)
    );
    for (i, m) in migrations.iter().enumerate() {
        assert_eq!(
            m.version as usize,
            i + 1,
            "migrations are numbered 1, 2, … in order"
        );
    }
}

/// The columns of a cell that are not its result, in the order every back end selects them.
const CELL_HEAD: [&str; 17] = [
    "id",
    "study_id",
    "task",
    "method",
    "seed",
    "config_hash",
    "task_config",
    "method_config",
    "state",
    "worker",
    "attempts",
    "created_at",
    "claimed_at",
    "heartbeat_at",
    "lease_expires_at",
    "superseded_at",
    "finished_at",
];

/// The columns of a cell row in the order every back end selects them: [`CELL_HEAD`], then
/// the result's columns as `lrctl-record` defines them ([`CellResult::COLUMNS`]). Displays as
/// the SQL column list.
pub(crate) const CELL_COLUMNS: CellColumns = CellColumns;

/// See [`CELL_COLUMNS`].
pub(crate) struct CellColumns;

impl CellColumns {
    /// The column names, in select order.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        CELL_HEAD
            .iter()
            .chain(CellResult::COLUMNS.iter())
            .copied()
            .collect()
    }
}

impl std::fmt::Display for CellColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

/// `outcome = ?5, reason = ?6, …` (`first` = 5, `marker` = `?`; PostgreSQL: `$`): the SQL
/// assignments that write a result, its values bound from [`CellResult::values`] in order.
pub(crate) fn result_assignments(marker: char, first: usize) -> String {
    CellResult::COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = {marker}{}", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `outcome = NULL, reason = NULL, …`: an SQL assignment that deletes a cell's result.
pub(crate) fn result_cleared() -> String {
    CellResult::COLUMNS
        .iter()
        .map(|c| format!("{c} = NULL"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a study row.
pub(crate) const STUDY_COLUMNS: &str = "id, name, spec, created_at, updated_at";

pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is larger than 2^63-1")))
}

pub(crate) fn check_json(what: &str, text: &str) -> Result<()> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| StoreError::Invalid(format!("{what} is not valid JSON: {e}")))
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid("a study needs a non-empty name".into()));
    }
    Ok(())
}

pub(crate) fn check_worker(worker: &str) -> Result<()> {
    if worker.is_empty() {
        return Err(StoreError::Invalid("a worker needs a non-empty id".into()));
    }
    Ok(())
}

/// Checks what `finish` is about to write.
pub(crate) fn check_result(cell: CellId, result: &CellResult) -> Result<()> {
    check_json(&format!("the result of cell {cell}"), &result.result_json)?;
    for (what, n) in [
        ("steps", result.steps),
        ("total_steps", result.total_steps),
        ("n_params", result.n_params),
        ("cost_steps", result.cost_steps),
    ] {
        to_i64(what, n)?;
    }
    for (what, x) in [
        ("seconds", result.seconds),
        ("eval_seconds", result.eval_seconds),
        ("cost_seconds", result.cost_seconds),
    ] {
        if !x.is_finite() {
            return Err(StoreError::Invalid(format!(
                "cell {cell}: {what} is {x}, not a finite number"
            )));
        }
    }
    Ok(())
}

/// Explains why a write guarded by `lease` changed nothing, from the cell's current
/// `(state, worker, attempts)` (`None`: no such cell).
pub(crate) fn lease_error(
    location: &str,
    lease: &Lease,
    row: Option<(String, Option<String>, u32)>,
) -> StoreError {
    let lost = |now: String| StoreError::LeaseLost {
        cell: lease.cell,
        worker: lease.worker.clone(),
        attempt: lease.attempt,
        now,
    };
    match row {
        None => StoreError::UnknownCell {
            location: location.to_string(),
            cell: lease.cell,
        },
        Some((state, worker, attempts)) => match state.as_str() {
            "done" => StoreError::AlreadyFinished {
                cell: lease.cell,
                worker: worker.unwrap_or_else(|| "an unknown worker".into()),
            },
            "running" => lost(format!(
                "now held by {}, attempt {attempts}",
                worker.unwrap_or_default()
            )),
            _ => lost("it was released or requeued".into()),
        },
    }
}

/// Adds `n` cells in `state` with `outcome` to a progress count.
pub(crate) fn count(p: &mut Progress, state: &str, outcome: Option<&str>, n: usize) {
    match state {
        "queued" => p.queued += n,
        "running" => p.running += n,
        _ => {
            p.done += n;
            match outcome {
                Some("finished") => p.finished += n,
                Some("diverged") => p.diverged += n,
                _ => p.failed += n,
            }
        }
    }
}

/// Checks a trial before it is stored.
pub(crate) fn check_trial(t: &crate::types::TrialRow) -> Result<()> {
    check_json(
        &format!("the configuration of trial {}", t.trial),
        &t.config_json,
    )?;
    if t.tuning_key.is_empty() {
        return Err(StoreError::Invalid("a trial needs a tuning key".into()));
    }
    if !t.seconds.is_finite() {
        return Err(StoreError::Invalid(format!(
            "trial {}: seconds is {}, not a finite number",
            t.trial, t.seconds
        )));
    }
    Ok(())
}

/// The columns of a trial row, in the order both back ends select them.
pub(crate) const TRIAL_COLUMNS: &str =
    "tuning_key, trial, config, budget, score, outcome, steps, seconds";

/// Typed access to the columns of one stored row, for both back ends: `Ok(None)` for NULL,
/// `Err(problem)` for a value of another type.
pub(crate) trait RawRow {
    fn int(&self, i: usize) -> std::result::Result<Option<i64>, String>;
    fn real(&self, i: usize) -> std::result::Result<Option<f64>, String>;
    fn text(&self, i: usize) -> std::result::Result<Option<String>, String>;
}

/// Reads a row's columns into lrctl's types; every failure is a [`StoreError::Malformed`]
/// naming the row and the column, never a panic.
pub(crate) struct RowReader<'a, R: RawRow> {
    row: &'a R,
    location: &'a str,
    /// The row in words, e.g. `cell 17`.
    what: String,
    /// Column names, in select order.
    columns: Vec<&'static str>,
}

/// `name(i)`: the column read by `opt`, which must not be NULL.
macro_rules! required {
    ($($name:ident = $opt:ident -> $t:ty;)*) => {$(
        pub(crate) fn $name(&self, i: usize) -> Result<$t> {
            let v = self.$opt(i)?;
            self.need(i, v)
        }
    )*};
}

impl<'a, R: RawRow> RowReader<'a, R> {
    pub(crate) fn new(row: &'a R, location: &'a str, what: &str, columns: &'static str) -> Self {
        Self::with_names(
            row,
            location,
            what,
            columns.split(',').map(str::trim).collect(),
        )
    }

    pub(crate) fn with_names(
        row: &'a R,
        location: &'a str,
        what: &str,
        columns: Vec<&'static str>,
    ) -> Self {
        RowReader {
            row,
            location,
            what: what.to_string(),
            columns,
        }
    }

    /// Column `i` as a value of `kind`.
    pub(crate) fn value(&self, i: usize, kind: Kind) -> Result<Value> {
        Ok(match kind {
            Kind::Int => Value::Int(self.opt_int(i)?),
            Kind::Real => Value::Real(self.opt_real(i)?),
            Kind::Text => Value::Text(self.opt_text(i)?),
        })
    }

    /// Names the row once its identifying columns are read.
    pub(crate) fn named(&mut self, what: String) {
        self.what = what;
    }

    pub(crate) fn error(&self, i: usize, problem: impl Into<String>) -> StoreError {
        StoreError::Malformed {
            location: self.location.to_string(),
            row: self.what.clone(),
            column: self.columns.get(i).copied().unwrap_or("?").to_string(),
            problem: problem.into(),
        }
    }

    fn need<T>(&self, i: usize, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| self.error(i, "is NULL, but a value is required"))
    }

    required! {
        int = opt_int -> i64;
        u64 = opt_u64 -> u64;
        real = opt_real -> f64;
        text = opt_text -> String;
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.row.int(i).map_err(|p| self.error(i, p))
    }

    pub(crate) fn opt_u64(&self, i: usize) -> Result<Option<u64>> {
        self.opt_int(i)?
            .map(|v| {
                u64::try_from(v)
                    .map_err(|_| self.error(i, format!("is {v}, but it cannot be negative")))
            })
            .transpose()
    }

    pub(crate) fn u32(&self, i: usize) -> Result<u32> {
        let v = self.int(i)?;
        u32::try_from(v).map_err(|_| self.error(i, format!("is {v}, not a count (0 to 2^32-1)")))
    }

    pub(crate) fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        self.row.real(i).map_err(|p| self.error(i, p))
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.row.text(i).map_err(|p| self.error(i, p))
    }

    /// A text column that must hold JSON (lrctl only ever writes valid JSON there).
    pub(crate) fn json(&self, i: usize) -> Result<String> {
        let v = self.text(i)?;
        serde_json::from_str::<serde::de::IgnoredAny>(&v)
            .map_err(|e| self.error(i, format!("is not valid JSON ({e})")))?;
        Ok(v)
    }

    pub(crate) fn timestamp(&self, i: usize) -> Result<Timestamp> {
        self.int(i).map(Timestamp)
    }

    pub(crate) fn opt_timestamp(&self, i: usize) -> Result<Option<Timestamp>> {
        Ok(self.opt_int(i)?.map(Timestamp))
    }

    pub(crate) fn state(&self, i: usize) -> Result<CellState> {
        let s = self.text(i)?;
        CellState::parse(&s)
            .ok_or_else(|| self.error(i, format!("is {s:?}, not one of queued, running, done")))
    }

    pub(crate) fn outcome(&self, i: usize) -> Result<Outcome> {
        let s = self.text(i)?;
        Outcome::parse(&s).ok_or_else(|| {
            self.error(
                i,
                format!("is {s:?}, not one of finished, diverged, failed"),
            )
        })
    }
}

/// A cell row selected with [`CELL_COLUMNS`].
pub(crate) fn decode_cell(row: &impl RawRow, location: &str) -> Result<CellRow> {
    let mut r = RowReader::with_names(row, location, "a cell row", CELL_COLUMNS.names());
    let id = CellId(r.int(0)?);
    r.named(format!("cell {id}"));
    let state = r.state(8)?;
    let first = CELL_HEAD.len();
    let result = match r.opt_text(first)? {
        None => None,
        Some(_) => {
            let kinds = CellResult::kinds();
            let mut values: Vec<Value> = Vec::with_capacity(kinds.len());
            for (j, kind) in kinds.into_iter().enumerate() {
                values.push(r.value(first + j, kind)?);
            }
            let values: [Value; 20] = values.try_into().expect("one value per column");
            Some(CellResult::from_values(values).map_err(|e| {
                let at = CELL_HEAD.len()
                    + CellResult::COLUMNS
                        .iter()
                        .position(|c| *c == e.column)
                        .unwrap_or(0);
                r.error(at, e.problem)
            })?)
        }
    };
    if (state == CellState::Done) != result.is_some() {
        return Err(r.error(
            CELL_HEAD.len(),
            format!("the cell is {} but the outcome is {}", state.as_str(), {
                if result.is_some() { "set" } else { "NULL" }
            }),
        ));
    }
    Ok(CellRow {
        id,
        study: StudyId(r.int(1)?),
        task: r.text(2)?,
        method: r.text(3)?,
        seed: r.u64(4)?,
        config_hash: r.text(5)?,
        task_config: r.json(6)?,
        method_config: r.json(7)?,
        state,
        worker: r.opt_text(9)?,
        attempts: r.u32(10)?,
        created_at: r.timestamp(11)?,
        claimed_at: r.opt_timestamp(12)?,
        heartbeat_at: r.opt_timestamp(13)?,
        lease_expires_at: r.opt_timestamp(14)?,
        superseded_at: r.opt_timestamp(15)?,
        finished_at: r.opt_timestamp(16)?,
        result,
    })
}

/// The columns of a [`CellBrief`], in the order [`decode_brief`] reads them: its cell columns,
/// then [`ResultBrief::COLUMNS`].
pub(crate) fn brief_columns() -> Vec<&'static str> {
    [
        "id",
        "task",
        "method",
        "seed",
        "config_hash",
        "state",
        "worker",
        "attempts",
        "created_at",
        "heartbeat_at",
        "lease_expires_at",
    ]
    .into_iter()
    .chain(ResultBrief::COLUMNS)
    .collect()
}

/// A cell brief selected with [`brief_columns`], checked as [`decode_cell`] checks the same
/// columns.
pub(crate) fn decode_brief(row: &impl RawRow, location: &str) -> Result<CellBrief> {
    let mut r = RowReader::with_names(row, location, "a cell row", brief_columns());
    let id = CellId(r.int(0)?);
    r.named(format!("cell {id}"));
    let state = r.state(5)?;
    const FIRST: usize = 11;
    let result = match r.opt_text(FIRST)? {
        None => None,
        Some(_) => Some(ResultBrief {
            outcome: r.outcome(FIRST)?,
            steps: r.u64(FIRST + 1)?,
            total_steps: r.u64(FIRST + 2)?,
            final_train_loss: r.opt_real(FIRST + 3)?,
            validation_metric: r.opt_real(FIRST + 4)?,
            test_metric: r.opt_real(FIRST + 5)?,
            cost_seconds: r.real(FIRST + 6)?,
        }),
    };
    if (state == CellState::Done) != result.is_some() {
        return Err(r.error(
            FIRST,
            format!("the cell is {} but the outcome is {}", state.as_str(), {
                if result.is_some() { "set" } else { "NULL" }
            }),
        ));
    }
    Ok(CellBrief {
        id,
        task: r.text(1)?,
        method: r.text(2)?,
        seed: r.u64(3)?,
        config_hash: r.text(4)?,
        state,
        worker: r.opt_text(6)?,
        attempts: r.u32(7)?,
        created_at: r.timestamp(8)?,
        heartbeat_at: r.opt_timestamp(9)?,
        lease_expires_at: r.opt_timestamp(10)?,
        result,
    })
}

/// A study row selected with [`STUDY_COLUMNS`].
pub(crate) fn decode_study(row: &impl RawRow, location: &str) -> Result<StudyRow> {
    let mut r = RowReader::new(row, location, "a study row", STUDY_COLUMNS);
    let id = StudyId(r.int(0)?);
    r.named(format!("study {id}"));
    let name = r.text(1)?;
    r.named(format!("study {id} ({name:?})"));
    Ok(StudyRow {
        id,
        name,
        spec_json: r.json(2)?,
        created_at: r.timestamp(3)?,
        updated_at: r.timestamp(4)?,
    })
}

/// The columns of a partial curve's header, as [`decode_partial`] reads them (from
/// `partial_curve p`).
pub(crate) const PARTIAL_COLUMNS: &str = "p.cell_id, p.attempt, p.updated_at, p.n_points";

/// A partial curve's header selected with [`PARTIAL_COLUMNS`].
pub(crate) fn decode_partial(
    row: &impl RawRow,
    location: &str,
) -> Result<crate::types::PartialCurveInfo> {
    let mut r = RowReader::new(
        row,
        location,
        "a partial curve row",
        "cell_id, attempt, updated_at, n_points",
    );
    let cell = CellId(r.int(0)?);
    r.named(format!("partial curve of cell {cell}"));
    Ok(crate::types::PartialCurveInfo {
        cell,
        attempt: r.u32(1)?,
        updated_at: r.timestamp(2)?,
        n_points: r.u64(3)?,
    })
}

/// A trial row selected with [`TRIAL_COLUMNS`].
pub(crate) fn decode_trial(row: &impl RawRow, location: &str) -> Result<TrialRow> {
    let mut r = RowReader::new(row, location, "a trial row", TRIAL_COLUMNS);
    let tuning_key = r.text(0)?;
    let trial = r.u64(1)?;
    r.named(format!("trial {trial} of tuning run {tuning_key}"));
    Ok(TrialRow {
        tuning_key,
        trial,
        config_json: r.json(2)?,
        budget: r.u64(3)?,
        score: r.opt_real(4)?,
        outcome: r.outcome(5)?,
        steps: r.u64(6)?,
        seconds: r.real(7)?,
    })
}

/// The columns of a provenance row, in the order both back ends select them.
pub(crate) const PROVENANCE_COLUMNS: &str =
    "id, lrctl_version, git_commit, config_hash, machine, backend, created_at";

/// A provenance row selected with [`PROVENANCE_COLUMNS`].
pub(crate) fn decode_provenance(row: &impl RawRow, location: &str) -> Result<ProvenanceRow> {
    let mut r = RowReader::new(row, location, "a provenance row", PROVENANCE_COLUMNS);
    let id = ProvenanceId(r.int(0)?);
    r.named(format!("provenance {id}"));
    Ok(ProvenanceRow {
        id,
        provenance: Provenance {
            lrctl_version: r.text(1)?,
            git_commit: r.opt_text(2)?,
            config_hash: r.text(3)?,
            machine: r.text(4)?,
            backend: r.text(5)?,
        },
        created_at: r.timestamp(6)?,
    })
}

/// The columns of a claimed cell, in the order both back ends return them.
pub(crate) const CLAIMED_COLUMNS: &str = "id, study_id, task, method, seed, config_hash, \
    task_config, method_config, attempts, lease_expires_at";

/// A claimed cell returned with [`CLAIMED_COLUMNS`].
pub(crate) fn decode_claimed(
    row: &impl RawRow,
    location: &str,
    worker: &str,
) -> Result<ClaimedCell> {
    let mut r = RowReader::new(row, location, "a claimed cell", CLAIMED_COLUMNS);
    let id = CellId(r.int(0)?);
    r.named(format!("cell {id}"));
    Ok(ClaimedCell {
        lease: Lease {
            cell: id,
            worker: worker.to_string(),
            attempt: r.u32(8)?,
            expires_at: r.timestamp(9)?,
        },
        study: StudyId(r.int(1)?),
        task: r.text(2)?,
        method: r.text(3)?,
        seed: r.u64(4)?,
        config_hash: r.text(5)?,
        task_config: r.json(6)?,
        method_config: r.json(7)?,
    })
}

#[cfg(test)]
mod columns {
    use super::*;

    #[test]
    fn the_result_columns_end_the_cell_columns() {
        let cells = CELL_COLUMNS.names();
        assert_eq!(cells[CELL_HEAD.len()..], CellResult::COLUMNS);
        assert!(
            CELL_COLUMNS
                .to_string()
                .ends_with("result_json, provenance_id")
        );
        assert_eq!(
            result_assignments('$', 4).split(", ").next(),
            Some("outcome = $4")
        );
    }
}
