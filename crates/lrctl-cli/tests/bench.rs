//! `lrctl bench`: lrctl's measurements, the README table, and the PyTorch reference building
//! the same models (when Debian's python3-torch is installed; CI installs it and sets
//! `LRCTL_REQUIRE_TORCH=1`).

mod common;

use common::{mirror, run_err, run_ok};

fn report(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json")).unwrap()).unwrap()
}

#[test]
fn lrctl_side_reports_steps_phases_shares_and_the_readme_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("README.md"),
        "# x\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\ntail\n",
    )
    .unwrap();
    let out = run_ok(
        d,
        &[
            "bench",
            "--task",
            "logreg/breast-cancer",
            "--task",
            "mlp/digits",
            "--reps",
            "2",
            "--steps",
            "25",
            "--warmup",
            "2",
            "--threads",
            "1",
            "--no-pytorch",
            "--no-study",
            "--out",
            "bench.json",
            "--readme",
            "README.md",
        ],
    );
    assert!(out.contains("| `mlp/digits` |"), "{out}");
    let r = report(d);
    let tasks = r["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for t in tasks {
        let runs = t["lrctl"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "one run per repetition");
        for run in runs {
            assert_eq!(run["step_ms"].as_array().unwrap().len(), 25);
            assert_eq!(run["phases"]["steps"], 25, "warm-up steps are not counted");
            assert!(run["phases"]["forward_backward"].as_f64().unwrap() > 0.0);
            assert!(run["peak_rss_mb"].as_f64().unwrap() > 1.0);
            let updates = run["update_ms"].as_array().unwrap();
            let names: Vec<&str> = updates.iter().map(|u| u[0].as_str().unwrap()).collect();
            assert_eq!(names, ["adamw", "prodigy", "dadapt-adam", "dowg"]);
            assert!(run["budget_steps"].as_u64().unwrap() > 25);
        }
        let share = t["machinery_share"].as_f64().unwrap();
        assert!(share > 0.0 && share < 1.0, "{share}");
        assert!(t["store_share"].as_f64().unwrap() > 0.0);
        assert!(t["speed_ratio"].is_null(), "no reference ran");
        let lat = t["lrctl_latency_ms"].as_array().unwrap();
        assert!(lat[0].as_f64().unwrap() <= lat[2].as_f64().unwrap());
    }
    let readme = std::fs::read_to_string(d.join("README.md")).unwrap();
    assert!(!readme.contains("old table"), "{readme}");
    assert!(readme.contains("| `logreg/breast-cancer` |"), "{readme}");
    assert!(readme.ends_with("<!-- bench:end -->\ntail\n"), "{readme}");
}

#[test]
fn a_reference_with_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A stand-in "python" whose torch import works and whose model has 1 parameter.
    let fake = d.join("fake-python");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$2\" in *import*) echo 9.9; exit 0;; esac\n\
         echo '{\"step_ms\":[1.0],\"n_params\":1,\"peak_rss_mb\":1,\"rss_before_model_mb\":1,\
         \"version\":\"fake\",\"threads\":1}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = run_err(
        d,
        &[
            "bench",
            "--task",
            "logreg/breast-cancer",
            "--reps",
            "1",
            "--steps",
            "3",
            "--no-study",
            "--python",
            fake.to_str().unwrap(),
        ],
    );
    assert!(err.contains("the models differ"), "{err}");
}

#[test]
fn a_python_without_torch_gets_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_err(
        dir.path(),
        &[
            "bench",
            "--task",
            "logreg/breast-cancer",
            "--python",
            "/bin/false",
        ],
    );
    assert!(err.contains("cannot import torch"), "{err}");
    assert!(err.contains("--no-pytorch"), "{err}");
}

fn torch_available() -> bool {
    std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The reference script builds every family's model with exactly lrctl's parameter count
/// (the command refuses otherwise) and trains it on the exported data: one task of every
/// registered family (the first built-in one on embedded data, else on the mirror when it is
/// present), so a new family is checked without editing this test.
#[test]
fn pytorch_reference_trains_the_same_models() {
    if !torch_available() {
        assert!(
            std::env::var_os("LRCTL_REQUIRE_TORCH").is_none(),
            "LRCTL_REQUIRE_TORCH is set but /usr/bin/python3 cannot import torch"
        );
        eprintln!("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = vec![
        "bench",
        "--task",
        "logreg/breast-cancer",
        "--task",
        "mlp/digits",
        "--reps",
        "1",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--no-study",
        "--out",
        "bench.json",
    ];
    let data = mirror();
    let builtin = lrctl_tasks::registry::builtin();
    let mut covered = vec!["linear", "mlp"];
    let mut extra: Vec<String> = Vec::new();
    for &family in lrctl_tasks::ModelSpec::KINDS {
        let of_family = || {
            builtin
                .iter()
                .filter(move |t| t.model.family() == family && !t.data.needs_path())
        };
        let task = of_family()
            .find(|t| t.data.is_embedded())
            .or_else(|| of_family().find(|_| data.is_some()));
        match task {
            Some(t) if !covered.contains(&family) => {
                covered.push(family);
                extra.push(t.name.clone());
            }
            Some(_) => {}
            None => eprintln!("no data mirror: the {family} reference model is not checked"),
        }
    }
    for name in &extra {
        args.extend(["--task", name.as_str()]);
    }
    let data_dir = data.as_ref().map(|p| p.to_str().unwrap().to_string());
    if let Some(data) = &data_dir {
        args.extend(["--data-dir", data]);
    }
    let out = run_ok(d, &args);
    assert!(out.contains("PyTorch"), "{out}");
    let r = report(d);
    assert_eq!(r["tasks"].as_array().unwrap().len(), 2 + extra.len());
    for t in r["tasks"].as_array().unwrap() {
        let (l, p) = (&t["lrctl"][0], &t["pytorch"][0]);
        assert_eq!(l["n_params"], p["n_params"], "{}", t["task"]);
        assert_eq!(p["step_ms"].as_array().unwrap().len(), 2);
        assert!(t["speed_ratio"]["median"].as_f64().unwrap() > 0.0);
    }
}
