//! Helpers shared by the end-to-end tests: running the binary and polling a study's progress.
#![allow(dead_code)] // each test binary uses a subset

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `lrctl` binary, without a store from the environment, and offline: a test never
/// downloads from the internet (a missing dataset is the "not found" error), and the download
/// tests allow it again against their own server on 127.0.0.1.
pub fn lrctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lrctl"));
    c.env_remove("LRCTL_STORE")
        .env_remove("LRCTL_DATA_URL")
        .env("LRCTL_OFFLINE", "1");
    c
}

/// Runs `lrctl`, asserts success, returns stdout + stderr.
pub fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = lrctl()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lrctl runs");
    assert!(
        out.status.success(),
        "lrctl {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr)
}

/// Runs `lrctl`, asserts success, returns stdout alone (what a pipe would read).
pub fn stdout_ok(dir: &Path, args: &[&str]) -> String {
    let out = lrctl()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lrctl runs");
    assert!(
        out.status.success(),
        "lrctl {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `lrctl`, asserts failure, returns stderr.
pub fn run_err(dir: &Path, args: &[&str]) -> String {
    let out: Output = lrctl()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lrctl runs");
    assert!(!out.status.success(), "lrctl {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `lrctl status` until `pred` holds on its output (true) or `timeout` passes (false).
pub fn wait_for(dir: &Path, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if dir.join("lrctl.db").exists() {
            let out = lrctl().current_dir(dir).args(["status"]).output().unwrap();
            if pred(&String::from_utf8_lossy(&out.stdout)) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Finished cells of the first study in `lrctl status` output (the tests' stores hold one).
pub fn finished_count(status: &str) -> usize {
    status
        .lines()
        .find(|l| !l.starts_with("study ") && !l.trim().is_empty())
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A study long enough to interrupt: MLP on digits, 8 cells.
pub const LONG: &[&str] = &[
    "run",
    "--task",
    "mlp/digits",
    "--method",
    "adam-fixed",
    "--method",
    "cocob",
    "--seeds",
    "4",
    "--steps",
    "1500",
    "--jobs",
    "2",
    "--quiet",
];

/// The data mirror, when present (CI sets `LRCTL_DATA_DIR`). With `LRCTL_REQUIRE_MIRROR=1`
/// (CI sets it) a missing mirror fails the test instead of skipping it.
pub fn mirror() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("LRCTL_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        });
    let found = dir.join("MANIFEST.tsv").exists();
    assert!(
        found || std::env::var("LRCTL_REQUIRE_MIRROR").as_deref() != Ok("1"),
        "LRCTL_REQUIRE_MIRROR=1 but the data mirror is not at {} (set LRCTL_DATA_DIR)",
        dir.display()
    );
    found.then_some(dir)
}
