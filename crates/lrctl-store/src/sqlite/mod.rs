//! The embedded SQLite back end.

mod schema;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::common::{
    self, CELL_COLUMNS, CLAIMED_COLUMNS, PARTIAL_COLUMNS, PROVENANCE_COLUMNS, RawRow,
    STUDY_COLUMNS, TRIAL_COLUMNS, check_json, check_name, check_result, check_trial, check_worker,
    to_i64,
};
use crate::curve::{self, CurvePointRow};
use crate::error::{Result, StoreError};
use crate::local;
use crate::types::*;
use crate::{OpenMode, Store};

pub use schema::SCHEMA_VERSION;
use schema::{Found, MIGRATIONS, Migration};

/// How to open an SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Create the file if it does not exist, write it, or only read it.
    pub mode: OpenMode,
    /// How long to wait for another process's lock before giving up with
    /// [`StoreError::Locked`].
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            mode: OpenMode::Create,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// The embedded store: one SQLite file in WAL mode, shared safely by several processes.
///
/// Tables (schema version 1): `meta` (key/value: `application` = `lrctl`, `schema_version`),
/// `study`, `cell` (identity, lease and result columns), `curve` (one blob per done cell, see
/// [`curve_blob`](crate::curve_blob)), `provenance`. Times are integer milliseconds since the
/// Unix epoch. Writes that read first run in `BEGIN IMMEDIATE` transactions, so they queue
/// on the busy timeout instead of failing on a stale snapshot.
///
/// Keep the file on a local file system: SQLite's locks are unreliable over NFS, and lease
/// times come from each process's clock. Several machines share a PostgreSQL store instead.
pub struct SqliteStore {
    conn: Connection,
    location: String,
    mode: OpenMode,
}

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl SqliteStore {
    /// Opens the store at `path`, creating it if needed.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(path, &SqliteOptions::default())
    }

    /// Opens the store at `path` with options.
    ///
    /// Refuses, without writing to it, a file that is not an lrctl store (not SQLite, or an
    /// SQLite database with other tables) and a store with a newer schema; migrates an older one.
    pub fn open_with(path: &Path, options: &SqliteOptions) -> Result<SqliteStore> {
        SqliteStore::open_with_migrations(path, options, MIGRATIONS)
    }

    pub(crate) fn open_with_migrations(
        path: &Path,
        options: &SqliteOptions,
        migrations: &[Migration],
    ) -> Result<SqliteStore> {
        // Redacted like every location shown: a scheme-less `user:pw@host/db` typed for a
        // PostgreSQL URL lands here as a path.
        let location = crate::redact(&path.display().to_string());
        let key = fs::canonicalize(path).ok();
        let seen = key
            .as_ref()
            .is_some_and(|k| opened().lock().expect("not poisoned").contains(k));
        let mode = options.mode;
        if !seen {
            check_file(path, &location, mode)?;
        }
        let latest = migrations.last().map_or(0, |m| m.version);
        if mode == OpenMode::ReadOnly {
            let conn = open_read_only(path, &location, options.busy_timeout)?;
            match schema::inspect(&conn, &location)? {
                Found::Empty => return Err(StoreError::Missing { location }),
                Found::Lrctl(v) if v > latest => {
                    return Err(StoreError::TooNew {
                        location,
                        found: v,
                        supported: latest,
                    });
                }
                Found::Lrctl(v) if v < latest => {
                    return Err(StoreError::NeedsMigration {
                        location,
                        found: v,
                        supported: latest,
                    });
                }
                Found::Lrctl(_) => {}
            }
            return Ok(SqliteStore {
                conn,
                location,
                mode,
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).at(&location)?;
        conn.busy_timeout(options.busy_timeout).at(&location)?;
        conn.pragma_update(None, "foreign_keys", true)
            .at(&location)?;
        // Look before writing anything: nothing below may touch a file that is not ours.
        let found = schema::inspect(&conn, &location)?;
        if let Found::Lrctl(v) = found
            && v > latest
        {
            return Err(StoreError::TooNew {
                location,
                found: v,
                supported: latest,
            });
        }
        // WAL lets readers (status, export) run while workers write. On file systems without
        // shared memory SQLite keeps its rollback journal, which is slower but just as safe.
        let journal: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .at(&location)?;
        if journal.eq_ignore_ascii_case("wal") {
            // In WAL mode, `synchronous = NORMAL` (SQLite's recommendation for WAL) syncs the
            // log at checkpoints instead of at every commit: the file stays consistent, and a
            // power cut can only lose the last commits (their cells' leases expire and the
            // cells are trained again). With `FULL`, every claim and result waited for the
            // disk on the training threads: on a busy disk, 5 ms per commit and a fifth of a
            // two-job study's wall time (`lrctl bench`'s study-CPU measurement).
            conn.pragma_update(None, "synchronous", "NORMAL")
                .at(&location)?;
        }
        if found != Found::Lrctl(latest) {
            schema::migrate(&mut conn, &location, migrations)?;
        }
        if let Ok(k) = fs::canonicalize(path) {
            opened().lock().expect("not poisoned").insert(k);
        }
        Ok(SqliteStore {
            conn,
            location,
            mode,
        })
    }

    /// [`StoreError::ReadOnly`] unless the store was opened for writing.
    fn writable(&self, operation: &'static str) -> Result<()> {
        if self.mode.writes() {
            Ok(())
        } else {
            Err(StoreError::ReadOnly {
                location: self.location.clone(),
                operation,
            })
        }
    }

    /// Runs SQLite's `PRAGMA integrity_check`; [`StoreError::Corrupt`] lists what it found.
    pub fn integrity_check(&mut self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .at(&self.location)?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .at(&self.location)?
            .collect::<rusqlite::Result<_>>()
            .at(&self.location)?;
        if lines == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                location: self.location.clone(),
                message: lines.join("; "),
            })
        }
    }

    fn immediate(&mut self) -> Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .at(&self.location)
    }
}

/// Store files this process has already checked and opened with SQLite.
///
/// [`check_file`] reads a file's header through its own descriptor. Closing *any* descriptor
/// of a file drops *all* of the process's POSIX locks on it, SQLite's included; another
/// process (a `lrctl status`, another worker) closing its connection then takes this one's
/// write-ahead log for abandoned, checkpoints and deletes it, and this process goes on
/// committing into an unlinked file: its results are invisible to everyone else and lost if
/// it dies. So a file is checked once per process, before its first connection.
fn opened() -> &'static std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>> {
    static OPENED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>,
    > = std::sync::OnceLock::new();
    OPENED.get_or_init(Default::default)
}

/// Opens an existing store without ever writing to it, nor next to it.
///
/// While any connection has a WAL store open, its write-ahead log (`PATH-wal`) exists and holds
/// committed data the main file may not have yet: it is read through the log's shared-memory
/// index (`-shm`), which a read-only connection can use. Otherwise (every writer closed, which
/// checkpoints the log and removes both files) a read-only connection would create the two
/// files and leave them behind, or fail in a read-only directory; the main file is then
/// complete, and it is opened `immutable` instead, which creates nothing and takes no lock.
fn open_read_only(path: &Path, location: &str, busy_timeout: Duration) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        let plain = Connection::open_with_flags(path, flags).and_then(|conn| {
            conn.busy_timeout(busy_timeout)?;
            // The first read is where an unusable `-shm` shows up.
            conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))?;
            Ok(conn)
        });
        match plain {
            Ok(conn) => return Ok(conn),
            // The index cannot be opened here (read-only directory): the main file as it is.
            Err(e)
                if matches!(
                    error_code(&e),
                    Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly)
                ) => {}
            Err(e) => return Err(db_error(location, e)),
        }
    }
    let conn = Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        .at(location)?;
    conn.busy_timeout(busy_timeout).at(location)?;
    Ok(conn)
}

/// `file:PATH?immutable=1`, with the characters URIs reserve percent-encoded.
fn immutable_uri(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for b in abs.as_os_str().as_encoded_bytes() {
        match b {
            b'%' | b'?' | b'#' => uri.push_str(&format!("%{b:02X}")),
            _ if b.is_ascii_graphic() || *b == b' ' => uri.push(*b as char),
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Refuses paths that cannot be, or must not become, a store, before SQLite opens them.
fn check_file(path: &Path, location: &str, mode: OpenMode) -> Result<()> {
    let not_store = |why: &str| StoreError::NotAStore {
        location: location.to_string(),
        why: why.to_string(),
    };
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(not_store("it is a directory")),
        Ok(m) if m.len() == 0 => Ok(()), // an empty file holds nothing to lose
        Ok(_) => {
            let mut header = [0u8; 16];
            let n = fs::File::open(path)
                .and_then(|mut f| f.read(&mut header))
                .map_err(|e| io_error(location, e))?;
            if n < 16 || &header != SQLITE_HEADER {
                return Err(not_store("it is not an SQLite database"));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !mode.creates() {
                return Err(StoreError::Missing {
                    location: location.to_string(),
                });
            }
            match path.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => Err(StoreError::Invalid(format!(
                    "{location}: cannot create the store: directory {} does not exist",
                    dir.display()
                ))),
                _ => Ok(()),
            }
        }
        Err(e) => Err(io_error(location, e)),
    }
}

fn io_error(location: &str, e: std::io::Error) -> StoreError {
    StoreError::Database {
        location: location.to_string(),
        source: Box::new(e),
    }
}

/// SQLite's primary error code, also for errors found while preparing a statement (which
/// rusqlite reports with the offending SQL and leaves out of `sqlite_error_code`).
fn error_code(e: &rusqlite::Error) -> Option<ErrorCode> {
    match e {
        rusqlite::Error::SqlInputError { error, .. } => Some(error.code),
        e => e.sqlite_error_code(),
    }
}

/// Maps an SQLite error to the store error that tells the user what to do.
pub(crate) fn db_error(location: &str, e: rusqlite::Error) -> StoreError {
    let location = location.to_string();
    match error_code(&e) {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            location,
            message: e.to_string(),
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
            location,
            message: e.to_string(),
        },
        _ => StoreError::Database {
            location,
            source: Box::new(e),
        },
    }
}

/// Whether `e` is a plain SQL error (no such table or column, syntax): SQLite's `SQLITE_ERROR`.
pub(crate) fn is_sql_error(e: &rusqlite::Error) -> bool {
    matches!(error_code(e), Some(ErrorCode::Unknown))
}

/// Attaches the store's location to SQLite errors.
pub(crate) trait Ctx<T> {
    fn at(self, location: &str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn at(self, location: &str) -> Result<T> {
        self.map_err(|e| db_error(location, e))
    }
}

/// An SQLite row seen through [`RawRow`]: SQLite columns may hold any type whatever their
/// declared affinity, so each value's actual type is checked.
struct Raw<'a, 'b>(&'a rusqlite::Row<'b>);

impl RawRow for Raw<'_, '_> {
    fn int(&self, i: usize) -> std::result::Result<Option<i64>, String> {
        match self.0.get_ref(i).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(v) => Ok(Some(v)),
            ValueRef::Real(v) => Err(format!("is the real number {v}, not an integer")),
            ValueRef::Text(t) => Err(format!("is the text {:?}, not an integer", lossy(t))),
            ValueRef::Blob(b) => Err(format!("is a {}-byte blob, not an integer", b.len())),
        }
    }

    fn real(&self, i: usize) -> std::result::Result<Option<f64>, String> {
        match self.0.get_ref(i).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(v) => Ok(Some(v as f64)),
            ValueRef::Real(v) => Ok(Some(v)),
            ValueRef::Text(t) => Err(format!("is the text {:?}, not a number", lossy(t))),
            ValueRef::Blob(b) => Err(format!("is a {}-byte blob, not a number", b.len())),
        }
    }

    fn text(&self, i: usize) -> std::result::Result<Option<String>, String> {
        match self.0.get_ref(i).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Some(s.to_string()))
                .map_err(|_| format!("is not valid UTF-8 ({:?})", lossy(t))),
            ValueRef::Integer(v) => Err(format!("is the number {v}, not text")),
            ValueRef::Real(v) => Err(format!("is the number {v}, not text")),
            ValueRef::Blob(b) => Err(format!("is a {}-byte blob, not text", b.len())),
        }
    }
}

/// A stored value shown in a message: lossy, shortened.
fn lossy(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.into_owned(),
    }
}

/// Runs a query and decodes every row with `decode`.
fn query_all<T>(
    conn: &Connection,
    location: &str,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Raw<'_, '_>, &str) -> Result<T>,
) -> Result<Vec<T>> {
    // Cached: a reader such as the dashboard runs the same few queries over and over.
    let mut stmt = conn.prepare_cached(sql).at(location)?;
    let mut rows = stmt.query(params).at(location)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().at(location)? {
        out.push(decode(&Raw(row), location)?);
    }
    Ok(out)
}

/// Explains why a write guarded by a lease changed nothing.
fn lease_error(conn: &Connection, location: &str, lease: &Lease) -> StoreError {
    let row = conn
        .query_row(
            "SELECT state, worker, attempts FROM cell WHERE id = ?1",
            [lease.cell.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional();
    match row {
        Err(e) => db_error(location, e),
        Ok(row) => common::lease_error(location, lease, row),
    }
}

const LEASE_HELD: &str = "id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3";

impl Store for SqliteStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn upsert_study(&mut self, name: &str, spec_json: &str) -> Result<StudyId> {
        self.writable("upsert_study")?;
        check_name(name)?;
        check_json(&format!("the specification of study {name:?}"), spec_json)?;
        let now = Timestamp::now().0;
        self.conn
            .query_row(
                "INSERT INTO study (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec,
                     updated_at = CASE WHEN spec = excluded.spec THEN updated_at
                                       ELSE excluded.updated_at END
                 RETURNING id",
                params![name, spec_json, now],
                |r| r.get(0).map(StudyId),
            )
            .at(&self.location)
    }

    fn study(&mut self, name: &str) -> Result<Option<StudyRow>> {
        let sql = format!("SELECT {STUDY_COLUMNS} FROM study WHERE name = ?1 ORDER BY id");
        let rows = query_all(&self.conn, &self.location, &sql, [name], |r, l| {
            common::decode_study(r, l)
        })?;
        Ok(rows.into_iter().next())
    }

    fn studies(&mut self) -> Result<Vec<StudyRow>> {
        let sql = format!("SELECT {STUDY_COLUMNS} FROM study ORDER BY id");
        query_all(&self.conn, &self.location, &sql, [], |r, l| {
            common::decode_study(r, l)
        })
    }

    fn add_cells(&mut self, study: StudyId, cells: &[NewCell]) -> Result<AddReport> {
        self.writable("add_cells")?;
        for c in cells {
            to_i64("seed", c.seed)?;
            check_json(
                &format!("task_config of {}/{}/{}", c.task, c.method, c.seed),
                &c.task_config,
            )?;
            check_json(
                &format!("method_config of {}/{}/{}", c.task, c.method, c.seed),
                &c.method_config,
            )?;
        }
        let location = self.location.clone();
        let tx = self.immediate()?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM study WHERE id = ?1)",
                [study.0],
                |r| r.get(0),
            )
            .at(&location)?;
        if !exists {
            return Err(StoreError::UnknownStudy {
                location,
                study: format!("with id {study}"),
            });
        }
        let now = Timestamp::now().0;
        let mut report = AddReport::default();
        {
            let mut find = tx
                .prepare(
                    "SELECT id, superseded_at IS NOT NULL FROM cell
                     WHERE study_id = ?1 AND task = ?2 AND method = ?3 AND seed = ?4 AND config_hash = ?5",
                )
                .at(&location)?;
            let mut supersede = tx
                .prepare(
                    "UPDATE cell SET superseded_at = ?5
                     WHERE study_id = ?1 AND task = ?2 AND method = ?3 AND seed = ?4
                       AND superseded_at IS NULL",
                )
                .at(&location)?;
            let mut reinstate = tx
                .prepare("UPDATE cell SET superseded_at = NULL WHERE id = ?1")
                .at(&location)?;
            let mut insert = tx
                .prepare(
                    "INSERT INTO cell (study_id, task, method, seed, config_hash, task_config,
                                       method_config, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .at(&location)?;
            for c in cells {
                let seed = to_i64("seed", c.seed)?;
                let found: Option<(i64, bool)> = find
                    .query_row(
                        params![study.0, c.task, c.method, seed, c.config_hash],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .at(&location)?;
                match found {
                    Some((_, false)) => report.existing += 1,
                    Some((id, true)) => {
                        // Supersede first: the partial unique index allows one current cell.
                        report.superseded += supersede
                            .execute(params![study.0, c.task, c.method, seed, now])
                            .at(&location)?;
                        reinstate.execute([id]).at(&location)?;
                        report.reinstated += 1;
                    }
                    None => {
                        report.superseded += supersede
                            .execute(params![study.0, c.task, c.method, seed, now])
                            .at(&location)?;
                        insert
                            .execute(params![
                                study.0,
                                c.task,
                                c.method,
                                seed,
                                c.config_hash,
                                c.task_config,
                                c.method_config,
                                now
                            ])
                            .at(&location)?;
                        report.added += 1;
                    }
                }
            }
        }
        tx.commit().at(&location)?;
        Ok(report)
    }

    fn claim(
        &mut self,
        filter: &ClaimFilter,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedCell>> {
        self.writable("claim")?;
        check_worker(worker)?;
        let study = filter.study;
        let skip = ids_json(&filter.skip);
        let location = self.location.clone();
        let tx = self.immediate()?;
        let now = Timestamp::now();
        let expires = now.plus(lease);
        let claimed = query_all(
            &tx,
            &location,
            &format!(
                "UPDATE cell SET state = 'running', worker = ?1, claimed_at = ?2, heartbeat_at = ?2,
                        lease_expires_at = ?3, attempts = attempts + 1
                 WHERE id = (SELECT id FROM cell
                             WHERE superseded_at IS NULL
                               AND (state = 'queued' OR (state = 'running' AND lease_expires_at <= ?2))
                               AND (?4 IS NULL OR study_id = ?4)
                               AND id NOT IN (SELECT value FROM json_each(?5))
                             ORDER BY id LIMIT 1)
                 RETURNING {CLAIMED_COLUMNS}"
            ),
            params![worker, now.0, expires.0, study.map(|s| s.0), skip],
            |r, l| common::decode_claimed(r, l, worker),
        )?;
        // A cell that cannot be read back stays unclaimed (the transaction rolls back).
        tx.commit().at(&location)?;
        Ok(claimed.into_iter().next())
    }

    fn heartbeat(&mut self, lease: &Lease, extend: Duration) -> Result<Timestamp> {
        self.writable("heartbeat")?;
        let now = Timestamp::now();
        let expires = now.plus(extend);
        let n = self
            .conn
            .execute(
                &format!(
                    "UPDATE cell SET heartbeat_at = ?4, lease_expires_at = ?5 WHERE {LEASE_HELD}"
                ),
                params![lease.cell.0, lease.worker, lease.attempt, now.0, expires.0],
            )
            .at(&self.location)?;
        if n == 0 {
            return Err(lease_error(&self.conn, &self.location, lease));
        }
        Ok(expires)
    }

    fn finish(
        &mut self,
        lease: &Lease,
        result: &CellResult,
        points: &[CurvePointRow],
    ) -> Result<()> {
        self.writable("finish")?;
        check_result(lease.cell, result)?;
        let blob = curve::encode(points);
        let location = self.location.clone();
        let tx = self.immediate()?;
        let now = Timestamp::now().0;
        // The result's columns and values come from lrctl-record, bound after the lease's
        // three and the time.
        let mut values: Vec<rusqlite::types::Value> = vec![
            lease.cell.0.into(),
            lease.worker.clone().into(),
            lease.attempt.into(),
            now.into(),
        ];
        values.extend(result.values().into_iter().map(sql_value));
        let n = tx
            .execute(
                &format!(
                    "UPDATE cell SET state = 'done', lease_expires_at = NULL, heartbeat_at = ?4,
                         finished_at = ?4, {}
                     WHERE {LEASE_HELD}",
                    common::result_assignments('?', 5)
                ),
                rusqlite::params_from_iter(values),
            )
            .map_err(|e| match error_code(&e) {
                Some(ErrorCode::ConstraintViolation) => StoreError::Invalid(format!(
                    "{location}: cell {}: the result refers to provenance {} which is not in this store ({e})",
                    lease.cell, result.provenance
                )),
                _ => db_error(&location, e),
            })?;
        if n == 0 {
            return Err(lease_error(&tx, &location, lease));
        }
        tx.execute(
            "INSERT INTO curve (cell_id, n_points, format, data) VALUES (?1, ?2, 1, ?3)",
            params![lease.cell.0, points.len() as i64, blob],
        )
        .at(&location)?;
        tx.execute(
            "DELETE FROM partial_curve WHERE cell_id = ?1",
            [lease.cell.0],
        )
        .at(&location)?;
        tx.commit().at(&location)
    }

    fn release(&mut self, lease: &Lease) -> Result<()> {
        self.writable("release")?;
        let n = self
            .conn
            .execute(
                &format!(
                    "UPDATE cell SET state = 'queued', worker = NULL, claimed_at = NULL,
                         lease_expires_at = NULL WHERE {LEASE_HELD}"
                ),
                params![lease.cell.0, lease.worker, lease.attempt],
            )
            .at(&self.location)?;
        if n == 0 {
            return Err(lease_error(&self.conn, &self.location, lease));
        }
        Ok(())
    }

    fn requeue_dead_local(&mut self, host: &str) -> Result<usize> {
        self.writable("requeue_dead_local")?;
        let location = self.location.clone();
        let tx = self.immediate()?;
        // Rows that cannot be read are skipped: they cannot be this machine's workers' cells.
        let running: Vec<(i64, String, i64)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, worker, attempts FROM cell WHERE state = 'running'
                       AND typeof(worker) = 'text' AND typeof(attempts) = 'integer'",
                )
                .at(&location)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .at(&location)?;
            rows.collect::<rusqlite::Result<_>>().at(&location)?
        };
        let mut requeued = 0;
        for (id, worker, attempts) in running {
            let Some(pid) = local::local_pid(&worker, host) else {
                continue;
            };
            if local::pid_alive(pid) != Some(false) {
                continue;
            }
            requeued += tx
                .execute(
                    &format!(
                        "UPDATE cell SET state = 'queued', worker = NULL, claimed_at = NULL,
                             lease_expires_at = NULL WHERE {LEASE_HELD}"
                    ),
                    params![id, worker, attempts],
                )
                .at(&location)?;
        }
        tx.commit().at(&location)?;
        Ok(requeued)
    }

    fn cells(&mut self, study: StudyId, which: CellSet) -> Result<Vec<CellRow>> {
        let sql = format!(
            "SELECT {CELL_COLUMNS} FROM cell WHERE study_id = ?1
               AND (?2 OR superseded_at IS NULL) ORDER BY id"
        );
        query_all(
            &self.conn,
            &self.location,
            &sql,
            params![study.0, which == CellSet::All],
            |r, l| common::decode_cell(r, l),
        )
    }

    fn cell_briefs(&mut self, study: StudyId) -> Result<Vec<CellBrief>> {
        let sql = format!(
            "SELECT {} FROM cell WHERE study_id = ?1 AND superseded_at IS NULL ORDER BY id",
            common::brief_columns().join(", ")
        );
        query_all(&self.conn, &self.location, &sql, [study.0], |r, l| {
            common::decode_brief(r, l)
        })
    }

    fn task_cells(&mut self, study: StudyId, task: &str) -> Result<Vec<CellRow>> {
        // The partial unique index `cell_current (study_id, task, method, seed)` finds them.
        let sql = format!(
            "SELECT {CELL_COLUMNS} FROM cell
             WHERE study_id = ?1 AND task = ?2 AND superseded_at IS NULL ORDER BY id"
        );
        query_all(
            &self.conn,
            &self.location,
            &sql,
            params![study.0, task],
            |r, l| common::decode_cell(r, l),
        )
    }

    fn requeue_cells(&mut self, study: StudyId, cells: &[CellId]) -> Result<usize> {
        self.writable("requeue_cells")?;
        let location = self.location.clone();
        let ids = ids_json(cells);
        let tx = self.immediate()?;
        let now = Timestamp::now();
        let chosen = format!(
            "SELECT id FROM cell WHERE study_id = ?1 AND id IN (SELECT value FROM json_each(?2))
               AND NOT (state = 'running' AND lease_expires_at > {})",
            now.0
        );
        for table in ["curve", "partial_curve"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE cell_id IN ({chosen})"),
                params![study.0, ids],
            )
            .at(&location)?;
        }
        let n = tx
            .execute(
                &format!(
                    "UPDATE cell SET state = 'queued', worker = NULL, claimed_at = NULL,
                         heartbeat_at = NULL, lease_expires_at = NULL, finished_at = NULL,
                         {}
                     WHERE id IN ({chosen})",
                    common::result_cleared()
                ),
                params![study.0, ids],
            )
            .at(&location)?;
        tx.commit().at(&location)?;
        Ok(n)
    }

    fn retire_cells(&mut self, study: StudyId, cells: &[CellId]) -> Result<usize> {
        self.writable("retire_cells")?;
        let now = Timestamp::now();
        let n = self
            .conn
            .execute(
                "UPDATE cell SET superseded_at = ?3
                 WHERE study_id = ?1 AND id IN (SELECT value FROM json_each(?2))
                   AND superseded_at IS NULL AND state <> 'running'",
                params![study.0, ids_json(cells), now.0],
            )
            .at(&self.location)?;
        Ok(n)
    }

    fn cell(&mut self, id: CellId) -> Result<Option<CellRow>> {
        let sql = format!("SELECT {CELL_COLUMNS} FROM cell WHERE id = ?1");
        let rows = query_all(&self.conn, &self.location, &sql, [id.0], |r, l| {
            common::decode_cell(r, l)
        })?;
        Ok(rows.into_iter().next())
    }

    fn curve(&mut self, cell: CellId) -> Result<Vec<CurvePointRow>> {
        // `typeof` so that a damaged row (text where the blob belongs) is reported, not
        // converted: the blob is decoded from whatever bytes the column holds.
        let row: Option<(Option<Vec<u8>>, Option<i64>)> = self
            .conn
            .prepare_cached(
                "SELECT CAST(curve.data AS BLOB),
                        CASE WHEN typeof(curve.n_points) = 'integer' THEN curve.n_points END
                 FROM cell LEFT JOIN curve ON curve.cell_id = cell.id WHERE cell.id = ?1",
            )
            .and_then(|mut st| st.query_row([cell.0], |r| Ok((r.get(0)?, r.get(1)?))))
            .optional()
            .at(&self.location)?;
        let row = row.map(|(blob, n)| (blob, n.unwrap_or(-1)));
        let corrupt = |message: String| StoreError::Corrupt {
            location: self.location.clone(),
            message: format!("curve of cell {cell}: {message}"),
        };
        match row {
            None => Err(StoreError::UnknownCell {
                location: self.location.clone(),
                cell,
            }),
            Some((None, _)) => Ok(Vec::new()),
            Some((Some(blob), n)) => {
                let points = curve::decode(&blob).map_err(corrupt)?;
                if points.len() as i64 != n {
                    return Err(corrupt(format!(
                        "{} points, the row says {n}",
                        points.len()
                    )));
                }
                Ok(points)
            }
        }
    }

    fn put_partial_curve(&mut self, lease: &Lease, points: &[CurvePointRow]) -> Result<()> {
        self.writable("put_partial_curve")?;
        let blob = curve::encode(points);
        // One statement: the row is written only while the lease is held.
        let n = self
            .conn
            .execute(
                &format!(
                    "INSERT INTO partial_curve (cell_id, attempt, n_points, format, data, updated_at)
                     SELECT id, attempts, ?4, 1, ?5, ?6 FROM cell WHERE {LEASE_HELD}
                     ON CONFLICT (cell_id) DO UPDATE SET attempt = excluded.attempt,
                         n_points = excluded.n_points, format = excluded.format,
                         data = excluded.data, updated_at = excluded.updated_at"
                ),
                params![
                    lease.cell.0,
                    lease.worker,
                    lease.attempt,
                    points.len() as i64,
                    blob,
                    Timestamp::now().0
                ],
            )
            .at(&self.location)?;
        if n == 0 {
            return Err(lease_error(&self.conn, &self.location, lease));
        }
        Ok(())
    }

    fn partial_curves(&mut self, study: StudyId) -> Result<Vec<PartialCurveInfo>> {
        let sql = format!(
            "SELECT {PARTIAL_COLUMNS} FROM partial_curve p JOIN cell c ON c.id = p.cell_id
             WHERE c.study_id = ?1 AND c.superseded_at IS NULL AND c.state <> 'done'
             ORDER BY p.cell_id"
        );
        query_all(&self.conn, &self.location, &sql, [study.0], |r, l| {
            common::decode_partial(r, l)
        })
    }

    fn partial_curve(&mut self, cell: CellId) -> Result<Vec<CurvePointRow>> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT CAST(data AS BLOB) FROM partial_curve WHERE cell_id = ?1",
                [cell.0],
                |r| r.get(0),
            )
            .optional()
            .at(&self.location)?;
        blob.map_or(Ok(Vec::new()), |b| {
            curve::decode(&b).map_err(|message| StoreError::Corrupt {
                location: self.location.clone(),
                message: format!("partial curve of cell {cell}: {message}"),
            })
        })
    }

    fn progress(&mut self, study: StudyId) -> Result<Progress> {
        // Grouped by value, then each group decoded, so that a damaged state or outcome is
        // reported with one of its cells instead of being counted as something it is not.
        let groups = query_all(
            &self.conn,
            &self.location,
            "SELECT min(id), state, outcome, count(*) FROM cell
             WHERE study_id = ?1 AND superseded_at IS NULL GROUP BY state, outcome",
            [study.0],
            |r, l| {
                let mut g = common::RowReader::new(r, l, "a cell row", "id, state, outcome, count");
                g.named(format!("cell {}", g.int(0)?));
                let state = g.state(1)?;
                let outcome = match g.opt_text(2)? {
                    Some(_) => Some(g.outcome(2)?),
                    None => None,
                };
                Ok((state, outcome, g.u64(3)?))
            },
        )?;
        let mut p = Progress::default();
        for (state, outcome, n) in groups {
            common::count(
                &mut p,
                state.as_str(),
                outcome.map(Outcome::as_str),
                n as usize,
            );
        }
        Ok(p)
    }

    fn put_provenance(&mut self, p: &Provenance) -> Result<ProvenanceId> {
        self.writable("put_provenance")?;
        let location = self.location.clone();
        let tx = self.immediate()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM provenance WHERE lrctl_version = ?1 AND git_commit IS ?2
                   AND config_hash = ?3 AND machine = ?4 AND backend = ?5 ORDER BY id LIMIT 1",
                params![
                    p.lrctl_version,
                    p.git_commit,
                    p.config_hash,
                    p.machine,
                    p.backend
                ],
                |r| r.get(0),
            )
            .optional()
            .at(&location)?;
        let id = match existing {
            Some(id) => id,
            None => tx
                .query_row(
                    "INSERT INTO provenance (lrctl_version, git_commit, config_hash, machine,
                                             backend, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    params![
                        p.lrctl_version,
                        p.git_commit,
                        p.config_hash,
                        p.machine,
                        p.backend,
                        Timestamp::now().0
                    ],
                    |r| r.get(0),
                )
                .at(&location)?,
        };
        tx.commit().at(&location)?;
        Ok(ProvenanceId(id))
    }

    fn provenance(&mut self, id: ProvenanceId) -> Result<Option<ProvenanceRow>> {
        let sql = format!("SELECT {PROVENANCE_COLUMNS} FROM provenance WHERE id = ?1");
        let rows = query_all(&self.conn, &self.location, &sql, [id.0], |r, l| {
            common::decode_provenance(r, l)
        })?;
        Ok(rows.into_iter().next())
    }

    fn put_trial(&mut self, t: &TrialRow) -> Result<bool> {
        self.writable("put_trial")?;
        check_trial(t)?;
        let n = self
            .conn
            .execute(
                &format!(
                    "INSERT INTO trial ({TRIAL_COLUMNS}, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (tuning_key, trial) DO NOTHING"
                ),
                params![
                    t.tuning_key,
                    to_i64("trial", t.trial)?,
                    t.config_json,
                    to_i64("budget", t.budget)?,
                    t.score.filter(|x| x.is_finite()),
                    t.outcome.as_str(),
                    to_i64("steps", t.steps)?,
                    t.seconds,
                    Timestamp::now().0
                ],
            )
            .at(&self.location)?;
        Ok(n == 1)
    }

    fn trials(&mut self, tuning_key: &str) -> Result<Vec<TrialRow>> {
        let sql = format!("SELECT {TRIAL_COLUMNS} FROM trial WHERE tuning_key = ?1 ORDER BY id");
        query_all(&self.conn, &self.location, &sql, [tuning_key], |r, l| {
            common::decode_trial(r, l)
        })
    }
}

/// Cell ids as a JSON array, for `json_each` in SQL.
fn ids_json(ids: &[CellId]) -> String {
    let ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
    serde_json::to_string(&ids).expect("integers serialise")
}

/// A result column's value for rusqlite.
fn sql_value(v: lrctl_record::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match v {
        lrctl_record::Value::Int(x) => x.map_or(Sql::Null, Sql::Integer),
        lrctl_record::Value::Real(x) => x.map_or(Sql::Null, Sql::Real),
        lrctl_record::Value::Text(x) => x.map_or(Sql::Null, Sql::Text),
    }
}
