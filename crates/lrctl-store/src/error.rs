//! Errors of the store. Each says which store (file or URL) and what to do about it.

use crate::types::CellId;

/// Shorthand for results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong with a store.
///
/// The variants about files (`NotAStore`, `TooNew`, `Missing`, `Corrupt`, `Locked`) carry the
/// location so that the message alone tells the user which file is meant.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not an lrctl store; it was not modified.
    #[error(
        "{location}: not an lrctl store ({why}); it was left untouched. Pass another path with --store, or move the file away"
    )]
    NotAStore {
        /// File or URL.
        location: String,
        /// What was found instead.
        why: String,
    },
    /// The store was written by a newer lrctl whose schema this binary does not know.
    #[error(
        "{location}: the store has schema version {found}, but this lrctl understands versions up to {supported}; upgrade lrctl to open it (the store was not modified)"
    )]
    TooNew {
        /// File or URL.
        location: String,
        /// Schema version in the store.
        found: u32,
        /// Newest schema version this binary knows.
        supported: u32,
    },
    /// No store at that location (when opening without creating).
    #[error(
        "{location}: no store there; run a study first (e.g. `lrctl run`) or pass the right --store"
    )]
    Missing {
        /// File or URL.
        location: String,
    },
    /// The database is damaged.
    #[error(
        "{location}: the database is damaged ({message}); nothing was changed. Restore a backup, or try `sqlite3 FILE .recover` to salvage what is left"
    )]
    Corrupt {
        /// File or URL.
        location: String,
        /// What the database engine reported.
        message: String,
    },
    /// Another process kept the database locked for longer than the busy timeout.
    #[error(
        "{location}: the database stayed locked by another process for longer than the busy timeout ({message}); wait for it to finish or stop it, then retry"
    )]
    Locked {
        /// File or URL.
        location: String,
        /// What the database engine reported.
        message: String,
    },
    /// Upgrading the schema failed; the transaction was rolled back.
    #[error(
        "{location}: migrating the store from schema version {from} to {to} failed: {message}; the store was left at version {from}"
    )]
    Migration {
        /// File or URL.
        location: String,
        /// Version before.
        from: u32,
        /// Version that failed to apply.
        to: u32,
        /// Why.
        message: String,
    },
    /// The location names a back end this build does not have.
    #[error("{location}: {what}")]
    Unsupported {
        /// File or URL.
        location: String,
        /// What is missing and what to do instead.
        what: String,
    },
    /// No study with this name or id.
    #[error("{location}: no study {study}")]
    UnknownStudy {
        /// File or URL.
        location: String,
        /// The study asked for, in words (`"name"` or `id 3`).
        study: String,
    },
    /// No cell with this id.
    #[error("{location}: no cell {cell}")]
    UnknownCell {
        /// File or URL.
        location: String,
        /// The id asked for.
        cell: CellId,
    },
    /// The cell already has a result; the new one was not written.
    #[error("cell {cell} already has a result (written by {worker}); the new result was discarded")]
    AlreadyFinished {
        /// The cell.
        cell: CellId,
        /// Worker that wrote the stored result.
        worker: String,
    },
    /// The caller no longer holds the cell's lease (it expired and another worker took the cell,
    /// or it was released or requeued); nothing was changed.
    #[error(
        "cell {cell}: worker {worker} (attempt {attempt}) no longer holds it ({now}); nothing was written"
    )]
    LeaseLost {
        /// The cell.
        cell: CellId,
        /// Worker that believed it held the lease.
        worker: String,
        /// Attempt number of that worker's claim.
        attempt: u32,
        /// Who holds it now, in words.
        now: String,
    },
    /// The database server could not be reached (after reconnecting with back-off, for
    /// workers; at once, for interactive commands).
    #[error(
        "{location}: the database server is unreachable ({message}){}. Check that it is running and reachable, then run the command again (stored results are safe)",
        retried(*.waited)
    )]
    Unavailable {
        /// URL (password removed).
        location: String,
        /// Seconds spent retrying (0: not retried).
        waited: u64,
        /// The last error.
        message: String,
    },
    /// A store opened read-only was asked to write.
    #[error(
        "{location}: opened read-only, so `{operation}` cannot write to it; use a command that writes (run, worker) or a store you may write"
    )]
    ReadOnly {
        /// File or URL.
        location: String,
        /// The operation refused.
        operation: &'static str,
    },
    /// A store with an older schema was opened read-only, which cannot migrate it.
    #[error(
        "{location}: the store has schema version {found} and this lrctl reads version {supported}; open it once with a command that writes (e.g. `lrctl run --submit-only` on its study) to upgrade it, then read it again"
    )]
    NeedsMigration {
        /// File or URL.
        location: String,
        /// Schema version in the store.
        found: u32,
        /// The version this binary reads.
        supported: u32,
    },
    /// A stored row holds a value lrctl never writes there (edited by hand, damaged, or
    /// written by a foreign program); nothing was changed.
    #[error(
        "{location}: {row}, column `{column}`: {problem}; the store was not changed. Fix or delete that row (or restore a backup)"
    )]
    Malformed {
        /// File or URL.
        location: String,
        /// The row, in words (`cell 17`, `study "x"`, `trial 3 of tuning run k`).
        row: String,
        /// The column.
        column: String,
        /// What is wrong with its value.
        problem: String,
    },
    /// The caller passed something the store cannot record.
    #[error("{0}")]
    Invalid(String),
    /// Any other error of the database engine.
    #[error("{location}: {source}")]
    Database {
        /// File or URL.
        location: String,
        /// The engine's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The part of [`StoreError::Unavailable`]'s message that says how long it was retried.
fn retried(waited: u64) -> String {
    if waited == 0 {
        String::new()
    } else {
        format!("; gave up after {waited} s of retrying")
    }
}
