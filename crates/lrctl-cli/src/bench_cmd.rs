//! `lrctl bench`: lrctl against the PyTorch reference, interleaved, as ratios.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lrctl_bench::{BenchReport, SideConfig, SideRun, Targets, TaskReport};
use lrctl_tasks::{LoadedTask, Task, TaskSpec};

use crate::commands::DataArgs;

mod study;

/// Where the reference script lives in a source checkout.
const SCRIPT: &str = "scripts/bench/pytorch_reference.py";
/// Where the whole-study reference script lives in a source checkout.
const STUDY_SCRIPT: &str = "scripts/bench/pytorch_study.py";

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Tasks to benchmark (default: libsvm/a9a, mlp/fashion-mnist, cnn/fashion-mnist,
    /// lm/tinyshakespeare from the mirror, or embedded tasks without it; with `--study`: the
    /// `paper` suite's LIBSVM tasks).
    #[arg(long)]
    task: Vec<String>,
    /// Benchmark a whole study end to end instead of steps: each task's cells (tuning
    /// included) with `lrctl run --jobs 1`, then the same runs in a PyTorch loop
    /// (`scripts/bench/pytorch_study.py`, the authors' optimizer packages) replaying lrctl's
    /// tuning trials, interleaved task by task; the ratio of wall times and the tuning shares.
    #[arg(long)]
    study: bool,
    /// With `--study`: methods (names or `.toml` files; default: the paper's eight).
    #[arg(long, requires = "study")]
    method: Vec<String>,
    /// With `--study`: trials each tuned method trains at once on lrctl's side (`[tune] batch
    /// = K`: stacked on logistic regression); 1, the paper's protocol, trains them one at a
    /// time. PyTorch replays the same trials one by one.
    #[arg(long, default_value_t = 1, requires = "study")]
    batch: usize,
    /// With `--study`: seeds per task and method.
    #[arg(long, default_value_t = 3, requires = "study")]
    seeds: u32,
    /// Repetitions per task (each side runs once per repetition, in a fresh process).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Timed steps per repetition (default: a few seconds' worth per family); with `--study`:
    /// every task's budget in steps (`lrctl run --steps`; default: the tasks' own).
    #[arg(long)]
    steps: Option<u64>,
    /// Untimed warm-up steps before them.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Threads per side (burn's pool; `torch.set_num_threads`).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Python with PyTorch (Debian's `python3-torch`).
    #[arg(long, default_value = "/usr/bin/python3", value_name = "PATH")]
    python: PathBuf,
    /// The reference script (default: `scripts/bench/pytorch_reference.py` of this checkout;
    /// with `--study`, `scripts/bench/pytorch_study.py`).
    #[arg(long, value_name = "PATH")]
    script: Option<PathBuf>,
    /// Measure lrctl only.
    #[arg(long)]
    no_pytorch: bool,
    /// Skip the multi-cell study CPU measurement.
    #[arg(long)]
    no_study: bool,
    /// Write every measurement as JSON.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace the table between `<!-- bench:begin -->` and `<!-- bench:end -->` in this file
    /// (README.md); with `--study`, between `<!-- bench-study:begin -->` and
    /// `<!-- bench-study:end -->`.
    #[arg(long, value_name = "FILE")]
    readme: Option<PathBuf>,
    /// Internal: measure lrctl on this task in this process and print JSON.
    #[arg(long, hide = true)]
    child: Option<String>,
    #[command(flatten)]
    data: DataArgs,
}

pub(crate) fn load(name: &str, data: &DataArgs) -> Result<LoadedTask> {
    let spec: TaskSpec = crate::commands::resolve_task(name, None)?;
    let loaded = lrctl_tasks::data::load(&spec, &data.dirs())
        .with_context(|| format!("loading the data of {name}"))?;
    Ok(LoadedTask::new(spec, loaded)?)
}

pub fn bench(args: BenchArgs) -> Result<()> {
    if args.reps == 0 || args.threads == 0 || args.steps == Some(0) {
        bail!("--reps, --threads and --steps must be at least 1");
    }
    if args.study {
        return study::bench_study(&args);
    }
    if let Some(name) = &args.child {
        let task = load(name, &args.data)?;
        let cfg = side_config(&args, task.spec());
        let run = lrctl_bench::measure_lrctl(&task, &cfg).map_err(anyhow::Error::msg)?;
        println!("{}", serde_json::to_string(&run)?);
        return Ok(());
    }
    let exe = std::env::current_exe().context("locating the lrctl executable")?;
    let mut tasks = Vec::new();
    if args.task.is_empty() {
        for name in lrctl_bench::MIRROR_TASKS {
            match load(name, &args.data) {
                Ok(t) => tasks.push(t),
                Err(e) => {
                    eprintln!("{name}: {e:#}; benchmarking the embedded tasks instead");
                    tasks.clear();
                    for name in lrctl_bench::EMBEDDED_TASKS {
                        tasks.push(load(name, &args.data)?);
                    }
                    break;
                }
            }
        }
    } else {
        for name in &args.task {
            tasks.push(load(name, &args.data)?);
        }
    }
    let reference = if args.no_pytorch {
        None
    } else {
        let script = match &args.script {
            Some(s) => s.clone(),
            None => find_script()?,
        };
        Some((args.python.clone(), script))
    };
    let reference_version = match &reference {
        Some((python, _)) => Some(torch_version(python)?),
        None => None,
    };

    let dirs: Vec<tempfile::TempDir> = tasks
        .iter()
        .map(|t| {
            let dir = tempfile::tempdir()?;
            if reference.is_some() {
                lrctl_bench::export_reference(t, dir.path()).map_err(anyhow::Error::msg)?;
            }
            Ok(dir)
        })
        .collect::<Result<_>>()?;
    let runs_per_rep = tasks.len() * if reference.is_some() { 2 } else { 1 };
    let bar = ProgressBar::new((args.reps * runs_per_rep) as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} {msg}")
            .expect("valid template"),
    );
    let mut lrctl_runs: Vec<Vec<SideRun>> = vec![Vec::new(); tasks.len()];
    let mut torch_runs: Vec<Vec<SideRun>> = vec![Vec::new(); tasks.len()];
    // Interleaved: every repetition runs every task on both sides, so slow drifts of the
    // machine (thermal, other load) touch both alike.
    for rep in 0..args.reps {
        for (i, task) in tasks.iter().enumerate() {
            let name = &task.spec().name;
            let cfg = side_config(&args, task.spec());
            bar.set_message(format!("rep {} {name} lrctl", rep + 1));
            lrctl_runs[i].push(child_run(&exe, name, &args, &cfg)?);
            bar.inc(1);
            if let Some((python, script)) = &reference {
                bar.set_message(format!("rep {} {name} PyTorch", rep + 1));
                let run = lrctl_bench::run_reference(python, script, dirs[i].path(), &cfg)
                    .map_err(anyhow::Error::msg)?;
                if let Some(blas) = run.blas.as_deref().filter(|b| !b.contains("openblas")) {
                    bar.suspend(|| {
                        eprintln!(
                            "warning: PyTorch uses the BLAS `{blas}`, not OpenBLAS: Debian's \
                             reference libblas3 is about 10× slower, which would flatter lrctl; \
                             install libopenblas0-pthread"
                        )
                    });
                }
                if run.n_params != lrctl_runs[i][0].n_params {
                    bail!(
                        "{name}: the PyTorch model has {} parameters, lrctl's {}: the models \
                         differ, so the comparison would not be fair",
                        run.n_params,
                        lrctl_runs[i][0].n_params
                    );
                }
                torch_runs[i].push(run);
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    let study = if args.no_study {
        None
    } else {
        eprintln!("measuring CPU use of a two-job study (quick suite)…");
        Some(
            lrctl_bench::study_cpu(&exe, &["--suite", "quick", "--seeds", "6"], 2)
                .map_err(anyhow::Error::msg)?,
        )
    };
    let reports = tasks
        .iter()
        .zip(lrctl_runs.into_iter().zip(torch_runs))
        .map(|(t, (l, p))| {
            let spec = t.spec();
            TaskReport::new(&spec.name, spec.model.family(), spec.batch_size, l, p)
        })
        .collect();
    let report = BenchReport {
        machine: lrctl_store::machine_description(),
        reference: reference_version,
        threads: args.threads,
        reps: args.reps,
        tasks: reports,
        study,
        targets: Targets::default(),
    };
    let table = report.markdown();
    println!("{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(readme) = &args.readme {
        let doc = std::fs::read_to_string(readme)
            .with_context(|| format!("reading {}", readme.display()))?;
        let new = lrctl_bench::splice(&doc, &table)
            .map_err(|e| anyhow::anyhow!("{}: {e}", readme.display()))?;
        std::fs::write(readme, new).with_context(|| format!("writing {}", readme.display()))?;
        eprintln!("updated the table in {}", readme.display());
    }
    Ok(())
}

fn side_config(args: &BenchArgs, spec: &TaskSpec) -> SideConfig {
    SideConfig {
        steps: args
            .steps
            .unwrap_or_else(|| lrctl_bench::default_steps(spec)),
        warmup: args.warmup,
        threads: args.threads,
        seed: 0,
    }
}

/// Runs `lrctl bench --child TASK` so that every repetition starts a fresh process, as the
/// PyTorch side does (fair peak-memory numbers, no warm caches carried over).
fn child_run(exe: &Path, task: &str, args: &BenchArgs, cfg: &SideConfig) -> Result<SideRun> {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["bench", "--child", task])
        .args(["--steps", &cfg.steps.to_string()])
        .args(["--warmup", &cfg.warmup.to_string()])
        .args(["--threads", &cfg.threads.to_string()]);
    if let Some(dir) = args.data.data_dir() {
        cmd.arg("--data-dir").arg(dir);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "lrctl bench --child {task} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("parsing the child's output {line:?}"))
}

/// The reference script: next to the current directory's checkout, or the source tree this
/// binary was built from.
fn find_script() -> Result<PathBuf> {
    find_checkout_script(SCRIPT)
}

/// The whole-study reference script, found like [`find_script`].
pub(crate) fn find_study_script() -> Result<PathBuf> {
    find_checkout_script(STUDY_SCRIPT)
}

fn find_checkout_script(script: &str) -> Result<PathBuf> {
    let candidates = [
        PathBuf::from(script),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(script),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the PyTorch reference script {script} was not found; run from the lrctl \
                 checkout, pass --script PATH, or --no-pytorch to measure lrctl alone"
            )
        })
}

pub(crate) fn torch_version(python: &Path) -> Result<String> {
    let out = std::process::Command::new(python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot import torch ({}); install Debian's python3-torch \
             (`apt-get install python3-torch`), pass --python PATH, or --no-pytorch",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        );
    }
    Ok(format!(
        "PyTorch {} (CPU, {})",
        String::from_utf8_lossy(&out.stdout).trim(),
        python.display()
    ))
}
