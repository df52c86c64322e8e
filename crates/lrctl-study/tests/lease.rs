//! A worker whose lease ran out while it trained and whose cell another worker took over: its
//! result is discarded (the other attempt's is the one that counts), the run says so with
//! `RunEvent::ResultDiscarded` and goes on with its other cells instead of failing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lrctl_store::{CellSet, ClaimFilter};
use lrctl_study::{RunConfig, RunEvent, Study};

#[test]
fn a_worker_whose_cell_was_taken_over_discards_its_result_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("lease.db").display().to_string();
    let study = Study {
        name: "lease".into(),
        tasks: vec![lrctl_tasks::registry::find("logreg/iris").unwrap()],
        methods: vec![lrctl_wrap::find("adam-fixed").unwrap()],
        seeds: vec![0, 1],
    };
    let lease = Duration::from_millis(200);
    let events: Arc<Mutex<Vec<RunEvent>>> = Arc::default();
    let stolen = Arc::new(AtomicBool::new(false));
    let observer = {
        let (events, stolen, location) = (events.clone(), stolen.clone(), location.clone());
        Arc::new(move |e: &RunEvent| {
            events.lock().unwrap().push(e.clone());
            let RunEvent::CellStarted { cell, .. } = e else {
                return;
            };
            if stolen.swap(true, Ordering::SeqCst) {
                return;
            }
            // The worker is held here before it trains (no heartbeat), so its lease runs out;
            // then another worker claims that cell and no other.
            std::thread::sleep(lease * 2);
            let mut thief = lrctl_store::open(&location).unwrap();
            let id = thief.study("lease").unwrap().unwrap().id;
            let others = thief
                .cells(id, CellSet::Current)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .filter(|c| c != cell)
                .collect();
            let filter = ClaimFilter {
                study: Some(id),
                skip: others,
            };
            let claimed = thief
                .claim(&filter, "thief", Duration::from_secs(3600))
                .unwrap()
                .expect("the expired lease can be taken over");
            assert_eq!(claimed.lease.cell, *cell);
            assert_eq!(claimed.lease.attempt, 2);
        })
    };
    let cfg = RunConfig {
        jobs: 1,
        lease,
        observer: Some(observer),
        ..RunConfig::new(lrctl_data::DataDirs::new(None))
    };
    lrctl_study::run_study(&location, &study, &cfg).expect("the run goes on");

    let events = events.lock().unwrap();
    let discarded: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ResultDiscarded { cell, reason, .. } => Some((*cell, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(discarded.len(), 1, "{events:?}");
    let (taken, reason) = &discarded[0];
    assert!(reason.contains("thief"), "{reason}");
    let mut store = lrctl_store::open(&location).unwrap();
    let id = store.study("lease").unwrap().unwrap().id;
    for c in store.cells(id, CellSet::Current).unwrap() {
        if c.id == *taken {
            // The thief's attempt holds it; the discarded result was not written.
            assert_eq!(c.state, lrctl_store::CellState::Running, "{c:?}");
            assert_eq!(c.worker.as_deref(), Some("thief"));
            assert_eq!(c.attempts, 2);
            assert!(c.result.is_none());
            assert!(store.curve(c.id).unwrap().is_empty());
        } else {
            // The worker went on with the other seed.
            assert!(c.result.is_some(), "{c:?}");
        }
    }
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::CellDone { cell, .. } if cell != taken
    )));
}
