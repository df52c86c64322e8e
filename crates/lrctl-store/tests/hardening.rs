//! Opening modes and hostile content: read-only stores, unreachable servers, and rows a store
//! may contain after damage or hand edits, read back without a panic.
//!
//! The property tests run `PROPTEST_CASES` cases (default 64, a few seconds); set it higher for
//! a longer fuzzing run, e.g. `PROPTEST_CASES=20000 cargo test -p lrctl-store --test hardening`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lrctl_store::{
    Notice, OpenMode, OpenOptions, PostgresOptions, PostgresStore, SqliteStore, Store, StoreError,
    TrialRow,
};
use proptest::prelude::*;
use rusqlite::Connection;

use common::{curve_for, new_cells, provenance, result_for, same_curve};

/// A store with one study of 4 cells, 2 of them done, and one trial. Closed when this returns.
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
    s.put_trial(&TrialRow {
        tuning_key: "k".into(),
        trial: 1,
        config_json: r#"{"lr":0.1}"#.into(),
        budget: 10,
        score: Some(0.5),
        outcome: lrctl_store::Outcome::Finished,
        steps: 10,
        seconds: 0.1,
    })
    .unwrap();
}

/// Every file in `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Read-only commands work on a store in a read-only directory, and leave no trace: no file
/// changes, none appears (SQLite would otherwise create its `-wal`/`-shm` files next to it).
#[cfg(unix)]
#[test]
fn a_read_only_store_is_read_without_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("ro");
    std::fs::create_dir(&store_dir).unwrap();
    let path = store_dir.join("lrctl.db");
    populated(&path);
    set_mode(&path, 0o444);
    set_mode(&store_dir, 0o555);
    let before = snapshot(&store_dir);

    let mut s = lrctl_store::open_read_only(&path.display().to_string()).unwrap();
    let study = s.study("st").unwrap().unwrap();
    assert_eq!(s.studies().unwrap().len(), 1);
    let cells = s.cells(study.id, lrctl_store::CellSet::All).unwrap();
    assert_eq!(cells.len(), 4);
    let done: Vec<_> = cells.iter().filter(|c| c.result.is_some()).collect();
    assert_eq!(done.len(), 2);
    for c in &done {
        assert!(same_curve(&s.curve(c.id).unwrap(), &curve_for(c.id, 20)));
        let prov = c.result.as_ref().unwrap().provenance;
        assert!(s.provenance(prov).unwrap().is_some());
        assert_eq!(s.cell(c.id).unwrap().as_ref(), Some(*c));
    }
    assert_eq!(s.progress(study.id).unwrap().done, 2);
    assert_eq!(s.trials("k").unwrap().len(), 1);

    // Every write is refused by the store itself, naming the store and the operation.
    let lease = lrctl_store::Lease {
        cell: cells[0].id,
        worker: "w".into(),
        attempt: 1,
        expires_at: lrctl_store::Timestamp(0),
    };
    let refusals = [
        s.upsert_study("x", "{}").err(),
        s.add_cells(study.id, &new_cells(1, "z")).err(),
        s.claim(
            &lrctl_store::ClaimFilter::any(),
            "w",
            Duration::from_secs(1),
        )
        .err(),
        s.heartbeat(&lease, Duration::from_secs(1)).err(),
        s.finish(
            &lease,
            &result_for(lease.cell, 0, lrctl_store::ProvenanceId(1)),
            &[],
        )
        .err(),
        s.release(&lease).err(),
        s.requeue_dead_local("h").err(),
        s.put_provenance(&lrctl_store::Provenance {
            lrctl_version: "x".into(),
            git_commit: None,
            config_hash: "c".into(),
            machine: "m".into(),
            backend: "b".into(),
        })
        .err(),
    ];
    for e in refusals {
        let e = e.expect("a read-only store refuses every write");
        assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
        assert!(e.to_string().contains("lrctl.db"), "{e}");
    }
    drop(s);

    let after = snapshot(&store_dir);
    set_mode(&store_dir, 0o755);
    set_mode(&path, 0o644);
    assert_eq!(
        before.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        after.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "no file appeared next to the store"
    );
    assert!(before == after, "the store's bytes did not change");
}

/// While a writer has the store open, a reader sees its committed data (through the log).
#[test]
fn a_reader_sees_what_an_open_writer_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lrctl.db");
    let mut w = SqliteStore::open(&path).unwrap();
    let study = w.upsert_study("st", "{}").unwrap();
    w.add_cells(study, &new_cells(3, "h")).unwrap();
    let mut r = lrctl_store::open_read_only(&path.display().to_string()).unwrap();
    assert_eq!(
        r.cells(study, lrctl_store::CellSet::Current).unwrap().len(),
        3
    );
    w.add_cells(study, &new_cells(6, "h")).unwrap();
    assert_eq!(
        r.cells(study, lrctl_store::CellSet::Current).unwrap().len(),
        6
    );
}

#[test]
fn reading_a_missing_store_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.db");
    let e = lrctl_store::open_read_only(&path.display().to_string())
        .err()
        .unwrap();
    assert!(matches!(e, StoreError::Missing { .. }), "{e}");
    assert!(!path.exists());
    // An empty file is not a store either, and stays empty.
    std::fs::write(&path, b"").unwrap();
    let e = lrctl_store::open_read_only(&path.display().to_string())
        .err()
        .unwrap();
    assert!(matches!(e, StoreError::Missing { .. }), "{e}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

/// The port of a listener that was closed again: nothing listens there.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs `f` on a thread and returns its value, failing the test if it hangs (a guard against
/// the old five-minute silent retry loop, not a timing assertion: the bound is generous).
fn no_hang<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the call returned instead of retrying for minutes")
}

#[test]
fn an_unreachable_server_fails_an_interactive_command_at_once_with_its_reason() {
    let url = format!("postgres://u:hunter2@127.0.0.1:{}/x", closed_port());
    let notices = Arc::new(Mutex::new(Vec::<Notice>::new()));
    let seen = Arc::clone(&notices);
    let options =
        OpenOptions::interactive(OpenMode::ReadOnly).with_notices(Arc::new(move |n: &Notice| {
            seen.lock().unwrap().push(n.clone())
        }));
    let e = no_hang(move || lrctl_store::open_with(&url, &options).err().unwrap());
    let msg = e.to_string();
    assert!(
        matches!(e, StoreError::Unavailable { waited: 0, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("unreachable") && msg.contains("127.0.0.1"),
        "{msg}"
    );
    assert!(!msg.contains("retrying"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(
        notices.lock().unwrap().is_empty(),
        "an interactive command does not wait"
    );
}

#[test]
fn a_worker_waits_for_the_server_and_says_so() {
    let url = format!("postgres://u:hunter2@127.0.0.1:{}/x", closed_port());
    let notices = Arc::new(Mutex::new(Vec::<Notice>::new()));
    let seen = Arc::clone(&notices);
    let options = PostgresOptions {
        retry_for: Duration::from_millis(700),
        ..PostgresOptions::from_open(&OpenOptions::worker(
            OpenMode::Existing,
            Some(Arc::new(move |n: &Notice| {
                seen.lock().unwrap().push(n.clone())
            })),
        ))
    };
    let e = no_hang(move || PostgresStore::open_with(&url, &options).err().unwrap());
    assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
    let notices = notices.lock().unwrap();
    assert!(!notices.is_empty(), "the worker reported its waits");
    for n in notices.iter() {
        let Notice::Waiting { location, .. } = n else {
            panic!("unexpected notice {n:?}");
        };
        assert!(location.contains("u:***@127.0.0.1"), "{location}");
        assert!(!n.to_string().contains("hunter2"), "{n}");
    }
}

// ---- Rows a store may contain -------------------------------------------------------------

/// One value of any SQLite type.
#[derive(Debug, Clone)]
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V};
        Ok(ToSqlOutput::Owned(match self {
            Value::Null => V::Null,
            Value::Int(i) => V::Integer(*i),
            Value::Real(r) => V::Real(*r),
            Value::Text(t) => V::Text(t.clone()),
            Value::Blob(b) => V::Blob(b.clone()),
        }))
    }
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![Just(-1i64), Just(0), Just(1), Just(i64::MAX)].prop_map(Value::Int),
        any::<f64>().prop_map(Value::Real),
        ".{0,12}".prop_map(Value::Text),
        prop_oneof![
            Just("queued"),
            Just("running"),
            Just("done"),
            Just("finished"),
            Just("failed"),
            Just("{}"),
            Just("{\"a\":"),
            Just("null"),
        ]
        .prop_map(|s| Value::Text(s.into())),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Blob),
    ]
}

/// The columns of the cell table that a damaged row may hold anything in (the id is kept so
/// that the row can be found).
const CELL_VALUE_COLUMNS: &[&str] = &[
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

/// A store file with one study (id 1) and one cell row whose columns are overwritten with
/// `values` (in [`CELL_VALUE_COLUMNS`] order, `None`: keep), constraints ignored.
fn store_with_row(dir: &Path, values: &[Option<Value>], curve: Option<(Value, Value)>) -> PathBuf {
    // Populated once per test process, copied for each case.
    static TEMPLATE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lrctl.db");
        populated(&path);
        std::fs::read(&path).unwrap()
    });
    let path = dir.join("lrctl.db");
    std::fs::write(&path, template).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA ignore_check_constraints = ON; PRAGMA foreign_keys = OFF;")
        .unwrap();
    // A value the database refuses (NOT NULL, uniqueness) is one a store cannot contain.
    for (col, v) in CELL_VALUE_COLUMNS.iter().zip(values) {
        if let Some(v) = v {
            let _ = conn.execute(&format!("UPDATE cell SET {col} = ?1 WHERE id = 1"), [v]);
        }
    }
    if let Some((data, n)) = curve {
        let _ = conn.execute("UPDATE curve SET data = ?1 WHERE cell_id = 1", [data]);
        let _ = conn.execute("UPDATE curve SET n_points = ?1 WHERE cell_id = 1", [n]);
    }
    path
}

/// Every read of `path` returns a value or a store error naming what is wrong, never a panic;
/// returns the errors.
fn read_everything(path: &Path) -> Vec<StoreError> {
    let mut errors = Vec::new();
    for mode in [OpenMode::Existing, OpenMode::ReadOnly] {
        let mut s =
            lrctl_store::open_with(&path.display().to_string(), &OpenOptions::interactive(mode))
                .unwrap();
        let mut note = |r: Result<(), StoreError>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };
        note(s.studies().map(drop));
        for study in 0..3 {
            let study = lrctl_store::StudyId(study);
            note(s.cells(study, lrctl_store::CellSet::All).map(drop));
            note(s.cells(study, lrctl_store::CellSet::Current).map(drop));
            note(s.progress(study).map(drop));
        }
        for cell in 0..6 {
            note(s.cell(lrctl_store::CellId(cell)).map(drop));
        }
        for cell in 1..=4 {
            note(s.curve(lrctl_store::CellId(cell)).map(drop));
        }
        note(s.provenance(lrctl_store::ProvenanceId(1)).map(drop));
        note(s.trials("k").map(drop));
        if mode == OpenMode::Existing {
            // Claiming reads the row it takes; writing into a damaged row may also be refused
            // by the database's own checks: any error will do, but no panic.
            let _ = s.claim(
                &lrctl_store::ClaimFilter::any(),
                "w",
                Duration::from_secs(1),
            );
        }
    }
    errors
}

fn check_errors(errors: &[StoreError]) {
    for e in errors {
        let msg = e.to_string();
        match e {
            StoreError::Malformed { row, column, .. } => {
                assert!(row.starts_with("cell") || row.contains("row"), "{msg}");
                assert!(
                    CELL_VALUE_COLUMNS.contains(&column.as_str()) || column == "id",
                    "{msg}"
                );
            }
            StoreError::Corrupt { .. } => assert!(msg.contains("curve of cell"), "{msg}"),
            other => panic!("unexpected error kind: {other}"),
        }
        assert!(msg.contains("lrctl.db"), "{msg}");
    }
}

fn row_values() -> impl Strategy<Value = Vec<Option<Value>>> {
    proptest::collection::vec(
        proptest::option::weighted(0.25, any_value()),
        CELL_VALUE_COLUMNS.len(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn any_stored_cell_row_reads_back_without_a_panic(values in row_values()) {
        let dir = tempfile::tempdir().unwrap();
        let path = store_with_row(dir.path(), &values, None);
        check_errors(&read_everything(&path));
    }

    #[test]
    fn any_stored_curve_reads_back_without_a_panic(data in any_value(), n in any_value()) {
        let dir = tempfile::tempdir().unwrap();
        let path = store_with_row(dir.path(), &[], Some((data, n)));
        check_errors(&read_everything(&path));
    }
}

#[test]
fn damaged_rows_are_named_by_cell_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let col = |name: &str| CELL_VALUE_COLUMNS.iter().position(|c| *c == name).unwrap();
    let mut values = vec![None; CELL_VALUE_COLUMNS.len()];
    values[col("task_config")] = Some(Value::Text("{\"budget\": ".into()));
    let path = store_with_row(dir.path(), &values, None);
    let mut s = lrctl_store::open_read_only(&path.display().to_string()).unwrap();
    let e = s
        .cells(lrctl_store::StudyId(1), lrctl_store::CellSet::Current)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(&e, StoreError::Malformed { row, column, .. } if row == "cell 1" && column == "task_config"),
        "{msg}"
    );
    assert!(msg.contains("not valid JSON"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let mut values = vec![None; CELL_VALUE_COLUMNS.len()];
    values[col("seconds")] = Some(Value::Null);
    let path = store_with_row(dir.path(), &values, None);
    let mut s = lrctl_store::open_read_only(&path.display().to_string()).unwrap();
    let e = s.cell(lrctl_store::CellId(1)).unwrap_err();
    assert!(
        matches!(&e, StoreError::Malformed { column, .. } if column == "seconds"),
        "{e}"
    );
    assert!(e.to_string().contains("is NULL"), "{e}");
}

// ---- Store locations ----------------------------------------------------------------------

/// Password-like strings: long enough not to occur in a message by chance, holding the
/// characters that split URLs.
fn password() -> impl Strategy<Value = String> {
    "[A-Za-z0-9@:/?#%&=+ .!-]{0,12}".prop_map(|tail| format!("Pw7x{tail}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// Any text is a location or a clear error; neither shows a password.
    #[test]
    fn any_location_parses_or_fails_without_a_panic(s in ".{0,40}") {
        let shown = lrctl_store::redact(&s);
        prop_assert!(shown.len() <= s.len() + 3 * (s.matches('@').count() + s.len()));
        if let Err(e) = lrctl_store::Location::parse(&s) {
            let msg = e.to_string();
            prop_assert!(!msg.is_empty());
        }
    }

    /// A URL's password never survives redaction, whatever it holds, and neither the parse
    /// error of a malformed URL nor the location a store reports shows it.
    #[test]
    fn passwords_never_survive_redaction(
        scheme in prop_oneof![Just("postgres"), Just("postgresql"), Just("POSTGRES"), Just("sqlite")],
        user in "[a-z]{0,6}",
        pass in password(),
        host in prop_oneof![
            Just("127.0.0.1:1".to_string()),
            Just("db.example".to_string()),
            Just("[::1]:5432".to_string()),
            "[a-z:0-9.]{0,10}",
        ],
        tail in prop_oneof![Just(String::new()), "/[a-z]{0,6}", "/[a-z]{1,4}\\?[a-z_=&]{0,12}"],
        query_password in any::<bool>(),
    ) {
        let mut url = format!("{scheme}://{user}:{pass}@{host}{tail}");
        if query_password {
            url = format!("{scheme}://{user}@{host}/db?sslmode=disable&password={pass}");
        }
        let shown = lrctl_store::redact(&url);
        prop_assert!(!shown.contains(&pass), "{} -> {}", url, shown);
        prop_assert_eq!(lrctl_store::redact(&shown), shown.clone(), "idempotent");
        if let Ok(lrctl_store::Location::Postgres(pg)) = lrctl_store::Location::parse(&url) {
            // Only the parsing step: a malformed URL is refused before any connection.
            if let Err(e) = pg.parse::<postgres::Config>() {
                let options = OpenOptions::interactive(OpenMode::ReadOnly);
                let err = lrctl_store::open_with(&url, &options).err().unwrap();
                let msg = err.to_string();
                prop_assert!(!msg.contains(&pass), "{} leaked in {} ({})", pass, msg, e);
            }
        }
    }
}
