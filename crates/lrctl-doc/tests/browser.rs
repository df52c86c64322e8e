//! Renders the example report in headless Chromium via `browser_check.sh`.
//!
//! Runs only with `LRCTL_BROWSER_TEST=1` (CI sets it after installing
//! chromium); otherwise it prints "skipped" and passes. Set
//! `LRCTL_BROWSER_OUT=<dir>` to keep the report and screenshot there.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../examples/sample.rs"]
mod sample;

#[test]
fn sample_report_renders_in_headless_chromium() {
    if std::env::var("LRCTL_BROWSER_TEST").as_deref() != Ok("1") {
        println!("skipped: set LRCTL_BROWSER_TEST=1 (needs chromium and python3)");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let out: PathBuf = std::env::var_os("LRCTL_BROWSER_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    sample::demo_document()
        .write_dir(&out)
        .expect("write report");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser_check.sh");
    let result = Command::new("bash")
        .arg(&script)
        .arg(out.join("index.html"))
        .arg(out.join("screenshot.png"))
        .env("REQUIRE_CHART_COLOURS", "1")
        .output()
        .expect("run browser_check.sh");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    println!("{stdout}");
    assert!(
        result.status.success(),
        "browser check failed ({}):\n{stdout}\n{stderr}",
        result.status
    );
    assert!(stdout.contains("browser_check: OK"), "{stdout}");
}
