//! The SQLite schema, its migrations, and the checks that keep lrctl away from files that are
//! not its stores.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{Ctx, db_error, is_sql_error};
use crate::error::{Result, StoreError};

/// `PRAGMA application_id` of lrctl stores ("lrct"), so `file(1)` and lrctl recognise them.
pub(crate) const APPLICATION_ID: i32 = 0x6c72_6374;

pub(crate) use crate::common::Migration;

/// Every migration, oldest first. Append only: released steps are never edited.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
    },
    Migration {
        version: 2,
        sql: V2,
    },
    Migration {
        version: 3,
        sql: V3,
    },
];

/// The newest schema version this binary understands.
pub const SCHEMA_VERSION: u32 = 3;

// Version 3: the curve of a running cell so far, rewritten while it trains so that a
// dashboard shows it live; deleted when the cell finishes. A row left behind by a killed
// worker is that attempt's partial curve.
const V3: &str = r#"
CREATE TABLE partial_curve (
    cell_id    INTEGER PRIMARY KEY REFERENCES cell(id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,   -- the lease's attempt that wrote it
    n_points   INTEGER NOT NULL,
    format     INTEGER NOT NULL,   -- 1 (lrctl_store::curve_blob)
    data       BLOB NOT NULL,
    updated_at INTEGER NOT NULL    -- ms since epoch
);
"#;

// Version 2: the tuners' finished trials, so that a killed tuning run resumes from them.
const V2: &str = r#"
CREATE TABLE trial (
    id         INTEGER PRIMARY KEY,   -- insertion order = the order results were told
    tuning_key TEXT NOT NULL,         -- SHA-256 of task, method, tuner settings, tuning seed
    trial      INTEGER NOT NULL,      -- the tuner's trial id
    config     TEXT NOT NULL,         -- JSON: parameter -> value
    budget     INTEGER NOT NULL,      -- steps
    score      REAL,                  -- NULL: not finite
    outcome    TEXT NOT NULL CHECK (outcome IN ('finished', 'diverged', 'failed')),
    steps      INTEGER NOT NULL,      -- steps actually trained (charged)
    seconds    REAL NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tuning_key, trial)
);
"#;

// Times are INTEGER milliseconds since the Unix epoch (UTC): cheap to compare for leases and
// the same in every back end. Comments stay in sqlite_master, so `.schema` documents the file.
const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,   -- application, schema_version, created_by, created_at
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('application', 'lrctl');

CREATE TABLE provenance (
    id            INTEGER PRIMARY KEY,
    lrctl_version TEXT NOT NULL,
    git_commit    TEXT,
    config_hash   TEXT NOT NULL,
    machine       TEXT NOT NULL,
    backend       TEXT NOT NULL,
    created_at    INTEGER NOT NULL   -- ms since epoch
);

CREATE TABLE study (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL,      -- resolved study specification, JSON
    created_at INTEGER NOT NULL,   -- ms since epoch
    updated_at INTEGER NOT NULL    -- ms since epoch, last change of spec
);

CREATE TABLE cell (
    id            INTEGER PRIMARY KEY,
    study_id      INTEGER NOT NULL REFERENCES study(id),
    task          TEXT NOT NULL,
    method        TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    config_hash   TEXT NOT NULL,
    task_config   TEXT NOT NULL,   -- JSON
    method_config TEXT NOT NULL,   -- JSON
    created_at    INTEGER NOT NULL,
    superseded_at INTEGER,         -- set when a cell with another config_hash replaced this one
    -- lifecycle: queued -> running (leased by worker) -> done (result written once)
    state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
    worker           TEXT,         -- host:pid[/slot] holding it, or that wrote the result
    attempts         INTEGER NOT NULL DEFAULT 0,   -- claims so far; identifies the lease
    claimed_at       INTEGER,
    heartbeat_at     INTEGER,
    lease_expires_at INTEGER,
    -- result (all NULL until done)
    outcome           TEXT CHECK (outcome IN ('finished', 'diverged', 'failed')),
    reason            TEXT,
    steps             INTEGER,
    total_steps       INTEGER,
    n_params          INTEGER,
    final_train_loss  REAL,
    last_batch_loss   REAL,
    train_loss        REAL,
    train_metric      REAL,
    validation_loss   REAL,
    validation_metric REAL,
    test_loss         REAL,
    test_metric       REAL,
    metric_name       TEXT,        -- accuracy | bits_per_byte
    seconds           REAL,
    eval_seconds      REAL,
    cost_steps        INTEGER,     -- steps charged incl. tuning
    cost_seconds      REAL,
    result_json       TEXT,        -- the full result, JSON
    finished_at       INTEGER,
    provenance_id     INTEGER REFERENCES provenance(id),
    UNIQUE (study_id, task, method, seed, config_hash),
    CHECK ((state = 'done') = (outcome IS NOT NULL)),
    CHECK (state <> 'running' OR (worker IS NOT NULL AND lease_expires_at IS NOT NULL))
);
-- At most one current cell per (study, task, method, seed).
CREATE UNIQUE INDEX cell_current ON cell (study_id, task, method, seed) WHERE superseded_at IS NULL;
CREATE INDEX cell_state ON cell (state, study_id) WHERE superseded_at IS NULL;

-- One learning curve per done cell, as a binary blob (format: lrctl_store::curve_blob).
CREATE TABLE curve (
    cell_id  INTEGER PRIMARY KEY REFERENCES cell(id) ON DELETE CASCADE,
    n_points INTEGER NOT NULL,
    format   INTEGER NOT NULL,     -- 1
    data     BLOB NOT NULL
);
"#;

/// What an opened SQLite file holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No schema objects at all: a new or empty database that lrctl may initialise.
    Empty,
    /// An lrctl store at this schema version.
    Lrctl(u32),
}

/// Decides whether the database is empty, an lrctl store, or something else (refused).
/// Reads only.
pub(crate) fn inspect(conn: &Connection, location: &str) -> Result<Found> {
    let not_store = |why: String| StoreError::NotAStore {
        location: location.to_string(),
        why,
    };
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .at(location)?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(not_store(format!(
            "an SQLite database of another application (application_id {app_id:#x})"
        )));
    }
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .at(location)?;
    let objects: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .at(location)?
        .collect::<rusqlite::Result<_>>()
        .at(location)?;
    if objects.is_empty() {
        return Ok(Found::Empty);
    }
    if !objects.iter().any(|o| o == "meta") {
        let mut list = objects
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if objects.len() > 5 {
            list.push_str(", …");
        }
        return Err(not_store(format!(
            "an SQLite database with tables or indexes {list} but no lrctl meta table"
        )));
    }
    let meta = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    let application = match meta("application") {
        Ok(a) => a,
        // A meta table without key/value columns: someone else's table.
        Err(e) if is_sql_error(&e) => {
            return Err(not_store(format!("its meta table is not lrctl's ({e})")));
        }
        Err(e) => return Err(db_error(location, e)),
    };
    if application.as_deref() != Some("lrctl") {
        return Err(not_store(
            "its meta table does not say application = lrctl".into(),
        ));
    }
    let version = meta("schema_version").at(location)?;
    match version.as_deref().map(str::parse::<u32>) {
        Some(Ok(v)) => Ok(Found::Lrctl(v)),
        _ => Err(StoreError::Corrupt {
            location: location.to_string(),
            message: format!("meta.schema_version is {version:?}, not a version number"),
        }),
    }
}

/// Brings the store to the newest version in `migrations`, in one immediate transaction that
/// re-inspects the file under the write lock (another process may have just created it).
pub(crate) fn migrate(
    conn: &mut Connection,
    location: &str,
    migrations: &[Migration],
) -> Result<()> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .at(location)?;
    let from = match inspect(&tx, location)? {
        Found::Empty => 0,
        Found::Lrctl(v) => v,
    };
    if from > latest {
        return Err(StoreError::TooNew {
            location: location.to_string(),
            found: from,
            supported: latest,
        });
    }
    if from == latest {
        return Ok(());
    }
    let failed = |to: u32, e: rusqlite::Error| StoreError::Migration {
        location: location.to_string(),
        from,
        to,
        message: e.to_string(),
    };
    for m in migrations.iter().filter(|m| m.version > from) {
        tx.execute_batch(m.sql).map_err(|e| failed(m.version, e))?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [m.version.to_string()],
        )
        .map_err(|e| failed(m.version, e))?;
    }
    if from == 0 {
        let now = crate::types::Timestamp::now().to_string();
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('created_by', ?1), ('created_at', ?2)",
            [crate::common::created_by(), now],
        )
        .map_err(|e| failed(1, e))?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| failed(1, e))?;
    }
    tx.commit().map_err(|e| failed(latest, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::{NewCell, Store};

    #[test]
    fn schema_version_is_the_last_migration() {
        crate::common::assert_numbered(MIGRATIONS);
    }

    const NEXT: Migration = Migration {
        version: SCHEMA_VERSION + 1,
        sql: "ALTER TABLE cell ADD COLUMN note TEXT;
              UPDATE cell SET note = 'from v1: ' || task;",
    };
    const V2_BROKEN: Migration = Migration {
        version: 2,
        sql: "ALTER TABLE cell ADD COLUMN note TEXT;
              UPDATE no_such_table SET x = 1;",
    };

    fn v1_store_with_a_cell(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("s.db");
        let mut s =
            SqliteStore::open_with_migrations(&path, &SqliteOptions::default(), &MIGRATIONS[..1])
                .unwrap();
        let study = s.upsert_study("st", "{}").unwrap();
        let cell = NewCell {
            task: "iris".into(),
            method: "adam".into(),
            seed: 0,
            config_hash: "h".into(),
            task_config: "{}".into(),
            method_config: "{}".into(),
        };
        s.add_cells(study, &[cell]).unwrap();
        path
    }

    fn version(path: &std::path::Path) -> String {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn older_store_is_migrated_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = v1_store_with_a_cell(&dir);
        assert_eq!(version(&path), "1");
        let mut migrations: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|m| Migration {
                version: m.version,
                sql: m.sql,
            })
            .collect();
        migrations.push(NEXT);
        let mut s =
            SqliteStore::open_with_migrations(&path, &SqliteOptions::default(), &migrations)
                .unwrap();
        assert_eq!(version(&path), (SCHEMA_VERSION + 1).to_string());
        assert!(s.trials("k").unwrap().is_empty(), "the real steps ran too");
        let note: String = s
            .conn
            .query_row("SELECT note FROM cell", [], |r| r.get(0))
            .unwrap();
        assert_eq!(note, "from v1: iris");
        let study = s.study("st").unwrap().unwrap();
        assert_eq!(s.cells(study.id, crate::CellSet::Current).unwrap().len(), 1);
        drop(s);
        // This binary now refuses the newer store, naming the file and both versions.
        let err = SqliteStore::open(&path).err().unwrap();
        assert!(
            matches!(
                err,
                StoreError::TooNew { found, supported, .. }
                    if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
            ),
            "{err}"
        );
    }

    #[test]
    fn a_read_only_open_never_migrates() {
        let dir = tempfile::tempdir().unwrap();
        let path = v1_store_with_a_cell(&dir);
        let options = SqliteOptions {
            mode: crate::OpenMode::ReadOnly,
            ..SqliteOptions::default()
        };
        let err = SqliteStore::open_with(&path, &options).err().unwrap();
        assert!(
            matches!(err, StoreError::NeedsMigration { found: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade it"), "{err}");
        assert_eq!(version(&path), "1");
    }

    #[test]
    fn failed_migration_leaves_the_store_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = v1_store_with_a_cell(&dir);
        let migrations = [
            Migration {
                version: 1,
                sql: V1,
            },
            V2_BROKEN,
        ];
        let err = SqliteStore::open_with_migrations(&path, &SqliteOptions::default(), &migrations)
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::Migration { from: 1, to: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("left at version 1"), "{err}");
        assert_eq!(version(&path), "1");
        let conn = Connection::open(&path).unwrap();
        let has_note = conn.prepare("SELECT note FROM cell").is_ok();
        assert!(!has_note, "the half-applied ALTER TABLE was rolled back");
        drop(conn);
        let mut s = SqliteStore::open(&path).unwrap();
        let study = s.study("st").unwrap().unwrap();
        assert_eq!(s.cells(study.id, crate::CellSet::Current).unwrap().len(), 1);
    }
}
