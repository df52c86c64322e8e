//! A tuned method inside `lrctl run`, killed (`kill -9`) in the middle of its tuning: the run
//! resumes from the stored trials, trains only the missing ones, and the cell is charged the
//! whole tuning bill.

mod common;

use std::time::{Duration, Instant};

use common::{lrctl, run_ok};
use lrctl_store::Store;

const RUN: &[&str] = &[
    "run",
    "--quiet",
    "--study",
    "tuned",
    "--task",
    "mlp/digits",
    "--method",
    "smac-fixed",
    "--seeds",
    "1",
    "--store",
    "lrctl.db",
];

fn trials(store: &mut dyn Store) -> usize {
    let Some(study) = store.study("tuned").ok().flatten() else {
        return 0;
    };
    let cells = store
        .cells(study.id, lrctl_store::CellSet::Current)
        .unwrap();
    // The study row is written before its cells: between the two there is nothing to count.
    let Some(first) = cells.first() else {
        return 0;
    };
    let spec: lrctl_tasks::TaskSpec = serde_json::from_str(&first.task_config).unwrap();
    let method: lrctl_wrap::Method = serde_json::from_str(&first.method_config).unwrap();
    let key = lrctl_wrap::tuned::tuning_key(&spec, &method);
    store.trials(&key).unwrap().len()
}

#[test]
fn killed_tuning_resumes_from_its_stored_trials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lrctl.db").display().to_string();
    let mut child = lrctl()
        .current_dir(dir.path())
        .args(RUN)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let stored = loop {
        std::thread::sleep(Duration::from_millis(50));
        if dir.path().join("lrctl.db").exists()
            && let Ok(mut s) = lrctl_store::open_existing(&path)
        {
            let n = trials(s.as_mut());
            if n >= 5 {
                break n;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no trial stored"
        );
    };
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let mut s = lrctl_store::open_existing(&path).unwrap();
    let after_kill = trials(s.as_mut());
    assert!(after_kill >= stored && after_kill < 50, "{after_kill}");
    drop(s);

    run_ok(dir.path(), RUN);
    let mut s = lrctl_store::open_existing(&path).unwrap();
    assert_eq!(trials(s.as_mut()), 50, "every trial stored once");
    let study = s.study("tuned").unwrap().unwrap();
    let cell = s
        .cells(study.id, lrctl_store::CellSet::Current)
        .unwrap()
        .remove(0);
    let r = cell.result.unwrap();
    let json: serde_json::Value = serde_json::from_str(&r.result_json).unwrap();
    assert_eq!(json["tuning"]["trials"], 50);
    assert_eq!(
        json["tuning"]["trained_here"].as_u64().unwrap() as usize,
        50 - after_kill,
        "only the missing trials were trained after the restart"
    );
    assert_eq!(
        r.cost_steps,
        r.steps + json["tuning"]["steps"].as_u64().unwrap()
    );
}
