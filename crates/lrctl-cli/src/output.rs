//! Human-readable tables and result files.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use lrctl_engine::RunResult;
use lrctl_method::MethodSpec;
use lrctl_tasks::TaskSpec;
use serde::Serialize;

/// `lrctl tasks`.
pub fn print_tasks(tasks: &[TaskSpec]) {
    let width = tasks.iter().map(|t| t.name.len()).max().unwrap_or(4);
    for t in tasks {
        let files = if t.data.is_embedded() {
            "embedded"
        } else if t.data.needs_path() {
            "--data"
        } else {
            "mirror"
        };
        println!("{:width$}  {:8}  {}", t.name, files, t.description);
    }
    println!();
    println!(
        "Scale any task with a suffix: `mlp/fashion-mnist@w4` (width ×4), `lm/tinyshakespeare@w2d2`."
    );
}

/// `lrctl methods`.
pub fn print_methods(methods: &[lrctl_wrap::Method]) {
    let width = methods.iter().map(|m| m.name().len()).max().unwrap_or(4);
    for m in methods.iter().map(|m| &m.spec) {
        let mark = if m.default { "*" } else { " " };
        println!(
            "{:width$} {mark} {:9} {}",
            m.name,
            m.paradigm.as_str(),
            m.description
        );
    }
    println!();
    println!("* = in the default set of `lrctl run`. A method can also be a `.toml` file path.");
}

/// The summary `lrctl train` prints.
pub fn run_summary(task: &TaskSpec, method: &str, seed: u64, r: &RunResult) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "task        {}", task.name);
    let _ = writeln!(s, "method      {method}");
    let _ = writeln!(s, "seed        {seed}");
    let _ = writeln!(s, "outcome     {}", r.outcome.as_str());
    if let Some(reason) = &r.reason {
        let _ = writeln!(s, "reason      {reason}");
    }
    let _ = writeln!(s, "steps       {} / {}", r.steps, r.total_steps);
    let _ = writeln!(s, "parameters  {}", r.n_params);
    if let Some(l) = r.final_train_loss {
        let _ = writeln!(
            s,
            "train loss  {l:.6} (mean mini-batch loss over the last curve interval)"
        );
    }
    for (name, m) in [
        ("train     ", &r.train),
        ("validation", &r.validation),
        ("test      ", &r.test),
    ] {
        match m {
            Some(m) => {
                let _ = writeln!(s, "{name}  {}", metrics_line(m));
            }
            // An evaluation over no examples (an empty split) has no value, not 0.
            None if r.outcome == lrctl_engine::Outcome::Finished => {
                let _ = writeln!(s, "{name}  no value (the split is empty)");
            }
            None => {}
        }
    }
    let _ = writeln!(
        s,
        "time        {:.2} s ({:.2} s evaluating, {:.0} steps/s)",
        r.seconds,
        r.eval_seconds,
        r.steps as f64 / (r.seconds - r.eval_seconds).max(1e-9)
    );
    s
}

/// One line of metrics.
pub fn metrics_line(m: &lrctl_tasks::Metrics) -> String {
    let mut s = format!("loss {:.6}", m.loss);
    if let Some(a) = m.accuracy {
        s += &format!("  accuracy {:.4}", a);
    }
    if let Some(b) = m.bits_per_byte {
        s += &format!("  bits/byte {:.4}", b);
    }
    if let Some(p) = m.perplexity {
        s += &format!("  perplexity {:.3}", p);
    }
    s + &format!("  ({} examples)", m.examples)
}

/// Rejects an output path whose format is unknown, before any training happens.
pub fn check_out_extension(path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json" | "csv") => Ok(()),
        _ => bail!(
            "--out {}: the file name must end in .json (full result) or .csv (learning curve)",
            path.display()
        ),
    }
}

#[derive(Serialize)]
struct RunFile<'a> {
    lrctl_version: &'static str,
    task: &'a TaskSpec,
    method: &'a MethodSpec,
    seed: u64,
    result: &'a RunResult,
}

/// Writes a single run as JSON (everything) or CSV (the curve).
pub fn write_run(
    path: &Path,
    task: &TaskSpec,
    method: &MethodSpec,
    seed: u64,
    r: &RunResult,
) -> Result<()> {
    // Written whole or not at all: a killed write leaves the old file.
    lrctl_store::atomic::write_with(path, |f| -> Result<()> {
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            write_run_json(f, task, method, seed, r)
        } else {
            write_curve_csv(f, task, &method.name, seed, r)
        }
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a report's files into `dir`, each atomically, and removes the figures and tables of
/// an earlier report there that this one does not have (so a directory reused for another
/// study never keeps its stale figures).
pub fn write_report_dir(doc: &lrctl_doc::Document, dir: &Path) -> Result<()> {
    let files = doc.files();
    for sub in ["figures", "tables"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    for (rel, bytes) in &files {
        lrctl_store::atomic::write(dir.join(rel), bytes)?;
    }
    for (sub, ext) in [("figures", "svg"), ("tables", "csv")] {
        for entry in std::fs::read_dir(dir.join(sub))?.flatten() {
            let path = entry.path();
            let rel = Path::new(sub).join(entry.file_name());
            if path.extension().and_then(|e| e.to_str()) == Some(ext)
                && !files.iter().any(|(r, _)| *r == rel)
            {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove the stale {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// A single run as JSON: the task, the method, the seed and the whole result.
pub fn write_run_json(
    w: &mut dyn Write,
    task: &TaskSpec,
    method: &MethodSpec,
    seed: u64,
    r: &RunResult,
) -> Result<()> {
    let file = RunFile {
        lrctl_version: env!("CARGO_PKG_VERSION"),
        task,
        method,
        seed,
        result: r,
    };
    serde_json::to_writer_pretty(&mut *w, &file)?;
    writeln!(w)?;
    Ok(())
}

/// The curve as CSV: the cell (`task, method, seed`) and the metric's name, then the columns
/// of `lrctl export --table curves`; one row per recorded point, evaluation columns empty
/// between evaluations.
pub fn write_curve_csv(
    w: &mut dyn Write,
    task: &TaskSpec,
    method: &str,
    seed: u64,
    r: &RunResult,
) -> Result<()> {
    writeln!(
        w,
        "task,method,seed,metric_name,{}",
        lrctl_study::export::CURVE_COLUMNS
    )?;
    let (_, rows) = r.to_record(task);
    let prefix = format!(
        "{},{},{seed},{}",
        lrctl_study::export::csv_text(&task.name),
        lrctl_study::export::csv_text(method),
        task.primary_metric().0
    );
    Ok(lrctl_study::export::write_curve_rows(w, &prefix, &rows)?)
}
