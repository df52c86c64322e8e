//! The lrctl store: where studies, cells, results, learning curves and provenance live.
//!
//! Callers hold a `Box<dyn Store>` from [`open`], which picks the back end from the location:
//! a file path or `sqlite://PATH` gives the embedded SQLite store ([`SqliteStore`]);
//! `postgres://…` a PostgreSQL database shared by workers on many machines
//! ([`PostgresStore`]). Both have the same schema and semantics and pass the same conformance
//! suite (`tests/suite`).
//!
//! # Model
//! - A **study** has a unique name and its resolved specification (JSON).
//! - A **cell** is (study, task, method, seed, config hash). Adding a cell whose (task, method,
//!   seed) is already present with another hash *supersedes* the old one: it stays stored, with
//!   its result, but [`Store::cells`] (without `include_superseded`), [`Store::progress`] and
//!   [`Store::claim`] see only the current one.
//! - A cell is `queued`, then `running` under a [`Lease`] held by one worker, then `done` with
//!   a [`CellResult`] and a curve written together, exactly once.
//!
//! # Worker protocol
//! [`Store::claim`] atomically takes the oldest queued cell, or a running one whose lease has
//! expired (its worker died), and grants a lease. The worker renews it with
//! [`Store::heartbeat`] well before it runs out, then calls [`Store::finish`], or
//! [`Store::release`] if it stops without a result (Ctrl-C). Every write checks that the caller
//! still holds the lease (same worker *and* same attempt), so a worker that stalled past its
//! lease can never overwrite the result of the worker that took over. A cell that keeps killing
//! its workers shows a growing [`Lease::attempt`]; the caller decides when to record it as
//! failed instead of running it again. After `kill -9`, [`Store::requeue_dead_local`] returns the
//! dead process's cells to the queue at once instead of waiting for their leases.
//!
//! # Schema
//! Versioned ([`SCHEMA_VERSION`]); opening an older store migrates it in one transaction, and a
//! newer one is refused. See [`SqliteStore`] for the tables.

#![warn(missing_docs)]

mod common;
mod curve;
mod error;
mod local;
mod postgres;
mod sqlite;
mod types;

use std::path::PathBuf;
use std::time::Duration;

pub use curve::CurvePointRow;
pub use error::{Result, StoreError};
pub use local::{hostname, machine_description, worker_id, worker_id_slot};
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore};
pub use types::{
    AddReport, CellId, CellResult, CellRow, CellState, ClaimedCell, Lease, NewCell, Outcome,
    Progress, Provenance, ProvenanceId, ProvenanceRow, StudyId, StudyRow, Timestamp, TrialRow,
};

/// Encoding and decoding of stored curves (exposed for back ends and tools that read blobs).
pub mod curve_blob {
    pub use crate::curve::{decode, encode};
}

/// A store of studies and their cells. Object safe: callers hold `Box<dyn Store>`.
///
/// Each value is one connection; threads and processes that work concurrently each open their
/// own (the back end keeps them consistent).
pub trait Store: Send {
    /// The file or URL of the store (passwords removed), for messages.
    fn location(&self) -> &str;

    /// Creates the study, or replaces its specification if the name exists; returns its id.
    fn upsert_study(&mut self, name: &str, spec_json: &str) -> Result<StudyId>;

    /// The study with this name, if any.
    fn study(&mut self, name: &str) -> Result<Option<StudyRow>>;

    /// All studies, oldest first.
    fn studies(&mut self) -> Result<Vec<StudyRow>>;

    /// Adds cells to a study, idempotently (see [`AddReport`]); all or nothing.
    fn add_cells(&mut self, study: StudyId, cells: &[NewCell]) -> Result<AddReport>;

    /// Atomically takes one current cell that is queued, or running with an expired lease,
    /// from `study` (or any study), marks it running under a lease of length `lease` held by
    /// `worker`, and counts the attempt. `None` when no cell is available.
    fn claim(
        &mut self,
        study: Option<StudyId>,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedCell>>;

    /// Renews a lease for `extend` from now; returns the new expiry.
    ///
    /// Fails with [`StoreError::LeaseLost`] when the cell was taken over, released or requeued,
    /// and [`StoreError::AlreadyFinished`] when it has a result. An expired lease that nobody
    /// took over is still held and is renewed.
    fn heartbeat(&mut self, lease: &Lease, extend: Duration) -> Result<Timestamp>;

    /// Writes the result and curve of a leased cell, in one transaction, exactly once.
    ///
    /// If the cell already has a result ([`StoreError::AlreadyFinished`]) or the lease is no
    /// longer held ([`StoreError::LeaseLost`]), nothing changes.
    fn finish(&mut self, lease: &Lease, result: &CellResult, curve: &[CurvePointRow])
    -> Result<()>;

    /// Returns a leased cell to the queue without a result (e.g. on Ctrl-C).
    fn release(&mut self, lease: &Lease) -> Result<()>;

    /// Requeues running cells held by dead processes of this machine: workers `host:pid[/slot]`
    /// whose pid no longer exists. Returns how many. Does nothing where liveness cannot be
    /// checked (no `/proc`); those cells come back when their leases expire.
    fn requeue_dead_local(&mut self, host: &str) -> Result<usize>;

    /// The cells of a study in the order they were added, with results.
    fn cells(&mut self, study: StudyId, include_superseded: bool) -> Result<Vec<CellRow>>;

    /// One cell, if it exists.
    fn cell(&mut self, id: CellId) -> Result<Option<CellRow>>;

    /// The curve of a cell (empty until it is done).
    fn curve(&mut self, cell: CellId) -> Result<Vec<CurvePointRow>>;

    /// Counts of the study's current cells.
    fn progress(&mut self, study: StudyId) -> Result<Progress>;

    /// Stores a provenance record, or finds the identical one already stored; returns its id.
    fn put_provenance(&mut self, provenance: &Provenance) -> Result<ProvenanceId>;

    /// A stored provenance record.
    fn provenance(&mut self, id: ProvenanceId) -> Result<Option<ProvenanceRow>>;

    /// Records a finished tuning trial. A trial already stored under the same key and id is
    /// left as it was (its first result stands) and `false` is returned.
    fn put_trial(&mut self, trial: &TrialRow) -> Result<bool>;

    /// The finished trials of a tuning run, in the order they were recorded (the order their
    /// results were told to the tuner, so that replaying them rebuilds its state).
    fn trials(&mut self, tuning_key: &str) -> Result<Vec<TrialRow>>;
}

/// Where a store lives, parsed from what the user typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (the password, if any, is still in it: never print this; use
    /// [`redact`] for messages).
    Postgres(String),
}

impl Location {
    /// Parses `PATH`, `sqlite://PATH` (`sqlite:///abs/path` for an absolute one) or
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(s: &str) -> Result<Location> {
        if s.trim().is_empty() {
            return Err(StoreError::Invalid(
                "empty store location; pass a file path (e.g. lrctl.db) or a URL".into(),
            ));
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(Location::Sqlite(PathBuf::from(s)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" if !rest.is_empty() => Ok(Location::Sqlite(PathBuf::from(rest))),
            "postgres" | "postgresql" => Ok(Location::Postgres(s.to_string())),
            _ => Err(StoreError::Unsupported {
                location: redact(s),
                what: "unknown kind of store; use a file path, sqlite://PATH or postgres://…"
                    .into(),
            }),
        }
    }
}

/// A location safe to print: the password of a URL (`user:secret@host`) replaced by `***`.
pub fn redact(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => location.to_string(),
    }
}

/// Opens the store at `location` (see [`Location::parse`]), creating it if it does not exist.
pub fn open(location: &str) -> Result<Box<dyn Store>> {
    open_with(location, true)
}

/// Opens an existing store; [`StoreError::Missing`] if there is none (for commands that only
/// read, such as status and export, which must not leave an empty file behind).
pub fn open_existing(location: &str) -> Result<Box<dyn Store>> {
    open_with(location, false)
}

fn open_with(location: &str, create: bool) -> Result<Box<dyn Store>> {
    match Location::parse(location)? {
        Location::Sqlite(path) => {
            let options = SqliteOptions {
                create,
                ..SqliteOptions::default()
            };
            Ok(Box::new(SqliteStore::open_with(&path, &options)?))
        }
        Location::Postgres(url) => {
            let options = PostgresOptions {
                create,
                ..PostgresOptions::default()
            };
            Ok(Box::new(PostgresStore::open_with(&url, &options)?))
        }
    }
}

/// How long a worker's lease lasts by default; workers renew it every third of that.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse("lrctl.db").unwrap(),
            Location::Sqlite("lrctl.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/x.db").unwrap(),
            Location::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            Location::parse("sqlite://x.db").unwrap(),
            Location::Sqlite("x.db".into())
        );
        assert!(matches!(
            Location::parse("postgresql://u:p@h/db").unwrap(),
            Location::Postgres(_)
        ));
        assert!(matches!(Location::parse(""), Err(StoreError::Invalid(_))));
        assert!(matches!(
            Location::parse("sqlite://"),
            Err(StoreError::Unsupported { .. })
        ));
        let e = Location::parse("mysql://u:hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown kind of store") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:hunter2@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db?x=@"), "postgres://h/db?x=@");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("lrctl.db"), "lrctl.db");
    }

    #[test]
    fn unreachable_postgres_is_a_clear_error_without_the_password() {
        let options = PostgresOptions {
            retry_for: std::time::Duration::from_millis(300),
            connect_timeout: std::time::Duration::from_millis(200),
            ..PostgresOptions::default()
        };
        // Port 9 (discard) on loopback: nothing listens there.
        let e = PostgresStore::open_with("postgres://lrctl:hunter2@127.0.0.1:9/lrctl", &options)
            .err()
            .unwrap();
        let msg = e.to_string();
        assert!(matches!(e, StoreError::Unavailable { .. }), "{msg}");
        assert!(
            msg.contains("postgres://lrctl:***@127.0.0.1:9/lrctl"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
