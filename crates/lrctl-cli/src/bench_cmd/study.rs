//! `lrctl bench --study`: a whole study, lrctl (`lrctl run`) against the same runs in a
//! PyTorch loop, interleaved task by task (see `lrctl_bench::study`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use lrctl_bench::study::{
    STUDY_NAME, StudyReport, StudyTaskReport, export_study, plan_reference, run_study_reference,
};
use lrctl_tasks::Task;

use super::{BenchArgs, find_study_script, load, torch_version};

/// The target: PyTorch's wall time over lrctl's for the whole study.
const TARGET: f64 = 5.0;

pub(super) fn bench_study(args: &BenchArgs) -> Result<()> {
    if args.no_pytorch {
        bail!("--study compares with PyTorch: drop --no-pytorch");
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let task_names: Vec<String> = if args.task.is_empty() {
        lrctl_study::suite::PAPER_LIBSVM
            .iter()
            .map(|n| format!("libsvm/{n}"))
            .collect()
    } else {
        args.task.clone()
    };
    let methods: Vec<String> = if args.method.is_empty() {
        lrctl_study::suite::PAPER_METHODS
            .iter()
            .map(|m| m.to_string())
            .collect()
    } else {
        args.method.clone()
    };
    // Everything that can fail does so before the first task runs.
    let tasks = task_names
        .iter()
        .map(|n| load(n, &args.data))
        .collect::<Result<Vec<_>>>()?;
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let kinds = optimizer_kinds(&methods)?;
    // With --batch, the tuned methods run from files that say so (kept for the whole run).
    let batched = tempfile::tempdir()?;
    let methods = if args.batch > 1 {
        methods
            .iter()
            .map(|m| with_batch(m, args.batch, batched.path()))
            .collect::<Result<Vec<_>>>()?
    } else {
        methods
    };
    let script = match &args.script {
        Some(s) => s.clone(),
        None => find_study_script()?,
    };
    let version = torch_version(&args.python)?;
    check_packages(&args.python, &script, &kinds)?;
    let exe = std::env::current_exe().context("locating the lrctl executable")?;

    let uptime_before = uptime();
    let mut reports = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for task in &tasks {
        let name = &task.spec().name;
        let dir = tempfile::tempdir()?;
        let store_path = dir.path().join("lrctl.db");
        eprintln!("{name}: lrctl run …");
        let wall = lrctl_run(&exe, name, &methods, args, &store_path)?;
        let mut store = lrctl_store::open(&store_path.display().to_string())?;
        let (side, plan) =
            plan_reference(store.as_mut(), task, wall, dir.path()).map_err(anyhow::Error::msg)?;
        drop(store);
        for run in &plan {
            if !names.contains(&run.method) {
                names.push(run.method.clone());
            }
        }
        export_study(task, &plan, dir.path()).map_err(anyhow::Error::msg)?;
        eprintln!("{name}: lrctl {wall:.1} s ({} runs); PyTorch …", plan.len());
        let (reference, pytorch_wall) =
            run_study_reference(&args.python, &script, dir.path()).map_err(anyhow::Error::msg)?;
        let blas = &reference.blas;
        let report = StudyTaskReport::new(name, side, &plan, &reference, pytorch_wall)
            .map_err(anyhow::Error::msg)?;
        eprintln!("{name}: PyTorch {pytorch_wall:.1} s ({:.2}×)", report.ratio);
        reports.push(report);
        // Written after every task, so that a long run that is stopped keeps what it measured
        // (the table lists the tasks it covers).
        let report = StudyReport {
            machine: lrctl_store::machine_description(),
            reference: format!("{version}, BLAS {blas}"),
            methods: names.clone(),
            seeds: args.seeds,
            uptime: (uptime_before.clone(), uptime()),
            tasks: reports.clone(),
            target: TARGET,
            batch: args.batch,
        };
        write_report(&report, args, reports.len() == tasks.len())?;
    }
    Ok(())
}

/// Writes `--out` and `--readme`; prints the table once the study is `complete`.
fn write_report(report: &StudyReport, args: &BenchArgs, complete: bool) -> Result<()> {
    let table = report.markdown();
    if complete {
        println!("{table}");
    }
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(readme) = &args.readme {
        let doc = std::fs::read_to_string(readme)
            .with_context(|| format!("reading {}", readme.display()))?;
        let new = lrctl_bench::study::splice_study(&doc, &table)
            .map_err(|e| anyhow::anyhow!("{}: {e}", readme.display()))?;
        std::fs::write(readme, new).with_context(|| format!("writing {}", readme.display()))?;
        if complete {
            eprintln!("updated the study table in {}", readme.display());
        }
    }
    Ok(())
}

/// Runs the study's cells of `task` with `lrctl run` (one job) into `store`; its wall seconds.
fn lrctl_run(
    exe: &Path,
    task: &str,
    methods: &[String],
    args: &BenchArgs,
    store: &Path,
) -> Result<f64> {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["run", "--task", task, "--jobs", "1", "--progress", "none"])
        .args(["--study", STUDY_NAME, "--seeds", &args.seeds.to_string()])
        .arg("--store")
        .arg(store);
    for m in methods {
        cmd.args(["--method", m]);
    }
    if let Some(steps) = args.steps {
        cmd.args(["--steps", &steps.to_string()]);
    }
    if let Some(dir) = args.data.data_dir() {
        cmd.arg("--data-dir").arg(dir);
    }
    if args.data.offline() {
        cmd.arg("--offline");
    }
    let start = Instant::now();
    let out = cmd
        .stdout(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "lrctl run --task {task} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(wall)
}

/// `method` (a name or a `.toml` file) as `lrctl run` takes it with `batch` trials at once:
/// a tuned method becomes a file in `dir` whose `[tune]` table says `batch = K` (same name);
/// any other method is passed on as it is.
fn with_batch(method: &str, batch: usize, dir: &Path) -> Result<String> {
    if lrctl_wrap::find(method)?.tune().is_none() {
        return Ok(method.to_string());
    }
    let text = match lrctl_method::BUILTIN_FILES
        .iter()
        .find(|(n, _)| *n == method)
    {
        Some((_, text)) => text.to_string(),
        None => std::fs::read_to_string(method).with_context(|| format!("reading {method}"))?,
    };
    let mut file: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {method}"))?;
    let Some(toml::Value::Table(tune)) = file.get_mut("tune") else {
        bail!("{method}: a tuned method without a [tune] table");
    };
    tune.insert("batch".into(), toml::Value::Integer(batch as i64));
    let name = Path::new(method)
        .file_stem()
        .map_or_else(|| method.to_string(), |s| s.to_string_lossy().into_owned());
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml::to_string(&file)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path.display().to_string())
}

/// The optimizer kinds the methods train with (a tuned method's base included).
fn optimizer_kinds(methods: &[String]) -> Result<Vec<String>> {
    let mut kinds = Vec::new();
    for m in methods {
        let method = lrctl_wrap::find(m)?;
        let json = serde_json::to_value(&method.spec.optimizer)?;
        let kind = json["kind"].as_str().unwrap_or_default().to_string();
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// Imports the authors' package of each optimizer kind in `python`, as the script will, so a
/// missing one stops the benchmark before anything runs, with its pip line.
fn check_packages(python: &Path, script: &Path, kinds: &[String]) -> Result<()> {
    let optim = script
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .map(|root| root.join("crates/lrctl-py/python/lrctl/_torch_optim.py"))
        .filter(|p| p.is_file())
        .with_context(|| {
            format!(
                "{} needs crates/lrctl-py/python/lrctl/_torch_optim.py of the same checkout",
                script.display()
            )
        })?;
    let code = "import importlib.util, sys\n\
                spec = importlib.util.spec_from_file_location('o', sys.argv[1])\n\
                m = importlib.util.module_from_spec(spec)\n\
                spec.loader.exec_module(m)\n\
                for kind in sys.argv[2:]:\n    \
                    if kind in m.OPTIMIZER_PACKAGES:\n        \
                        m._import(kind, kind)\n";
    let out = std::process::Command::new(python)
        .args(["-c", code])
        .arg(&optim)
        .args(kinds)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot import the optimizer packages of these methods: {}; pass --python with \
             an environment that has them",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `uptime` (load averages), or `/proc/loadavg` where the program is missing.
fn uptime() -> String {
    std::process::Command::new("uptime")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .or_else(|| {
            std::fs::read_to_string("/proc/loadavg")
                .ok()
                .map(|s| format!("load average {}", s.trim()))
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tuned method becomes a file with `batch = K` and its own name; a plain one stays a
    /// name.
    #[test]
    fn with_batch_writes_tuned_methods_with_their_batch() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            with_batch("adam-fixed", 4, dir.path()).unwrap(),
            "adam-fixed"
        );
        let path = with_batch("smac-fixed", 4, dir.path()).unwrap();
        assert!(path.ends_with("smac-fixed.toml"), "{path}");
        let method = lrctl_wrap::find(&path).unwrap();
        assert_eq!(method.spec.name, "smac-fixed");
        assert_eq!(method.tune().unwrap().batch, 4);
        // Everything else is the built-in method's.
        let builtin = lrctl_wrap::find("smac-fixed").unwrap();
        assert_eq!(method.spec.optimizer, builtin.spec.optimizer);
        assert_eq!(
            method.tune().unwrap().trials,
            builtin.tune().unwrap().trials
        );
    }
}
