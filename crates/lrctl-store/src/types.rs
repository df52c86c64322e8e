//! Plain data the store reads and writes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// Identifies a study within one store.
    StudyId
);
id_type!(
    /// Identifies a cell within one store.
    CellId
);
pub use lrctl_record::{CellResult, ProvenanceId};

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// Stored as an integer (cheap to compare for leases, the same in every back end); shown and
/// serialised as RFC 3339 (`2026-11-28T09:05:03.250Z`) so that exports open in pandas as dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time of this machine's clock.
    pub fn now() -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// This time plus a duration (saturating).
    pub fn plus(self, d: std::time::Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// Parses the RFC 3339 form written by [`Display`](fmt::Display): `YYYY-MM-DDTHH:MM:SS[.fff]Z`
    /// (a `+00:00` offset is accepted for `Z`).
    pub fn parse(s: &str) -> Result<Timestamp, StoreError> {
        let bad = || {
            StoreError::Invalid(format!(
                "{s:?} is not a UTC time like 2026-11-28T09:05:03.250Z"
            ))
        };
        let body = s
            .strip_suffix('Z')
            .or_else(|| s.strip_suffix("+00:00"))
            .ok_or_else(bad)?;
        let (date, time) = body.split_once(['T', ' ']).ok_or_else(bad)?;
        let mut d = date.splitn(3, '-');
        let year: i64 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let month: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let day: u32 = d.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) => (hms, frac),
            None => (time, ""),
        };
        let mut t = hms.splitn(3, ':');
        let hour: i64 = t.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let minute: i64 = t.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let second: i64 = t.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        // Milliseconds from the first three fractional digits, padded ("5" means 500 ms).
        let mut ms = 0i64;
        for i in 0..3 {
            ms = ms * 10 + frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        }
        let days = days_from_civil(year, month, day);
        Ok(Timestamp(
            ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms,
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400_000);
        let ms_of_day = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
        let (min, rest) = (rest / 60_000, rest % 60_000);
        let (s, ms) = (rest / 1000, rest % 1000);
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

// Howard Hinnant's algorithms (proleptic Gregorian calendar), to avoid a date-time dependency.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A study as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRow {
    /// Its id.
    pub id: StudyId,
    /// Unique name.
    pub name: String,
    /// The resolved study specification (JSON text), as last upserted.
    pub spec_json: String,
    /// When the study was first stored.
    pub created_at: Timestamp,
    /// When its specification last changed.
    pub updated_at: Timestamp,
}

/// A cell to add to a study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCell {
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Hash of the full resolved configuration (task + method + budget); the cell's identity
    /// together with task, method and seed.
    pub config_hash: String,
    /// Resolved task configuration (JSON text).
    pub task_config: String,
    /// Resolved method configuration (JSON text).
    pub method_config: String,
}

/// Which cells of a study [`Store::cells`](crate::Store::cells) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellSet {
    /// The current cells (what reports and progress count).
    Current,
    /// Every cell, those superseded by a changed configuration or retired included.
    All,
}

/// Which cell [`Store::claim`](crate::Store::claim) may take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimFilter {
    /// Only this study's cells (`None`: any study's).
    pub study: Option<StudyId>,
    /// Never these cells (ones this worker cannot train, e.g. its machine lacks their data).
    pub skip: Vec<CellId>,
}

impl ClaimFilter {
    /// Any current cell of any study.
    pub fn any() -> ClaimFilter {
        ClaimFilter::default()
    }

    /// Any current cell of `study`.
    pub fn study(study: StudyId) -> ClaimFilter {
        ClaimFilter {
            study: Some(study),
            skip: Vec::new(),
        }
    }
}

/// What [`Store::add_cells`](crate::Store::add_cells) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddReport {
    /// New cells inserted (queued).
    pub added: usize,
    /// Cells that were already present and current; left as they were.
    pub existing: usize,
    /// Cells that were present but superseded and became current again (their configuration
    /// was changed back); their old state and result are kept.
    pub reinstated: usize,
    /// Current cells that a cell with a different configuration hash replaced.
    pub superseded: usize,
}

/// Where a cell is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// Waiting for a worker.
    Queued,
    /// Leased by a worker.
    Running,
    /// Has a result (which may say the run diverged or failed).
    Done,
}

impl CellState {
    /// The name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            CellState::Queued => "queued",
            CellState::Running => "running",
            CellState::Done => "done",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<CellState> {
        Some(match s {
            "queued" => CellState::Queued,
            "running" => CellState::Running,
            "done" => CellState::Done,
            _ => return None,
        })
    }
}

pub use lrctl_record::Outcome;

/// A worker's hold on a cell. Finishing, renewing or releasing needs it.
///
/// `attempt` makes the lease unique even when two holders share a worker id (threads of one
/// process, or a pid reused after a crash): a stale holder can never write over a newer claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The cell held.
    pub cell: CellId,
    /// Worker id (see [`worker_id`](crate::worker_id)).
    pub worker: String,
    /// The cell's claim count when this lease was granted (1 for the first claim).
    pub attempt: u32,
    /// When the lease runs out unless renewed.
    pub expires_at: Timestamp,
}

/// A cell handed to a worker by [`Store::claim`](crate::Store::claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedCell {
    /// The lease to pass back when renewing, finishing or releasing.
    pub lease: Lease,
    /// Study the cell belongs to.
    pub study: StudyId,
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Configuration hash.
    pub config_hash: String,
    /// Resolved task configuration (JSON text).
    pub task_config: String,
    /// Resolved method configuration (JSON text).
    pub method_config: String,
}

/// A cell as stored, with its result once done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRow {
    /// Its id.
    pub id: CellId,
    /// Study it belongs to.
    pub study: StudyId,
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Configuration hash.
    pub config_hash: String,
    /// Resolved task configuration (JSON text).
    pub task_config: String,
    /// Resolved method configuration (JSON text).
    pub method_config: String,
    /// Queued, running or done.
    pub state: CellState,
    /// Worker holding it (running) or that wrote its result (done).
    pub worker: Option<String>,
    /// How many times it was claimed.
    pub attempts: u32,
    /// When it was added.
    pub created_at: Timestamp,
    /// When the current lease was granted.
    pub claimed_at: Option<Timestamp>,
    /// Last heartbeat of the current (or last) holder.
    pub heartbeat_at: Option<Timestamp>,
    /// When the current lease runs out.
    pub lease_expires_at: Option<Timestamp>,
    /// When a cell with another configuration hash replaced it; reports skip superseded cells.
    pub superseded_at: Option<Timestamp>,
    /// When the result was written.
    pub finished_at: Option<Timestamp>,
    /// The result, once done.
    pub result: Option<CellResult>,
}

/// A cell as a list of cells shows it ([`Store::cell_briefs`](crate::Store::cell_briefs)):
/// a [`CellRow`] without its configurations, lease history and the bulk of its result, so that
/// listing a study of tens of thousands of cells reads a few columns instead of every JSON text.
/// [`CellBrief::of`] says which fields come from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellBrief {
    /// Its id.
    pub id: CellId,
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Configuration hash (a snapshot keeps the newest configuration of each task × method).
    pub config_hash: String,
    /// Queued, running or done.
    pub state: CellState,
    /// Worker holding it (running) or that wrote its result (done).
    pub worker: Option<String>,
    /// How many times it was claimed.
    pub attempts: u32,
    /// When it was added.
    pub created_at: Timestamp,
    /// Last heartbeat of the current (or last) holder.
    pub heartbeat_at: Option<Timestamp>,
    /// When the current lease runs out.
    pub lease_expires_at: Option<Timestamp>,
    /// The result's headline numbers, once done.
    pub result: Option<ResultBrief>,
}

/// The numbers of a [`CellResult`] that a list of cells shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResultBrief {
    /// How the run ended.
    pub outcome: Outcome,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Budget in steps.
    pub total_steps: u64,
    /// Mean mini-batch loss over the last curve interval.
    pub final_train_loss: Option<f64>,
    /// Final primary metric on the validation split.
    pub validation_metric: Option<f64>,
    /// Final primary metric on the test split.
    pub test_metric: Option<f64>,
    /// Seconds charged to this cell, tuning and choosing included.
    pub cost_seconds: f64,
}

impl ResultBrief {
    /// The brief of a result.
    pub fn of(r: &CellResult) -> ResultBrief {
        ResultBrief {
            outcome: r.outcome,
            steps: r.steps,
            total_steps: r.total_steps,
            final_train_loss: r.final_train_loss,
            validation_metric: r.validation_metric,
            test_metric: r.test_metric,
            cost_seconds: r.cost_seconds,
        }
    }

    /// The result columns a brief reads, in [`ResultBrief::of`]'s order.
    pub(crate) const COLUMNS: [&'static str; 7] = [
        "outcome",
        "steps",
        "total_steps",
        "final_train_loss",
        "validation_metric",
        "test_metric",
        "cost_seconds",
    ];
}

impl CellBrief {
    /// The brief of a full row: what [`Store::cell_briefs`](crate::Store::cell_briefs) reads
    /// for it.
    pub fn of(c: &CellRow) -> CellBrief {
        CellBrief {
            id: c.id,
            task: c.task.clone(),
            method: c.method.clone(),
            seed: c.seed,
            config_hash: c.config_hash.clone(),
            state: c.state,
            worker: c.worker.clone(),
            attempts: c.attempts,
            created_at: c.created_at,
            heartbeat_at: c.heartbeat_at,
            lease_expires_at: c.lease_expires_at,
            result: c.result.as_ref().map(ResultBrief::of),
        }
    }
}

/// A curve written while its cell trained ([`Store::put_partial_curve`](crate::Store::put_partial_curve)),
/// of a current cell that has no result yet. While the cell runs under the same attempt it is
/// the live curve so far; otherwise its worker stopped (killed, cancelled) and the curve is
/// all that attempt left: partial either way, never a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialCurveInfo {
    /// The cell.
    pub cell: CellId,
    /// The claim ([`Lease::attempt`]) that wrote it.
    pub attempt: u32,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// How many points it has.
    pub n_points: u64,
}

/// Counts of a study's current (not superseded) cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Waiting.
    pub queued: usize,
    /// Leased by a worker.
    pub running: usize,
    /// With a result; `finished + diverged + failed`.
    pub done: usize,
    /// Done, ran the whole budget.
    pub finished: usize,
    /// Done, diverged.
    pub diverged: usize,
    /// Done, failed.
    pub failed: usize,
}

impl Progress {
    /// All current cells.
    pub fn total(&self) -> usize {
        self.queued + self.running + self.done
    }
}

/// What produced a result: stored once, referenced by cells.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Provenance {
    /// lrctl version.
    pub lrctl_version: String,
    /// Git commit of the build, when known.
    pub git_commit: Option<String>,
    /// Hash of the configuration the producer ran with.
    pub config_hash: String,
    /// Machine description (see [`machine_description`](crate::machine_description)).
    pub machine: String,
    /// Compute back end (e.g. `flex-cpu`, `cuda`).
    pub backend: String,
}

/// A stored provenance record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenanceRow {
    /// Its id.
    pub id: ProvenanceId,
    /// The record.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// When it was first stored.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_and_parse() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (leap day, century divisible by 400) 12:34:56.789.
        let t = Timestamp(951_827_696_789);
        assert_eq!(t.to_string(), "2000-02-29T12:34:56.789Z");
        assert_eq!(Timestamp::parse("2000-02-29T12:34:56.789Z").unwrap(), t);
        assert_eq!(
            Timestamp::parse("2000-02-29T12:34:56.789+00:00").unwrap(),
            t
        );
        assert_eq!(
            Timestamp::parse("2000-02-29T12:34:56.7Z").unwrap(),
            Timestamp(t.0 - 89)
        );
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            Timestamp::parse("1969-12-31T23:59:59.999Z").unwrap(),
            Timestamp(-1)
        );
        // Every day across several 400-year cycles round-trips.
        for days in (-200_000i64..200_000).step_by(37) {
            let t = Timestamp(days * 86_400_000 + 45_296_007);
            assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t, "{t}");
        }
        for bad in [
            "",
            "2020-01-01",
            "2020-13-01T00:00:00Z",
            "2020-01-01T00:00:00",
            "x-1-1T0:0:0Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2000-02-29T12:34:56.789Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn names_round_trip() {
        for s in [CellState::Queued, CellState::Running, CellState::Done] {
            assert_eq!(CellState::parse(s.as_str()), Some(s));
        }
        for o in [Outcome::Finished, Outcome::Diverged, Outcome::Failed] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("ok"), None);
    }
}

/// A finished trial of a tuning run (hyperparameter optimisation), stored so that a killed
/// run resumes from it instead of training it again.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRow {
    /// Identifies the tuning run: a hash of the task, the method, the tuner's settings and the
    /// tuning seed.
    pub tuning_key: String,
    /// The tuner's id of the trial.
    pub trial: u64,
    /// The hyperparameters, JSON.
    pub config_json: String,
    /// Budget the tuner asked for, in steps.
    pub budget: u64,
    /// The objective (lower is better); `None` when it was not a finite number.
    pub score: Option<f64>,
    /// How the training run ended.
    pub outcome: Outcome,
    /// Steps actually trained (what the trial cost).
    pub steps: u64,
    /// Seconds it took.
    pub seconds: f64,
}
