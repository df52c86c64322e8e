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

/// Fewer study tasks than this, and a recommendation is flagged as resting on little evidence.
const MIN_TASKS: usize = 8;

/// Fewer seeds per (task, method) than this, and a recommendation is flagged likewise.
const MIN_SEEDS: usize = 3;

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

/// Recommends a method for `--task` from the study's evidence, and says how much backs it.
fn recommend(args: &SelectArgs, all: &Snapshot, dirs: &lrctl_data::DataDirs) -> Result<()> {
    let spec = target_task(args, all)?;
    let name = spec.name.clone();
    // A task of the study is held out of what the selector learns from (leave-one-task-out).
    let snap = if all.tasks.iter().any(|t| t.name == name) {
        let cells = all
            .cells
            .iter()
            .filter(|c| c.task != name)
            .cloned()
            .collect();
        Snapshot::from_cells(all.study.clone(), cells)
    } else {
        Snapshot::from_cells(all.study.clone(), all.cells.clone())
    };
    if snap.tasks.len() < 2 {
        bail!(
            "study `{}` has {} other task(s) with results: a selector learns across tasks and \
             needs at least 2 (run a larger study, e.g. `lrctl run --suite libsvm --suite vision`)",
            snap.study.name,
            snap.tasks.len()
        );
    }
    let table = snap.score_table();
    let (feats, _) = features(&snap, args.probe_steps, dirs)?;
    let start = Instant::now();
    let task = lrctl_tasks::prepare(&spec, dirs)
        .with_context(|| format!("loading task `{name}` to measure it"))?;
    let mut target = lrctl_wrap::features::task_features(task.as_ref())?.values();
    if args.probe_steps > 0 {
        let p = probe::probe(task.as_ref(), args.probe_steps, 0)
            .map_err(|e| anyhow::anyhow!("probing `{name}`: {e}"))?;
        target.extend(p.features);
    }
    let probe_seconds = start.elapsed().as_secs_f64();

    let perf = lrctl_select::performance_matrix(&table);
    let all_tasks: Vec<usize> = (0..snap.tasks.len()).collect();
    let standardizer = feats.standardizer(&all_tasks);
    let train = feats.standardized(&standardizer, &all_tasks);
    let mut selector = lrctl_select::selector(&args.selector).with_context(|| {
        format!(
            "unknown selector `{}`; the selectors are: {}",
            args.selector,
            SELECTOR_NAMES.join(", ")
        )
    })?;
    selector.fit(&train, &perf);
    let x = standardizer.transform(&target);
    let predicted = selector.predict(&x);
    let mut order: Vec<usize> = (0..predicted.len()).collect();
    order.sort_by(|&a, &b| predicted[b].total_cmp(&predicted[a]));
    let Some(&best) = order.first() else {
        bail!("study `{}` has no methods", snap.study.name);
    };
    let method = &snap.methods[best];
    println!(
        "recommended for {name}: {method}  (selector {})",
        args.selector
    );
    // Predicted scores are rough: two decimals, and the selector's own track record.
    println!("expected ranking (predicted normalised score, 1 = a task's best run):");
    for (rank, &m) in order.iter().enumerate() {
        println!(
            "  {:>2}. {:20} {:.2}",
            rank + 1,
            snap.methods[m],
            predicted[m]
        );
    }
    evidence(args, &snap, &table, &feats, method)?;
    // Evidence: the nearest study tasks in standardised feature space and their winners.
    let portfolio = lrctl_eval::portfolio(&lrctl_eval::normalize_minmax(&table));
    let mut near: Vec<(f64, usize)> = train
        .iter()
        .enumerate()
        .map(|(t, row)| {
            let d: f64 = row.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum();
            (d.sqrt(), t)
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("nearest study tasks by static meta-features:");
    for (d, t) in near.iter().take(3) {
        let winner = portfolio.oracle_choice[*t].map_or("—", |m| snap.methods[m].as_str());
        println!(
            "  {:28} distance {:.2}  best: {}",
            snap.tasks[*t].name, d, winner
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
    if let Some(cell) = snap.cells.iter().find(|c| &c.method == method) {
        println!("configuration: {}", cell.method_config);
    }
    Ok(())
}

/// How much the study backs a recommendation: its size, the selector's leave-one-task-out
/// record on it, and the recommended method's divergences.
fn evidence(
    args: &SelectArgs,
    snap: &Snapshot,
    table: &lrctl_eval::ScoreTable,
    feats: &MetaFeatures,
    method: &str,
) -> Result<()> {
    let seeds = (0..table.n_methods())
        .flat_map(|m| (0..table.n_tasks()).map(move |t| (m, t)))
        .map(|(m, t)| table.scores[m][t].len())
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
    println!(
        "evidence: {} study task(s), at least {seeds} seed(s) per task and method",
        snap.tasks.len()
    );
    if snap.tasks.len() < MIN_TASKS || seeds < MIN_SEEDS {
        println!(
            "warning: little evidence (fewer than {MIN_TASKS} tasks or {MIN_SEEDS} seeds): treat \
             the recommendation as a guess; a larger study (`lrctl run --suite libsvm --suite \
             vision --suite lm`) backs it better"
        );
    }
    if snap.tasks.len() >= 3 {
        match lrctl_select::evaluate_loto(table, feats, &args.selector, None) {
            Ok(r) => println!(
                "  on this study, {} chose the best method for {:.0} % of held-out tasks and \
                 closed {} of the single-best → oracle gap",
                args.selector,
                100.0 * r.optimal_fraction,
                r.gap_closed
                    .map_or("none (no gap to close)".to_string(), |g| format!(
                        "{:.0} %",
                        100.0 * g
                    ))
            ),
            Err(e) => println!("  (leave-one-task-out not possible here: {e})"),
        }
    }
    let runs: Vec<_> = snap
        .cells
        .iter()
        .filter(|c| c.method == method)
        .filter_map(|c| c.result.as_ref().map(|r| (c.task.as_str(), r.outcome)))
        .collect();
    let bad: Vec<&str> = runs
        .iter()
        .filter(|(_, o)| *o != lrctl_record::Outcome::Finished)
        .map(|(t, _)| *t)
        .collect();
    if !bad.is_empty() {
        let mut tasks: Vec<&str> = bad.clone();
        tasks.sort_unstable();
        tasks.dedup();
        println!(
            "warning: {method} diverged or failed in {} of its {} runs in the study (on {})",
            bad.len(),
            runs.len(),
            tasks.join(", ")
        );
    }
    Ok(())
}
