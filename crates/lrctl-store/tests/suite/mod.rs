//! The store conformance suite: behaviour every back end must have, written against
//! `dyn Store`. A back end runs it by implementing [`Backend`] and listing the functions (see
//! `tests/sqlite.rs`).

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use lrctl_store::{CellId, CellState, Outcome, Progress, Provenance, Store, StoreError};

use crate::common::{curve_for, new_cells, provenance, result_for, same_curve};

/// Makes fresh, empty stores.
pub trait Backend {
    /// A new empty store; the connector opens connections to it (and cleans up when dropped).
    fn create(&self) -> Box<dyn Connector>;
}

/// Opens connections to one store.
pub trait Connector: Send + Sync {
    /// A new connection.
    fn connect(&self) -> Box<dyn Store>;
}

const HOUR: Duration = Duration::from_secs(3600);

pub fn studies_round_trip(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    assert!(s.studies().unwrap().is_empty());
    assert!(s.study("a").unwrap().is_none());
    let a = s.upsert_study("a", r#"{"v":1}"#).unwrap();
    let z = s.upsert_study("z", "{}").unwrap();
    assert_ne!(a, z);
    let row = s.study("a").unwrap().unwrap();
    assert_eq!(
        (row.id, row.name.as_str(), row.spec_json.as_str()),
        (a, "a", r#"{"v":1}"#)
    );
    assert_eq!(row.created_at, row.updated_at);
    // Same name: same id, specification replaced.
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(s.upsert_study("a", r#"{"v":2}"#).unwrap(), a);
    let row2 = s.study("a").unwrap().unwrap();
    assert_eq!(row2.spec_json, r#"{"v":2}"#);
    assert_eq!(row2.created_at, row.created_at);
    assert!(row2.updated_at > row.updated_at);
    let names: Vec<_> = s.studies().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["a", "z"]);
    // Another connection sees the same.
    assert_eq!(c.connect().study("z").unwrap().unwrap().id, z);
    assert!(matches!(
        s.upsert_study("bad", "{not json"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.upsert_study(" ", "{}"),
        Err(StoreError::Invalid(_))
    ));
    assert!(s.study("bad").unwrap().is_none());
}

pub fn cells_results_and_curves_round_trip(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    let added = new_cells(6, "h1");
    let report = s.add_cells(study, &added).unwrap();
    assert_eq!(
        (report.added, report.existing, report.superseded),
        (6, 0, 0)
    );
    let rows = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    assert_eq!(rows.len(), 6);
    for (row, new) in rows.iter().zip(&added) {
        assert_eq!(
            (
                &row.task,
                &row.method,
                row.seed,
                &row.config_hash,
                &row.task_config,
                &row.method_config
            ),
            (
                &new.task,
                &new.method,
                new.seed,
                &new.config_hash,
                &new.task_config,
                &new.method_config
            )
        );
        assert_eq!(row.study, study);
        assert_eq!(
            (row.state, row.attempts, row.worker.as_deref()),
            (CellState::Queued, 0, None)
        );
        assert!(row.result.is_none() && row.finished_at.is_none() && row.superseded_at.is_none());
        assert!(s.curve(row.id).unwrap().is_empty());
    }
    // Claim all, finish all with distinct results and curves.
    let mut claimed = Vec::new();
    while let Some(cell) = s
        .claim(&lrctl_store::ClaimFilter::study(study), "w1", HOUR)
        .unwrap()
    {
        assert_eq!(cell.lease.attempt, 1);
        assert_eq!(cell.study, study);
        let row = s.cell(cell.lease.cell).unwrap().unwrap();
        assert_eq!(
            (row.task, row.seed, row.config_hash),
            (cell.task, cell.seed, cell.config_hash)
        );
        assert_eq!(row.state, CellState::Running);
        assert_eq!(row.worker.as_deref(), Some("w1"));
        assert_eq!(row.lease_expires_at, Some(cell.lease.expires_at));
        claimed.push(cell.lease);
    }
    assert_eq!(claimed.len(), 6);
    for (i, lease) in claimed.iter().enumerate() {
        s.finish(
            lease,
            &result_for(lease.cell, 0, prov),
            &curve_for(lease.cell, 10 * i),
        )
        .unwrap();
    }
    // Read back through a different connection.
    let mut r = c.connect();
    let rows = r.cells(study, lrctl_store::CellSet::Current).unwrap();
    for (i, (row, lease)) in rows.iter().zip(&claimed).enumerate() {
        assert_eq!(row.id, lease.cell);
        assert_eq!(row.state, CellState::Done);
        assert_eq!(row.worker.as_deref(), Some("w1"));
        assert!(row.finished_at.is_some() && row.lease_expires_at.is_none());
        assert_eq!(row.result.as_ref(), Some(&result_for(row.id, 0, prov)));
        assert!(same_curve(
            &r.curve(row.id).unwrap(),
            &curve_for(row.id, 10 * i)
        ));
    }
    let outcomes: Vec<Outcome> = rows
        .iter()
        .map(|r| r.result.as_ref().unwrap().outcome)
        .collect();
    let count = |o| outcomes.iter().filter(|&&x| x == o).count();
    let p = r.progress(study).unwrap();
    assert_eq!(
        p,
        Progress {
            queued: 0,
            running: 0,
            done: 6,
            finished: count(Outcome::Finished),
            diverged: count(Outcome::Diverged),
            failed: count(Outcome::Failed),
        }
    );
    assert!(p.finished > 0 && p.diverged > 0 && p.failed > 0);
    assert_eq!(p.total(), 6);
}

pub fn non_finite_numbers(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(1, "h")).unwrap();
    let cell = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
        .unwrap();
    let mut result = result_for(cell.lease.cell, 0, prov);
    result.last_batch_loss = Some(f64::NAN);
    result.final_train_loss = Some(f64::NEG_INFINITY);
    let mut bad = result.clone();
    bad.seconds = f64::NAN;
    assert!(matches!(
        s.finish(&cell.lease, &bad, &[]),
        Err(StoreError::Invalid(_))
    ));
    let mut bad = result.clone();
    bad.result_json = "{".into();
    assert!(matches!(
        s.finish(&cell.lease, &bad, &[]),
        Err(StoreError::Invalid(_))
    ));
    // Rejected input wrote nothing.
    assert_eq!(
        s.cell(cell.lease.cell).unwrap().unwrap().state,
        CellState::Running
    );
    s.finish(&cell.lease, &result, &curve_for(cell.lease.cell, 3))
        .unwrap();
    let stored = s.cell(cell.lease.cell).unwrap().unwrap().result.unwrap();
    assert_eq!(stored.last_batch_loss, None, "NaN is stored as absent");
    assert_eq!(stored.final_train_loss, Some(f64::NEG_INFINITY));
    assert_eq!(stored.test_loss, Some(f64::INFINITY));
}

pub fn add_cells_is_idempotent(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let study = s.upsert_study("st", "{}").unwrap();
    let cells = new_cells(8, "h");
    assert_eq!(s.add_cells(study, &cells).unwrap().added, 8);
    let again = s.add_cells(study, &cells).unwrap();
    assert_eq!(
        (
            again.added,
            again.existing,
            again.superseded,
            again.reinstated
        ),
        (0, 8, 0, 0)
    );
    // Duplicates within one call, and more seeds: only the new cells are added.
    let mut more = new_cells(12, "h");
    more.push(more[0].clone());
    let r = s.add_cells(study, &more).unwrap();
    assert_eq!((r.added, r.existing, r.superseded), (4, 9, 0));
    assert_eq!(s.cells(study, lrctl_store::CellSet::All).unwrap().len(), 12);
    // A done cell re-added stays done.
    let lease = s
        .claim(&lrctl_store::ClaimFilter::study(study), "w", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    let prov = provenance(&mut *s);
    s.finish(&lease, &result_for(lease.cell, 0, prov), &[])
        .unwrap();
    assert_eq!(s.add_cells(study, &more).unwrap().added, 0);
    assert_eq!(s.cell(lease.cell).unwrap().unwrap().state, CellState::Done);
    // The same cells in another study are other cells.
    let other = s.upsert_study("other", "{}").unwrap();
    assert_eq!(s.add_cells(other, &cells).unwrap().added, 8);
    assert!(matches!(
        s.add_cells(lrctl_store::StudyId(9999), &cells),
        Err(StoreError::UnknownStudy { .. })
    ));
    let mut bad = new_cells(2, "h2");
    bad[1].task_config = "{".into();
    assert!(matches!(
        s.add_cells(study, &bad),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        s.cells(study, lrctl_store::CellSet::All).unwrap().len(),
        12,
        "all or nothing"
    );
}

pub fn changed_hash_supersedes(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    let v1 = new_cells(2, "h1");
    s.add_cells(study, &v1).unwrap();
    let lease = s
        .claim(&lrctl_store::ClaimFilter::study(study), "w", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    s.finish(
        &lease,
        &result_for(lease.cell, 0, prov),
        &curve_for(lease.cell, 4),
    )
    .unwrap();
    let old_queued = s.cells(study, lrctl_store::CellSet::Current).unwrap()[1].id;

    // A hyperparameter changed: new hash for the same (task, method, seed).
    let v2 = new_cells(2, "h2");
    let r = s.add_cells(study, &v2).unwrap();
    assert_eq!(
        (r.added, r.existing, r.superseded, r.reinstated),
        (2, 0, 2, 0)
    );
    let current = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    assert_eq!(current.len(), 2);
    assert!(
        current
            .iter()
            .all(|c| c.config_hash == "h2" && c.state == CellState::Queued)
    );
    let all = s.cells(study, lrctl_store::CellSet::All).unwrap();
    assert_eq!(all.len(), 4);
    let old = all.iter().find(|c| c.id == lease.cell).unwrap();
    assert!(old.superseded_at.is_some());
    assert_eq!(
        old.result.as_ref(),
        Some(&result_for(lease.cell, 0, prov)),
        "old result kept"
    );
    assert!(same_curve(
        &s.curve(lease.cell).unwrap(),
        &curve_for(lease.cell, 4)
    ));
    assert_eq!(
        s.progress(study).unwrap(),
        Progress {
            queued: 2,
            ..Progress::default()
        }
    );
    // The superseded queued cell is never handed out.
    let mut got = HashSet::new();
    while let Some(cell) = s
        .claim(&lrctl_store::ClaimFilter::study(study), "w", HOUR)
        .unwrap()
    {
        assert_eq!(cell.config_hash, "h2");
        got.insert(cell.lease.cell);
    }
    assert_eq!(got.len(), 2);
    assert!(!got.contains(&old_queued));

    // Changing the hyperparameter back makes the old cells current again, result and all.
    let r = s.add_cells(study, &v1).unwrap();
    assert_eq!(
        (r.added, r.existing, r.superseded, r.reinstated),
        (0, 0, 2, 2)
    );
    let current = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    assert!(
        current
            .iter()
            .all(|c| c.config_hash == "h1" && c.superseded_at.is_none())
    );
    assert_eq!(
        s.progress(study).unwrap(),
        Progress {
            queued: 1,
            done: 1,
            ..Progress::default()
        }
        .with_outcome(
            current
                .iter()
                .find_map(|c| c.result.as_ref())
                .unwrap()
                .outcome
        )
    );
}

trait WithOutcome {
    fn with_outcome(self, o: Outcome) -> Self;
}

impl WithOutcome for Progress {
    fn with_outcome(mut self, o: Outcome) -> Self {
        match o {
            Outcome::Finished => self.finished += 1,
            Outcome::Diverged => self.diverged += 1,
            Outcome::Failed => self.failed += 1,
        }
        self
    }
}

pub fn concurrent_claims_take_each_cell_once(b: &dyn Backend) {
    const THREADS: usize = 6;
    const CELLS: usize = 90;
    let c: Arc<dyn Connector> = Arc::from(b.create());
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(CELLS, "h")).unwrap();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (c, taken, barrier) = (c.clone(), taken.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut s = c.connect();
                let worker = format!("thread-{t}");
                barrier.wait();
                while let Some(cell) = s
                    .claim(&lrctl_store::ClaimFilter::study(study), &worker, HOUR)
                    .unwrap()
                {
                    taken.lock().unwrap().push((cell.lease.cell, t));
                    s.finish(
                        &cell.lease,
                        &result_for(cell.lease.cell, t as u32, prov),
                        &curve_for(cell.lease.cell, 3),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let taken = taken.lock().unwrap();
    let ids: HashSet<CellId> = taken.iter().map(|(id, _)| *id).collect();
    assert_eq!(taken.len(), CELLS, "every claim is a distinct cell");
    assert_eq!(ids.len(), CELLS);
    let rows = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    for row in &rows {
        let t = taken.iter().find(|(id, _)| *id == row.id).unwrap().1;
        assert_eq!(row.state, CellState::Done);
        assert_eq!(row.attempts, 1);
        assert_eq!(row.worker.as_deref(), Some(format!("thread-{t}").as_str()));
        assert_eq!(
            row.result.as_ref(),
            Some(&result_for(row.id, t as u32, prov))
        );
    }
    assert_eq!(s.progress(study).unwrap().done, CELLS);
}

pub fn expired_lease_is_reclaimed(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let mut s2 = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(1, "h")).unwrap();
    // A zero lease is expired at once: like a worker that died right after claiming.
    let first = s
        .claim(&lrctl_store::ClaimFilter::any(), "w1", Duration::ZERO)
        .unwrap()
        .unwrap()
        .lease;
    let second = s2
        .claim(&lrctl_store::ClaimFilter::any(), "w2", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    assert_eq!(second.cell, first.cell);
    assert_eq!((first.attempt, second.attempt), (1, 2));
    assert!(
        s2.claim(&lrctl_store::ClaimFilter::any(), "w3", HOUR)
            .unwrap()
            .is_none(),
        "w2's lease is live"
    );
    // The first worker comes back: every write is refused.
    let lost = |r: Result<(), StoreError>| matches!(r, Err(StoreError::LeaseLost { .. }));
    assert!(lost(s.heartbeat(&first, HOUR).map(|_| ())));
    assert!(lost(s.finish(
        &first,
        &result_for(first.cell, 1, prov),
        &curve_for(first.cell, 2)
    )));
    assert!(lost(s.release(&first)));
    let row = s.cell(first.cell).unwrap().unwrap();
    assert_eq!(
        (row.state, row.worker.as_deref(), row.attempts),
        (CellState::Running, Some("w2"), 2)
    );
    s2.finish(
        &second,
        &result_for(second.cell, 2, prov),
        &curve_for(second.cell, 5),
    )
    .unwrap();
    let row = s.cell(first.cell).unwrap().unwrap();
    assert_eq!(row.result, Some(result_for(first.cell, 2, prov)));
    assert!(same_curve(
        &s.curve(first.cell).unwrap(),
        &curve_for(first.cell, 5)
    ));
    // After the result, the stale worker learns it is done.
    assert!(matches!(
        s.finish(&first, &result_for(first.cell, 1, prov), &[]),
        Err(StoreError::AlreadyFinished { .. })
    ));
}

pub fn same_worker_id_cannot_use_a_stale_lease(b: &dyn Backend) {
    // Threads of one process share a worker id; the attempt number still tells leases apart.
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(1, "h")).unwrap();
    let stale = s
        .claim(&lrctl_store::ClaimFilter::any(), "host:1", Duration::ZERO)
        .unwrap()
        .unwrap()
        .lease;
    let fresh = s
        .claim(&lrctl_store::ClaimFilter::any(), "host:1", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    assert!(matches!(
        s.finish(&stale, &result_for(stale.cell, 1, prov), &[]),
        Err(StoreError::LeaseLost { .. })
    ));
    s.finish(&fresh, &result_for(fresh.cell, 2, prov), &[])
        .unwrap();
    assert_eq!(
        s.cell(fresh.cell).unwrap().unwrap().result,
        Some(result_for(fresh.cell, 2, prov))
    );
}

pub fn heartbeat_keeps_the_lease(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let mut other = c.connect();
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(1, "h")).unwrap();
    let lease = s
        .claim(&lrctl_store::ClaimFilter::any(), "w1", Duration::ZERO)
        .unwrap()
        .unwrap()
        .lease;
    // Expired but not yet taken: the holder may still renew it.
    let expires = s.heartbeat(&lease, HOUR).unwrap();
    assert!(expires > lease.expires_at);
    let row = s.cell(lease.cell).unwrap().unwrap();
    assert_eq!(row.lease_expires_at, Some(expires));
    assert!(row.heartbeat_at.is_some());
    assert!(
        other
            .claim(&lrctl_store::ClaimFilter::any(), "w2", HOUR)
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.heartbeat(
            &lrctl_store::Lease {
                cell: CellId(4242),
                ..lease.clone()
            },
            HOUR
        ),
        Err(StoreError::UnknownCell { .. })
    ));
}

pub fn finish_is_written_exactly_once(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(1, "h")).unwrap();
    let lease = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    s.finish(
        &lease,
        &result_for(lease.cell, 1, prov),
        &curve_for(lease.cell, 7),
    )
    .unwrap();
    let before = s.cell(lease.cell).unwrap().unwrap();
    let err = s
        .finish(
            &lease,
            &result_for(lease.cell, 2, prov),
            &curve_for(lease.cell, 3),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyFinished { ref worker, .. } if worker == "w"),
        "{err}"
    );
    assert_eq!(
        s.cell(lease.cell).unwrap().unwrap(),
        before,
        "second result discarded"
    );
    assert!(same_curve(
        &s.curve(lease.cell).unwrap(),
        &curve_for(lease.cell, 7)
    ));
    assert!(matches!(
        s.release(&lease),
        Err(StoreError::AlreadyFinished { .. })
    ));
    assert!(matches!(
        s.heartbeat(&lease, HOUR),
        Err(StoreError::AlreadyFinished { .. })
    ));
    assert!(
        s.claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
            .unwrap()
            .is_none(),
        "done cells are not handed out"
    );
    // A result naming a provenance that does not exist is refused and writes nothing.
    s.add_cells(study, &new_cells(2, "h")).unwrap();
    let lease = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    let bad = result_for(lease.cell, 0, lrctl_store::ProvenanceId(777));
    assert!(s.finish(&lease, &bad, &[]).is_err());
    assert_eq!(
        s.cell(lease.cell).unwrap().unwrap().state,
        CellState::Running
    );
    assert!(s.curve(lease.cell).unwrap().is_empty());
}

pub fn release_returns_the_cell(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(1, "h")).unwrap();
    let lease = s
        .claim(&lrctl_store::ClaimFilter::any(), "w1", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    s.release(&lease).unwrap();
    let row = s.cell(lease.cell).unwrap().unwrap();
    assert_eq!(
        (row.state, row.worker.as_deref(), row.lease_expires_at),
        (CellState::Queued, None, None)
    );
    assert!(matches!(
        s.finish(&lease, &result_for(lease.cell, 0, prov), &[]),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        s.release(&lease),
        Err(StoreError::LeaseLost { .. })
    ));
    let again = s
        .claim(&lrctl_store::ClaimFilter::any(), "w2", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    assert_eq!((again.cell, again.attempt), (lease.cell, 2));
}

pub fn claim_filters_by_study(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let a = s.upsert_study("a", "{}").unwrap();
    let z = s.upsert_study("z", "{}").unwrap();
    s.add_cells(a, &new_cells(3, "h")).unwrap();
    s.add_cells(z, &new_cells(2, "h")).unwrap();
    let mut from_z = 0;
    while let Some(cell) = s
        .claim(&lrctl_store::ClaimFilter::study(z), "w", HOUR)
        .unwrap()
    {
        assert_eq!(cell.study, z);
        from_z += 1;
    }
    assert_eq!(from_z, 2);
    assert_eq!(s.progress(a).unwrap().queued, 3);
    assert_eq!(s.progress(z).unwrap().running, 2);
    let mut any = 0;
    while let Some(cell) = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
    {
        assert_eq!(cell.study, a);
        any += 1;
    }
    assert_eq!(any, 3);
}

pub fn dead_local_workers_are_requeued(b: &dyn Backend) {
    if !std::path::Path::new("/proc/self/stat").exists() {
        eprintln!("skipped: no /proc, liveness of local workers cannot be checked here");
        return;
    }
    let c = b.create();
    let mut s = c.connect();
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(5, "h")).unwrap();
    let host = lrctl_store::hostname();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = s
        .claim(
            &lrctl_store::ClaimFilter::any(),
            &format!("{host}:{dead_pid}"),
            HOUR,
        )
        .unwrap()
        .unwrap()
        .lease;
    let dead_slot = s
        .claim(
            &lrctl_store::ClaimFilter::any(),
            &format!("{host}:{dead_pid}/2"),
            HOUR,
        )
        .unwrap()
        .unwrap()
        .lease;
    let alive = s
        .claim(
            &lrctl_store::ClaimFilter::any(),
            &lrctl_store::worker_id_slot(1),
            HOUR,
        )
        .unwrap()
        .unwrap()
        .lease;
    let remote = s
        .claim(
            &lrctl_store::ClaimFilter::any(),
            &format!("{host}-other:{dead_pid}"),
            HOUR,
        )
        .unwrap()
        .unwrap()
        .lease;
    assert_eq!(s.requeue_dead_local(&host).unwrap(), 2);
    let state = |s: &mut Box<dyn Store>, id| s.cell(id).unwrap().unwrap().state;
    assert_eq!(state(&mut s, dead.cell), CellState::Queued);
    assert_eq!(state(&mut s, dead_slot.cell), CellState::Queued);
    assert_eq!(state(&mut s, alive.cell), CellState::Running);
    assert_eq!(
        state(&mut s, remote.cell),
        CellState::Running,
        "other hosts are not ours to judge"
    );
    assert_eq!(s.requeue_dead_local(&host).unwrap(), 0);
    assert!(matches!(
        s.heartbeat(&dead, HOUR),
        Err(StoreError::LeaseLost { .. })
    ));
    let p = s.progress(study).unwrap();
    assert_eq!((p.queued, p.running), (3, 2));
}

pub fn provenance_is_stored_once(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let p = Provenance {
        lrctl_version: "1.2.3".into(),
        git_commit: None,
        config_hash: "c".into(),
        machine: "m".into(),
        backend: "flex".into(),
    };
    let id = s.put_provenance(&p).unwrap();
    assert_eq!(s.put_provenance(&p).unwrap(), id);
    assert_eq!(c.connect().put_provenance(&p).unwrap(), id);
    let with_commit = Provenance {
        git_commit: Some("deadbeef".into()),
        ..p.clone()
    };
    let id2 = s.put_provenance(&with_commit).unwrap();
    assert_ne!(id2, id);
    assert_eq!(s.put_provenance(&with_commit).unwrap(), id2);
    let row = s.provenance(id).unwrap().unwrap();
    assert_eq!((row.id, &row.provenance), (id, &p));
    assert_eq!(s.provenance(id2).unwrap().unwrap().provenance, with_commit);
    assert!(
        s.provenance(lrctl_store::ProvenanceId(999))
            .unwrap()
            .is_none()
    );
}

pub fn unknown_ids_are_errors(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    assert!(s.cell(CellId(1)).unwrap().is_none());
    assert!(matches!(
        s.curve(CellId(1)),
        Err(StoreError::UnknownCell { .. })
    ));
    assert!(
        s.cells(lrctl_store::StudyId(5), lrctl_store::CellSet::All)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.progress(lrctl_store::StudyId(5)).unwrap(),
        Progress::default()
    );
    assert!(matches!(
        s.claim(&lrctl_store::ClaimFilter::any(), "", HOUR),
        Err(StoreError::Invalid(_))
    ));
    assert!(
        s.claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
            .unwrap()
            .is_none()
    );
}

pub fn trials_round_trip_in_order_and_once(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let trial = |id: u64, score: Option<f64>| lrctl_store::TrialRow {
        tuning_key: "key-a".into(),
        trial: id,
        config_json: format!(r#"{{"controller.lr":{}}}"#, 0.001 * (id + 1) as f64),
        budget: 9 * (id + 1),
        score,
        outcome: if score.is_some() {
            Outcome::Finished
        } else {
            Outcome::Diverged
        },
        steps: 9 * (id + 1),
        seconds: 0.5,
    };
    assert!(s.trials("key-a").unwrap().is_empty());
    // Recorded in the order results arrived, not by id.
    let told = [trial(2, Some(0.25)), trial(0, None), trial(1, Some(1.5))];
    for t in &told {
        assert!(s.put_trial(t).unwrap());
    }
    // A second result for a stored trial is ignored: the first stands.
    assert!(!s.put_trial(&trial(0, Some(9.0))).unwrap());
    let other = lrctl_store::TrialRow {
        tuning_key: "key-b".into(),
        ..trial(0, Some(3.0))
    };
    assert!(s.put_trial(&other).unwrap());
    assert_eq!(c.connect().trials("key-a").unwrap(), told);
    assert_eq!(s.trials("key-b").unwrap(), [other]);
    // Infinite scores are stored as absent; bad JSON is refused.
    let inf = lrctl_store::TrialRow {
        tuning_key: "key-c".into(),
        ..trial(0, Some(f64::INFINITY))
    };
    s.put_trial(&inf).unwrap();
    assert_eq!(s.trials("key-c").unwrap()[0].score, None);
    let bad = lrctl_store::TrialRow {
        config_json: "{".into(),
        ..trial(5, None)
    };
    assert!(matches!(s.put_trial(&bad), Err(StoreError::Invalid(_))));
}

pub fn claims_skip_the_cells_a_worker_put_back(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(3, "h")).unwrap();
    let first = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
        .unwrap();
    s.release(&first.lease).unwrap();
    let mut filter = lrctl_store::ClaimFilter::study(study);
    filter.skip.push(first.lease.cell);
    let mut seen = Vec::new();
    while let Some(cell) = s.claim(&filter, "w", HOUR).unwrap() {
        assert_ne!(
            cell.lease.cell, first.lease.cell,
            "a skipped cell was claimed"
        );
        seen.push(cell.lease.cell);
    }
    assert_eq!(seen.len(), 2);
    // Another worker, skipping nothing, still finds it.
    let other = s
        .claim(&lrctl_store::ClaimFilter::any(), "w2", HOUR)
        .unwrap()
        .unwrap();
    assert_eq!(other.lease.cell, first.lease.cell);
}

pub fn requeued_cells_lose_their_result_and_train_again(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(3, "h")).unwrap();
    // Cell 1 done with a curve; cell 2 running under a live lease; cell 3 queued.
    let done = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    s.finish(
        &done,
        &result_for(done.cell, 1, prov),
        &curve_for(done.cell, 4),
    )
    .unwrap();
    let live = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    let all: Vec<CellId> = s
        .cells(study, lrctl_store::CellSet::Current)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    // Cells of another study are never touched.
    let other = s.upsert_study("other", "{}").unwrap();
    assert_eq!(s.requeue_cells(other, &all).unwrap(), 0);
    let n = s.requeue_cells(study, &[done.cell, live.cell]).unwrap();
    assert_eq!(n, 1, "the running cell is left alone");
    let row = s.cell(done.cell).unwrap().unwrap();
    assert_eq!(row.state, CellState::Queued);
    assert!(row.result.is_none() && row.finished_at.is_none() && row.worker.is_none());
    assert!(s.curve(done.cell).unwrap().is_empty());
    assert_eq!(
        s.cell(live.cell).unwrap().unwrap().state,
        CellState::Running
    );
    // It trains again and is written once more.
    let again = s
        .claim(&lrctl_store::ClaimFilter::study(study), "w2", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    assert_eq!(again.cell, done.cell);
    s.finish(&again, &result_for(again.cell, 2, prov), &[])
        .unwrap();
    let p = s.progress(study).unwrap();
    assert_eq!((p.done, p.running, p.queued), (1, 1, 1));
}

pub fn retired_cells_leave_the_study_and_keep_their_results(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    let cells = new_cells(2, "h");
    s.add_cells(study, &cells).unwrap();
    let done = s
        .claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    s.finish(
        &done,
        &result_for(done.cell, 1, prov),
        &curve_for(done.cell, 3),
    )
    .unwrap();
    let ids: Vec<CellId> = s
        .cells(study, lrctl_store::CellSet::Current)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(s.retire_cells(study, &ids).unwrap(), 2);
    assert!(
        s.cells(study, lrctl_store::CellSet::Current)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.progress(study).unwrap().total(), 0);
    assert!(
        s.claim(&lrctl_store::ClaimFilter::any(), "w", HOUR)
            .unwrap()
            .is_none()
    );
    // The result is still there, and adding the same cells again reinstates them.
    let kept = s.cell(done.cell).unwrap().unwrap();
    assert!(kept.result.is_some() && kept.superseded_at.is_some());
    assert_eq!(s.curve(done.cell).unwrap().len(), 3);
    let report = s.add_cells(study, &cells).unwrap();
    assert_eq!(report.reinstated, 2);
    assert_eq!(s.progress(study).unwrap().done, 1);
}

pub fn partial_curves_follow_the_lease_and_vanish_on_finish(b: &dyn Backend) {
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(2, "h")).unwrap();
    let any = lrctl_store::ClaimFilter::any();
    let lease = s.claim(&any, "w", HOUR).unwrap().unwrap().lease;
    assert!(s.partial_curves(study).unwrap().is_empty());
    s.put_partial_curve(&lease, &curve_for(lease.cell, 3))
        .unwrap();
    s.put_partial_curve(&lease, &curve_for(lease.cell, 5))
        .unwrap();
    let infos = s.partial_curves(study).unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(
        (infos[0].cell, infos[0].attempt, infos[0].n_points),
        (lease.cell, 1, 5)
    );
    assert!(same_curve(
        &s.partial_curve(lease.cell).unwrap(),
        &curve_for(lease.cell, 5)
    ));
    // Another connection (a dashboard) sees it.
    assert_eq!(c.connect().partial_curves(study).unwrap().len(), 1);
    // A stale lease cannot write one.
    let mut stale = lease.clone();
    stale.attempt += 1;
    assert!(matches!(
        s.put_partial_curve(&stale, &curve_for(lease.cell, 9)),
        Err(StoreError::LeaseLost { .. })
    ));
    // A released (killed) cell keeps its partial curve, marked by the attempt that wrote it.
    s.release(&lease).unwrap();
    assert_eq!(s.partial_curves(study).unwrap()[0].n_points, 5);
    // Finishing replaces it by the curve.
    let lease = s.claim(&any, "w", HOUR).unwrap().unwrap().lease;
    s.put_partial_curve(&lease, &curve_for(lease.cell, 2))
        .unwrap();
    s.finish(
        &lease,
        &result_for(lease.cell, 1, prov),
        &curve_for(lease.cell, 7),
    )
    .unwrap();
    assert!(
        s.partial_curves(study)
            .unwrap()
            .iter()
            .all(|p| p.cell != lease.cell)
    );
    assert!(s.partial_curve(lease.cell).unwrap().is_empty());
}

/// The narrow reads (`cell_briefs`, `task_cells`) give exactly what the full read gives for
/// the same cells: queued, running, done with each outcome, and superseded ones left out.
pub fn narrow_reads_match_the_full_rows(b: &dyn Backend) {
    use lrctl_store::{CellBrief, CellSet, ClaimFilter};
    let c = b.create();
    let mut s = c.connect();
    let prov = provenance(&mut *s);
    let study = s.upsert_study("st", "{}").unwrap();
    let other = s.upsert_study("other", "{}").unwrap();
    s.add_cells(study, &new_cells(12, "h1")).unwrap();
    s.add_cells(other, &new_cells(4, "h1")).unwrap();
    // Three done (finished, diverged, failed by id), one running.
    for _ in 0..3 {
        let lease = s
            .claim(&ClaimFilter::study(study), "w", HOUR)
            .unwrap()
            .unwrap()
            .lease;
        s.finish(
            &lease,
            &result_for(lease.cell, 0, prov),
            &curve_for(lease.cell, 3),
        )
        .unwrap();
    }
    let running = s
        .claim(&ClaimFilter::study(study), "w2", HOUR)
        .unwrap()
        .unwrap()
        .lease;
    s.heartbeat(&running, HOUR).unwrap();
    // A changed configuration supersedes two cells.
    let mut changed = new_cells(12, "h2")[10..12].to_vec();
    changed[0].task_config = r#"{"task":"changed"}"#.into();
    assert_eq!(s.add_cells(study, &changed).unwrap().superseded, 2);

    let full = s.cells(study, CellSet::Current).unwrap();
    assert_eq!(full.len(), 12);
    let briefs = s.cell_briefs(study).unwrap();
    assert_eq!(briefs, full.iter().map(CellBrief::of).collect::<Vec<_>>());
    assert!(briefs.iter().any(|b| b.result.is_some()));
    assert!(briefs.iter().any(|b| b.state == CellState::Running));
    for task in ["iris", "wine"] {
        let want: Vec<_> = full.iter().filter(|c| c.task == task).cloned().collect();
        assert_eq!(want.len(), 6);
        assert_eq!(s.task_cells(study, task).unwrap(), want, "{task}");
    }
    assert!(s.task_cells(study, "no such task").unwrap().is_empty());
    assert!(s.task_cells(study, "' OR 1=1 --").unwrap().is_empty());
    assert_eq!(s.cell_briefs(other).unwrap().len(), 4);
    assert!(
        s.cell_briefs(lrctl_store::StudyId(9999))
            .unwrap()
            .is_empty()
    );
}
