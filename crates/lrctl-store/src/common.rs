//! Rules every back end applies the same way: input checks, and the explanation of a write
//! that a lease no longer covers.

use crate::error::{Result, StoreError};
use crate::types::{CellId, CellResult, Lease, Progress};

/// One step of a back end's schema history. Applied in order, each in the same transaction as
/// the version bump, so a store is always at exactly one version; both back ends keep the same
/// version numbers for the same tables and semantics.
pub(crate) struct Migration {
    /// The version the store has after this step.
    pub version: u32,
    /// SQL run as one batch.
    pub sql: &'static str,
}

/// The columns of a cell row in the order every back end selects them.
pub(crate) const CELL_COLUMNS: &str = "id, study_id, task, method, seed, config_hash, task_config, \
    method_config, state, worker, attempts, created_at, claimed_at, heartbeat_at, \
    lease_expires_at, superseded_at, finished_at, outcome, reason, steps, total_steps, n_params, \
    final_train_loss, last_batch_loss, train_loss, train_metric, validation_loss, \
    validation_metric, test_loss, test_metric, metric_name, seconds, eval_seconds, cost_steps, \
    cost_seconds, result_json, provenance_id";

/// The columns of a study row.
pub(crate) const STUDY_COLUMNS: &str = "id, name, spec, created_at, updated_at";

pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} is larger than 2^63-1")))
}

/// NaN has no SQL representation in every engine: store it as NULL (absent).
pub(crate) fn real(x: Option<f64>) -> Option<f64> {
    x.filter(|v| !v.is_nan())
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
