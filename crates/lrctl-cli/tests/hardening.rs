//! The binary against a careless user and an attacker: passwords never shown, unreachable
//! servers reported at once, read-only commands that write nothing, closed pipes that end
//! quietly, hostile Slurm options refused.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{lrctl, run_err, run_ok};

/// A URL with a password, on a port nothing listens on.
const SECRET_URL: &str = "postgres://user:secret@127.0.0.1:1/x";

/// Waits for `child` at most `limit` (a hang guard, not a timing assertion), killing it then;
/// returns its output and whether it had to be killed.
fn wait_output(mut child: Child, limit: Duration) -> (Output, bool) {
    let start = Instant::now();
    let mut killed = false;
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), killed)
}

fn spawn(dir: &Path, args: &[&str], env_store: Option<&str>) -> Child {
    let mut c = lrctl();
    c.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(s) = env_store {
        c.env("LRCTL_STORE", s);
    }
    c.spawn().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// Every subcommand that takes a store, given one whose URL holds a password (on the command
/// line and through `LRCTL_STORE`): the password appears in no output, and the commands a
/// person waits on fail at once, saying the server is unreachable.
#[test]
fn no_subcommand_ever_shows_the_store_password() {
    let dir = tempfile::tempdir().unwrap();
    let study = [
        "--task",
        "logreg/iris",
        "--method",
        "adam-fixed",
        "--seeds",
        "1",
    ];
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(study.iter().map(|s| s.to_string()));
        v
    };
    let interactive: Vec<Vec<String>> = vec![
        with(&["run", "--quiet"]),
        with(&["run", "--submit-only"]),
        vec!["status".into()],
        vec!["show".into()],
        vec!["export".into()],
        vec!["export".into(), "--format".into(), "json".into()],
        vec!["report".into(), "--out".into(), "r".into()],
        vec!["select".into(), "--task".into(), "logreg/iris".into()],
        vec!["select".into(), "--evaluate".into()],
        vec!["slurm".into(), "status".into()],
        with(&["slurm", "submit", "--workers", "2"]),
        with(&["slurm", "submit", "--dry-run"]),
    ];
    for args in &interactive {
        for via_env in [false, true] {
            let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
            if !via_env {
                a.extend(["--store", SECRET_URL]);
            }
            let child = spawn(dir.path(), &a, via_env.then_some(SECRET_URL));
            let (out, killed) = wait_output(child, Duration::from_secs(60));
            let all = text(&out);
            assert!(!killed, "lrctl {a:?} hung:\n{all}");
            assert!(
                !all.contains("secret"),
                "lrctl {a:?} showed the password:\n{all}"
            );
            if a.contains(&"--dry-run") {
                assert!(out.status.success(), "{all}");
                assert!(all.contains("user:***@127.0.0.1"), "{all}");
            } else {
                assert_eq!(out.status.code(), Some(2), "lrctl {a:?}:\n{all}");
                assert!(all.contains("unreachable"), "lrctl {a:?}:\n{all}");
                assert!(!all.contains("retrying"), "lrctl {a:?} waited:\n{all}");
            }
            // The command-line password is warned about, once; the environment is the way.
            let warnings = all
                .matches("carries a password on the command line")
                .count();
            assert_eq!(warnings, usize::from(!via_env), "lrctl {a:?}:\n{all}");
        }
    }

    // A worker waits for the server (long back-off) and says so, without the password.
    for via_env in [false, true] {
        let mut a = vec!["worker"];
        if !via_env {
            a.extend(["--store", SECRET_URL]);
        }
        let child = spawn(dir.path(), &a, via_env.then_some(SECRET_URL));
        let (out, _) = wait_output(child, Duration::from_secs(3));
        let all = text(&out);
        assert!(
            !all.contains("secret"),
            "worker showed the password:\n{all}"
        );
        assert!(
            all.contains("lrctl worker: store postgres://user:***@127.0.0.1:1/x unreachable"),
            "{all}"
        );
    }
}

/// A populated SQLite store in a fresh directory.
fn populated() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        dir.path(),
        &[
            "run",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--seeds",
            "2",
            "--steps",
            "5",
            "--quiet",
        ],
    );
    let store = dir.path().join("lrctl.db");
    assert!(store.is_file());
    (dir, store)
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = if e.path().is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (e.file_name().into_string().unwrap(), bytes)
        })
        .collect();
    v.sort();
    v
}

/// `status`, `show`, `export`, `report` and `select` open the store read-only: they work in a
/// read-only directory and change no byte of the store, nor leave a file next to it.
#[cfg(unix)]
#[test]
fn read_only_commands_write_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, store) = populated();
    let out = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("ro");
    std::fs::create_dir(&store_dir).unwrap();
    let ro_store = store_dir.join("lrctl.db");
    std::fs::rename(&store, &ro_store).unwrap();
    std::fs::set_permissions(&ro_store, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = listing(&store_dir);
    let s = ro_store.display().to_string();
    let report = out.path().join("report");
    let csv = out.path().join("cells.csv");
    for args in [
        vec!["status", "--store", &s],
        vec!["show", "--store", &s],
        vec!["export", "--store", &s],
        vec!["export", "--store", &s, "--out", csv.to_str().unwrap()],
        vec!["report", "--store", &s, "--out", report.to_str().unwrap()],
        vec!["select", "--store", &s, "--task", "logreg/iris"],
    ] {
        let o = lrctl()
            .current_dir(out.path())
            .args(&args)
            .output()
            .unwrap();
        // `select` may refuse a one-task study, but not for want of write access.
        let all = text(&o);
        assert!(
            o.status.success() || args[0] == "select",
            "lrctl {args:?}:\n{all}"
        );
        assert!(
            !all.contains("read-only") && !all.contains("readonly"),
            "{all}"
        );
    }
    let after = listing(&store_dir);
    std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        before.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        after.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    assert!(before == after, "a read-only command changed the store");
    assert!(std::fs::read_to_string(&csv).unwrap().lines().count() >= 3);
}

/// `lrctl status | head -c 10` panicked; `lrctl export | head` printed an error. A reader that
/// goes away is the end of the output, not an error.
#[test]
fn a_closed_stdout_ends_quietly() {
    let (dir, _) = populated();
    for args in [
        &["status"][..],
        &["show"],
        &["export"],
        &["export", "--table", "curves", "--format", "json"],
        &["tasks"],
    ] {
        let mut child = lrctl()
            .current_dir(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before lrctl writes anything: every write then fails.
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "lrctl {args:?}: {status}\n{err}");
        // The one line saying which study a command acts on is not a complaint.
        let complaints: Vec<&str> = err.lines().filter(|l| !l.starts_with("study `")).collect();
        assert!(complaints.is_empty(), "lrctl {args:?} complained:\n{err}");
    }
    // `head -c 10` through a shell, as a person types it.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' status | head -c 10 >/dev/null",
            env!("CARGO_BIN_EXE_lrctl")
        ))
        .current_dir(dir.path())
        .env_remove("LRCTL_STORE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
}

#[test]
fn hostile_slurm_options_are_refused_and_hostile_names_stay_data() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "slurm",
        "submit",
        "--dry-run",
        "--task",
        "logreg/iris",
        "--seeds",
        "1",
    ];
    for (option, value) in [
        ("--partition", "cpu\n#SBATCH --uid=0"),
        ("--time", "01:00:00\ntouch PWNED"),
        ("--account", "a;touch PWNED"),
        ("--mem", "4G touch"),
        ("--gres", "gpu:1'"),
    ] {
        let mut args = base.to_vec();
        args.extend([option, value]);
        let o = lrctl()
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{option}: {err}");
        assert!(
            err.contains(option) && err.contains("Slurm job header"),
            "{err}"
        );
    }
    // A study name with a newline is refused before anything is written or generated.
    let mut args = base.to_vec();
    args.extend(["--study", "n\ntouch PWNED", "--partition", "cpu"]);
    let err = run_err(dir.path(), &args);
    assert!(err.contains("control character"), "{err}");
    // Names that are plain text but shell syntax stay data in the script.
    let mut args = base.to_vec();
    args.extend([
        "--study",
        "n';touch PWNED;'$(touch PWNED)",
        "--partition",
        "cpu",
    ]);
    let script = run_ok(dir.path(), &args);
    assert!(
        !script.lines().any(|l| l.trim().starts_with("touch PWNED")),
        "{script}"
    );
    assert!(
        script.contains("#SBATCH --job-name=lrctl-n__touch_PWNED_"),
        "{script}"
    );
    assert!(!dir.path().join("PWNED").exists());
}
