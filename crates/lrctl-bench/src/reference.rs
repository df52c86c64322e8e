//! The PyTorch side: the data and model description it reads, and running it.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use lrctl_tasks::{LoadedTask, Task, TaskData};
use serde_json::json;

use crate::{BenchError, SideConfig, SideRun};

/// Writes what `scripts/bench/pytorch_reference.py` needs to train the same model on the same
/// data into `dir`: `meta.json` (the model's family and sizes after the task's width and depth
/// multipliers, [`lrctl_tasks::ModelSpec::reference`]; the kind of data; batch size; AdamW
/// settings of [`crate::BENCH_METHOD`]) and the training split (`x.f32` row-major + `y.i64`,
/// or `text.u8`), exactly the rows lrctl trains on.
pub fn export_reference(task: &LoadedTask, dir: &Path) -> Result<(), BenchError> {
    let spec = task.spec();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| BenchError::io(format!("writing {}", path.display()), e))
    };
    let mut meta = json!({
        "task": spec.name,
        "batch": spec.batch_size,
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.01,
    });
    let data = task.data();
    for (key, value) in spec.model.reference(spec.scale(), &data.shape()) {
        meta[key] = value;
    }
    match data {
        TaskData::Text(t) => {
            meta["data"] = json!("text");
            write("text.u8", &t.train)?;
        }
        TaskData::Class(c) => {
            let rows = &c.train;
            meta["data"] = json!("rows");
            meta["features"] = json!(rows.n_features);
            meta["classes"] = json!(rows.n_classes);
            let x = rows.f32_le_bytes();
            let y: Vec<u8> = rows
                .y
                .iter()
                .flat_map(|&c| (c as i64).to_le_bytes())
                .collect();
            write("x.f32", &x)?;
            write("y.i64", &y)?;
        }
    }
    write("meta.json", meta.to_string().as_bytes())
}

/// Runs the reference script with `python` on the directory [`export_reference`] wrote, with
/// `OPENBLAS_NUM_THREADS=1` (PyTorch's own pool does the threading), and parses its JSON line.
pub fn run_reference(
    python: &Path,
    script: &Path,
    dir: &Path,
    cfg: &SideConfig,
) -> Result<SideRun, BenchError> {
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg("--data")
        .arg(dir)
        .args(["--steps", &cfg.steps.to_string()])
        .args(["--warmup", &cfg.warmup.to_string()])
        .args(["--threads", &cfg.threads.to_string()])
        .args(["--seed", &cfg.seed.to_string()])
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", cfg.threads.to_string());
    run_json_script(cmd, python, script, "reference")
}

/// Runs `cmd` (`python script …`) and parses the last line of its standard output as JSON; a
/// failed start, a failed exit (with its standard error) or another last line is an error
/// naming the script (`what` says which in the message).
pub(crate) fn run_json_script<T: serde::de::DeserializeOwned>(
    mut cmd: Command,
    python: &Path,
    script: &Path,
    what: &str,
) -> Result<T, BenchError> {
    let out = cmd.output().map_err(|e| {
        BenchError::io(
            format!("running {} {}", python.display(), script.display()),
            e,
        )
    })?;
    if !out.status.success() {
        return Err(BenchError::Reference(format!(
            "{} {} failed ({}): {}",
            python.display(),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| {
        BenchError::Reference(format!(
            "{}: expected one JSON line from the {what} script, got {line:?}: {e}",
            script.display()
        ))
    })
}
