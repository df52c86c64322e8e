//! The conformance suite, and the database-level checks, against the PostgreSQL back end.
//!
//! Needs a server: `LRCTL_TEST_POSTGRES` is the URL of a database whose user may create
//! databases (each test gets a fresh one, dropped afterwards). `.ci/run` starts a throwaway
//! server and sets it, together with `LRCTL_REQUIRE_POSTGRES=1`, which turns a missing server
//! into a failure instead of a skip.

mod common;
mod suite;

use std::sync::atomic::{AtomicUsize, Ordering};

use lrctl_store::{PostgresOptions, PostgresStore, SCHEMA_VERSION, Store, StoreError};
use suite::{Backend, Connector};

/// The admin URL, or `None` (skip) when no server was provided.
fn admin_url() -> Option<String> {
    match std::env::var("LRCTL_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("LRCTL_REQUIRE_POSTGRES").is_none(),
                "LRCTL_REQUIRE_POSTGRES is set but LRCTL_TEST_POSTGRES (a server URL) is not"
            );
            eprintln!("skipped: set LRCTL_TEST_POSTGRES=postgres://… to run the PostgreSQL tests");
            None
        }
    }
}

/// A database created for one test and dropped when this is dropped.
struct TempDb {
    admin: String,
    name: String,
    url: String,
}

impl TempDb {
    fn new(admin: &str) -> TempDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "lrctl_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = with_db(admin, &name);
        TempDb {
            admin: admin.to_string(),
            name,
            url,
        }
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `url` with its database replaced by `db`.
fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").unwrap() + 3;
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host = path_start.map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{host}/{db}?{q}"),
        None => format!("{host}/{db}"),
    }
}

struct Postgres(String);

impl Backend for Postgres {
    fn create(&self) -> Box<dyn Connector> {
        Box::new(TempDb::new(&self.0))
    }
}

impl Connector for TempDb {
    fn connect(&self) -> Box<dyn Store> {
        Box::new(PostgresStore::open(&self.url).unwrap())
    }
}

macro_rules! suite_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(url) = admin_url() {
                    suite::$name(&Postgres(url));
                }
            }
        )*
    };
}

suite_tests!(
    studies_round_trip,
    cells_results_and_curves_round_trip,
    non_finite_numbers,
    add_cells_is_idempotent,
    changed_hash_supersedes,
    concurrent_claims_take_each_cell_once,
    expired_lease_is_reclaimed,
    same_worker_id_cannot_use_a_stale_lease,
    heartbeat_keeps_the_lease,
    finish_is_written_exactly_once,
    release_returns_the_cell,
    claim_filters_by_study,
    dead_local_workers_are_requeued,
    provenance_is_stored_once,
    unknown_ids_are_errors,
    trials_round_trip_in_order_and_once,
    claims_skip_the_cells_a_worker_put_back,
    requeued_cells_lose_their_result_and_train_again,
    retired_cells_leave_the_study_and_keep_their_results,
    partial_curves_follow_the_lease_and_vanish_on_finish,
    narrow_reads_match_the_full_rows,
);

#[test]
fn a_database_with_other_tables_is_refused_untouched() {
    let Some(admin) = admin_url() else { return };
    let db = TempDb::new(&admin);
    db.client()
        .batch_execute("CREATE TABLE orders (id INT); INSERT INTO orders VALUES (1);")
        .unwrap();
    let err = PostgresStore::open(&db.url).err().unwrap();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("orders"), "{err}");
    let tables: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing was created");
}

#[test]
fn an_empty_database_is_not_created_when_only_reading() {
    let Some(admin) = admin_url() else { return };
    let db = TempDb::new(&admin);
    let options = PostgresOptions {
        mode: lrctl_store::OpenMode::Existing,
        ..PostgresOptions::default()
    };
    let err = PostgresStore::open_with(&db.url, &options).err().unwrap();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    // lrctl_store::open_existing takes the same path.
    assert!(matches!(
        lrctl_store::open_existing(&db.url).err().unwrap(),
        StoreError::Missing { .. }
    ));
}

#[test]
fn a_newer_schema_is_refused_and_many_first_opens_create_it_once() {
    let Some(admin) = admin_url() else { return };
    let db = TempDb::new(&admin);
    // Eight workers open the new database at once: the schema is created exactly once.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| PostgresStore::open(&db.url).unwrap());
        }
    });
    let version: String = db
        .client()
        .query_one("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION.to_string());
    db.client()
        .batch_execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        .unwrap();
    let err = PostgresStore::open(&db.url).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
}

#[test]
fn a_missing_database_says_to_create_it() {
    let Some(admin) = admin_url() else { return };
    let url = with_db(&admin, "lrctl_no_such_database");
    let err = PostgresStore::open(&url).err().unwrap().to_string();
    assert!(err.contains("createdb"), "{err}");
}

/// Read-only commands on PostgreSQL: every transaction is `READ ONLY` on the server (so a
/// role with only SELECT privileges will do), writes are refused by the store itself, and a
/// damaged row is an error naming the cell and column.
#[test]
fn a_read_only_session_reads_and_never_writes() {
    let Some(admin) = admin_url() else { return };
    let db = TempDb::new(&admin);
    let mut w = PostgresStore::open(&db.url).unwrap();
    let study = w.upsert_study("st", "{}").unwrap();
    w.add_cells(study, &common::new_cells(3, "h")).unwrap();
    drop(w);
    // A role that may only read.
    let reader = format!("{}_reader", db.name);
    db.client()
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};"
        ))
        .unwrap();
    let url = db.url.replacen("://", &format!("://{reader}@"), 1);
    let url = match url.split_once('@') {
        // Keep only the reader as the URL's user.
        Some((scheme_user, rest)) if rest.contains('@') => {
            format!("{scheme_user}@{}", rest.rsplit_once('@').unwrap().1)
        }
        _ => url,
    };
    let mut r = lrctl_store::open_read_only(&url).unwrap();
    assert_eq!(
        r.cells(study, lrctl_store::CellSet::Current).unwrap().len(),
        3
    );
    assert_eq!(r.progress(study).unwrap().queued, 3);
    let e = r
        .claim(
            &lrctl_store::ClaimFilter::any(),
            "w",
            std::time::Duration::from_secs(1),
        )
        .unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
    drop(r);
    // The session itself refuses writes, whatever the role may do.
    let options = PostgresOptions {
        mode: lrctl_store::OpenMode::ReadOnly,
        ..PostgresOptions::default()
    };
    assert!(PostgresStore::open_with(&db.url, &options).is_ok());
    let mut c = postgres::Client::connect(
        &format!("{}?options=-c%20default_transaction_read_only%3Don", db.url),
        postgres::NoTls,
    )
    .unwrap();
    assert!(c.batch_execute("DELETE FROM cell").is_err());
    // A damaged row: the store names it instead of panicking.
    db.client()
        .batch_execute(
            "ALTER TABLE cell DROP CONSTRAINT cell_state_check;
             UPDATE cell SET state = 'lost', task_config = '{' WHERE id = (SELECT min(id) FROM cell)",
        )
        .unwrap();
    let mut r = lrctl_store::open_read_only(&db.url).unwrap();
    let e = r.cells(study, lrctl_store::CellSet::Current).unwrap_err();
    assert!(
        matches!(&e, StoreError::Malformed { column, .. } if column == "state"),
        "{e}"
    );
}
