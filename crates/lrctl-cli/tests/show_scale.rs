//! `lrctl show --scale` on a tiny ladder (an MLP at width ×1 and ×2, a tuned and an untuned
//! method) and on a study without a ladder.

mod common;

use common::run_ok;

#[test]
fn show_scale_prints_the_ladder_or_says_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |study: &str, tasks: &[&str]| {
        let mut args = vec!["run", "--study", study, "--quiet", "--seeds", "1"];
        for t in tasks {
            args.extend(["--task", t]);
        }
        args.extend([
            "--method",
            "adam-fixed",
            "--method",
            "smac-fixed",
            "--steps",
            "5",
            "--jobs",
            "1",
        ]);
        run_ok(d, &args);
    };
    run("flat", &["logreg/iris"]);
    let out = run_ok(d, &["show", "--scale", "--study", "flat"]);
    assert!(out.contains("This study has no ladder"), "{out}");
    run("ladder", &["mlp/digits", "mlp/digits@w2"]);
    let out = run_ok(d, &["show", "--scale", "--study", "ladder"]);
    assert!(out.contains("mlp/digits along width"), "{out}");
    assert!(out.contains("| ×2 | mlp/digits@w2 |"), "{out}");
    assert!(out.contains("| smac-fixed | tuned |"), "{out}");
}
