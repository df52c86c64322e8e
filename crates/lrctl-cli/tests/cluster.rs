//! Scale-out end to end: `lrctl worker` processes sharing one store (SQLite, and PostgreSQL
//! when `LRCTL_TEST_POSTGRES` names a server), faults (kill -9, a server restart, a worker of
//! another version), and a real Slurm job array (`LRCTL_TEST_SLURM=1`, started by `.ci/run`).
//! `LRCTL_REQUIRE_POSTGRES=1` / `LRCTL_REQUIRE_SLURM=1` make a missing service a failure.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{lrctl, run_err, run_ok};

/// A small study: 3 tasks × 2 methods × 2 seeds of a few hundred steps.
const STUDY: &[&str] = &[
    "--study",
    "scale",
    "--task",
    "logreg/iris",
    "--task",
    "logreg/breast-cancer",
    "--task",
    "mlp/digits",
    "--method",
    "adam-fixed",
    "--method",
    "cawr-default",
    "--seeds",
    "2",
    "--steps",
    "150",
];

fn args<'a>(head: &[&'a str], store: &'a str, tail: &[&'a str]) -> Vec<&'a str> {
    let mut v = head.to_vec();
    v.extend(["--store", store]);
    v.extend(tail);
    v
}

/// A PostgreSQL database made for one test, dropped afterwards.
struct PgDb {
    admin: String,
    name: String,
    url: String,
}

static N: AtomicUsize = AtomicUsize::new(0);

fn pg_admin() -> Option<String> {
    match std::env::var("LRCTL_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("LRCTL_REQUIRE_POSTGRES").is_none(),
                "LRCTL_REQUIRE_POSTGRES is set but LRCTL_TEST_POSTGRES is not"
            );
            eprintln!("PostgreSQL part skipped: set LRCTL_TEST_POSTGRES=postgres://…");
            None
        }
    }
}

impl PgDb {
    fn new(admin: &str) -> PgDb {
        let name = format!(
            "lrctl_cli_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        PgDb {
            admin: admin.into(),
            name,
            url,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The stores to test on: an SQLite file, and a PostgreSQL database when a server is given.
fn stores(dir: &Path) -> (Vec<String>, Option<PgDb>) {
    let mut v = vec![dir.join("lrctl.db").display().to_string()];
    let pg = pg_admin().map(|a| PgDb::new(&a));
    if let Some(db) = &pg {
        v.push(db.url.clone());
    }
    (v, pg)
}

fn spawn_worker(dir: &Path, store: &str, extra: &[&str]) -> Child {
    lrctl()
        .current_dir(dir)
        .args(["worker", "--study", "scale", "--store", store])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "worker failed ({}):\n{text}",
        out.status
    );
    text
}

/// Per (task, method, seed): the result fields that must not depend on where a cell ran.
type Results = BTreeMap<(String, String, u64), (String, String, u64, u32)>;

fn results(dir: &Path, store: &str) -> Results {
    let json = run_ok(
        dir,
        &[
            "export", "--format", "json", "--study", "scale", "--store", store,
        ],
    );
    let start = json.find('{').unwrap();
    let end = json.rfind('}').unwrap();
    let v: serde_json::Value = serde_json::from_str(&json[start..=end]).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let metrics = [
                "final_train_loss",
                "last_batch_loss",
                "validation_loss",
                "validation_metric",
                "test_loss",
                "test_metric",
            ]
            .iter()
            .map(|k| c[*k].to_string())
            .collect::<Vec<_>>()
            .join(",");
            (
                (
                    c["task"].as_str().unwrap().to_string(),
                    c["method"].as_str().unwrap().to_string(),
                    c["seed"].as_u64().unwrap(),
                ),
                (
                    c["state"].as_str().unwrap().to_string(),
                    metrics,
                    c["steps"].as_u64().unwrap_or(0),
                    c["attempts"].as_u64().unwrap() as u32,
                ),
            )
        })
        .collect()
}

/// The same study trained by `lrctl run` on one machine, for comparison.
fn local_reference(dir: &Path) -> Results {
    let store = dir.join("reference.db").display().to_string();
    run_ok(dir, &args(&["run", "--quiet"], &store, STUDY));
    results(dir, &store)
}

/// Same results as the reference, every cell done, each by exactly one claim (unless listed).
fn assert_same(got: &Results, want: &Results, retried: usize) {
    assert_eq!(got.len(), want.len());
    let mut extra_attempts = 0;
    for (k, w) in want {
        let g = &got[k];
        assert_eq!(g.0, "done", "{k:?} not done");
        assert_eq!((&g.1, g.2), (&w.1, w.2), "{k:?} differs from the local run");
        extra_attempts += g.3 as usize - 1;
    }
    assert_eq!(extra_attempts, retried, "claims beyond one per cell");
}

#[test]
fn workers_share_a_study_and_match_a_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let want = local_reference(dir.path());
    let (stores, _pg) = stores(dir.path());
    for store in &stores {
        let out = run_ok(dir.path(), &args(&["run", "--submit-only"], store, STUDY));
        assert!(
            out.contains("12 cell(s) new") && out.contains("lrctl worker"),
            "{out}"
        );
        let workers: Vec<Child> = (0..3)
            .map(|_| spawn_worker(dir.path(), store, &[]))
            .collect();
        let logs: Vec<String> = workers.into_iter().map(wait_ok).collect();
        let trained: usize = logs
            .iter()
            .map(|l| l.lines().filter(|x| x.contains(": finished in")).count())
            .sum();
        assert_eq!(trained, 12, "each cell trained once:\n{}", logs.join("\n"));
        assert_same(&results(dir.path(), store), &want, 0);
        // Submitting the same study again adds nothing.
        let again = run_ok(dir.path(), &args(&["run", "--submit-only"], store, STUDY));
        assert!(
            again.contains("0 cell(s) new, 12 already") && again.contains("0 to run"),
            "{again}"
        );
        assert_eq!(results(dir.path(), store).len(), 12);
    }
}

/// Waits until the study has a running cell (a worker is mid-cell).
fn wait_running(dir: &Path, store: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        let out = run_ok(
            dir,
            &["slurm", "status", "--study", "scale", "--store", store],
        );
        if out.contains("  running: cell") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no cell started running");
}

#[test]
fn a_killed_worker_cell_is_reclaimed_and_finished_once() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _pg) = stores(dir.path());
    // One long cell (so the kill lands mid-cell) and a few short ones.
    let study: Vec<&str> = STUDY
        .iter()
        .map(|a| if *a == "150" { "4000" } else { a })
        .collect();
    for store in &stores {
        run_ok(dir.path(), &args(&["run", "--submit-only"], store, &study));
        // Kill a worker while it trains a cell. The status read that sees it running takes a
        // moment, so the kill can land between two cells: then nothing is left running and
        // another worker is killed the same way.
        let mut killed_mid_cell = false;
        for _ in 0..5 {
            let mut victim = spawn_worker(dir.path(), store, &["--lease", "3"]);
            wait_running(dir.path(), store);
            victim.kill().unwrap(); // SIGKILL
            victim.wait().unwrap();
            let status = run_ok(
                dir.path(),
                &["slurm", "status", "--study", "scale", "--store", store],
            );
            if status.contains("  running: cell") {
                killed_mid_cell = true;
                break;
            }
        }
        assert!(
            killed_mid_cell,
            "no worker was killed while training a cell"
        );
        // A new worker takes the dead worker's cell back (at once on the same machine; after
        // the lease elsewhere) and finishes the study.
        let log = wait_ok(spawn_worker(dir.path(), store, &["--lease", "3"]));
        let got = results(dir.path(), store);
        assert!(got.values().all(|r| r.0 == "done"), "{got:?}\n{log}");
        let retried: Vec<_> = got.iter().filter(|(_, r)| r.3 == 2).collect();
        assert_eq!(
            retried.len(),
            1,
            "exactly the killed cell was claimed twice: {got:?}"
        );
        assert!(got.values().all(|r| r.3 <= 2));
    }
}

#[test]
fn a_worker_of_another_version_refuses_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _pg) = stores(dir.path());
    for store in &stores {
        run_ok(dir.path(), &args(&["run", "--submit-only"], store, STUDY));
        // Pretend another lrctl version submitted the study.
        let mut s = lrctl_store::open(store).unwrap();
        let row = s.study("scale").unwrap().unwrap();
        let mut spec: serde_json::Value = serde_json::from_str(&row.spec_json).unwrap();
        spec["lrctl_version"] = "0.0.1-other".into();
        s.upsert_study("scale", &spec.to_string()).unwrap();
        let err = run_err(
            dir.path(),
            &["worker", "--study", "scale", "--store", store],
        );
        assert!(
            err.contains("0.0.1-other") && err.contains("refuses to write"),
            "{err}"
        );
        // Without --study the check happens per claimed cell, and the cell goes back.
        let err = run_err(dir.path(), &["worker", "--store", store]);
        assert!(err.contains("refuses to write"), "{err}");
        let p = s.progress(row.id).unwrap();
        assert_eq!((p.done, p.running, p.queued), (0, 0, 12), "nothing written");

        // A cell whose stored configuration does not hash to its recorded hash (written by a
        // build with another engine) is refused too.
        spec["lrctl_version"] = lrctl_study::LRCTL_VERSION.into();
        s.upsert_study("scale", &spec.to_string()).unwrap();
        let mut cells = s.cells(row.id, lrctl_store::CellSet::Current).unwrap();
        let c = cells.remove(0);
        s.add_cells(
            row.id,
            &[lrctl_store::NewCell {
                task: c.task,
                method: c.method,
                seed: 99,
                config_hash: "0123456789abcdef".into(),
                task_config: c.task_config,
                method_config: c.method_config,
            }],
        )
        .unwrap();
        let err = run_err(
            dir.path(),
            &["worker", "--study", "scale", "--store", store],
        );
        assert!(
            err.contains("hashes to") && err.contains("0123456789ab"),
            "{err}"
        );
        let bogus = s
            .cells(row.id, lrctl_store::CellSet::Current)
            .unwrap()
            .into_iter()
            .find(|c| c.seed == 99)
            .unwrap();
        assert_eq!(bogus.state, lrctl_store::CellState::Queued);
        assert!(bogus.result.is_none());
    }
}

#[test]
fn workers_ride_out_a_postgres_restart() {
    let Some(admin) = pg_admin() else { return };
    let Ok(restart) = std::env::var("LRCTL_TEST_PG_RESTART") else {
        assert!(std::env::var_os("LRCTL_REQUIRE_POSTGRES").is_none());
        eprintln!("skipped: needs LRCTL_TEST_PG_RESTART");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let want = local_reference(dir.path());
    let db = PgDb::new(&admin);
    run_ok(dir.path(), &args(&["run", "--submit-only"], &db.url, STUDY));
    let workers: Vec<Child> = (0..2)
        .map(|_| spawn_worker(dir.path(), &db.url, &[]))
        .collect();
    wait_running(dir.path(), &db.url);
    let status = Command::new("sh").args(["-c", &restart]).status().unwrap();
    assert!(status.success(), "{restart}");
    let logs: Vec<String> = workers.into_iter().map(wait_ok).collect();
    assert_same(&results(dir.path(), &db.url), &want, 0);
    eprintln!("{}", logs.join("\n"));
}

fn slurm_enabled() -> bool {
    if std::env::var("LRCTL_TEST_SLURM").as_deref() == Ok("1") {
        return true;
    }
    assert!(
        std::env::var_os("LRCTL_REQUIRE_SLURM").is_none(),
        "LRCTL_REQUIRE_SLURM is set but LRCTL_TEST_SLURM is not 1"
    );
    eprintln!("skipped: set LRCTL_TEST_SLURM=1 with a running Slurm (see .ci/run)");
    false
}

#[test]
fn slurm_job_array_runs_the_study_like_a_local_run() {
    if !slurm_enabled() {
        return;
    }
    let Some(admin) = pg_admin() else {
        panic!("the Slurm test needs LRCTL_TEST_POSTGRES");
    };
    let dir = tempfile::tempdir().unwrap();
    let want = local_reference(dir.path());
    let db = PgDb::new(&admin);
    let submit = |extra: &[&str]| {
        let mut a = vec!["slurm", "submit", "--workers", "3", "--store", &db.url];
        a.extend(STUDY);
        a.extend(extra);
        run_ok(dir.path(), &a)
    };
    let script = submit(&["--dry-run"]);
    assert!(script.contains("#SBATCH --array=0-2"), "{script}");
    let out = submit(&[]);
    let job = out
        .lines()
        .find(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty());
    let job = job
        .unwrap_or_else(|| panic!("no job id in:\n{out}"))
        .to_string();
    let start = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", &job])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "job {job} still queued"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = run_ok(
        dir.path(),
        &["slurm", "status", "--study", "scale", "--store", &db.url],
    );
    assert!(status.contains("12 cells: 12 done"), "{status}");
    assert!(status.contains(&format!("job(s) {job}")), "{status}");
    assert_same(&results(dir.path(), &db.url), &want, 0);
    let logs = dir.path().join("lrctl-slurm/scale/logs");
    let n_logs = std::fs::read_dir(&logs).unwrap().count();
    assert_eq!(n_logs, 3, "one log per array task in {}", logs.display());
    assert!(dir.path().join("lrctl-slurm/scale/worker.sbatch").exists());
    // The same study submitted again: no new cells, and no job (nothing to run).
    let again = submit(&[]);
    assert!(
        again.contains("0 cell(s) new, 12 already") && again.contains("no job submitted"),
        "{again}"
    );
    assert_eq!(results(dir.path(), &db.url).len(), 12);
}
