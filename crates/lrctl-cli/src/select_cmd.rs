//! `lrctl select`: evaluate selectors on a study by leave-one-task-out, or recommend a method
//! for a task from the study's evidence.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use lrctl_select::{MetaFeatures, SELECTOR_NAMES};
use lrctl_study::snapshot::Snapshot;
use lrctl_wrap::features::static_names;
use lrctl_wrap::probe;

use crate::commands::DataArgs;
use crate::study_cmds::{StoreArgs, find_study};

/// `lrctl select`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Recommend a method for this task: a registry name (with `--data FILE` for the
    /// bring-your-own-file tasks such as `libsvm/file`) or one of the study's own tasks (a
    /// study file's inline task included; it is then left out of what the selector learns).
    #[arg(long, conflicts_with = "evaluate")]
    task: Option<String>,
    /// The file (LIBSVM file, IDX directory or text file) of a bring-your-own-file task.
    #[arg(long, value_name = "PATH", requires = "task")]
    data: Option<std::path::PathBuf>,
    /// Evaluate every selector by leave-one-task-out on the study.
    #[arg(long)]
    evaluate: bool,
    /// Selector for `--task`: regression (the best measured; what `auto` uses), pairwise,
    /// knn or sbs (always the single best method).
    #[arg(long, default_value = "regression")]
    selector: String,
    /// Add probe meta-features from this many steps of a reference run (`adam-fixed`) on
    /// every task (0: static features only). The probes' cost is charged to selection.
    #[arg(long, default_value_t = 0, value_name = "STEPS")]
    probe_steps: u64,
    /// The study (default: the only one, else the most recently changed).
    #[arg(long)]
    study: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data_args: DataArgs,
}

/// Meta-features of every task of the snapshot: static ones, plus probe features when
/// `probe_steps > 0`; and each task's probe cost in seconds.
fn features(
    snap: &Snapshot,
    probe_steps: u64,
    dirs: &lrctl_data::DataDirs,
) -> Result<(MetaFeatures, Vec<f64>)> {
    let mut names = static_names();
    let mut values = snap.static_features();
    let mut costs = vec![0.0; values.len()];
    if probe_steps > 0 {
        let probe_names = probe::names();
        names.extend(probe_names.iter().map(|s| s.to_string()));
        for ((t, row), cost) in snap.tasks.iter().zip(&mut values).zip(&mut costs) {
            let Some(spec) = &t.spec else {
                row.extend(std::iter::repeat_n(f64::NAN, probe_names.len()));
                continue;
            };
            let task = lrctl_tasks::prepare(spec, dirs)
                .with_context(|| format!("loading task `{}` for its probe", t.name))?;
            let p = probe::probe(task.as_ref(), probe_steps, 0)
                .map_err(|e| anyhow::anyhow!("probing `{}`: {e}", t.name))?;
            row.extend(p.features);
            *cost = p.seconds;
        }
    }
    let feats = MetaFeatures::new(names, values).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((feats, costs))
}

/// `lrctl select`.
pub fn select(args: SelectArgs) -> Result<()> {
    if !args.evaluate && args.task.is_none() {
        bail!("say what to do: `--evaluate` (leave-one-task-out on the study) or `--task NAME`");
    }
    let mut store = lrctl_store::open_read_only(&args.store.store)?;
    let study = find_study(store.as_mut(), args.study.as_deref())?;
    let all = Snapshot::read(store.as_mut(), study)?;
    // Selectors choose among the plain methods; `race` and `auto` cells are judged after.
    let snap = lrctl_study::selection::candidates_only(&all);
    let dirs = args.data_args.dirs();
    if !args.evaluate {
        return recommend(&args, &snap, &dirs);
    }
    let table = snap.score_table();
    let (feats, probe_costs) = features(&snap, args.probe_steps, &dirs)?;
    if snap.tasks.len() < 2 {
        bail!(
            "study `{}` has {} task(s): selection learns across tasks and needs at least 2",
            snap.study.name,
            snap.tasks.len()
        );
    }
    println!(
        "leave-one-task-out on study `{}`: {} tasks × {} methods; {}",
        snap.study.name,
        snap.tasks.len(),
        snap.methods.len(),
        if args.probe_steps > 0 {
            format!(
                "static + probe meta-features ({} probe steps per task, {:.2} s of probes \
                 in all)",
                args.probe_steps,
                probe_costs.iter().sum::<f64>()
            )
        } else {
            "static meta-features only (probe cost 0)".to_string()
        }
    );
    println!(
        "{:12} {:>10} {:>10} {:>10} {:>11} {:>9}",
        "selector", "score", "oracle", "regret", "gap closed", "optimal"
    );
    for name in SELECTOR_NAMES {
        let r = lrctl_select::evaluate_loto(&table, &feats, name, Some(&probe_costs))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "{:12} {:>10.4} {:>10.4} {:>10.4} {:>11} {:>8.0}%",
            name,
            r.mean_score,
            r.mean_oracle_score,
            r.mean_regret,
            r.gap_closed
                .map_or("—".to_string(), |g| format!("{:.1}%", 100.0 * g)),
            100.0 * r.optimal_fraction
        );
    }
    println!(
        "score: mean normalised score of the chosen method on the held-out task (1 = the \
         task's best run); gap closed: share of the single-best → oracle gap recovered"
    );
    let realised = lrctl_study::selection::realised(&all);
    if !realised.is_empty() {
        println!(
            "\nselection methods trained in the study (scores normalised over all runs, \
             cost = charged steps incl. choosing, relative to the single best's):"
        );
        println!(
            "{:12} {:>6} {:>10} {:>10} {:>10} {:>11} {:>8}",
            "method", "tasks", "score", "sbs", "oracle", "gap closed", "cost"
        );
        for r in realised {
            println!(
                "{:12} {:>6} {:>10.4} {:>10.4} {:>10.4} {:>11} {:>7.2}×   (sbs: {})",
                r.method,
                r.tasks,
                r.score,
                r.sbs.1,
                r.oracle,
                r.gap_closed
                    .map_or("—".to_string(), |g| format!("{:.1}%", 100.0 * g)),
                r.cost_ratio,
                r.sbs.0
            );
        }
    }
    Ok(())
}

/// The task `--task` names: one of the study's own (inline ones included), else the registry's
/// (with `--data` for bring-your-own-file tasks).
fn target_task(args: &SelectArgs, snap: &Snapshot) -> Result<lrctl_tasks::TaskSpec> {
    let name = args.task.as_deref().expect("checked");
    if args.data.is_none()
        && let Some(spec) = snap
            .tasks
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.spec.clone())
    {
        return Ok(spec);
    }
    crate::commands::resolve_task(name, args.data.as_ref())
}

/// A user task of the study (trained by its Python function), when `--task` names one.
fn user_task(args: &SelectArgs, snap: &Snapshot) -> Option<lrctl_study::ExternalTask> {
    let name = args.task.as_deref()?;
    if args.data.is_some() {
        return None;
    }
    snap.cells
        .iter()
        .find(|c| c.task == name)
        .and_then(|c| lrctl_study::ExternalTask::parse(&c.task_config))
}

/// Recommends a method for `--task` from the study's evidence, and says how much backs it.
fn recommend(args: &SelectArgs, all: &Snapshot, dirs: &lrctl_data::DataDirs) -> Result<()> {
    let name = args.task.clone().expect("checked");
    // A task of the study is held out of what the selector learns from (leave-one-task-out).
    let snap = lrctl_study::selection::without_task(all, &name);
    let (feats, _) = features(&snap, args.probe_steps, dirs)?;
    let start = Instant::now();
    let target = match user_task(args, all) {
        Some(user) => {
            if args.probe_steps > 0 {
                bail!(
                    "`{name}` is a user task, trained by its Python function: lrctl cannot \
                     probe it (leave out --probe-steps)"
                );
            }
            user.features()
                .with_context(|| {
                    format!(
                        "user task `{name}` was described without meta-features: run it with \
                         description=lrctl.describe(model, loader, budget_steps)"
                    )
                })?
                .values()
        }
        None => {
            let spec = target_task(args, all)?;
            let task = lrctl_tasks::prepare(&spec, dirs)
                .with_context(|| format!("loading task `{name}` to measure it"))?;
            let mut target = lrctl_wrap::features::task_features(task.as_ref())?.values();
            if args.probe_steps > 0 {
                let p = probe::probe(task.as_ref(), args.probe_steps, 0)
                    .map_err(|e| anyhow::anyhow!("probing `{name}`: {e}"))?;
                target.extend(p.features);
            }
            target
        }
    };
    let probe_seconds = start.elapsed().as_secs_f64();
    let r = lrctl_study::selection::recommend(&snap, &feats, &name, &target, &args.selector)?;
    println!(
        "recommended for {name}: {}  (selector {})",
        r.method, args.selector
    );
    // Predicted scores are rough: two decimals, and the selector's own track record.
    println!("expected ranking (predicted normalised score, 1 = a task's best run):");
    for (rank, (m, score)) in r.ranking.iter().enumerate() {
        println!("  {:>2}. {m:20} {score:.2}", rank + 1);
    }
    print_evidence(&r);
    println!("nearest study tasks by static meta-features:");
    for n in &r.nearest {
        println!(
            "  {:28} distance {:.2}  best: {}",
            n.task,
            n.distance,
            n.best.as_deref().unwrap_or("—")
        );
    }
    println!(
        "probe cost: {probe_seconds:.2} s (loading the task, counting its parameters{})",
        if args.probe_steps > 0 {
            format!(", {} probe steps", args.probe_steps)
        } else {
            String::new()
        }
    );
    if let Some(config) = &r.configuration {
        println!("configuration: {config}");
    }
    Ok(())
}

/// How much the study backs a recommendation: its size, the selector's leave-one-task-out
/// record on it, and the recommended method's divergences.
fn print_evidence(r: &lrctl_study::selection::Recommendation) {
    println!(
        "evidence: {} study task(s), at least {} seed(s) per task and method",
        r.study_tasks, r.min_seeds
    );
    if r.little_evidence {
        println!(
            "warning: little evidence (fewer than {} tasks or {} seeds): treat the \
             recommendation as a guess; a larger study (`lrctl run --suite libsvm --suite \
             vision --suite lm`) backs it better",
            lrctl_study::selection::MIN_TASKS,
            lrctl_study::selection::MIN_SEEDS
        );
    }
    match (&r.loto, &r.loto_unavailable) {
        (Some(l), _) => println!(
            "  on this study, {} chose the best method for {:.0} % of held-out tasks and closed \
             {} of the single-best → oracle gap",
            r.selector,
            100.0 * l.optimal_fraction,
            l.gap_closed
                .map_or("none (no gap to close)".to_string(), |g| format!(
                    "{:.0} %",
                    100.0 * g
                ))
        ),
        (None, Some(e)) if r.study_tasks >= 3 => {
            println!("  (leave-one-task-out not possible here: {e})")
        }
        _ => {}
    }
    if r.bad_runs > 0 {
        println!(
            "warning: {} diverged or failed in {} of its {} runs in the study (on {})",
            r.method,
            r.bad_runs,
            r.runs,
            r.bad_tasks.join(", ")
        );
    }
}
