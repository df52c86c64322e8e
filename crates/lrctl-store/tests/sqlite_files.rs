//! The SQLite file itself: what is created, what is refused (and left untouched), damage and
//! locks.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lrctl_store::{SCHEMA_VERSION, SqliteOptions, SqliteStore, Store, StoreError};
use rusqlite::Connection;

use common::{curve_for, new_cells, provenance, result_for, same_curve};

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lrctl.db");
    (dir, path)
}

/// A store with one study of 4 cells, 2 of them done. Closed when this returns.
fn populated(path: &Path) {
    let mut s = SqliteStore::open(path).unwrap();
    let prov = provenance(&mut s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(4, "h")).unwrap();
    for _ in 0..2 {
        let lease = s
            .claim(
                &lrctl_store::ClaimFilter::any(),
                "w",
                Duration::from_secs(60),
            )
            .unwrap()
            .unwrap()
            .lease;
        s.finish(
            &lease,
            &result_for(lease.cell, 0, prov),
            &curve_for(lease.cell, 20),
        )
        .unwrap();
    }
}

fn check_populated(path: &Path) {
    let mut s = SqliteStore::open(path).unwrap();
    s.integrity_check().unwrap();
    let study = s.study("st").unwrap().unwrap().id;
    let cells = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    assert_eq!(cells.len(), 4);
    let done: Vec<_> = cells.iter().filter(|c| c.result.is_some()).collect();
    assert_eq!(done.len(), 2);
    for c in done {
        let prov = c.result.as_ref().unwrap().provenance;
        assert_eq!(c.result, Some(result_for(c.id, 0, prov)));
        assert!(same_curve(&s.curve(c.id).unwrap(), &curve_for(c.id, 20)));
    }
}

#[test]
fn new_store_is_wal_and_marked_as_lrctl() {
    let (_dir, path) = tmp();
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, 0x6c72_6374);
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION.to_string());
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    assert_eq!(
        tables,
        [
            "cell",
            "curve",
            "meta",
            "partial_curve",
            "provenance",
            "study",
            "trial"
        ]
    );
}

#[test]
fn data_survives_reopening() {
    let (_dir, path) = tmp();
    populated(&path);
    check_populated(&path);
    let mut s = lrctl_store::open(&format!("sqlite://{}", path.display())).unwrap();
    assert!(s.study("st").unwrap().is_some());
    assert_eq!(s.location(), path.display().to_string());
}

#[test]
fn text_file_is_refused_and_left_untouched() {
    let (_dir, path) = tmp();
    let text = b"task,method,seed\niris,adam,0\n".repeat(100);
    std::fs::write(&path, &text).unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{msg}");
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("not an SQLite database"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), text);
    assert!(lrctl_store::open(path.to_str().unwrap()).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), text);
    // A file shorter than SQLite's header too.
    std::fs::write(&path, b"hi").unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::NotAStore { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"hi");
}

#[test]
fn other_sqlite_database_is_refused_and_left_untouched() {
    let (dir, path) = tmp();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE results (id INTEGER PRIMARY KEY, loss REAL);
             INSERT INTO results (loss) VALUES (0.5), (0.25);",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{msg}");
    assert!(
        msg.contains("results") && msg.contains("no lrctl meta table"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "byte-identical");
    let mode: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "journal mode not switched to WAL");

    // A table called meta that is not lrctl's.
    let path2 = dir.path().join("meta.db");
    Connection::open(&path2)
        .unwrap()
        .execute_batch("CREATE TABLE meta (k TEXT, v TEXT); INSERT INTO meta VALUES ('a', 'b');")
        .unwrap();
    let before = std::fs::read(&path2).unwrap();
    let err = SqliteStore::open(&path2).err().unwrap();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert_eq!(std::fs::read(&path2).unwrap(), before);

    // Another application's id, even without tables.
    let path3 = dir.path().join("app.db");
    Connection::open(&path3)
        .unwrap()
        .pragma_update(None, "application_id", 42)
        .unwrap();
    let before = std::fs::read(&path3).unwrap();
    let err = SqliteStore::open(&path3).err().unwrap();
    assert!(err.to_string().contains("another application"), "{err}");
    assert_eq!(std::fs::read(&path3).unwrap(), before);
}

#[test]
fn directory_and_missing_paths() {
    let (dir, path) = tmp();
    assert!(matches!(
        SqliteStore::open(dir.path()),
        Err(StoreError::NotAStore { .. })
    ));
    let err = lrctl_store::open_existing(path.to_str().unwrap())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("lrctl.db"), "{err}");
    assert!(!path.exists(), "open_existing created nothing");
    let nested = dir.path().join("no/such/dir/x.db");
    let err = SqliteStore::open(&nested).err().unwrap();
    assert!(err.to_string().contains("does not exist"), "{err}");
    // An empty file (e.g. from `touch`) holds nothing and becomes a store.
    std::fs::write(&path, b"").unwrap();
    let mut s = lrctl_store::open_existing(path.to_str().unwrap()).unwrap();
    s.upsert_study("st", "{}").unwrap();
}

#[test]
fn newer_schema_is_refused_with_a_clear_message() {
    let (_dir, path) = tmp();
    populated(&path);
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                supported: SCHEMA_VERSION,
                ..
            }
        ),
        "{msg}"
    );
    for part in [
        &path.display().to_string(),
        "99",
        &SCHEMA_VERSION.to_string(),
        "upgrade lrctl",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn damaged_file_is_an_error_not_a_panic() {
    let (_dir, path) = tmp();
    populated(&path);
    let good = std::fs::read(&path).unwrap();
    // Overwrite page 1 after the 100-byte header: sqlite_master becomes garbage.
    let mut bad = good.clone();
    for (i, b) in bad[100..4096].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    std::fs::write(&path, &bad).unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("damaged"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bad,
        "nothing written to a damaged file"
    );

    // Damage in a data page (the curve table's, which holds rows) is found by the integrity
    // check.
    std::fs::write(&path, &good).unwrap();
    let root: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'curve'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut bad = good.clone();
    let last_page = (root as usize - 1) * 4096;
    for b in &mut bad[last_page + 8..last_page + 4000] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bad).unwrap();
    let found = SqliteStore::open(&path).and_then(|mut s| {
        s.integrity_check()?;
        let study = s.study("st")?.unwrap().id;
        for c in s.cells(study, lrctl_store::CellSet::All)? {
            s.curve(c.id)?;
        }
        Ok(())
    });
    assert!(
        matches!(found, Err(StoreError::Corrupt { .. })),
        "{found:?}"
    );
}

#[test]
fn a_lock_held_too_long_is_a_clear_error_and_loses_nothing() {
    let (_dir, path) = tmp();
    populated(&path);
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let mut s = SqliteStore::open_with(&path, &options).unwrap();
    let study = s.study("st").unwrap().unwrap().id; // readers are not blocked (WAL)
    let err = s.add_cells(study, &new_cells(8, "h")).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("locked by another process"),
        "{err}"
    );
    assert!(matches!(
        s.claim(
            &lrctl_store::ClaimFilter::any(),
            "w",
            Duration::from_secs(1)
        ),
        Err(StoreError::Locked { .. })
    ));
    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(s.add_cells(study, &new_cells(8, "h")).unwrap().added, 4);
    drop(s);
    drop(holder);
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.progress(study).unwrap().total(), 8);
    drop(s);
    // The first four cells and both results are as before.
    let mut s = SqliteStore::open(&path).unwrap();
    let cells = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    assert_eq!(cells.iter().filter(|c| c.result.is_some()).count(), 2);
}

#[test]
fn many_processes_creating_the_same_store_at_once() {
    let (_dir, path) = tmp();
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = SqliteStore::open(&path).unwrap();
                s.upsert_study(&format!("s{i}"), "{}").unwrap()
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.studies().unwrap().len(), 6);
    let n: i64 = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "schema created once");
    s.integrity_check().unwrap();
}
