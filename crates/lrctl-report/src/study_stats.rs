//! The across-tasks part of a study report: the statistics of `lrctl-eval` drawn and tabled.
//!
//! Scores are each cell's held-out (test) metric. Diverged and failed seeds stay in as
//! non-finite scores (the task's worst after min–max normalisation); cells without a result
//! are left out and stated in the overview.

use lrctl_eval::{
    Aggregate, BootstrapConfig, CiMethod, CostProfileConfig, CostTable, ProfileKind, ScoreTable,
};

use lrctl_store::Outcome;
use lrctl_study::snapshot::Snapshot;

use crate::study::ReportOptions;
use lrctl_doc::{
    Cell, ColorScale, Document, Heatmap, Interval, IntervalChart, IntervalPanel, LineSeries,
    ProfileChart, Scatter, ScatterPoint, Table, heatmap, interval_chart, profile_chart, scatter,
};

/// Adds the across-tasks section.
pub fn across_tasks(doc: &mut Document, snap: &Snapshot, opts: &ReportOptions) {
    doc.section("Across tasks");
    let raw = snap.score_table();
    let has_scores = raw
        .scores
        .iter()
        .any(|per_task| per_task.iter().any(|runs| !runs.is_empty()));
    if !has_scores || raw.tasks.is_empty() {
        doc.note("No finished cells yet: nothing to compare.");
        divergence_table(doc, snap);
        return;
    }
    let norm = lrctl_eval::normalize_minmax(&raw);
    doc.paragraph(
        "Scores are min–max normalised per task over all runs of all methods (1 = the task's \
         best run, 0 = its worst; a diverged or failed seed scores 0), so tasks with different \
         metrics can be aggregated. Confidence intervals come from a stratified bootstrap \
         (runs resampled within each task), as in Agarwal et al. (2021).",
    );
    if snap.tasks.len() < 3 {
        doc.warning(format!(
            "Only {} task(s): across-task aggregates rest on very few tasks.",
            snap.tasks.len()
        ));
    }
    ranks_and_gaps(doc, snap, &raw);
    aggregates(doc, snap, &norm, opts);
    profiles(doc, snap, &norm);
    improvement(doc, snap, &norm);
    cost_quality(doc, snap, &norm);
    time_to_target(doc, snap);
    portfolio(doc, snap, &norm);
    selection(doc, snap);
    divergence_table(doc, snap);
}

fn selection(doc: &mut Document, snap: &Snapshot) {
    doc.subsection("Algorithm selection");
    if snap.tasks.len() < 3 {
        doc.note("Selection is evaluated by leave-one-task-out and needs at least 3 tasks.");
        return;
    }
    // Selectors choose among the plain methods; the study's own `race`/`auto` cells follow.
    let all = snap;
    let candidates = lrctl_study::selection::candidates_only(all);
    let snap = &candidates;
    let raw = &snap.score_table();
    let names = lrctl_wrap::features::static_names();
    let Ok(features) = lrctl_select::MetaFeatures::new(names, snap.static_features()) else {
        return;
    };
    let mut table = Table::new([
        "selector",
        "mean score",
        "oracle",
        "single best",
        "regret",
        "gap closed",
        "optimal choices",
    ]);
    let mut intervals = Vec::new();
    let mut oracle = f64::NAN;
    for name in lrctl_select::SELECTOR_NAMES {
        let Ok(r) = lrctl_select::evaluate_loto(raw, &features, name, None) else {
            continue;
        };
        oracle = r.mean_oracle_score;
        intervals.push(Interval::new(r.mean_score, r.mean_score, r.mean_score));
        table = table.row(vec![
            Cell::text(name),
            Cell::number(r.mean_score, 3),
            Cell::number(r.mean_oracle_score, 3),
            Cell::number(r.mean_sbs_score, 3),
            Cell::number(r.mean_regret, 3),
            r.gap_closed.map_or(Cell::text("—"), |g| {
                Cell::numeric(format!("{:.1}%", 100.0 * g))
            }),
            Cell::numeric(format!("{:.0}%", 100.0 * r.optimal_fraction)),
        ]);
    }
    let mut panel = IntervalPanel::new("Held-out score", "mean normalised score", intervals);
    panel.reference = Some(oracle).filter(|o| o.is_finite());
    let chart = IntervalChart::new(
        "Leave-one-task-out selection (line: oracle)",
        lrctl_select::SELECTOR_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
    .panel(panel);
    doc.paragraph(
        "Each task is held out in turn; a selector fitted on the other tasks' static \
         meta-features and results picks a method for it. Regret is the oracle's normalised \
         score minus the chosen method's; gap closed is the share of the single-best → oracle \
         gap recovered. Static features cost nothing to compute (no probe run).",
    )
    .figure(
        "selection",
        "Mean normalised held-out score of each selector's choices; the vertical line is the \
         per-task oracle.",
        interval_chart(&chart),
    )
    .table(
        "selection",
        "Leave-one-task-out evaluation of the selectors.",
        table,
    );
    let realised = lrctl_study::selection::realised(all);
    if realised.is_empty() {
        return;
    }
    let mut rows = Table::new([
        "method",
        "tasks",
        "mean score",
        "single best",
        "oracle",
        "gap closed",
        "steps vs single best",
    ]);
    for r in &realised {
        rows = rows.row(vec![
            Cell::text(&r.method),
            Cell::numeric(r.tasks.to_string()),
            Cell::number(r.score, 3),
            Cell::text(format!("{} ({:.3})", r.sbs.0, r.sbs.1)),
            Cell::number(r.oracle, 3),
            r.gap_closed.map_or(Cell::text("—"), |g| {
                Cell::numeric(format!("{:.1}%", 100.0 * g))
            }),
            Cell::numeric(format!("{:.2}×", r.cost_ratio)),
        ]);
    }
    let closed: Vec<String> = realised
        .iter()
        .map(|r| {
            format!(
                "{} closes {} of the single-best → oracle gap at {:.2}× the single best's charged steps",
                r.method,
                r.gap_closed
                    .map_or("none".to_string(), |g| format!("{:.1}%", 100.0 * g)),
                r.cost_ratio
            )
        })
        .collect();
    doc.paragraph(format!(
        "Selection methods trained in this study, each cell choosing for itself (auto from \
         the other tasks' results, race by short runs whose cost it is charged): {}. Scores \
         are normalised over all of a task's runs; the single best and the oracle are taken \
         among the plain methods on the same tasks.",
        closed.join("; ")
    ))
    .table(
        "selection-in-study",
        "Selection methods as trained in the study, against the candidates they choose from.",
        rows,
    );
}

fn ranks_and_gaps(doc: &mut Document, snap: &Snapshot, raw: &ScoreTable) {
    let tasks: Vec<String> = raw.tasks.clone();
    let ranks = lrctl_eval::ranks(raw);
    let mut hm = Heatmap::new(
        "Rank per task (1 = best mean test metric)",
        snap.methods.clone(),
        tasks.clone(),
        ranks.per_task.clone(),
    );
    hm.row_title = "method".into();
    hm.col_title = "task".into();
    hm.value_label = "rank".into();
    hm.scale = ColorScale::Sequential { reversed: true };
    hm.decimals = Some(1);
    doc.subsection("Ranks and gap to best").figure(
        "ranks",
        "Rank of each method's mean test metric per task (ties share the average rank; diverged \
         seeds count as the task's worst score).",
        heatmap(&hm),
    );
    let gaps = lrctl_eval::gap_to_best(raw);
    let mut hm = Heatmap::new(
        "Gap to the best method (normalised score)",
        snap.methods.clone(),
        tasks,
        gaps,
    );
    hm.row_title = "method".into();
    hm.col_title = "task".into();
    hm.value_label = "gap".into();
    hm.scale = ColorScale::Sequential { reversed: true };
    hm.range = Some((0.0, 1.0));
    hm.decimals = Some(2);
    doc.figure(
        "gap-to-best",
        "Best method's mean normalised score minus this method's, per task (0 = best).",
        heatmap(&hm),
    );
    let mut table = Table::new(["method", "mean rank"]);
    let best = ranks
        .mean
        .iter()
        .copied()
        .filter(|r| r.is_finite())
        .fold(f64::INFINITY, f64::min);
    for (m, r) in snap.methods.iter().zip(&ranks.mean) {
        table = table.row(vec![
            Cell::text(m),
            Cell::number(*r, 2).emphasized_if(*r == best),
        ]);
    }
    doc.table(
        "mean-rank",
        "Mean rank over tasks (lower is better).",
        table,
    );
}

fn aggregates(doc: &mut Document, snap: &Snapshot, norm: &ScoreTable, opts: &ReportOptions) {
    let cfg = |method| BootstrapConfig {
        reps: opts.bootstrap_reps,
        confidence: 0.95,
        seed: opts.seed,
        method,
    };
    let aggs = [
        (Aggregate::Iqm, "IQM"),
        (Aggregate::Mean, "Mean"),
        (Aggregate::Median, "Median"),
        (Aggregate::OptimalityGap { gamma: 1.0 }, "Optimality gap"),
    ];
    let mut chart = IntervalChart::new(
        "Aggregate normalised score (95% stratified-bootstrap CI)",
        snap.methods.clone(),
    );
    chart.styles = (0..snap.methods.len()).collect();
    let mut percentile: Vec<Vec<lrctl_eval::Interval>> = Vec::new();
    for (agg, name) in aggs {
        let Ok(ci) = lrctl_eval::aggregate_ci(norm, agg, &cfg(CiMethod::Percentile)) else {
            continue;
        };
        let label = if matches!(agg, Aggregate::OptimalityGap { .. }) {
            "gap (lower is better)"
        } else {
            "normalised score"
        };
        chart = chart.panel(IntervalPanel::new(
            name,
            label,
            ci.iter()
                .map(|i| Interval::new(i.point, i.lo, i.hi))
                .collect(),
        ));
        percentile.push(ci);
    }
    doc.subsection("Aggregate scores").figure(
        "aggregates",
        format!(
            "IQM, mean, median and optimality gap of normalised scores, with 95% percentile \
             intervals from {} stratified bootstrap resamples (seed {}).",
            opts.bootstrap_reps, opts.seed
        ),
        interval_chart(&chart),
    );
    let bca = lrctl_eval::aggregate_ci(norm, Aggregate::Iqm, &cfg(CiMethod::Bca)).ok();
    let mut table = Table::new([
        "method",
        "IQM",
        "95% CI (percentile)",
        "95% CI (BCa)",
        "mean",
        "median",
    ]);
    let iqm: Vec<f64> = percentile
        .first()
        .map(|v| v.iter().map(|i| i.point).collect())
        .unwrap_or_default();
    let best = iqm
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let ci_text = |i: Option<&lrctl_eval::Interval>| match i {
        Some(i) if i.lo.is_finite() && i.hi.is_finite() => {
            Cell::numeric(format!("[{:.3}, {:.3}]", i.lo, i.hi))
        }
        _ => Cell::text("—"),
    };
    for (m, name) in snap.methods.iter().enumerate() {
        let get = |k: usize| percentile.get(k).and_then(|v| v.get(m));
        table = table.row(vec![
            Cell::text(name),
            Cell::number(get(0).map_or(f64::NAN, |i| i.point), 3)
                .emphasized_if(get(0).is_some_and(|i| i.point == best)),
            ci_text(get(0)),
            ci_text(bca.as_ref().and_then(|v| v.get(m))),
            Cell::number(get(1).map_or(f64::NAN, |i| i.point), 3),
            Cell::number(get(2).map_or(f64::NAN, |i| i.point), 3),
        ]);
    }
    doc.table(
        "aggregates",
        "Interquartile mean (IQM) of normalised scores with percentile and bias-corrected and \
         accelerated (BCa) bootstrap intervals.",
        table,
    );
}

fn profiles(doc: &mut Document, snap: &Snapshot, norm: &ScoreTable) {
    let taus: Vec<f64> = (0..=50).map(|i| f64::from(i) / 50.0).collect();
    let rho = lrctl_eval::performance_profile(norm, &taus, ProfileKind::Runs);
    let mut chart = ProfileChart::new(
        "Performance profile (run-score distribution)",
        "normalised score τ",
        "fraction of runs with score > τ",
    );
    for (i, (m, r)) in snap.methods.iter().zip(rho).enumerate() {
        chart
            .series
            .push(LineSeries::new(m, taus.clone(), r).with_style(i));
    }
    doc.subsection("Performance profiles").figure(
        "performance-profile",
        "Fraction of all runs (pooled over tasks) whose normalised score exceeds τ; a curve \
         above another dominates it.",
        profile_chart(&chart),
    );
}

fn improvement(doc: &mut Document, snap: &Snapshot, norm: &ScoreTable) {
    let p = lrctl_eval::probability_of_improvement_matrix(norm);
    let mut hm = Heatmap::new(
        "P(row method beats column method)",
        snap.methods.clone(),
        snap.methods.clone(),
        p,
    );
    hm.row_title = "X".into();
    hm.col_title = "Y".into();
    hm.value_label = "P(X > Y)".into();
    hm.scale = ColorScale::Diverging { center: 0.5 };
    hm.range = Some((0.0, 1.0));
    hm.decimals = Some(2);
    doc.subsection("Probability of improvement").figure(
        "probability-of-improvement",
        "Probability that a run of X scores higher than a run of Y on the same task \
         (Mann–Whitney U / (n·m), ties count ½), averaged over tasks.",
        heatmap(&hm),
    );
}

/// Mean of the finite values (NaN when none).
fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

fn cost_quality(doc: &mut Document, snap: &Snapshot, norm: &ScoreTable) {
    let mut chart = Scatter::new(
        "Cost against quality",
        "mean cost per cell (seconds, log scale; tuning included)",
        "mean normalised score",
    );
    for (i, m) in snap.methods.iter().enumerate() {
        let cost = mean(
            snap.cells
                .iter()
                .filter(|c| &c.method == m)
                .filter_map(|c| c.result.as_ref().map(|r| r.cost_seconds)),
        );
        let quality = mean(norm.scores[i].iter().flatten().copied());
        let mut p = ScatterPoint::new(m, cost, quality);
        p.style = Some(i);
        chart.points.push(p);
    }
    doc.subsection("Cost against quality").figure(
        "cost-quality",
        "Each method's mean charged cost per cell against its mean normalised score: up and to \
         the left is better.",
        scatter(&chart),
    );
}

fn time_to_target(doc: &mut Document, snap: &Snapshot) {
    // Target per task: the median over finished seeds of the best validation metric reached.
    let mut costs: Vec<Vec<Vec<f64>>> = vec![Vec::new(); snap.methods.len()];
    let mut targets: Vec<String> = Vec::new();
    for t in &snap.tasks {
        let mut best_reached: Vec<f64> = Vec::new();
        for c in snap.cells.iter().filter(|c| c.task == t.name) {
            if c.result
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::Finished)
                && let Some(curve) = snap.curves.get(&c.id)
            {
                let vals = curve
                    .iter()
                    .filter_map(|p| p.eval_metric)
                    .filter(|v| v.is_finite());
                let best = if t.maximize {
                    vals.fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.fold(f64::INFINITY, f64::min)
                };
                if best.is_finite() {
                    best_reached.push(best);
                }
            }
        }
        best_reached.sort_by(f64::total_cmp);
        let target = if best_reached.is_empty() {
            f64::NAN
        } else {
            best_reached[best_reached.len() / 2]
        };
        targets.push(format!(
            "{}: {} {}",
            t.name,
            t.metric,
            lrctl_doc::format_number(target)
        ));
        for (m, method) in snap.methods.iter().enumerate() {
            let runs: Vec<f64> = snap
                .cells_of(&t.name, method)
                .filter_map(|c| {
                    let r = c.result.as_ref()?;
                    if r.outcome != Outcome::Finished || !target.is_finite() {
                        return Some(f64::INFINITY);
                    }
                    let curve: Vec<(f64, f64)> = snap
                        .curves
                        .get(&c.id)?
                        .iter()
                        .filter_map(|p| p.eval_metric.map(|v| (p.wall_seconds, v)))
                        .collect();
                    // Tuning and other charged cost beyond the run itself is added on top.
                    let extra = (r.cost_seconds - r.seconds).max(0.0);
                    Some(lrctl_eval::cost_to_target(&curve, target, t.maximize) + extra)
                })
                .collect();
            costs[m].push(runs);
        }
    }
    let table = CostTable::new(
        snap.tasks.iter().map(|t| t.name.clone()).collect(),
        snap.methods.clone(),
        costs,
        Vec::new(),
    );
    let profile = table.and_then(|t| lrctl_eval::cost_profile(&t, &CostProfileConfig::default()));
    let Ok(profile) = profile else {
        doc.subsection("Time to target")
            .note("Not enough finished runs with evaluations for time-to-target profiles.");
        return;
    };
    let mut chart = ProfileChart::new(
        "Time-to-target profile",
        "τ: cost ÷ fastest method's cost on the task (log scale)",
        "fraction of runs within τ",
    );
    chart.log_x = true;
    for (i, (m, rho)) in snap.methods.iter().zip(&profile.rho).enumerate() {
        chart
            .series
            .push(LineSeries::new(m, profile.taus.clone(), rho.clone()).with_style(i));
    }
    doc.subsection("Time to target")
        .paragraph(format!(
            "Target per task (median over finished seeds of the best validation metric \
             reached): {}. A run's cost is the wall time at its first evaluation reaching the \
             target, plus any tuning cost charged to it; runs that never reach it (or \
             diverge) count as infinitely slow.",
            targets.join("; ")
        ))
        .figure(
            "time-to-target",
            "AlgoPerf-style performance profile over cost: the fraction of runs reaching the \
             target within τ times the fastest method's time on the same task.",
            profile_chart(&chart),
        );
    let mut table = Table::new(["method", "integrated score"]);
    let best = profile
        .score
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    for (m, s) in snap.methods.iter().zip(&profile.score) {
        table = table.row(vec![
            Cell::text(m),
            Cell::number(*s, 3).emphasized_if(*s == best),
        ]);
    }
    doc.table(
        "time-to-target",
        "Integrated profile score: area under the profile over log τ ∈ [1, 4], normalised to \
         [0, 1] (1 = fastest on every run).",
        table,
    );
}

fn portfolio(doc: &mut Document, snap: &Snapshot, norm: &ScoreTable) {
    let p = lrctl_eval::portfolio(norm);
    let name = |i: Option<usize>| i.map_or("—".to_string(), |i| snap.methods[i].clone());
    doc.subsection("Portfolio: single best and oracle")
        .paragraph(format!(
            "Single best method (highest mean normalised score over tasks): {} ({:.3}). Virtual \
         best (an oracle picking the best method per task): {:.3}. Gap: {:.3} — what per-task \
         selection could gain at most.",
            name(p.single_best),
            p.single_best_score,
            p.virtual_best_score,
            p.sbs_vbs_gap
        ));
    let mut table = Table::new(["method", "mean normalised score", "marginal contribution"]);
    for (i, m) in snap.methods.iter().enumerate() {
        table = table.row(vec![
            Cell::text(m).emphasized_if(Some(i) == p.single_best),
            Cell::number(p.method_scores.get(i).copied().unwrap_or(f64::NAN), 3),
            Cell::number(
                p.marginal_contribution.get(i).copied().unwrap_or(f64::NAN),
                3,
            ),
        ]);
    }
    doc.table(
        "portfolio",
        "Marginal contribution: how much the virtual best drops when the method is removed from \
         the portfolio (0 = never uniquely best).",
        table,
    );
    let mut table = Table::new(["task", "oracle's choice"]);
    for (t, c) in snap.tasks.iter().zip(&p.oracle_choice) {
        table = table.row(vec![Cell::text(&t.name), Cell::text(name(*c))]);
    }
    doc.table("oracle", "The virtual best's method per task.", table);
}

fn divergence_table(doc: &mut Document, snap: &Snapshot) {
    let mut headers = vec!["method".to_string()];
    headers.extend(snap.tasks.iter().map(|t| t.name.clone()));
    headers.push("total".into());
    let mut table = Table::new(headers);
    for m in &snap.methods {
        let mut row = vec![Cell::text(m)];
        let mut total = (0, 0);
        for t in &snap.tasks {
            let cells: Vec<_> = snap.cells_of(&t.name, m).collect();
            let div = cells
                .iter()
                .filter(|c| {
                    c.result
                        .as_ref()
                        .is_some_and(|r| r.outcome != Outcome::Finished)
                })
                .count();
            let done = cells.iter().filter(|c| c.result.is_some()).count();
            total.0 += div;
            total.1 += done;
            row.push(Cell::numeric(format!("{div} / {done}")).emphasized_if(div > 0));
        }
        row.push(Cell::numeric(format!("{} / {}", total.0, total.1)).emphasized_if(total.0 > 0));
        table = table.row(row);
    }
    doc.subsection("Divergences").table(
        "divergences",
        "Diverged or failed seeds out of those with a result, per method and task.",
        table,
    );
}
