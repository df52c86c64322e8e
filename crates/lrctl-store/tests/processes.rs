//! Several processes on one store, and `kill -9` in the middle of writing.
//!
//! A custom harness (`harness = false`): the same binary is the parent test and, with
//! `LRCTL_STORE_CHILD` set, the child worker process the parent starts and kills.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lrctl_store::{CellId, CellState, SqliteStore, Store, StudyId};

use common::{curve_for, new_cells, provenance, result_for, same_curve};

const HOUR: Duration = Duration::from_secs(3600);

/// Curve length of a cell: long enough (≈0.1–1 MB) that a kill often lands inside a write.
fn curve_len(cell: CellId) -> usize {
    2000 + (cell.0 as usize % 7) * 2500
}

fn main() {
    match std::env::var("LRCTL_STORE_CHILD").as_deref() {
        Ok("kill9") => child(true),
        Ok("worker") => child(false),
        Ok(other) => panic!("unknown child mode {other:?}"),
        Err(_) => {
            let filters: Vec<String> = std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect();
            let tests: [(&str, fn()); 2] = [
                (
                    "kill_9_loses_only_cells_in_flight",
                    kill_9_loses_only_cells_in_flight,
                ),
                (
                    "several_processes_claim_each_cell_once",
                    several_processes_claim_each_cell_once,
                ),
            ];
            if std::env::args().any(|a| a == "--list") {
                for (name, _) in tests {
                    println!("{name}: test");
                }
                return;
            }
            for (name, test) in tests {
                if filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())) {
                    let start = Instant::now();
                    test();
                    println!(
                        "test {name} ... ok ({:.1} s)",
                        start.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}

/// Child process: claims and finishes cells of study `st`, printing `done ID` after each commit.
/// In kill-9 mode it first claims one cell it never finishes (a cell in flight when killed),
/// and waits to be killed instead of exiting when the queue is empty.
fn child(kill9: bool) {
    let path = std::env::var("LRCTL_STORE_PATH").unwrap();
    let mut s = SqliteStore::open(Path::new(&path)).unwrap();
    let prov = provenance(&mut s);
    let study = s.study("st").unwrap().unwrap().id;
    let worker = lrctl_store::worker_id();
    if kill9
        && let Some(held) = s
            .claim(&lrctl_store::ClaimFilter::study(study), &worker, HOUR)
            .unwrap()
    {
        println!("held {}", held.lease.cell.0);
    }
    while let Some(cell) = s
        .claim(&lrctl_store::ClaimFilter::study(study), &worker, HOUR)
        .unwrap()
    {
        let id = cell.lease.cell;
        let n = if kill9 { curve_len(id) } else { 10 };
        if kill9 {
            println!("writing {}", id.0);
        }
        s.finish(&cell.lease, &result_for(id, 0, prov), &curve_for(id, n))
            .unwrap();
        println!("done {}", id.0);
    }
    println!("exhausted");
    if kill9 {
        std::thread::sleep(HOUR);
    }
}

fn spawn(mode: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("LRCTL_STORE_CHILD", mode)
        .env("LRCTL_STORE_PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn setup(path: &Path, cells: usize) -> (SqliteStore, StudyId) {
    let mut s = SqliteStore::open(path).unwrap();
    let study = s.upsert_study("st", "{}").unwrap();
    s.add_cells(study, &new_cells(cells, "h")).unwrap();
    (s, study)
}

/// Every done cell holds exactly the result and curve its writer computed: a kill never leaves
/// a half-written result.
fn check_done_cells(s: &mut SqliteStore, study: StudyId, long_curves: bool) -> HashSet<CellId> {
    let mut done = HashSet::new();
    for c in s.cells(study, lrctl_store::CellSet::Current).unwrap() {
        if c.state != CellState::Done {
            assert!(
                c.result.is_none(),
                "cell {} has a result but is {:?}",
                c.id,
                c.state
            );
            assert!(s.curve(c.id).unwrap().is_empty());
            continue;
        }
        let prov = c.result.as_ref().unwrap().provenance;
        assert_eq!(c.result, Some(result_for(c.id, 0, prov)), "cell {}", c.id);
        let n = if long_curves { curve_len(c.id) } else { 10 };
        assert!(
            same_curve(&s.curve(c.id).unwrap(), &curve_for(c.id, n)),
            "curve of cell {}",
            c.id
        );
        done.insert(c.id);
    }
    done
}

fn kill_9_loses_only_cells_in_flight() {
    const CELLS: usize = 36;
    const ROUNDS: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lrctl.db");
    let (s, study) = setup(&path, CELLS);
    drop(s);
    let host = lrctl_store::hostname();
    let mut reported: HashMap<CellId, usize> = HashMap::new();
    for round in 0..ROUNDS {
        let mut child = spawn("kill9", &path);
        let pid = child.id();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut done_now = 0;
        let mut held = None;
        // After a few results, kill at a varying moment just after the child starts writing
        // the next one: usually inside its transaction.
        loop {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(id) = line.strip_prefix("done ") {
                *reported.entry(CellId(id.parse().unwrap())).or_default() += 1;
                done_now += 1;
            } else if let Some(id) = line.strip_prefix("held ") {
                held = Some(CellId(id.parse().unwrap()));
            } else if line.starts_with("writing ") {
                if done_now >= 4 {
                    break;
                }
            } else {
                panic!("round {round}: child said {line:?} before being killed");
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_micros(u64::from(
            nanos % (3000 * (round as u32 + 1)),
        )));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines it printed between our last read and the kill.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("done ") {
                *reported.entry(CellId(id.parse().unwrap())).or_default() += 1;
            }
        }

        let mut s = SqliteStore::open(&path).unwrap();
        s.integrity_check().unwrap();
        let raw = rusqlite::Connection::open(&path).unwrap();
        let ok: String = raw
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let done = check_done_cells(&mut s, study, true);
        for id in reported.keys() {
            assert!(
                done.contains(id),
                "round {round}: reported cell {id} is not done"
            );
        }
        // The dead child still holds its cells; requeue them without waiting for the lease.
        let running: Vec<_> = s
            .cells(study, lrctl_store::CellSet::Current)
            .unwrap()
            .into_iter()
            .filter(|c| c.state == CellState::Running)
            .collect();
        let held = held.expect("child reported its held cell");
        assert!(
            running.iter().any(|c| c.id == held),
            "round {round}: held cell {held} not running"
        );
        let child_worker = format!("{host}:{pid}");
        for c in &running {
            assert_eq!(c.worker.as_deref(), Some(child_worker.as_str()));
        }
        assert_eq!(s.requeue_dead_local(&host).unwrap(), running.len());
        let unreported = done.iter().filter(|id| !reported.contains_key(id)).count();
        // Which moment the kill hit, for the log: a cell in flight besides the held one means
        // it landed inside a finish (rolled back); an unreported done cell, just after a commit.
        eprintln!(
            "round {round}: killed with {} cell(s) running, {unreported} done but unreported",
            running.len()
        );
        assert_eq!(s.progress(study).unwrap().running, 0);
    }
    for (id, n) in &reported {
        assert_eq!(*n, 1, "cell {id} reported done {n} times");
    }

    // Resume: finish the rest here. Every cell ends done exactly once, results intact.
    let mut s = SqliteStore::open(&path).unwrap();
    let prov = provenance(&mut s);
    let before = check_done_cells(&mut s, study, true);
    let mut finished_here = 0;
    while let Some(cell) = s
        .claim(&lrctl_store::ClaimFilter::study(study), "parent", HOUR)
        .unwrap()
    {
        let id = cell.lease.cell;
        assert!(!before.contains(&id), "done cell {id} handed out again");
        s.finish(
            &cell.lease,
            &result_for(id, 0, prov),
            &curve_for(id, curve_len(id)),
        )
        .unwrap();
        finished_here += 1;
    }
    assert_eq!(before.len() + finished_here, CELLS);
    let all = check_done_cells(&mut s, study, true);
    assert_eq!(all.len(), CELLS);
    let cells = s.cells(study, lrctl_store::CellSet::Current).unwrap();
    let reclaims: u32 = cells.iter().map(|c| c.attempts - 1).sum();
    assert!(
        reclaims as usize >= ROUNDS,
        "each round left at least its held cell to claim again"
    );
    s.integrity_check().unwrap();
}

fn several_processes_claim_each_cell_once() {
    const CELLS: usize = 120;
    const PROCESSES: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lrctl.db");
    let (mut s, study) = setup(&path, CELLS);
    let children: Vec<Child> = (0..PROCESSES).map(|_| spawn("worker", &path)).collect();
    let mut claims: HashMap<CellId, Vec<u32>> = HashMap::new();
    for mut child in children {
        let pid = child.id();
        let out = BufReader::new(child.stdout.take().unwrap());
        let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
        let status = child.wait().unwrap();
        assert!(status.success(), "worker {pid} failed: {status}");
        assert_eq!(lines.last().map(String::as_str), Some("exhausted"));
        for line in &lines[..lines.len() - 1] {
            let id = CellId(line.strip_prefix("done ").unwrap().parse().unwrap());
            claims.entry(id).or_default().push(pid);
        }
    }
    assert_eq!(claims.len(), CELLS);
    for (id, pids) in &claims {
        assert_eq!(pids.len(), 1, "cell {id} finished by {pids:?}");
    }
    let host = lrctl_store::hostname();
    for c in s.cells(study, lrctl_store::CellSet::Current).unwrap() {
        assert_eq!((c.state, c.attempts), (CellState::Done, 1), "cell {}", c.id);
        let pid = claims[&c.id][0];
        assert_eq!(c.worker, Some(format!("{host}:{pid}")));
    }
    check_done_cells(&mut s, study, false);
    s.integrity_check().unwrap();
}
