//! A PostgreSQL restart in the middle of a study: connections break, the store reconnects with
//! back-off, and nothing is lost or written twice.
//!
//! Needs `LRCTL_TEST_POSTGRES` (a server URL) and `LRCTL_TEST_PG_RESTART` (a shell command that
//! restarts that server, e.g. `pg_ctl -D DATA -m fast -w restart`). A test binary of its own:
//! the restart would break the connections of tests running beside it.

mod common;

use std::time::Duration;

use lrctl_store::{CellState, PostgresStore, Store};

use common::{curve_for, new_cells, provenance, result_for, same_curve};

#[test]
fn operations_survive_a_server_restart() {
    let (Ok(url), Ok(restart)) = (
        std::env::var("LRCTL_TEST_POSTGRES"),
        std::env::var("LRCTL_TEST_PG_RESTART"),
    ) else {
        assert!(
            std::env::var_os("LRCTL_REQUIRE_POSTGRES").is_none(),
            "LRCTL_REQUIRE_POSTGRES is set but LRCTL_TEST_POSTGRES or LRCTL_TEST_PG_RESTART is not"
        );
        eprintln!("skipped: needs LRCTL_TEST_POSTGRES and LRCTL_TEST_PG_RESTART");
        return;
    };
    let db = format!("lrctl_restart_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .unwrap();
    drop(admin);
    let db_url = format!("{}/{db}", url.rsplit_once('/').unwrap().0);

    let mut s = PostgresStore::open(&db_url).unwrap();
    let prov = provenance(&mut s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(6, "h")).unwrap();
    let hour = Duration::from_secs(3600);
    let first = s
        .claim(&lrctl_store::ClaimFilter::study(study), "w", hour)
        .unwrap()
        .unwrap()
        .lease;

    // Restart the server under the open connection.
    let status = std::process::Command::new("sh")
        .args(["-c", &restart])
        .status()
        .unwrap();
    assert!(status.success(), "{restart} failed");

    // Every operation after the restart reconnects and carries on.
    s.heartbeat(&first, hour).unwrap();
    s.finish(
        &first,
        &result_for(first.cell, 1, prov),
        &curve_for(first.cell, 4),
    )
    .unwrap();
    let mut done = 1;
    while let Some(c) = s
        .claim(&lrctl_store::ClaimFilter::study(study), "w", hour)
        .unwrap()
    {
        s.finish(&c.lease, &result_for(c.lease.cell, 1, prov), &[])
            .unwrap();
        done += 1;
    }
    assert_eq!(done, 6);
    let cells = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    assert!(
        cells
            .iter()
            .all(|c| c.state == CellState::Done && c.attempts == 1)
    );
    assert!(same_curve(
        &s.curve(first.cell).unwrap(),
        &curve_for(first.cell, 4)
    ));
    drop(s);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .unwrap();
}
