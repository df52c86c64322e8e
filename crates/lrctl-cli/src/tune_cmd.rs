//! `lrctl tune`: tune one method's hyperparameters on one task with a multi-fidelity tuner and
//! print the trials, the incumbent and what tuning cost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lrctl_tune::{Fidelity, Incumbent, Objective, Scoring, SearchSpace};
use lrctl_tune::{FidelitySchedule, TrialHooks as TuneHooks, TrialResult};
use lrctl_wrap::{TuneReport, TuneSettings};
use serde::Serialize;

use crate::commands::{DataArgs, resolve_task};

/// With no `--min-budget`, the smallest budget is the largest divided by this (three rungs
/// of eta 3 below the full run, as in the paper's 81-unit Hyperband table).
const DEFAULT_BUDGET_RATIO: u64 = 27;

/// `lrctl tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Task name (`lrctl tasks`), optionally with a scale suffix such as `@w2`.
    #[arg(long)]
    task: String,
    /// Method to tune: a name (`lrctl methods`) or a method `.toml` file.
    #[arg(long)]
    method: String,
    /// Tuner: random, sh (successive halving), hyperband, asha, bohb, smac or top-k.
    #[arg(long)]
    tuner: String,
    /// Trials to run, every rung counted [default: 50]. Unlike Optuna's `n_trials` (complete
    /// runs, pruned or not), a Hyperband-style tuner counts each rung a configuration reaches
    /// as a trial: 50 trials of eta 3 from 1/27 of the budget cost about 5 full runs, and the
    /// report gives the cost in full-run equivalents.
    #[arg(long, value_name = "N")]
    trials: Option<usize>,
    /// Smallest trial budget in optimizer steps [default: the largest / 27, at least 1].
    #[arg(long, value_name = "STEPS")]
    min_budget: Option<u64>,
    /// Largest trial budget in optimizer steps, the full run [default: the task's budget].
    #[arg(long, value_name = "STEPS")]
    max_budget: Option<u64>,
    /// Budget ratio between successive rungs (at least 2).
    #[arg(long, default_value_t = 3.0)]
    eta: f64,
    /// How a low-budget trial relates to the full run: restart (from scratch, the schedule
    /// over the trial's own budget), full-horizon (from scratch, the full run's schedule cut
    /// short: naive multi-fidelity), continue (full-horizon, and a promoted trial continues
    /// its parent's run, paused in memory, instead of restarting: fewer steps, the same
    /// results as full-horizon), wsd-branch (warmup-stable-decay methods: schedules over
    /// each trial's own budget, a promotion continues the parent's stable phase and decays
    /// over its own tail: fewer steps, the same results as restart) or width (tune the
    /// learning rate on the task at `--width-from` times the base width, trials restarting,
    /// and transfer it to the task's width; refused for a task without a width axis or a
    /// method without a tunable learning rate).
    #[arg(long, default_value = "restart", value_name = "MODE")]
    fidelity: FidelityArg,
    /// With `--fidelity width`: the width multiplier tuned at (below the task's).
    #[arg(long, default_value_t = 1, value_name = "N")]
    width_from: u32,
    /// What a trial is scored on (lower is better): final-train-loss (the paper's),
    /// mean-train-loss, valid-loss or valid-metric (1 − validation accuracy, or bits per byte
    /// for language models).
    #[arg(long, default_value = "valid-metric", value_parser = crate::commands::parse_objective)]
    objective: Objective,
    /// Score of a trial that diverged or failed.
    #[arg(long, default_value_t = lrctl_tune::DEFAULT_WORST_SCORE, value_name = "X")]
    worst_score: f64,
    /// Search space: a TOML file of `[search.<path>]` tables (`low`, `high`, optional `log`,
    /// `type = "int"`, `default`), where `<path>` is a dotted hyperparameter path such as
    /// `controller.lr` [default: the method's learning rate over log [1e-5, 1]; for SGDR also
    /// t0, t_mult and eta_min].
    #[arg(long, value_name = "FILE")]
    space: Option<PathBuf>,
    /// Tuning seed: the tuner's randomness and every trial's training seed derive from it.
    #[arg(
        long = "tuning-seed",
        alias = "seed",
        default_value_t = 0,
        value_name = "SEED"
    )]
    seed: u64,
    /// Trials trained at once, one thread each [default: the number of cores]. The result
    /// depends on the seed and on this number, not on timing.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Trials each job trains together [default: 1, one at a time]. The tuner proposes
    /// `jobs × batch` trials at once (like that many workers: the trials depend on this number
    /// too), and trials that start together train as one batched model over the same
    /// mini-batches on models with a stacked form (logistic regression: the LIBSVM tasks),
    /// several times faster than one by one (`LRCTL_NO_STACKED_TRIALS=1` trains them one by one,
    /// to compare).
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// Train on this file (LIBSVM file, IDX directory or text file) instead of the task's own
    /// dataset; `libsvm/file`, `mlp/idx`, `cnn/idx` and `lm/file` require it.
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// Evaluate on at most this many examples (every evaluation of every trial): quicker, and
    /// a noisier validation objective.
    #[arg(long, value_name = "N")]
    eval_examples: Option<usize>,
    /// Write the result: `FILE.toml` — the tuned method, a method file that `--method` takes
    /// anywhere (named `<method>-tuned-<task>`, its description saying what was tuned how);
    /// `FILE.json` — the whole report (settings, space, every trial, incumbent, cost).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Store the trials in this store (SQLite path or PostgreSQL URL; default `lrctl.db`,
    /// or `LRCTL_STORE`): a killed tuning run resumes from them when run again.
    #[arg(long, env = "LRCTL_STORE", default_value = crate::study_cmds::DEFAULT_STORE, value_name = "PATH|URL", hide_env_values = true)]
    store: String,
    /// Keep no trials (nothing resumes).
    #[arg(long, conflicts_with = "store")]
    no_store: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    set: crate::commands::SetArgs,
    #[command(flatten)]
    data_args: DataArgs,
}

/// `--fidelity`: a trial schedule of `lrctl_tune`, or tuning along width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FidelityArg {
    Restart,
    FullHorizon,
    Continue,
    WsdBranch,
    Width,
}

impl FidelityArg {
    /// The trials' schedule (width fidelity restarts its trials, on the narrower task).
    fn schedule(self) -> FidelitySchedule {
        match self {
            FidelityArg::Restart | FidelityArg::Width => FidelitySchedule::Restart,
            FidelityArg::FullHorizon => FidelitySchedule::FullHorizon,
            FidelityArg::Continue => FidelitySchedule::Continue,
            FidelityArg::WsdBranch => FidelitySchedule::WsdBranch,
        }
    }
}

/// Runs `lrctl tune`.
pub fn run(args: TuneArgs) -> Result<()> {
    // Everything that can be checked without data first, so that a typo fails at once.
    let tuner = lrctl_tune::canonical_name(&args.tuner).with_context(|| {
        format!(
            "unknown tuner `{}`; known tuners: {}",
            args.tuner,
            lrctl_tune::TUNER_NAMES.join(", ")
        )
    })?;
    if args.trials == Some(0) {
        bail!("--trials must be at least 1");
    }
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    if args.batch == Some(0) {
        bail!("--batch must be at least 1");
    }
    if !args.worst_score.is_finite() {
        bail!("--worst-score must be a finite number");
    }
    if !(args.eta.is_finite() && args.eta >= 2.0) {
        bail!("--eta must be a number of at least 2 (got {})", args.eta);
    }
    if let Some(out) = &args.out
        && !matches!(
            out.extension().and_then(|e| e.to_str()),
            Some("json") | Some("toml")
        )
    {
        bail!(
            "--out {}: write the tuned method as `.toml` or the whole report as `.json`",
            out.display()
        );
    }
    if let (Some(min), Some(max)) = (args.min_budget, args.max_budget)
        && min > max
    {
        bail!("--min-budget ({min}) is greater than --max-budget ({max})");
    }
    let spec = resolve_task(&args.task, args.data.as_ref())?;
    let wrapped = args.set.apply(lrctl_wrap::find(&args.method)?)?;
    wrapped.validate()?;
    if wrapped.is_selection() {
        bail!(
            "method `{}` is a selection method: it chooses other methods per task and has no \
             hyperparameters to tune",
            args.method
        );
    }
    if wrapped.learn().is_some() {
        bail!(
            "method `{}` is a learned method: its policy is meta-trained across a study's \
             tasks, not tuned on one; run it in a study, or `lrctl meta-train`",
            args.method
        );
    }
    // A tuned method is tuned over its own search space unless `--space` says otherwise.
    let own_space = wrapped.tune().and_then(|t| t.search.clone());
    let method = wrapped.spec;
    if args.fidelity == FidelityArg::WsdBranch && method.controller.branch_step(1).is_none() {
        bail!(
            "--fidelity wsd-branch needs a warmup-stable-decay controller; `{}` has `{}` (use \
             restart, full-horizon or continue)",
            method.name,
            method.controller.kind()
        );
    }
    let space = match (&args.space, own_space) {
        (Some(path), _) => read_space(path)?,
        (None, Some(own)) => own,
        (None, None) => lrctl_method::default_space(&method)?,
    };
    lrctl_method::check_space(&method, &space).with_context(|| match &args.space {
        Some(path) => format!("--space {}", path.display()),
        None => "the method's search space".to_string(),
    })?;

    if args.fidelity == FidelityArg::Width {
        lrctl_wrap::width::check_task(&spec, args.width_from)?;
        lrctl_wrap::width::check_method(&method, &space)?;
    }
    let mut task = lrctl_tasks::prepare(&spec, &args.data_args.dirs())?;
    if args.fidelity == FidelityArg::Width {
        task = task.at_width(args.width_from)?;
        eprintln!(
            "width fidelity: tuning on `{}`; the learning rate found is for `{}` ({} \
             parametrisation)",
            task.spec().name,
            spec.name,
            if spec.parametrization.is_standard() {
                "standard"
            } else {
                "µP"
            }
        );
    }
    let fidelity = fidelity(&args, task.as_ref())?;
    let settings = TuneSettings {
        trials: args.trials,
        seed: args.seed,
        scoring: Scoring {
            objective: args.objective,
            worst_score: args.worst_score,
        },
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        batch: args.batch.unwrap_or(1),
        eval_limit: args.eval_examples.map(|n| n.max(1)),
        fidelity_schedule: args.fidelity.schedule(),
        ..TuneSettings::new(tuner, fidelity)
    };
    eprintln!(
        "tuning `{}` on `{}` with {tuner}: {} ({}), budgets {}–{} steps (eta {}, fidelity \
         {}), {} trials, objective {}, seed {}, {} job(s)",
        method.name,
        spec.name,
        plural(space.dim(), "hyperparameter"),
        space
            .params()
            .iter()
            .map(describe_param)
            .collect::<Vec<_>>()
            .join("; "),
        fidelity.min_budget,
        fidelity.max_budget,
        fidelity.eta,
        settings.fidelity_schedule,
        settings.planned_trials(),
        settings.scoring.objective,
        settings.seed,
        settings.jobs,
    );

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(
            Some(settings.planned_trials() as u64),
            ProgressDrawTarget::stderr(),
        )
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} tune [{bar:30}] {pos}/{len} trials · {elapsed_precise} · eta {eta} · {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let on_start = |_: &lrctl_tune::TrialRequest| bar.tick();
    let on_trial = |t: &TrialResult, inc: Option<&Incumbent>| {
        bar.inc(1);
        if let Some(inc) = inc {
            bar.set_message(format!(
                "best {:.4} at {} steps (trial {}) · last: trial {} {}",
                inc.score,
                inc.budget,
                inc.id,
                t.id,
                t.outcome.as_str()
            ));
        }
    };
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrlc(Arc::clone(&cancel));
    // Trials go to the store as they are told, keyed by everything that decides them, so a
    // killed run replays them and trains only what is missing.
    let key = tuning_key(task.spec(), &method, &space, &settings);
    let store = if args.no_store {
        None
    } else {
        Some(std::sync::Mutex::new(lrctl_store::open(&args.store)?))
    };
    let known = match &store {
        Some(s) => {
            lrctl_wrap::tuned::stored_trials(s.lock().expect("not poisoned").as_mut(), &key)?
        }
        None => Default::default(),
    };
    if !known.is_empty() {
        eprintln!(
            "resuming: {} of this run's trials are in {}",
            known.len(),
            lrctl_store::redact(&args.store)
        );
    }
    let store_error: std::sync::Mutex<Option<lrctl_store::StoreError>> = Default::default();
    let on_trial_stored = |t: &TrialResult, inc: Option<&Incumbent>| {
        on_trial(t, inc);
        if let Some(s) = &store
            && !known.contains_key(&t.id)
            && let Err(e) =
                lrctl_wrap::tuned::store_trial(s.lock().expect("not poisoned").as_mut(), &key, t)
        {
            *store_error.lock().expect("not poisoned") = Some(e);
        }
    };
    let hooks = TuneHooks {
        on_start: Some(&on_start),
        on_trial: Some(&on_trial_stored),
        cancel: Some(&cancel),
        known: Some(&known),
        progress: None,
    };
    let report = lrctl_wrap::tune(task.as_ref(), &method, &space, &settings, &hooks)?;
    bar.finish_and_clear();
    if let Some(e) = store_error.into_inner().expect("not poisoned") {
        bail!("storing a trial: {e}");
    }

    print_report(&report, &spec);
    if let Some(out) = &args.out {
        if out.extension().and_then(|e| e.to_str()) == Some("toml") {
            write_method(out, &report, &spec)?;
        } else {
            write_report(out, &report)?;
        }
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// Identifies a `lrctl tune` run: everything that decides its trials (task, method, space,
/// tuner, budgets, trials, seed, objective, jobs, fidelity schedule, evaluation cap).
fn tuning_key(
    task: &lrctl_tasks::TaskSpec,
    method: &lrctl_method::MethodSpec,
    space: &SearchSpace,
    s: &TuneSettings,
) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::json!({
        "engine": lrctl_engine::ENGINE_VERSION,
        "purpose": "lrctl tune",
        "task": task,
        "method": method,
        "space": space,
        "tuner": s.tuner,
        "fidelity": s.fidelity,
        "trials": s.planned_trials(),
        "seed": s.seed,
        "scoring": s.scoring,
        "jobs": s.jobs,
        "schedule": s.fidelity_schedule,
        "eval_limit": s.eval_limit,
    });
    // Batching changes the trials; one at a time keeps the keys of earlier runs.
    let mut json = json;
    if s.batch > 1 {
        json["batch"] = s.batch.into();
    }
    Sha256::digest(json.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `controller.lr in [1e-05, 1] (log)`.
fn describe_param(p: &lrctl_tune::Param) -> String {
    let (low, high, log, int) = match p.kind {
        lrctl_tune::ParamKind::Float { low, high, log } => (low, high, log, false),
        lrctl_tune::ParamKind::Int { low, high, log } => (low as f64, high as f64, log, true),
    };
    format!(
        "{} in [{}, {}]{}{}",
        p.name,
        value(low),
        value(high),
        if log { " log" } else { "" },
        if int { " integer" } else { "" }
    )
}

/// Writes the tuned method as a method file any `--method` takes.
fn write_method(path: &Path, r: &TuneReport, task: &lrctl_tasks::TaskSpec) -> Result<()> {
    let (Some(inc), Some(tuned)) = (&r.incumbent, &r.tuned) else {
        bail!("no trial finished: there is no tuned method to write");
    };
    let config: Vec<String> = inc
        .config
        .iter()
        .map(|(k, v)| format!("{k} = {}", value(*v)))
        .collect();
    let mut m = tuned.clone();
    m.name = format!(
        "{}-tuned-{}",
        r.method.name,
        task.name.replace(['/', '@'], "-")
    );
    m.default = false;
    m.description = format!(
        "{} with {} tuned on {} by {} ({} trials, {:.1} full runs, objective {}, score {:.4}, \
         seed {})",
        r.method.name,
        config.join(", "),
        task.name,
        r.tuner,
        r.cost.trials,
        r.cost.full_runs,
        r.objective,
        inc.score,
        r.seed
    );
    let text = toml::to_string(&m).context("writing the tuned method as TOML")?;
    let header = format!(
        "# Written by `lrctl tune` (lrctl {}): {} tuned on {}.\n# Use it with `--method {}`.\n\n",
        env!("CARGO_PKG_VERSION"),
        r.method.name,
        task.name,
        path.display()
    );
    // It must read back as the method it is.
    let back = lrctl_wrap::Method::from_toml(&text, &path.display().to_string())?;
    anyhow::ensure!(
        back.spec == m,
        "the tuned method does not read back as written"
    );
    lrctl_store::atomic::write(path, header + &text)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The budgets: `--max-budget` or the task's own, `--min-budget` or a 27th of it.
fn fidelity(args: &TuneArgs, task: &dyn lrctl_tasks::Task) -> Result<Fidelity> {
    let spec = task.spec();
    let n_train = task.summary().train;
    let max = match args.max_budget {
        Some(0) => bail!("--max-budget must be at least 1 step"),
        Some(max) => max,
        None => spec
            .budget
            .steps(n_train, spec.batch_size.min(n_train).max(1)),
    };
    let min = match args.min_budget {
        Some(0) => bail!("--min-budget must be at least 1 step"),
        Some(min) if min > max => bail!(
            "--min-budget ({min}) is greater than the largest budget, {max} steps (the task's \
             budget; set --max-budget to tune longer runs)"
        ),
        Some(min) => min,
        None => (max / DEFAULT_BUDGET_RATIO).max(1),
    };
    Ok(Fidelity::new(min, max, args.eta)?)
}

/// Reads a search space file (see [`lrctl_method::space_from_toml`]).
fn read_space(path: &Path) -> Result<SearchSpace> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the search space file {}", path.display()))?;
    Ok(lrctl_method::space_from_toml(
        &text,
        &format!("--space {}", path.display()),
    )?)
}

/// First Ctrl-C: stop, dropping the trials in flight, and print the trials finished so far.
/// Second: quit.
fn install_ctrlc(cancel: Arc<AtomicBool>) {
    let presses = AtomicUsize::new(0);
    let _ = ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) == 0 {
            cancel.store(true, Ordering::SeqCst);
            eprintln!(
                "\nstopping: trials in flight are dropped and the finished ones reported; press \
                 Ctrl-C again to quit now"
            );
        } else {
            std::process::exit(130);
        }
    });
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A configuration value: integers as integers, reals in 4 significant digits.
fn value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e6 {
        format!("{x:.0}")
    } else if x != 0.0 && (x.abs() < 1e-2 || x.abs() >= 1e4) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// What the objective's score means on `task`, for the incumbent line.
fn objective_meaning(o: Objective, task: &lrctl_tasks::TaskSpec) -> &'static str {
    match o {
        Objective::FinalTrainLoss => "loss of the last training mini-batch",
        Objective::MeanTrainLoss => "mean training loss over the run",
        Objective::ValidLoss => "validation loss",
        Objective::ValidMetric if task.primary_metric().0 == "bits_per_byte" => {
            "validation bits per byte"
        }
        Objective::ValidMetric => "validation error rate, 1 − accuracy",
    }
}

/// Seconds with three significant digits or more.
fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.3}")
    } else {
        format!("{s:.1}")
    }
}

/// The trial table, the incumbent and the cost.
fn print_report(r: &TuneReport, task: &lrctl_tasks::TaskSpec) {
    let names: Vec<&str> = r.space.params().iter().map(|p| p.name.as_str()).collect();
    let widths: Vec<usize> = names.iter().map(|n| n.len().max(9)).collect();
    // `steps`: what the trial trained, less than its budget when it continued a paused run.
    let mut header = format!(
        "{:>4} {:>7} {:>4} {:>6} {:>6}",
        "id", "bracket", "rung", "budget", "steps"
    );
    for (n, w) in names.iter().zip(&widths) {
        header += &format!("  {n:>w$}");
    }
    header += &format!("  {:>9}  {:8}  {:>7}", "score", "outcome", "seconds");
    println!("{header}");
    for t in &r.trials {
        let mut line = format!(
            "{:>4} {:>7} {:>4} {:>6} {:>6}",
            t.id, t.bracket, t.rung, t.budget, t.steps
        );
        for (n, w) in names.iter().zip(&widths) {
            line += &format!(
                "  {:>w$}",
                t.config.get(*n).map_or("-".into(), |&x| value(x))
            );
        }
        line += &format!(
            "  {:>9.4}  {:8}  {:>7}",
            t.score,
            t.outcome.as_str(),
            seconds(t.seconds)
        );
        println!("{line}");
    }
    println!();
    if r.cancelled {
        println!("cancelled: the tuner was not done; the incumbent is the best so far");
    }
    match &r.incumbent {
        Some(inc) => {
            let config: Vec<String> = names
                .iter()
                .filter_map(|n| inc.config.get(*n).map(|&x| format!("{n} = {}", value(x))))
                .collect();
            println!(
                "incumbent   trial {} at {} steps: {}",
                inc.id,
                inc.budget,
                config.join(", ")
            );
            println!(
                "score       {:.6} ({}: {})",
                inc.score,
                r.objective,
                objective_meaning(r.objective, task)
            );
            if inc.budget < r.fidelity.max_budget {
                println!(
                    "            no trial reached the full budget of {} steps: raise --trials or \
                     --min-budget",
                    r.fidelity.max_budget
                );
            }
            if inc.score >= r.worst_score {
                println!(
                    "            every trial at {} steps diverged or failed (worst score {}); \
                     try a smaller learning-rate range with --space",
                    inc.budget, r.worst_score
                );
            }
        }
        None => println!("incumbent   none (no trial finished)"),
    }
    let c = &r.cost;
    let diverged = r
        .trials
        .iter()
        .filter(|t| t.outcome != lrctl_engine::Outcome::Finished)
        .count();
    println!(
        "cost        {} ({} diverged or failed) · {} steps trained = {:.2} full runs of {} \
         steps · {} s of training ({} s wall, {} job(s))",
        plural(c.trials, "trial"),
        diverged,
        c.steps,
        c.full_runs,
        r.fidelity.max_budget,
        seconds(c.seconds),
        seconds(c.wall_seconds),
        r.jobs
    );
    println!(
        "            {} steps budgeted (fidelity {}{})",
        c.budget_steps,
        r.fidelity_schedule,
        if c.continued > 0 {
            format!(
                "; {} continued a paused run instead of restarting",
                plural(c.continued, "trial")
            )
        } else {
            String::new()
        }
    );
}

#[derive(Serialize)]
struct TuneFile<'a> {
    lrctl_version: &'static str,
    #[serde(flatten)]
    report: &'a TuneReport,
}

fn write_report(path: &Path, report: &TuneReport) -> Result<()> {
    let file = TuneFile {
        lrctl_version: env!("CARGO_PKG_VERSION"),
        report,
    };
    let text = serde_json::to_string_pretty(&file)? + "\n";
    lrctl_store::atomic::write(path, text)
        .with_context(|| format!("cannot write {}", path.display()))
}
