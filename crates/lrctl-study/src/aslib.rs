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

use anyhow::{Context, Result};
use lrctl_store::{CellRow, Outcome};
use lrctl_tasks::{ModelSpec, TaskSpec};

/// The static meta-features exported per task, in column order.
pub const FEATURES: &[&str] = &[
    "log_train_rows",
    "n_features",
    "n_classes",
    "log_params",
    "batch_size",
    "log_budget_steps",
    "family_linear",
    "family_mlp",
    "family_cnn",
    "family_lm",
];

/// Static meta-features of a task: from its configuration and, for sizes only known after
/// training, from its stored cells.
pub fn static_features(task: &TaskSpec, cells: &[&CellRow]) -> Vec<f64> {
    let n_params = cells
        .iter()
        .filter_map(|c| c.result.as_ref().map(|r| r.n_params))
        .find(|&n| n > 0)
        .map_or(f64::NAN, |n| n as f64);
    let steps = crate::estimate::steps(task)
        .map(|s| s as f64)
        .or_else(|| {
            cells
                .iter()
                .filter_map(|c| c.result.as_ref().map(|r| r.total_steps as f64))
                .find(|&s| s > 0.0)
        })
        .unwrap_or(f64::NAN);
    let (rows, features, classes) = crate::estimate::data_shape(task);
    let family = |f: &str| f64::from(u8::from(task.model.family() == f));
    vec![
        rows.map_or(f64::NAN, |r| (r as f64).ln()),
        features as f64,
        classes as f64,
        n_params.ln(),
        task.batch_size as f64,
        steps.ln(),
        family(ModelSpec::Linear.family()),
        family("mlp"),
        family("cnn"),
        family("lm"),
    ]
}

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
pub fn write_scenario(dir: &Path, study: &str, cells: &[CellRow]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
    writeln!(d, "features_deterministic: [{}]", FEATURES.join(", "))?;
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
    writeln!(d, "    provides: [{}]", FEATURES.join(", "))?;
    writeln!(d, "default_steps: [static]")?;
    std::fs::write(dir.join("description.txt"), d)?;

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
    std::fs::write(dir.join("algorithm_runs.arff"), runs)?;

    let mut values = format!(
        "@RELATION FEATURE_VALUES_{id}\n\n@ATTRIBUTE instance_id STRING\n\
         @ATTRIBUTE repetition NUMERIC\n"
    );
    for f in FEATURES {
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
            Some(spec) => static_features(spec, task_cells),
            None => vec![f64::NAN; FEATURES.len()],
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
    std::fs::write(dir.join("feature_values.arff"), values)?;
    std::fs::write(dir.join("feature_runstatus.arff"), status)?;
    std::fs::write(dir.join("cv.arff"), cv)?;
    std::fs::write(
        dir.join("citation.bib"),
        "@misc{lrctl,\n  title = {lrctl: learning-rate control, trained, compared and selected},\n  \
         note = {Scenario exported by lrctl}\n}\n",
    )?;
    Ok(())
}
