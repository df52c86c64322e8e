//! The conformance suite against the SQLite back end.

mod common;
mod suite;

use lrctl_store::{SqliteStore, Store};
use suite::{Backend, Connector};

struct Sqlite;

struct SqliteFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Backend for Sqlite {
    fn create(&self) -> Box<dyn Connector> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        Box::new(SqliteFile { _dir: dir, path })
    }
}

impl Connector for SqliteFile {
    fn connect(&self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.path).unwrap())
    }
}

macro_rules! suite_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                suite::$name(&Sqlite);
            }
        )*
    };
}

// Listing every suite function: one left out is dead code, which clippy -D warnings rejects.
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
