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

mod common;
mod curve;
mod error;
mod local;
mod postgres;
mod sqlite;
mod types;

pub mod atomic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use curve::CurvePointRow;
pub use error::{Result, StoreError};
pub use local::{hostname, machine_description, worker_id, worker_id_slot};
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore};
pub use types::{
    AddReport, CellBrief, CellId, CellResult, CellRow, CellSet, CellState, ClaimFilter,
    ClaimedCell, Lease, NewCell, Outcome, PartialCurveInfo, Progress, Provenance, ProvenanceId,
    ProvenanceRow, ResultBrief, StudyId, StudyRow, Timestamp, TrialRow,
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
    /// that `filter` allows, marks it running under a lease of length `lease` held by
    /// `worker`, and counts the attempt. `None` when no cell is available.
    fn claim(
        &mut self,
        filter: &ClaimFilter,
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
    fn cells(&mut self, study: StudyId, which: CellSet) -> Result<Vec<CellRow>>;

    /// The current cells of a study as a list shows them ([`CellBrief`]: no configuration or
    /// result JSON), in the order they were added: [`CellBrief::of`] of each of
    /// `cells(study, CellSet::Current)`, reading only those columns.
    fn cell_briefs(&mut self, study: StudyId) -> Result<Vec<CellBrief>>;

    /// The current cells of one task of a study, with results, in the order they were added:
    /// those of `cells(study, CellSet::Current)` whose task is `task`, without reading the
    /// others.
    fn task_cells(&mut self, study: StudyId, task: &str) -> Result<Vec<CellRow>>;

    /// Puts these cells of `study` back in the queue: their results and curves are deleted
    /// (a failed cell's reason, a diverged run) and they train again. Cells running under a
    /// live lease and cells of other studies are left alone. Returns how many were requeued.
    fn requeue_cells(&mut self, study: StudyId, cells: &[CellId]) -> Result<usize>;

    /// Retires these current cells of `study`: they are superseded, so reports, progress and
    /// workers skip them, and their results stay in the store (adding the same cell again
    /// reinstates it). Running cells are left alone. Returns how many were retired.
    fn retire_cells(&mut self, study: StudyId, cells: &[CellId]) -> Result<usize>;

    /// One cell, if it exists.
    fn cell(&mut self, id: CellId) -> Result<Option<CellRow>>;

    /// The curve of a cell (empty until it is done).
    fn curve(&mut self, cell: CellId) -> Result<Vec<CurvePointRow>>;

    /// Replaces the curve so far of a leased cell while it trains, so that readers (the
    /// dashboard) see it before the result; [`Store::finish`] and [`Store::requeue_cells`]
    /// delete it. Fails like [`Store::heartbeat`] when the lease is no longer held.
    fn put_partial_curve(&mut self, lease: &Lease, curve: &[CurvePointRow]) -> Result<()>;

    /// The partial curves of the study's current cells without a result, by cell id.
    fn partial_curves(&mut self, study: StudyId) -> Result<Vec<PartialCurveInfo>>;

    /// The partial curve of a cell (empty when it has none).
    fn partial_curve(&mut self, cell: CellId) -> Result<Vec<CurvePointRow>>;

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
    /// `postgres://…` / `postgresql://…` (the scheme in any case).
    ///
    /// A libpq key/value string (`host=… password=…`) is refused rather than taken for a file
    /// name: lrctl would create a database file named after the password.
    pub fn parse(s: &str) -> Result<Location> {
        if s.trim().is_empty() {
            return Err(StoreError::Invalid(
                "empty store location; pass a file path (e.g. lrctl.db) or a URL".into(),
            ));
        }
        if s.contains('\0') {
            return Err(StoreError::Invalid(format!(
                "store location {:?} contains a NUL byte",
                redact(s)
            )));
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            if looks_like_conninfo(s) {
                return Err(StoreError::Unsupported {
                    location: redact(s),
                    what: "this looks like a libpq connection string; write it as a URL, \
                           postgres://USER@HOST:PORT/DATABASE (password in PGPASSWORD or \
                           ~/.pgpass)"
                        .into(),
                });
            }
            return Ok(Location::Sqlite(PathBuf::from(s)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" if !rest.is_empty() => Ok(Location::Sqlite(PathBuf::from(rest))),
            // The client library only knows the lowercase prefixes.
            "postgres" | "postgresql" => Ok(Location::Postgres(format!("postgres://{rest}"))),
            _ => Err(StoreError::Unsupported {
                location: redact(s),
                what: "unknown kind of store; use a file path, sqlite://PATH or postgres://…"
                    .into(),
            }),
        }
    }
}

/// Whether a location without a scheme is a libpq `key=value` string rather than a path.
fn looks_like_conninfo(s: &str) -> bool {
    s.split_whitespace().any(|w| {
        w.split_once('=').is_some_and(|(k, _)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "host" | "hostaddr" | "port" | "dbname" | "user" | "password"
            )
        })
    })
}

/// A store location safe to print: every password in it replaced by `***`.
///
/// This is the one function through which lrctl shows a store location (messages, errors,
/// progress lines, job scripts). It hides more rather than less when a location is ambiguous:
///
/// - the password of a URL's user information (`postgres://user:secret@host/db`), taken as
///   everything from the first `:` after the scheme to the *last* `@`, since a password may
///   itself hold `@`, `/` or `?` (the PostgreSQL client splits at the first `@`, a user
///   typing `p@ss` means the last one);
/// - every `password=…` parameter (URL query or libpq key/value string), in any case, up to
///   the next `&`, whitespace or the end.
pub fn redact(location: &str) -> String {
    // Without a scheme too: `user:pw@host/db` typed without `postgres://` is taken for a
    // path, and would be shown in "cannot create" errors.
    let (prefix, rest) = match location.split_once("://") {
        Some((scheme, rest)) => (&location[..scheme.len() + 3], rest),
        None => ("", location),
    };
    let masked = match (rest.find(':'), rest.rfind('@')) {
        (Some(c), Some(a)) if c < a => format!("{prefix}{}:***{}", &rest[..c], &rest[a..]),
        _ => location.to_string(),
    };
    mask_password_parameters(&masked)
}

/// Replaces the value of every `password=` parameter by `***`.
fn mask_password_parameters(s: &str) -> String {
    const KEY: &str = "password=";
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(KEY) {
        let value = at + found + KEY.len();
        out.push_str(&s[at..value]);
        out.push_str("***");
        let end = s[value..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(s.len(), |e| value + e);
        at = end;
    }
    out.push_str(&s[at..]);
    out
}

/// What a command may do to the store it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// Read and write; create the store (the SQLite file, or the schema in an empty PostgreSQL
    /// database) when there is none.
    Create,
    /// Read and write an existing store; [`StoreError::Missing`] when there is none.
    Existing,
    /// Only read an existing store: nothing is ever written, so read-only files, directories
    /// and database roles work. SQLite opens the file read-only (immutable when its directory
    /// cannot hold the write-ahead log's index); PostgreSQL runs every transaction `READ ONLY`.
    /// A store with an older schema is not migrated ([`StoreError::NeedsMigration`]), and the
    /// writing methods of [`Store`] fail with [`StoreError::ReadOnly`].
    ReadOnly,
}

impl OpenMode {
    /// Whether a missing store may be created.
    pub fn creates(self) -> bool {
        self == OpenMode::Create
    }

    /// Whether the store may be written.
    pub fn writes(self) -> bool {
        self != OpenMode::ReadOnly
    }
}

/// How long to keep trying when a PostgreSQL server cannot be reached. (An SQLite file is
/// always there or not; its locks have their own busy timeout.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// For commands a person waits on (`status`, `show`, `export`, …): one connection attempt
    /// with a short timeout ([`INTERACTIVE_CONNECT_TIMEOUT`]) and no reconnecting: an
    /// unreachable server is an error within seconds, with its reason.
    Interactive,
    /// For workers: reconnect with exponential back-off (up to 5 s between attempts) for this
    /// long, telling the [`NoticeHook`] before each wait, then give up with
    /// [`StoreError::Unavailable`].
    Persistent(Duration),
}

/// Timeout of the one connection attempt of [`Patience::Interactive`].
pub const INTERACTIVE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long workers keep reconnecting by default ([`Patience::Persistent`]).
pub const WORKER_RETRY: Duration = Duration::from_secs(300);

/// Something a store wants its user to know while it works. Libraries print nothing: the
/// program decides whether and how to show these (see [`OpenOptions::on_notice`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notice {
    /// The server cannot be reached; the store waits `retry_in` and tries again.
    Waiting {
        /// The store, password removed.
        location: String,
        /// Why the last attempt failed.
        reason: String,
        /// Time spent waiting so far.
        waited: Duration,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// A PostgreSQL password file was ignored because group or others may read it.
    PasswordFileIgnored {
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Waiting {
                location,
                reason,
                waited,
                retry_in,
            } => write!(
                f,
                "store {location} unreachable ({reason}); waited {:.0} s, retrying in {:.1} s",
                waited.as_secs_f64(),
                retry_in.as_secs_f64()
            ),
            Notice::PasswordFileIgnored { path } => write!(
                f,
                "password file {} has group or world access; ignored (chmod 0600 it)",
                path.display()
            ),
        }
    }
}

/// Receives a store's [`Notice`]s; called on the thread that uses the store.
pub type NoticeHook = Arc<dyn Fn(&Notice) + Send + Sync>;

/// How to open a store: see [`open_with`].
#[derive(Clone)]
pub struct OpenOptions {
    /// What the caller may do to the store.
    pub mode: OpenMode,
    /// How long to wait for an unreachable server.
    pub patience: Patience,
    /// Told about waits and ignored password files; `None`: nobody is told.
    pub on_notice: Option<NoticeHook>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("mode", &self.mode)
            .field("patience", &self.patience)
            .field("on_notice", &self.on_notice.is_some())
            .finish()
    }
}

impl OpenOptions {
    /// A command a person waits on: fails within seconds when the server is unreachable.
    pub fn interactive(mode: OpenMode) -> OpenOptions {
        OpenOptions {
            mode,
            patience: Patience::Interactive,
            on_notice: None,
        }
    }

    /// A worker: reconnects for [`WORKER_RETRY`], telling `on_notice` while it waits.
    pub fn worker(mode: OpenMode, on_notice: Option<NoticeHook>) -> OpenOptions {
        OpenOptions {
            mode,
            patience: Patience::Persistent(WORKER_RETRY),
            on_notice,
        }
    }

    /// The same options with a notice hook.
    pub fn with_notices(mut self, hook: NoticeHook) -> OpenOptions {
        self.on_notice = Some(hook);
        self
    }
}

/// Opens the store at `location` (see [`Location::parse`]) as `options` say.
pub fn open_with(location: &str, options: &OpenOptions) -> Result<Box<dyn Store>> {
    match Location::parse(location)? {
        Location::Sqlite(path) => {
            let sqlite = SqliteOptions {
                mode: options.mode,
                ..SqliteOptions::default()
            };
            Ok(Box::new(SqliteStore::open_with(&path, &sqlite)?))
        }
        Location::Postgres(url) => {
            let postgres = PostgresOptions::from_open(options);
            Ok(Box::new(PostgresStore::open_with(&url, &postgres)?))
        }
    }
}

/// Opens the store at `location` (see [`Location::parse`]), creating it if it does not exist,
/// with a worker's patience and no notices. Prefer [`open_with`], which says both.
pub fn open(location: &str) -> Result<Box<dyn Store>> {
    open_with(location, &OpenOptions::worker(OpenMode::Create, None))
}

/// Opens an existing store for reading and writing, with a worker's patience and no notices;
/// [`StoreError::Missing`] if there is none. Prefer [`open_with`], which says both.
pub fn open_existing(location: &str) -> Result<Box<dyn Store>> {
    open_with(location, &OpenOptions::worker(OpenMode::Existing, None))
}

/// Opens an existing store for a command that only reads it (`status`, `show`, `export`,
/// `report`, `select`): [`OpenMode::ReadOnly`] and [`Patience::Interactive`].
pub fn open_read_only(location: &str) -> Result<Box<dyn Store>> {
    open_with(location, &OpenOptions::interactive(OpenMode::ReadOnly))
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
        assert_eq!(
            Location::parse("POSTGRES://u@h/db").unwrap(),
            Location::Postgres("postgres://u@h/db".into())
        );
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
        let e = Location::parse("host=db user=u password=hunter2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("libpq") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:hunter2@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h:5432/db"), "postgres://h:5432/db");
        assert_eq!(redact("postgres://h/db?x=@"), "postgres://h/db?x=@");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("lrctl.db"), "lrctl.db");
        // A password holding `/` or `?` (the old redaction cut the authority there).
        assert_eq!(redact("postgres://u:pa/ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u:p?ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=off&password=hunter2&x=1"),
            "postgres://u@h/db?sslmode=off&password=***&x=1"
        );
        assert_eq!(
            redact("host=h PassWord=hunter2 user=u"),
            "host=h PassWord=*** user=u"
        );
        assert_eq!(redact("u:hunter2@h/db"), "u:***@h/db");
        assert_eq!(redact("PostgreSQL://u:hunter2@h"), "PostgreSQL://u:***@h");
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
