//! `lrctl select`: evaluate selectors on a study by leave-one-task-out, or recommend a method
//! for a task from the study's evidence.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use lrctl_select::{MetaFeatures, SELECTOR_NAMES};
use lrctl_study::aslib::FEATURES;
use lrctl_study::probe::PROBE_FEATURES;
use lrctl_study::snapshot::Snapshot;

use crate::commands::DataArgs;
use crate::study_cmds::{StoreArgs, find_study};

/// `lrctl select`.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Recommend a method for this task (registry name).
    #[arg(long, conflicts_with = "evaluate")]
    task: Option<String>,
    /// Evaluate every selector by leave-one-task-out on the study.
    #[arg(long)]
    evaluate: bool,
    /// Selector for `--task`: sbs, regression, pairwise or knn.
    #[arg(long, default_value = "knn")]
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
    data: DataArgs,
}

/// Meta-features of every task of the snapshot: static ones, plus probe features when
/// `probe_steps > 0`; and each task's probe cost in seconds.
fn features(
    snap: &Snapshot,
    probe_steps: u64,
    dirs: &lrctl_data::DataDirs,
) -> Result<(MetaFeatures, Vec<f64>)> {
    let mut names: Vec<String> = FEATURES.iter().map(|s| s.to_string()).collect();
    let mut values = snap.static_features();
    let mut costs = vec![0.0; values.len()];
    if probe_steps > 0 {
        names.extend(PROBE_FEATURES.iter().map(|s| s.to_string()));
        for ((t, row), cost) in snap.tasks.iter().zip(&mut values).zip(&mut costs) {
            let Some(spec) = &t.spec else {
                row.extend(std::iter::repeat_n(f64::NAN, PROBE_FEATURES.len()));
                continue;
            };
            let task = lrctl_tasks::prepare(spec, dirs)
                .with_context(|| format!("loading task `{}` for its probe", t.name))?;
            let p = lrctl_study::probe::probe(task.as_ref(), probe_steps, 0)
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
    let table = snap.score_table();
    let dirs = args.data.dirs();
    let (feats, probe_costs) = features(&snap, args.probe_steps, &dirs)?;
    if snap.tasks.len() < 2 {
        bail!(
            "study `{}` has {} task(s): selection learns across tasks and needs at least 2",
            snap.study.name,
            snap.tasks.len()
        );
    }
    if args.evaluate {
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
        return Ok(());
    }

    // Recommend for one task: its static features, a selector fitted on every study task.
    let name = args.task.as_deref().expect("checked");
    let spec = lrctl_tasks::registry::find(name)?;
    let start = Instant::now();
    let task = lrctl_tasks::prepare(&spec, &dirs)
        .with_context(|| format!("loading task `{name}` to measure it"))?;
    let mut target =
        lrctl_study::selection::task_features(task.as_ref()).map_err(anyhow::Error::msg)?;
    if args.probe_steps > 0 {
        let p = lrctl_study::probe::probe(task.as_ref(), args.probe_steps, 0)
            .map_err(|e| anyhow::anyhow!("probing `{name}`: {e}"))?;
        target.extend(p.features);
    }
    let probe_seconds = start.elapsed().as_secs_f64();

    let perf = lrctl_select::performance_matrix(&table);
    let all: Vec<usize> = (0..snap.tasks.len()).collect();
    let standardizer = feats.standardizer(&all);
    let train = feats.standardized(&standardizer, &all);
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
    println!("expected ranking (predicted normalised score):");
    for (rank, &m) in order.iter().enumerate() {
        println!(
            "  {:>2}. {:20} {:.3}",
            rank + 1,
            snap.methods[m],
            predicted[m]
        );
    }
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
    println!("evidence (nearest study tasks by static meta-features):");
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
