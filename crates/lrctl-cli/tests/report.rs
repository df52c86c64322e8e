//! `lrctl report` on a real small study with diverged cells and missing seeds: every section,
//! every figure with data marks, the gaps stated; opened in headless Chromium when
//! `LRCTL_BROWSER_TEST=1`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{LONG, finished_count, lrctl, run_ok, wait_for};

/// Data marks of a chart: fills and strokes in a colour (not white, black or a grey, which
/// axes, grids and text use). Series use the palette, heat maps a colour scale.
fn data_marks(svg: &str) -> usize {
    svg.match_indices('#')
        .filter_map(|(i, _)| svg.get(i + 1..i + 7))
        .filter(|hex| hex.chars().all(|c| c.is_ascii_hexdigit()))
        .filter(|hex| {
            let c = |k: usize| u8::from_str_radix(&hex[k..k + 2], 16).unwrap();
            !(c(0) == c(2) && c(2) == c(4))
        })
        .count()
}

#[test]
fn report_of_a_study_with_divergences_and_missing_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("boom.toml"),
        "name = \"sgd-boom\"\nparadigm = \"fixed\"\n[optimizer]\nkind = \"sgd\"\n\
         [controller]\nkind = \"constant\"\nlr = 1e30\n",
    )
    .unwrap();
    let base = [
        "run",
        "--task",
        "logreg/iris",
        "--task",
        "logreg/breast-cancer",
        "--method",
        "adam-fixed",
        "--method",
        "prodigy",
        "--method",
        "boom.toml",
        "--steps",
        "60",
        "--quiet",
    ];
    // Two seeds everywhere, then a third seed only for prodigy: a study with missing seeds.
    let mut a: Vec<&str> = base.to_vec();
    a.extend(["--seeds", "2", "--study", "s"]);
    run_ok(d, &a);
    run_ok(
        d,
        &[
            "run",
            "--task",
            "logreg/iris",
            "--method",
            "prodigy",
            "--steps",
            "60",
            "--seeds",
            "0,1,2",
            "--study",
            "s",
            "--quiet",
        ],
    );
    let text = run_ok(
        d,
        &["report", "--study", "s", "--out", "rep", "--reps", "200"],
    );
    assert!(text.contains("wrote"), "{text}");

    let html = std::fs::read_to_string(d.join("rep/index.html")).unwrap();
    for section in [
        "Overview",
        "Task logreg/iris",
        "Task logreg/breast-cancer",
        "Across tasks",
        "Divergences",
        "Provenance",
        "Ranks and gap to best",
        "Aggregate scores",
        "Performance profiles",
        "Probability of improvement",
        "Cost against quality",
        "Time to target",
        "Portfolio",
        "Algorithm selection",
        "IQM",
        "BCa",
    ] {
        assert!(html.contains(section), "section {section} missing");
    }
    assert!(html.contains("sgd-boom"));
    assert!(
        html.contains("logreg/iris · sgd-boom: 0 of 2 seeds finished"),
        "the gaps are stated"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    let external = html
        .replace("http://www.w3.org/2000/svg", "")
        .contains("http");
    assert!(!external, "self-contained: no external references");

    let figures: Vec<PathBuf> = std::fs::read_dir(d.join("rep/figures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(figures.len() >= 6, "{figures:?}");
    for f in &figures {
        let svg = std::fs::read_to_string(f).unwrap();
        let start = svg
            .find("<svg")
            .unwrap_or_else(|| panic!("{} is not SVG", f.display()));
        let svg = &svg[start..];
        assert!(data_marks(svg) >= 2, "{} has no data marks", f.display());
        // The figure's first data element appears inline in the HTML too.
        let rect = svg.find("<rect").unwrap();
        let line = &svg[rect..svg[rect..].find('>').unwrap() + rect];
        assert!(html.contains(line), "{} not inline", f.display());
    }
    assert!(html.matches("<svg").count() >= figures.len());
    let md = std::fs::read_to_string(d.join("rep/report.md")).unwrap();
    assert!(
        md.contains("figures/") && md.contains("| method"),
        "markdown twin"
    );
    let tables: Vec<_> = std::fs::read_dir(d.join("rep/tables")).unwrap().collect();
    assert!(tables.len() >= 4);

    if std::env::var("LRCTL_BROWSER_TEST").as_deref() == Ok("1") {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../lrctl-doc/tests/browser_check.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(d.join("rep/index.html"))
            .arg(d.join("rep/screenshot.png"))
            .env("REQUIRE_CHART_COLOURS", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "browser check: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        println!("browser check skipped: set LRCTL_BROWSER_TEST=1");
    }
}

#[test]
fn report_while_the_study_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = lrctl()
        .current_dir(d)
        .args(LONG)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a first finished cell, then report while the others run.
    let mid_study = wait_for(
        d,
        |s| (1..8).contains(&finished_count(s)),
        Duration::from_secs(120),
    );
    let reported = mid_study.then(|| run_ok(d, &["report", "--out", "rep", "--reps", "100"]));
    child.kill().ok();
    child.wait().ok();
    let text = reported.expect("a report was written mid-study");
    assert!(text.contains("unfinished"), "{text}");
    let html = std::fs::read_to_string(d.join("rep/index.html")).unwrap();
    assert!(
        html.contains("have no result yet"),
        "unfinished cells are marked"
    );
    assert!(html.contains("Task mlp/digits"));
}

#[test]
fn two_studies_side_by_side_and_what_the_report_says_about_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (study, lr) in [("low", "0.001"), ("high", "0.01")] {
        common::run_ok(
            d,
            &[
                "run",
                "--task",
                "logreg/iris",
                "--task",
                "logreg/wine-quality",
                "--method",
                "adam-fixed",
                "--method",
                "plateau-adamw",
                "--seeds",
                "2",
                "--steps",
                "20",
                "--study",
                study,
                "--quiet",
                "--set",
                &format!("controller.lr={lr}"),
            ],
        );
    }
    let out = common::run_ok(
        d,
        &[
            "report", "--study", "low", "--study", "high", "--out", "both", "--reps", "100",
        ],
    );
    assert!(out.contains("wrote"), "{out}");
    let md = std::fs::read_to_string(d.join("both/report.md")).unwrap();
    assert!(md.contains("low vs high"), "titled by both studies");
    for m in ["low:adam-fixed", "high:adam-fixed", "low:plateau-adamw"] {
        assert!(md.contains(m), "{m} missing");
    }
    // Chart titles carry their task (a saved SVG keeps its context).
    let svg = std::fs::read_to_string(d.join("both/figures/logreg-iris-train-loss.svg")).unwrap();
    assert!(svg.contains("logreg/iris"), "the task is in the figure");
    // plateau-adamw never acts in 20 steps: its runs are adam-fixed's.
    assert!(
        md.contains("high:plateau-adamw's runs on logreg/iris are identical to high:adam-fixed's"),
        "identical runs are noted"
    );
    // One provenance row per build and machine.
    let prov = std::fs::read_to_string(d.join("both/tables/provenance.csv")).unwrap();
    assert_eq!(prov.lines().count(), 2, "{prov}");
}
