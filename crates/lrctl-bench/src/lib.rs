//! `lrctl bench`: training speed of lrctl against a PyTorch reference on identical work.
//!
//! For each task the benchmark runs, interleaved and each in a fresh process, lrctl's engine
//! ([`measure_lrctl`], in a child `lrctl bench --child`) and the PyTorch script
//! `scripts/bench/pytorch_reference.py` ([`run_reference`]) on the same model, data
//! ([`export_reference`] writes lrctl's training split for it), batch size, optimizer (AdamW
//! with PyTorch's defaults, [`BENCH_METHOD`]) and dtype (f32), and reports the ratio of their
//! median step times per repetition ([`TaskReport`]): min–median–max over repetitions.
//!
//! lrctl's side also reports where its steps went ([`lrctl_engine::StepPhases`]): the
//! framework's forward and backward, the update rule, and lrctl's own machinery around them
//! (batch indices, gradient statistics, the controller, bookkeeping, curve recording), the cost
//! of a cell's store writes relative to the cell, and the cost of the global passes of
//! Prodigy, D-Adaptation and DoWG relative to AdamW's update ([`optimizer_costs`]).
//! [`study_cpu`] measures how busy a multi-cell study keeps the cores.
//!
//! [`study`] (`lrctl bench --study`) compares a whole study end to end: lrctl's cells with
//! their tuning against the same runs in a PyTorch loop with the authors' optimizers
//! (`scripts/bench/pytorch_study.py`), replaying lrctl's tuner decisions.

mod reference;
mod report;
pub mod study;

pub use reference::{export_reference, run_reference};
pub use report::{BenchReport, Spread, StudyCpu, Targets, TaskReport, splice};

use std::path::Path;
use std::time::{Duration, Instant};

use lrctl_engine::{Run, RunOptions, StepPhases};
use lrctl_method::MethodSpec;
use lrctl_tasks::{Task, TaskSpec};
use serde::{Deserialize, Serialize};

/// The optimizer both sides train with: AdamW with PyTorch's defaults (betas 0.9/0.999, eps
/// 1e-8, decoupled weight decay 0.01) at a constant learning rate of 1e-3.
pub const BENCH_METHOD: &str = r#"
name = "bench-adamw"
description = "AdamW with PyTorch's defaults, constant learning rate 1e-3 (lrctl bench)"
paradigm = "fixed"

[optimizer]
kind = "adamw"
betas = [0.9, 0.999]
eps = 1e-8
weight_decay = 0.01

[controller]
kind = "constant"
lr = 0.001
"#;

/// The methods whose global passes [`optimizer_costs`] compares with AdamW's update.
pub const GLOBAL_PASS_METHODS: [&str; 3] = ["prodigy", "dadapt-adam", "dowg"];

/// Tasks benchmarked by default when the dataset mirror is present (one per family, the
/// issue's targets), and the embedded ones used without it.
pub const MIRROR_TASKS: [&str; 4] = [
    "libsvm/a9a",
    "mlp/fashion-mnist",
    "cnn/fashion-mnist",
    "lm/tinyshakespeare",
];

/// Embedded stand-ins when no mirror is present (logistic regression and an MLP).
pub const EMBEDDED_TASKS: [&str; 2] = ["logreg/breast-cancer", "mlp/digits"];

/// What one side of one repetition does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideConfig {
    /// Timed steps.
    pub steps: u64,
    /// Untimed steps before them (allocator and cache warm-up).
    pub warmup: u64,
    /// Threads of the process (burn's rayon pool; `torch.set_num_threads`).
    pub threads: usize,
    /// Seed of the model and the batch order.
    pub seed: u64,
}

/// The measurements of one side of one repetition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRun {
    /// Wall-clock milliseconds of every timed step.
    pub step_ms: Vec<f64>,
    /// Trainable scalars of the model (both sides must agree).
    pub n_params: usize,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mb: f64,
    /// Resident memory once the data was loaded, before the model was built, MiB.
    pub rss_before_model_mb: f64,
    /// Peak resident memory from then on (model, training, data still resident), MiB; the
    /// process's peak counter is reset after loading (`/proc/self/clear_refs`), so a loading
    /// spike does not hide what training needs. `None` where the reset is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_peak_rss_mb: Option<f64>,
    /// What ran (`lrctl 0.1.0 (burn-flex-cpu)`, `torch 1.13.0`).
    pub version: String,
    /// Threads it ran with.
    pub threads: usize,
    /// PyTorch only: the BLAS library its process loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blas: Option<String>,
    /// lrctl only: where the timed steps spent their time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<StepPhases>,
    /// lrctl only: milliseconds to write a full-length cell's result and curve to a fresh
    /// SQLite store (study, cell, claim, heartbeat, finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ms: Option<f64>,
    /// lrctl only: milliseconds of one optimizer update on this model's parameter count, per
    /// optimizer (`adamw` first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update_ms: Vec<(String, f64)>,
    /// lrctl only: optimizer steps in a full cell of this task (its budget).
    #[serde(default)]
    pub budget_steps: u64,
}

/// Timed steps by default: about two to four seconds of lrctl's training per repetition (the
/// family's [`lrctl_tasks::ModelFamily::BENCH_STEPS`]).
pub fn default_steps(spec: &TaskSpec) -> u64 {
    spec.model.bench_steps()
}

fn rss_mb(field: &str) -> f64 {
    // VmRSS / VmHWM lines of /proc/self/status are in kB.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resident memory of this process now, MiB (0 where `/proc` is unavailable).
pub fn current_rss_mb() -> f64 {
    rss_mb("VmRSS:")
}

/// Resets this process's peak-resident-memory counter (Linux: writing `5` to
/// `/proc/self/clear_refs`); a no-op elsewhere.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process, MiB (0 where `/proc` is unavailable).
pub fn peak_rss_mb() -> f64 {
    rss_mb("VmHWM:")
}

/// Why a benchmark could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A model that could not be built.
    #[error(transparent)]
    Start(#[from] lrctl_engine::StartError),
    /// A method that could not be read or built.
    #[error(transparent)]
    Method(#[from] lrctl_method::MethodError),
    /// The benchmark's store failed.
    #[error("benchmark store: {0}")]
    Store(#[from] lrctl_store::StoreError),
    /// A file or process could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The benchmark run could not go as asked (the message says why and what to change).
    #[error("{0}")]
    Run(String),
    /// The PyTorch reference failed or cannot build this task.
    #[error("{0}")]
    Reference(String),
    /// README's table markers are missing or out of order.
    #[error("{0}")]
    Readme(String),
}

impl BenchError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> BenchError {
        BenchError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Trains `task` with [`BENCH_METHOD`] through lrctl's engine, exactly as a study cell does
/// (task budget as the horizon, its curve cadence), and times every step. Periodic
/// evaluations are switched off: they are not training steps on either side.
pub fn measure_lrctl(task: &dyn Task, cfg: &SideConfig) -> Result<SideRun, BenchError> {
    // The data is loaded: what follows is the cell's training (see `reset_peak_rss`).
    let load_peak_mb = peak_rss_mb();
    reset_peak_rss();
    let rss_before_model_mb = current_rss_mb();
    let method = MethodSpec::from_toml(BENCH_METHOD, "lrctl-bench")?;
    let mut spec = task.spec().clone();
    spec.evals = 0;
    lrctl_engine::with_threads(cfg.threads, || {
        let mut workload = task
            .instantiate(cfg.seed, &lrctl_tasks::default_device())
            .map_err(lrctl_engine::StartError::from)?;
        let (mut opt, mut ctl) = method.build(workload.n_params())?;
        let stamps = std::sync::Mutex::new(Vec::with_capacity(cfg.steps as usize + 1));
        let progress = |_: u64, _: u64| stamps.lock().expect("not poisoned").push(Instant::now());
        // The result after the timed steps feeds the store-write measurement only: small
        // final evaluations keep it quick.
        let options = RunOptions {
            seed: cfg.seed,
            progress: Some(&progress),
            eval_limit: Some(64),
            ..RunOptions::default()
        };
        let mut run = Run::new(&*workload, &spec, &options);
        let budget_steps = run.horizon();
        let quiet = RunOptions {
            seed: cfg.seed,
            ..RunOptions::default()
        };
        let cancelled = |_| BenchError::Run("cancelled".to_string());
        let end = cfg.warmup + cfg.steps;
        if end > budget_steps {
            return Err(BenchError::Run(format!(
                "{} trains for {budget_steps} steps: ask for at most {} timed steps after the \
                 {} warm-up steps (--steps, --warmup)",
                spec.name,
                budget_steps.saturating_sub(cfg.warmup),
                cfg.warmup
            )));
        }
        run.advance_to(
            workload.as_mut(),
            opt.as_mut(),
            ctl.as_mut(),
            cfg.warmup,
            &quiet,
        )
        .map_err(cancelled)?;
        let before = *run.phases();
        let start = Instant::now();
        run.advance_to(workload.as_mut(), opt.as_mut(), ctl.as_mut(), end, &options)
            .map_err(cancelled)?;
        if run.steps() < end {
            return Err(BenchError::Run(format!(
                "the benchmark run stopped after {} of {end} steps ({:?}): AdamW at 1e-3 \
                 should not diverge on {}",
                run.steps(),
                run.outcome(),
                spec.name
            )));
        }
        let stamps = stamps.into_inner().expect("not poisoned");
        let mut prev = start;
        let step_ms = stamps
            .iter()
            .map(|&t| {
                let ms = (t - prev).as_secs_f64() * 1e3;
                prev = t;
                ms
            })
            .collect();
        let phases = phase_delta(run.phases(), &before);
        let n_params = workload.n_params();
        let result = run.result(workload.as_mut(), opt.as_mut());
        let store_ms = store_write_ms(&spec, &result)?;
        Ok(SideRun {
            step_ms,
            n_params,
            peak_rss_mb: load_peak_mb.max(peak_rss_mb()),
            train_peak_rss_mb: Some(peak_rss_mb()),
            rss_before_model_mb,
            version: format!(
                "lrctl {} ({})",
                env!("CARGO_PKG_VERSION"),
                lrctl_tasks::backend_name()
            ),
            threads: cfg.threads,
            blas: None,
            phases: Some(phases),
            store_ms: Some(store_ms),
            update_ms: optimizer_costs(n_params, 30)?,
            budget_steps,
        })
    })
}

fn phase_delta(after: &StepPhases, before: &StepPhases) -> StepPhases {
    StepPhases {
        batch: after.batch - before.batch,
        forward_backward: after.forward_backward - before.forward_backward,
        statistics: after.statistics - before.statistics,
        controller: after.controller - before.controller,
        optimizer: after.optimizer - before.optimizer,
        bookkeeping: after.bookkeeping - before.bookkeeping,
        sync: after.sync - before.sync,
        record: after.record - before.record,
        steps: after.steps - before.steps,
    }
}

/// Milliseconds a worker spends in the store for one full-length cell of `spec`: the study and
/// cell rows, the claim, one heartbeat and the result with a full curve (the task's
/// `curve_points` rows), on a fresh SQLite file.
fn store_write_ms(spec: &TaskSpec, result: &lrctl_engine::RunResult) -> Result<f64, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("a temporary directory", e))?;
    let path = dir.path().join("bench.db");
    let mut full = result.clone();
    let template = full.curve.last().cloned();
    if let Some(point) = template {
        full.curve = (1..=u64::from(spec.curve_points.max(1)))
            .map(|i| lrctl_engine::CurvePoint {
                step: i,
                ..point.clone()
            })
            .collect();
    }
    let (mut cell_result, curve) = full.to_record(spec);
    // Opening the file (schema creation) is a once-per-study cost, not a per-cell one.
    let mut store = lrctl_store::open(&path.display().to_string())?;
    let start = Instant::now();
    let study = store.upsert_study("bench", "{}")?;
    store.add_cells(
        study,
        &[lrctl_store::NewCell {
            task: spec.name.clone(),
            method: "bench-adamw".into(),
            seed: 0,
            config_hash: "bench".into(),
            task_config: "{}".into(),
            method_config: "{}".into(),
        }],
    )?;
    let lease = store
        .claim(
            &lrctl_store::ClaimFilter::study(study),
            "bench",
            Duration::from_secs(60),
        )?
        .ok_or_else(|| BenchError::Run("the benchmark store had no cell to claim".into()))?
        .lease;
    store.heartbeat(&lease, Duration::from_secs(60))?;
    cell_result.provenance = store.put_provenance(&lrctl_study::run::provenance("bench"))?;
    store.finish(&lease, &cell_result, &curve)?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// Milliseconds of one optimizer update on `n_params` parameters (mean of `steps` updates on a
/// fixed pseudo-random gradient), for AdamW ([`BENCH_METHOD`]) and each of
/// [`GLOBAL_PASS_METHODS`], in that order.
pub fn optimizer_costs(n_params: usize, steps: u32) -> Result<Vec<(String, f64)>, BenchError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let grads: Vec<f32> = (0..n_params)
        .map(|_| rng.random_range(-1e-2..1e-2))
        .collect();
    let bench = MethodSpec::from_toml(BENCH_METHOD, "lrctl-bench")?;
    let mut methods = vec![("adamw".to_string(), bench)];
    for name in GLOBAL_PASS_METHODS {
        methods.push((name.to_string(), lrctl_method::find(name)?));
    }
    let mut out = Vec::new();
    for (name, method) in methods {
        let (mut opt, _) = method.build(n_params)?;
        let mut params: Vec<f32> = (0..n_params).map(|_| rng.random_range(-0.1..0.1)).collect();
        // One untimed step allocates the state.
        opt.step(&mut params, &grads, 1e-3);
        let start = Instant::now();
        for _ in 0..steps {
            opt.step(&mut params, &grads, 1e-3);
        }
        out.push((
            name,
            start.elapsed().as_secs_f64() * 1e3 / f64::from(steps.max(1)),
        ));
    }
    Ok(out)
}

/// Runs a study of `cells` through `lrctl run` (the executable `exe`) with `jobs` jobs and
/// measures the CPU it used over its wall time (≈ 200 % keeps two cores busy).
pub fn study_cpu(exe: &Path, args: &[&str], jobs: usize) -> Result<StudyCpu, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::io("a temporary directory", e))?;
    let store = dir.path().join("study.db");
    let before = children_cpu_seconds();
    let start = Instant::now();
    let status = std::process::Command::new(exe)
        .arg("run")
        .args(args)
        .args(["--jobs", &jobs.to_string(), "--quiet", "--store"])
        .arg(&store)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| BenchError::io(format!("running {}", exe.display()), e))?;
    let wall = start.elapsed().as_secs_f64();
    if !status.success() {
        return Err(BenchError::Run(format!(
            "`lrctl run {}` failed ({status})",
            args.join(" ")
        )));
    }
    let cpu = children_cpu_seconds() - before;
    Ok(StudyCpu {
        command: format!("lrctl run {} --jobs {jobs}", args.join(" ")),
        wall_seconds: wall,
        cpu_seconds: cpu,
        cpu_percent: 100.0 * cpu / wall.max(1e-9),
    })
}

/// User + system CPU seconds of this process's finished children.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
