//! ASlib scenario export (Bischl et al. 2016, "ASlib: A benchmark library for algorithm
//! selection", AIJ 237): a study becomes an algorithm-selection scenario that external tools
//! (e.g. the `aslib` R package, AutoFolio, ASAP) can read.
//!
//! Mapping: an *instance* is a task, an *algorithm* is a method, a *repetition* is a seed (1-based
//! in seed order). Performance measures are `test_loss` (held-out cross-entropy, nats; the same
//! unit for every task, unlike the tasks' own metrics) and `cost_seconds`, both minimised.
//! Diverged or failed cells have run status `crash` and missing (`?`) performance. Features are
//! the static meta-features known without training (one feature step, `static`). Folds: tasks
//! are dealt round-robin into `min(10, n_tasks)` folds in name order.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use lrctl_store::{CellRow, Outcome};
use lrctl_tasks::TaskSpec;
use lrctl_wrap::features::StaticFeatures;

fn arff_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn arff_number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "?".to_string(),
    }
}

/// Writes the scenario files into `dir`: `description.txt`, `algorithm_runs.arff`,
/// `feature_values.arff`, `feature_runstatus.arff`, `cv.arff`, `citation.bib`.
pub fn write_scenario(dir: &Path, study: &str, cells: &[CellRow]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
    })?;
    for (name, text) in scenario(study, cells).map_err(std::io::Error::other)? {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// The scenario's files, `(name, content)`.
fn scenario(
    study: &str,
    cells: &[CellRow],
) -> Result<Vec<(&'static str, String)>, std::fmt::Error> {
    let mut files = Vec::new();
    let features = StaticFeatures::names().join(", ");
    let id = study.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");

    let mut tasks: BTreeMap<&str, (Option<TaskSpec>, Vec<&CellRow>)> = BTreeMap::new();
    let mut methods: Vec<&str> = Vec::new();
    for c in cells {
        let e = tasks.entry(c.task.as_str()).or_insert((None, Vec::new()));
        if e.0.is_none() {
            e.0 = serde_json::from_str(&c.task_config).ok();
        }
        e.1.push(c);
        if !methods.contains(&c.method.as_str()) {
            methods.push(&c.method);
        }
    }
    let mut seeds: Vec<u64> = cells.iter().map(|c| c.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let repetition = |seed: u64| seeds.iter().position(|&s| s == seed).unwrap_or(0) + 1;

    let mut d = String::new();
    writeln!(d, "scenario_id: {id}")?;
    writeln!(d, "performance_measures: [test_loss, cost_seconds]")?;
    writeln!(d, "maximize: [false, false]")?;
    writeln!(d, "performance_type: [solution_quality, solution_quality]")?;
    writeln!(d, "algorithm_cutoff_time: ?")?;
    writeln!(d, "algorithm_cutoff_memory: ?")?;
    writeln!(d, "features_cutoff_time: ?")?;
    writeln!(d, "features_cutoff_memory: ?")?;
    writeln!(d, "features_deterministic: [{features}]")?;
    writeln!(d, "features_stochastic: []")?;
    writeln!(d, "metainfo_algorithms:")?;
    for m in &methods {
        let config = cells
            .iter()
            .find(|c| c.method == *m)
            .map(|c| c.method_config.replace('\'', "''"))
            .unwrap_or_default();
        writeln!(d, "  {m}:")?;
        writeln!(d, "    configuration: '{config}'")?;
        writeln!(d, "    deterministic: true")?;
    }
    writeln!(d, "number_of_feature_steps: 1")?;
    writeln!(d, "feature_steps:")?;
    writeln!(d, "  static:")?;
    writeln!(d, "    provides: [{features}]")?;
    writeln!(d, "default_steps: [static]")?;
    files.push(("description.txt", d));

    let mut runs = format!(
        "@RELATION ALGORITHM_RUNS_{id}\n\n@ATTRIBUTE instance_id STRING\n\
         @ATTRIBUTE repetition NUMERIC\n@ATTRIBUTE algorithm STRING\n\
         @ATTRIBUTE test_loss NUMERIC\n@ATTRIBUTE cost_seconds NUMERIC\n\
         @ATTRIBUTE runstatus {{ok, timeout, memout, not_applicable, crash, other}}\n\n@DATA\n"
    );
    for c in cells {
        let Some(r) = &c.result else { continue };
        let ok = r.outcome == Outcome::Finished;
        writeln!(
            runs,
            "{},{},{},{},{},{}",
            arff_string(&c.task),
            repetition(c.seed),
            arff_string(&c.method),
            arff_number(if ok { r.test_loss } else { None }),
            arff_number(Some(r.cost_seconds)),
            if ok { "ok" } else { "crash" }
        )?;
    }
    files.push(("algorithm_runs.arff", runs));

    let mut values = format!(
        "@RELATION FEATURE_VALUES_{id}\n\n@ATTRIBUTE instance_id STRING\n\
         @ATTRIBUTE repetition NUMERIC\n"
    );
    for f in StaticFeatures::names() {
        writeln!(values, "@ATTRIBUTE {f} NUMERIC")?;
    }
    values += "\n@DATA\n";
    let mut status = format!(
        "@RELATION FEATURE_RUNSTATUS_{id}\n\n@ATTRIBUTE instance_id STRING\n\
         @ATTRIBUTE repetition NUMERIC\n\
         @ATTRIBUTE static {{ok, timeout, memout, presolved, crash, other, unknown}}\n\n@DATA\n"
    );
    let folds = tasks.len().clamp(1, 10);
    let mut cv = format!(
        "@RELATION CV_{id}\n\n@ATTRIBUTE instance_id STRING\n@ATTRIBUTE repetition NUMERIC\n\
         @ATTRIBUTE fold NUMERIC\n\n@DATA\n"
    );
    for (i, (task, (spec, task_cells))) in tasks.iter().enumerate() {
        let features = match spec {
            Some(spec) => {
                let results = || task_cells.iter().filter_map(|c| c.result.as_ref());
                let n_params = results().map(|r| r.n_params).find(|&n| n > 0);
                let steps = results().map(|r| r.total_steps).find(|&s| s > 0);
                StaticFeatures::of_task(spec, n_params, steps).values()
            }
            None => vec![f64::NAN; StaticFeatures::names().len()],
        };
        let row: Vec<String> = features.iter().map(|&v| arff_number(Some(v))).collect();
        writeln!(values, "{},1,{}", arff_string(task), row.join(","))?;
        writeln!(
            status,
            "{},1,{}",
            arff_string(task),
            if spec.is_some() { "ok" } else { "unknown" }
        )?;
        writeln!(cv, "{},1,{}", arff_string(task), i % folds + 1)?;
    }
    files.push(("feature_values.arff", values));
    files.push(("feature_runstatus.arff", status));
    files.push(("cv.arff", cv));
    files.push((
        "citation.bib",
        "@misc{lrctl,\n  title = {lrctl: learning-rate control, trained, compared and selected},\n  \
         note = {Scenario exported by lrctl}\n}\n"
            .to_string(),
    ));
    Ok(files)
}
