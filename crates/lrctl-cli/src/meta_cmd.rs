//! `lrctl meta-train`: meta-train a learned learning-rate controller across tasks and write
//! its policy file and a method file that uses it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lrctl_control::online::{PolicyNet, PolicyWeights};
use lrctl_tune::Objective;
use lrctl_wrap::meta::{self, EvolverKind, MetaSettings, MetaState, Observed};
use serde::Serialize;

use crate::commands::{DataArgs, resolve_task};

/// The evolution strategy, as the command line names it.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum EvolverArg {
    /// CMA-ES (diagonal sep-CMA-ES above 200 weights).
    Cma,
    /// OpenAI-ES with mirrored sampling and Adam.
    Es,
}

/// `lrctl meta-train`.
#[derive(Debug, Args)]
pub struct MetaTrainArgs {
    /// Tasks to meta-train on, comma-separated (`lrctl tasks`).
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// The base method the policy steers: a plain method name or `.toml` file.
    #[arg(long, default_value = "adam-fixed")]
    method: String,
    /// Where to write the policy (`FILE.json`); a method file using it is written next to it
    /// (`FILE.toml`) and the resumable state to `FILE.state.json`.
    #[arg(long, value_name = "FILE.json")]
    out: PathBuf,
    /// Hidden layer sizes, comma-separated (none: a linear policy).
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Evolution strategy.
    #[arg(long, value_enum, default_value = "cma")]
    evolver: EvolverArg,
    /// Generations.
    #[arg(long, default_value_t = 20)]
    generations: u64,
    /// The last this many generations train the whole budget.
    #[arg(long, default_value_t = 3)]
    full_generations: u64,
    /// Fraction of each task's budget in the earlier generations.
    #[arg(long, default_value_t = 0.25)]
    fidelity: f64,
    /// Training seeds per task, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Initial search step size over the weights.
    #[arg(long, default_value_t = 0.5)]
    sigma: f64,
    /// Steps between the policy's decisions.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// The largest factor the policy may scale the base rate by.
    #[arg(long, default_value_t = 10.0)]
    max_factor: f64,
    /// What a run is scored on: final-train-loss, mean-train-loss, valid-loss, valid-metric.
    #[arg(long, default_value = "final-train-loss", value_parser = crate::commands::parse_objective)]
    objective: Objective,
    /// Seeds the evolution strategy.
    #[arg(long = "tuning-seed", default_value_t = 0, value_name = "SEED")]
    seed: u64,
    /// Runs trained at once [default: the number of cores].
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Start from this policy (finetuning) instead of the base method (zero weights).
    #[arg(long, value_name = "FILE.json")]
    init: Option<PathBuf>,
    /// Leave-one-task-out: for each task, meta-train on the others and test on it (at least
    /// three tasks). `--out` then receives the per-task report (JSON).
    #[arg(long)]
    loto: bool,
    /// With `--loto`: deal the tasks into K cross-task folds (by model family, then name) and
    /// hold a whole fold out at a time — K meta-trainings instead of one per task.
    #[arg(long, requires = "loto", value_name = "K")]
    folds: Option<usize>,
    /// Also keep every training run in this store (SQLite path or PostgreSQL URL), in its
    /// trial table under the run's key (`meta-train-<SHA-256>`), one row per run.
    #[arg(long, value_name = "LOCATION")]
    store: Option<String>,
    /// Start again even if a saved state exists.
    #[arg(long)]
    fresh: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    set: crate::commands::SetArgs,
    #[command(flatten)]
    data_args: DataArgs,
}

/// `FILE.json` → `FILE.<ext>`.
fn beside(out: &Path, ext: &str) -> PathBuf {
    out.with_extension(ext)
}

/// Runs `lrctl meta-train`.
pub fn run(args: MetaTrainArgs) -> Result<()> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("json") {
        bail!(
            "--out {}: name the policy file `FILE.json`",
            args.out.display()
        );
    }
    let init = match &args.init {
        Some(p) => Some(PolicyNet::read(p).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let hidden = match (&init, args.hidden.is_empty()) {
        (Some(net), true) => net.hidden(),
        _ => args.hidden.clone(),
    };
    let settings = MetaSettings {
        hidden,
        evolver: match args.evolver {
            EvolverArg::Cma => EvolverKind::Cma,
            EvolverArg::Es => EvolverKind::Es,
        },
        generations: args.generations,
        full_generations: args.full_generations.min(args.generations),
        fidelity: args.fidelity,
        seeds: args.seeds.clone(),
        sigma: args.sigma,
        interval: args.interval,
        max_factor: args.max_factor,
        objective: args.objective,
        seed: args.seed,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        init,
    };
    settings.validate()?;
    let base = crate::commands::plain_method(&args.method, &args.set)?;
    // Every task's data before any training: a missing file stops the run here, named.
    let mut tasks: Vec<Arc<dyn lrctl_tasks::Task>> = Vec::new();
    for name in &args.tasks {
        let spec = resolve_task(name, None)?;
        let task = lrctl_tasks::prepare(&spec, &args.data_args.dirs())
            .with_context(|| format!("task `{name}`"))?;
        tasks.push(task);
    }

    if args.loto {
        return loto(&args, settings, &tasks[..], &base);
    }
    let state = train(
        &args,
        &beside(&args.out, "state.json"),
        settings,
        &tasks[..],
        &args.tasks,
        &base,
    )?;
    let net = state.policy();
    lrctl_store::atomic::write(&args.out, net.to_json())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let name = args
        .out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("learned")
        .to_string();
    let inline = state.method(PolicyWeights::Inline(Box::new(net.clone())), &name);
    let s = &state.settings;
    let cmp = meta::compare(&base, &inline, &tasks[..], &s.seeds, s.objective, s.jobs)?;
    let final_score = meta::mean_log_ratio(&cmp);
    let mut method = state.method(PolicyWeights::File(args.out.display().to_string()), &name);
    if let lrctl_control::ControllerSpec::Learned(c) = &mut method.controller {
        c.version = Some(format!("{:016x}", fnv(net.to_json().as_bytes())));
    }
    let toml_path = beside(&args.out, "toml");
    let (cost_steps, cost_secs) = state.cost();
    let text = format!(
        "# Written by `lrctl meta-train` (lrctl {}): {} steered by the policy in {}.\n# Use it \
         with `--method {}` (from this directory).\n# Meta-training cost: {cost_steps} optimizer \
         steps, {cost_secs:.1} s of training (charge it to the tasks the policy serves).\n\n{}",
        env!("CARGO_PKG_VERSION"),
        base.name,
        args.out.display(),
        toml_path.display(),
        toml::to_string(&method).context("writing the learned method as TOML")?
    );
    lrctl_store::atomic::write(&toml_path, text)
        .with_context(|| format!("writing {}", toml_path.display()))?;
    let (steps, secs) = state.cost();
    if let Some(init) = &s.init {
        // Finetuning: what the extra generations bought over the policy it started from.
        let before = state.method(PolicyWeights::Inline(Box::new(init.clone())), "init");
        let cmp = meta::compare(&base, &before, &tasks[..], &s.seeds, s.objective, s.jobs)?;
        let init_score = meta::mean_log_ratio(&cmp);
        let gain = init_score - final_score;
        println!(
            "finetuning: mean log-ratio {init_score:+.4} (initial policy) → {final_score:+.4}, \
             a gain of {gain:+.4} for {steps} extra optimizer steps ({:+.4} per million steps, \
             {:+.4} per hour of training)",
            gain / (steps.max(1) as f64 / 1e6),
            gain / (secs.max(1e-9) / 3600.0)
        );
    }
    println!(
        "meta-trained {} on {} task(s) × {} seed(s): mean log-ratio to {} at the full budget \
         {:+.4} ({:.1} % {} {}); cost {} steps, {:.1} s of training",
        describe(&net),
        tasks.len(),
        s.seeds.len(),
        base.name,
        final_score,
        (1.0 - final_score.exp()).abs() * 100.0,
        if final_score <= 0.0 {
            "lower"
        } else {
            "higher"
        },
        s.objective.name(),
        steps,
        secs
    );
    println!(
        "wrote {} (policy), {} (method: --method {})",
        args.out.display(),
        toml_path.display(),
        toml_path.display()
    );
    Ok(())
}

fn describe(net: &PolicyNet) -> String {
    if net.hidden().is_empty() {
        "a linear policy".to_string()
    } else {
        format!("an MLP policy {:?}", net.hidden())
    }
}

/// Meta-trains (or resumes from `state_path`) until every generation is done, saving the state
/// after each.
fn train(
    args: &MetaTrainArgs,
    state_path: &Path,
    settings: MetaSettings,
    tasks: &[Arc<dyn lrctl_tasks::Task>],
    names: &[String],
    base: &lrctl_method::MethodSpec,
) -> Result<MetaState> {
    let mut state = match std::fs::read_to_string(state_path) {
        Ok(text) if !args.fresh => {
            let mut state: MetaState = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a meta-training state (delete it or pass --fresh)",
                    state_path.display()
                )
            })?;
            // How many runs train at once changes no result: a resume may use another number.
            state.settings.jobs = settings.jobs;
            if state.settings != settings || state.tasks != names || &state.base != base {
                bail!(
                    "{} was saved by a meta-training run with other settings, tasks or base \
                     method; pass --fresh to start again, or another --out",
                    state_path.display()
                );
            }
            eprintln!(
                "resuming {} after generation {}",
                state_path.display(),
                state.history.len()
            );
            state
        }
        _ => MetaState::new(settings, tasks, base)?,
    };
    let store = match &args.store {
        Some(location) => Some(Mutex::new(lrctl_store::open(location).with_context(
            || format!("opening the store {}", lrctl_store::redact(location)),
        )?)),
        None => None,
    };
    // Generations saved before a kill are stored again (a row that exists is kept).
    if let Some(s) = &store {
        for g in &state.history {
            store_runs(s, &state.key(), g)?;
        }
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(
            Some(state.settings.generations),
            ProgressDrawTarget::stderr(),
        )
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} generations, {elapsed} {msg}")
            .expect("valid template"),
    );
    bar.set_position(state.history.len() as u64);
    let best = |s: &MetaState| {
        s.history
            .iter()
            .filter_map(|g| g.best)
            .reduce(f64::min)
            .map_or("best —".to_string(), |b| format!("best {b:+.4}"))
    };
    let runs = AtomicU64::new(0);
    let tick = || {
        let n = runs.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(8) {
            bar.tick();
        }
    };
    let ticking = Observed::new(tasks, &tick);
    bar.set_message(best(&state));
    while !state.done() {
        let g = meta::step(&mut state, &ticking)?;
        lrctl_store::atomic::write(state_path, serde_json::to_vec(&state)?)
            .with_context(|| format!("writing {}", state_path.display()))?;
        if let Some(s) = &store {
            store_runs(s, &state.key(), &g)?;
        }
        bar.inc(1);
        bar.set_message(format!(
            "{}, {} runs",
            best(&state),
            runs.load(Ordering::Relaxed)
        ));
        if !args.quiet {
            let (steps, secs) = state.cost();
            let line = format!(
                "generation {:>3}/{} ({:>3.0} % budget): best {:+.4}, median {:+.4}  [{} steps, {:.1} s so far]",
                g.generation + 1,
                state.settings.generations,
                g.fraction * 100.0,
                g.best.unwrap_or(f64::NAN),
                median(&g.fitness),
                steps,
                secs
            );
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
    }
    bar.finish_and_clear();
    if let Some(location) = &args.store {
        let (steps, secs) = state.cost();
        eprintln!(
            "stored every run in {} (trial table, key {}): {steps} optimizer steps, {secs:.1} s \
             of training in all",
            lrctl_store::redact(location),
            state.key()
        );
    }
    Ok(state)
}

/// Stores generation `g`'s runs in the trial table under `key`: trial
/// `generation · 1 000 000 + index`, its configuration the run (candidate, task, seed, budget).
fn store_runs(
    store: &Mutex<Box<dyn lrctl_store::Store>>,
    key: &str,
    g: &meta::GenerationRecord,
) -> Result<()> {
    let mut s = store.lock().expect("not poisoned");
    for (i, r) in g.runs.iter().enumerate() {
        let row = lrctl_store::TrialRow {
            tuning_key: key.to_string(),
            trial: g.generation * 1_000_000 + i as u64,
            config_json: serde_json::json!({
                "generation": g.generation,
                "candidate": r.candidate,
                "task": r.task,
                "seed": r.seed,
            })
            .to_string(),
            budget: r.budget,
            score: Some(r.objective).filter(|v| v.is_finite()),
            outcome: if r.objective.is_finite() {
                lrctl_store::Outcome::Finished
            } else {
                lrctl_store::Outcome::Diverged
            },
            steps: r.steps,
            seconds: r.seconds,
        };
        s.put_trial(&row)
            .with_context(|| format!("storing run {i} of generation {}", g.generation))?;
    }
    Ok(())
}

/// One held-out task of leave-one-task-out (or of a cross-task fold).
#[derive(Debug, Serialize)]
struct Fold {
    held_out: String,
    /// With `--folds`: the other tasks held out with it (its policy never saw them either).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fold_mates: Vec<String>,
    trained_on: Vec<String>,
    /// On the held-out task: the objective meta-training minimised.
    objective: Vec<meta::Comparison>,
    /// On the held-out task: the validation metric as a loss (1 − accuracy, or bits per byte).
    valid_metric: Vec<meta::Comparison>,
    cost_steps: u64,
    cost_seconds: f64,
    policy: PolicyNet,
}

/// `--loto`: a policy per held-out task, trained on the others, tested on it.
fn loto(
    args: &MetaTrainArgs,
    settings: MetaSettings,
    tasks: &[Arc<dyn lrctl_tasks::Task>],
    base: &lrctl_method::MethodSpec,
) -> Result<()> {
    if tasks.len() < 3 {
        bail!(
            "--loto needs at least three tasks: each fold meta-trains on the others (two or \
             more, or the policy learns one task) and tests on the one left out; got {}",
            tasks.len()
        );
    }
    // The groups held out together: one task each, or the cross-task folds.
    let groups: Vec<Vec<usize>> = match args.folds {
        None => (0..tasks.len()).map(|i| vec![i]).collect(),
        Some(k) => {
            let specs: Vec<&lrctl_tasks::TaskSpec> = tasks.iter().map(|t| t.spec()).collect();
            let groups = lrctl_wrap::learn::fold_groups(&specs, k);
            let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
            if k < 2 || k > tasks.len() || tasks.len() - largest < 2 {
                bail!(
                    "--folds {k}: give from 2 folds to one per task, each fold leaving 2 or \
                     more of the {} tasks to meta-train on",
                    tasks.len()
                );
            }
            groups
                .iter()
                .map(|g| {
                    g.iter()
                        .filter_map(|name| specs.iter().position(|s| &s.name == name))
                        .collect()
                })
                .collect()
        }
    };
    let mut folds = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let train_tasks: Vec<_> = (0..tasks.len())
            .filter(|k| !group.contains(k))
            .map(|k| Arc::clone(&tasks[k]))
            .collect();
        let names: Vec<String> = (0..tasks.len())
            .filter(|k| !group.contains(k))
            .map(|k| args.tasks[k].clone())
            .collect();
        let held_names: Vec<String> = group.iter().map(|&i| args.tasks[i].clone()).collect();
        if !args.quiet {
            eprintln!(
                "fold {}/{}: holding out {}",
                g + 1,
                groups.len(),
                held_names.join(", ")
            );
        }
        let state_name = match args.folds {
            None => format!("loto-{}.state.json", group[0]),
            Some(k) => format!("fold-{g}-of-{k}.state.json"),
        };
        let state = train(
            args,
            &beside(&args.out, &state_name),
            settings.clone(),
            &train_tasks,
            &names,
            base,
        )?;
        let net = state.policy();
        let learned = state.method(PolicyWeights::Inline(Box::new(net.clone())), "learned");
        let s = &state.settings;
        let (cost_steps, cost_seconds) = state.cost();
        for &i in group {
            let held = std::slice::from_ref(&tasks[i]);
            let objective = meta::compare(base, &learned, held, &s.seeds, s.objective, s.jobs)?;
            let valid_metric = meta::compare(
                base,
                &learned,
                held,
                &s.seeds,
                Objective::ValidMetric,
                s.jobs,
            )?;
            let fold = Fold {
                held_out: args.tasks[i].clone(),
                fold_mates: held_names
                    .iter()
                    .filter(|n| **n != args.tasks[i])
                    .cloned()
                    .collect(),
                trained_on: names.clone(),
                objective,
                valid_metric,
                cost_steps,
                cost_seconds,
                policy: net.clone(),
            };
            println!(
                "{:<28} held out: {} log-ratio {:+.4}, validation metric {:.4} (base {:.4})",
                fold.held_out,
                s.objective.name(),
                meta::mean_log_ratio(&fold.objective),
                mean(fold.valid_metric.iter().map(|c| c.method)),
                mean(fold.valid_metric.iter().map(|c| c.base)),
            );
            folds.push(fold);
        }
    }
    let ratios: Vec<f64> = folds
        .iter()
        .map(|f| meta::mean_log_ratio(&f.objective))
        .collect();
    let better = |v: &dyn Fn(&Fold) -> bool| folds.iter().filter(|f| v(f)).count();
    println!(
        "held-out mean log-ratio of {} to {}: {:+.4}; lower on {} of {} task(s); validation \
         metric better on {}, worse on {}; cost {} steps, {:.1} s of training",
        settings.objective.name(),
        base.name,
        mean(ratios.iter().copied()),
        ratios.iter().filter(|r| **r < 0.0).count(),
        folds.len(),
        better(&|f| mean(f.valid_metric.iter().map(|c| c.method))
            < mean(f.valid_metric.iter().map(|c| c.base))),
        better(&|f| mean(f.valid_metric.iter().map(|c| c.method))
            > mean(f.valid_metric.iter().map(|c| c.base))),
        first_of_each(&groups, &folds)
            .map(|f| f.cost_steps)
            .sum::<u64>(),
        first_of_each(&groups, &folds)
            .map(|f| f.cost_seconds)
            .sum::<f64>(),
    );
    let report = serde_json::json!({
        "base": base.name,
        "settings": settings,
        "folds": folds,
    });
    lrctl_store::atomic::write(&args.out, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {} (leave-one-task-out report)", args.out.display());
    Ok(())
}

/// One held-out task's entry per group (a group's tasks share its meta-training and cost).
fn first_of_each<'a>(
    groups: &'a [Vec<usize>],
    folds: &'a [Fold],
) -> impl Iterator<Item = &'a Fold> {
    groups
        .iter()
        .scan(0, |at, g| {
            let first = *at;
            *at += g.len();
            Some(first)
        })
        .filter_map(|i| folds.get(i))
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

fn median(v: &[f64]) -> f64 {
    let mut f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        return f64::NAN;
    }
    f.sort_by(f64::total_cmp);
    f[f.len() / 2]
}

/// FNV-1a: a short tag of the policy's content for the method's `version`.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
