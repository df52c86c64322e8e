//! The across-tasks section of a study report: the statistics of [`AcrossTasks`] drawn and
//! tabled.

use lrctl_doc::{
    Cell, ColorScale, Document, Heatmap, Interval, IntervalChart, IntervalPanel, LineSeries,
    ProfileChart, Scatter, ScatterPoint, Table, heatmap, interval_chart, profile_chart, scatter,
};

use crate::across::{AcrossTasks, MIN_SELECTION_TASKS, Selection};
use crate::analysis::StudyAnalysis;

/// Adds the across-tasks section.
pub fn across_tasks(doc: &mut Document, a: &StudyAnalysis) {
    doc.section("Across tasks");
    let Some(across) = &a.across else {
        doc.note("No finished cells yet: nothing to compare.");
        divergence_table(doc, a);
        return;
    };
    doc.paragraph(
        "Scores are min–max normalised per task over all runs of all methods (1 = the task's \
         best run, 0 = its worst; a diverged or failed seed scores 0), so tasks with different \
         metrics can be aggregated. Confidence intervals come from a stratified bootstrap \
         (runs resampled within each task), as in Agarwal et al. (2021).",
    );
    if a.tasks.len() < 3 {
        doc.warning(format!(
            "Only {} task(s): across-task aggregates rest on very few tasks.",
            a.tasks.len()
        ));
    }
    ranks_and_gaps(doc, a, across);
    aggregates(doc, a, across);
    profiles(doc, a, across);
    improvement(doc, a, across);
    cost_quality(doc, across);
    time_to_target(doc, a, across);
    portfolio(doc, a, across);
    selection(doc, &across.selection);
    divergence_table(doc, a);
}

fn task_names(a: &StudyAnalysis) -> Vec<String> {
    a.tasks.iter().map(|t| t.name.clone()).collect()
}

/// A `[method][task]` heat map with the report's layout for per-task quantities.
fn method_task_heatmap(
    a: &StudyAnalysis,
    title: &str,
    label: &str,
    values: &[Vec<f64>],
) -> Heatmap {
    let mut hm = Heatmap::new(title, a.methods.clone(), task_names(a), values.to_vec());
    hm.row_title = "method".into();
    hm.col_title = "task".into();
    hm.value_label = label.into();
    hm.scale = ColorScale::Sequential { reversed: true };
    hm
}

fn ranks_and_gaps(doc: &mut Document, a: &StudyAnalysis, across: &AcrossTasks) {
    let mut hm = method_task_heatmap(
        a,
        "Rank per task (1 = best mean test metric)",
        "rank",
        &across.ranks.per_task,
    );
    hm.decimals = Some(1);
    doc.subsection("Ranks and gap to best").figure(
        "ranks",
        "Rank of each method's mean test metric per task (ties share the average rank; diverged \
         seeds count as the task's worst score).",
        heatmap(&hm),
    );
    let mut hm = method_task_heatmap(
        a,
        "Gap to the best method (normalised score)",
        "gap",
        &across.gap_to_best,
    );
    hm.range = Some((0.0, 1.0));
    hm.decimals = Some(2);
    doc.figure(
        "gap-to-best",
        "Best method's mean normalised score minus this method's, per task (0 = best).",
        heatmap(&hm),
    );
    let mut table = Table::new(["method", "mean rank"]);
    let best = finite_min(&across.ranks.mean);
    for (m, r) in a.methods.iter().zip(&across.ranks.mean) {
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

/// The smallest finite value (+∞ when none): the one to emphasise.
fn finite_min(v: &[f64]) -> f64 {
    v.iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::INFINITY, f64::min)
}

/// The largest finite value (−∞ when none): the one to emphasise.
fn finite_max(v: &[f64]) -> f64 {
    v.iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, f64::max)
}

fn aggregates(doc: &mut Document, a: &StudyAnalysis, across: &AcrossTasks) {
    let aggs = &across.aggregates;
    let panels = [
        (&aggs.iqm, "IQM", "normalised score"),
        (&aggs.mean, "Mean", "normalised score"),
        (&aggs.median, "Median", "normalised score"),
        (
            &aggs.optimality_gap,
            "Optimality gap",
            "gap (lower is better)",
        ),
    ];
    let mut chart = IntervalChart::new(
        "Aggregate normalised score (95% stratified-bootstrap CI)",
        a.methods.clone(),
    );
    chart.styles = (0..a.methods.len()).collect();
    for (ci, name, label) in panels {
        let Some(ci) = ci else { continue };
        chart = chart.panel(IntervalPanel::new(
            name,
            label,
            ci.iter()
                .map(|i| Interval::new(i.point, i.lo, i.hi))
                .collect(),
        ));
    }
    doc.subsection("Aggregate scores").figure(
        "aggregates",
        format!(
            "IQM, mean, median and optimality gap of normalised scores, with 95% percentile \
             intervals from {} stratified bootstrap resamples (seed {}).",
            a.options.bootstrap_reps, a.options.seed
        ),
        interval_chart(&chart),
    );
    let mut table = Table::new([
        "method",
        "IQM",
        "95% CI (percentile)",
        "95% CI (BCa)",
        "mean",
        "median",
    ]);
    let iqm: Vec<f64> = aggs
        .iqm
        .as_ref()
        .map(|v| v.iter().map(|i| i.point).collect())
        .unwrap_or_default();
    let best = finite_max(&iqm);
    let ci_text = |i: Option<&lrctl_eval::Interval>| match i {
        Some(i) if i.lo.is_finite() && i.hi.is_finite() => {
            Cell::numeric(format!("[{:.3}, {:.3}]", i.lo, i.hi))
        }
        _ => Cell::text("—"),
    };
    for (m, name) in a.methods.iter().enumerate() {
        let point = |v| method_interval(v, m).map_or(f64::NAN, |i| i.point);
        table = table.row(vec![
            Cell::text(name),
            Cell::number(point(&aggs.iqm), 3)
                .emphasized_if(method_interval(&aggs.iqm, m).is_some_and(|i| i.point == best)),
            ci_text(method_interval(&aggs.iqm, m)),
            ci_text(method_interval(&aggs.iqm_bca, m)),
            Cell::number(point(&aggs.mean), 3),
            Cell::number(point(&aggs.median), 3),
        ]);
    }
    doc.table(
        "aggregates",
        "Interquartile mean (IQM) of normalised scores with percentile and bias-corrected and \
         accelerated (BCa) bootstrap intervals.",
        table,
    );
}

/// Method `m`'s interval of an aggregate, if it was computed.
fn method_interval(
    ci: &Option<Vec<lrctl_eval::Interval>>,
    m: usize,
) -> Option<&lrctl_eval::Interval> {
    ci.as_ref().and_then(|v| v.get(m))
}

fn profiles(doc: &mut Document, a: &StudyAnalysis, across: &AcrossTasks) {
    let mut chart = ProfileChart::new(
        "Performance profile (run-score distribution)",
        "normalised score τ",
        "fraction of runs with score > τ",
    );
    for (i, (m, r)) in a.methods.iter().zip(&across.profile.fractions).enumerate() {
        chart
            .series
            .push(LineSeries::new(m, across.profile.taus.clone(), r.clone()).with_style(i));
    }
    doc.subsection("Performance profiles").figure(
        "performance-profile",
        "Fraction of all runs (pooled over tasks) whose normalised score exceeds τ; a curve \
         above another dominates it.",
        profile_chart(&chart),
    );
}

fn improvement(doc: &mut Document, a: &StudyAnalysis, across: &AcrossTasks) {
    let mut hm = Heatmap::new(
        "P(row method beats column method)",
        a.methods.clone(),
        a.methods.clone(),
        across.improvement.clone(),
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
    // The same numbers as a table, for readers and scripts that need the values.
    let mut header = vec!["X \\ Y".to_string()];
    header.extend(a.methods.iter().cloned());
    let mut table = Table::new(header);
    for (m, row) in a.methods.iter().zip(&across.improvement) {
        let mut cells = vec![Cell::text(m)];
        cells.extend(row.iter().map(|&p| Cell::number(p, 2)));
        table = table.row(cells);
    }
    doc.table(
        "probability-of-improvement",
        "P(a run of X scores higher than a run of Y on the same task), averaged over tasks.",
        table,
    );
}

fn cost_quality(doc: &mut Document, across: &AcrossTasks) {
    let mut chart = Scatter::new(
        "Cost against quality",
        "mean cost per cell (seconds, log scale; tuning included)",
        "mean normalised score",
    );
    for (i, c) in across.cost_quality.iter().enumerate() {
        let mut p = ScatterPoint::new(&c.method, c.cost, c.quality);
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

fn time_to_target(doc: &mut Document, a: &StudyAnalysis, across: &AcrossTasks) {
    let Some(profile) = &across.time_to_target.profile else {
        doc.subsection("Time to target")
            .note("Not enough finished runs with evaluations for time-to-target profiles.");
        return;
    };
    let targets: Vec<String> = a
        .tasks
        .iter()
        .zip(&across.time_to_target.targets)
        .map(|(t, target)| {
            format!(
                "{}: {} {}",
                t.name,
                t.metric,
                lrctl_doc::format_number(*target)
            )
        })
        .collect();
    let mut chart = ProfileChart::new(
        "Time-to-target profile",
        "τ: cost ÷ fastest method's cost on the task (log scale)",
        "fraction of runs within τ",
    );
    chart.log_x = true;
    for (i, (m, rho)) in a.methods.iter().zip(&profile.rho).enumerate() {
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
    let best = finite_max(&profile.score);
    for (m, s) in a.methods.iter().zip(&profile.score) {
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

fn portfolio(doc: &mut Document, a: &StudyAnalysis, across: &AcrossTasks) {
    let p = &across.portfolio;
    let name = |i: Option<usize>| i.map_or("—".to_string(), |i| a.methods[i].clone());
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
    for (i, m) in a.methods.iter().enumerate() {
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
    for (t, c) in a.tasks.iter().zip(&p.oracle_choice) {
        table = table.row(vec![Cell::text(&t.name), Cell::text(name(*c))]);
    }
    doc.table("oracle", "The virtual best's method per task.", table);
}

fn percent(share: Option<f64>) -> Cell {
    share.map_or(Cell::text("—"), |g| {
        Cell::numeric(format!("{:.1}%", 100.0 * g))
    })
}

fn selection(doc: &mut Document, selection: &Selection) {
    doc.subsection("Algorithm selection");
    let (loto, realised) = match selection {
        Selection::TooFewTasks => {
            doc.note(format!(
                "Selection is evaluated by leave-one-task-out and needs at least \
                 {MIN_SELECTION_TASKS} tasks."
            ));
            return;
        }
        Selection::NoFeatures => return,
        Selection::Evaluated { loto, realised } => (loto, realised),
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
    for r in loto {
        table = table.row(vec![
            Cell::text(&r.selector),
            Cell::number(r.mean_score, 3),
            Cell::number(r.mean_oracle_score, 3),
            Cell::number(r.mean_sbs_score, 3),
            Cell::number(r.mean_regret, 3),
            percent(r.gap_closed),
            Cell::numeric(format!("{:.0}%", 100.0 * r.optimal_fraction)),
        ]);
    }
    let intervals = loto
        .iter()
        .map(|r| Interval::new(r.mean_score, r.mean_score, r.mean_score))
        .collect();
    let mut panel = IntervalPanel::new("Held-out score", "mean normalised score", intervals);
    // The oracle does not depend on the selector.
    panel.reference = loto
        .last()
        .map(|r| r.mean_oracle_score)
        .filter(|o| o.is_finite());
    let chart = IntervalChart::new(
        "Leave-one-task-out selection (line: oracle)",
        loto.iter().map(|r| r.selector.clone()).collect(),
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
    // A tie at 0 % is no verdict on the selectors: say why there was nothing to gain.
    let gaps: Vec<f64> = loto.iter().filter_map(|r| r.gap_closed).collect();
    let no_gap = loto
        .iter()
        .all(|r| (r.mean_oracle_score - r.mean_sbs_score).abs() < 1e-9);
    if no_gap {
        doc.note(format!(
            "Every selector ties: on each held-out task the single best method (fitted on the \
             other tasks) is already the oracle's choice, so there is no single-best → oracle \
             gap to close. With {} tasks the study cannot tell selectors apart; a study whose \
             tasks prefer different methods can (`lrctl run --suite libsvm --suite vision \
             --suite lm`).",
            loto.first().map_or(0, |r| r.tasks.len())
        ));
    } else if !gaps.is_empty() && gaps.iter().all(|g| g.abs() < 1e-9) {
        doc.note(
            "Every selector closes 0 % of the gap: each chose the single best method on every \
             held-out task. Too few tasks (or too similar ones) to learn from.",
        );
    }
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
    for r in realised {
        rows = rows.row(vec![
            Cell::text(&r.method),
            Cell::numeric(r.tasks.to_string()),
            Cell::number(r.score, 3),
            Cell::text(format!("{} ({:.3})", r.sbs.0, r.sbs.1)),
            Cell::number(r.oracle, 3),
            percent(r.gap_closed),
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

fn divergence_table(doc: &mut Document, a: &StudyAnalysis) {
    let mut headers = vec!["method".to_string()];
    headers.extend(task_names(a));
    headers.push("total".into());
    let mut table = Table::new(headers);
    let count = |c: &crate::DivergenceCount| {
        Cell::numeric(format!("{} / {}", c.diverged, c.done)).emphasized_if(c.diverged > 0)
    };
    for d in &a.divergences {
        let mut row = vec![Cell::text(&d.method)];
        row.extend(d.per_task.iter().map(count));
        row.push(count(&d.total));
        table = table.row(row);
    }
    doc.subsection("Divergences").table(
        "divergences",
        "Diverged or failed seeds out of those with a result, per method and task.",
        table,
    );
}
