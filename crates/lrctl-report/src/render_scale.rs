//! The Scale section of the report: formatting only, every number is in
//! [`crate::scale::ScaleAnalysis`]. `lrctl show --scale` prints the same tables
//! ([`scale_tables`]).

use lrctl_doc::{Cell, Document, LineChart, LineSeries, Table, line_chart};
use lrctl_eval::Interval;

use crate::across::CONFIDENCE;
use crate::scale::{
    FamilyAxis, LadderAnalysis, MethodRole, MethodScale, Rung, ScaleAnalysis, Transfer, sentence,
    transfer_sentence,
};

fn interval_cell(i: Option<Interval>) -> Cell {
    match i {
        Some(i) if i.point.is_finite() => {
            Cell::numeric(format!("{:+.3} [{:+.3}, {:+.3}]", i.point, i.lo, i.hi))
        }
        _ => Cell::text("—"),
    }
}

fn score_cell(i: Option<Interval>) -> Cell {
    match i {
        Some(i) if i.point.is_finite() => {
            Cell::numeric(format!("{:.3} [{:.3}, {:.3}]", i.point, i.lo, i.hi))
        }
        _ => Cell::text("—"),
    }
}

fn seconds_cell(s: Option<f64>) -> Cell {
    s.map_or(Cell::text("—"), |s| Cell::number(s, 1))
}

fn count_cell(v: Option<f64>) -> Cell {
    v.map_or(Cell::text("—"), |v| Cell::numeric(format!("{v:.3e}")))
}

fn role_name(r: MethodRole) -> &'static str {
    match r {
        MethodRole::Tuned => "tuned",
        MethodRole::Untuned => "untuned",
        MethodRole::Other => "selection",
    }
}

fn slug(l: &LadderAnalysis) -> String {
    format!("scale-{}-{}", l.base.replace('/', "-"), l.axis.as_str())
}

/// The tables of the Scale section, named as in the report (`lrctl show --scale` prints them):
/// per ladder the rungs (size, advantage, tuning bill) and the methods' scores, then the
/// families on the complexity axis. Empty when the study has no ladder.
pub fn scale_tables(a: &ScaleAnalysis) -> Vec<(String, String, Table)> {
    let ScaleAnalysis::Ladders {
        ladders, families, ..
    } = a
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for l in ladders {
        out.push((
            format!("{}-rungs", slug(l)),
            format!(
                "{} along {}: size, HPO advantage (best tuned − best untuned mean normalised \
                 score, {:.0} % bootstrap interval) and the tuning bill per rung. {} {}",
                l.base,
                l.axis.as_str(),
                CONFIDENCE * 100.0,
                sentence(&l.trend_params, "e-fold of parameters"),
                sentence(&l.trend_flops, "e-fold of FLOPs per step"),
            ),
            rung_table(l),
        ));
        out.push((
            format!("{}-scores", slug(l)),
            format!(
                "{} along {}: each method's mean normalised score per rung with its {:.0} % \
                 bootstrap interval over seeds.",
                l.base,
                l.axis.as_str(),
                CONFIDENCE * 100.0
            ),
            score_table(l),
        ));
        for t in &l.transfers {
            out.push((
                format!("{}-transfer-{}", slug(l), t.transferred),
                format!(
                    "{}: `{}` tuned at each rung against `{}`, tuned at ×{} and transferred; \
                     transfer regret = tuned at the rung − transferred (mean normalised score, \
                     {:.0} % bootstrap interval; positive: the transfer lost). {}",
                    l.base,
                    t.direct,
                    t.transferred,
                    t.from_width,
                    CONFIDENCE * 100.0,
                    transfer_sentence(t)
                ),
                transfer_table(t),
            ));
        }
    }
    out.push((
        "scale-families".into(),
        format!(
            "HPO advantage on each family's tasks at scale one, along the complexity axis \
             (logistic regression → MLP → CNN → LM). {}",
            sentence(&families.trend, "step of the complexity axis")
        ),
        family_table(families),
    ));
    out
}

fn rung_table(l: &LadderAnalysis) -> Table {
    let mut t = Table::new([
        "rung",
        "task",
        "parameters",
        "FLOPs / step",
        "HPO advantage",
        "tuning (s / cell)",
        "run (s / cell)",
    ]);
    for r in &l.rungs {
        t.push_row(vec![
            Cell::numeric(format!("×{}", r.multiplier)),
            Cell::text(&r.task),
            r.n_params
                .map_or(Cell::text("—"), |n| Cell::number(n as f64, 0)),
            count_cell(r.flops_per_step),
            interval_cell(r.advantage),
            seconds_cell(bill(r)),
            seconds_cell(mean_of(&r.run_seconds)),
        ]);
    }
    t
}

/// The tuning bill of a rung: mean over its tuned methods of their tuning seconds per cell.
fn bill(r: &Rung) -> Option<f64> {
    mean_of(&r.tuning_seconds)
}

fn mean_of(v: &[Option<f64>]) -> Option<f64> {
    let xs: Vec<f64> = v.iter().flatten().copied().collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn score_table(l: &LadderAnalysis) -> Table {
    let mut headers = vec!["method".to_string(), "role".to_string()];
    headers.extend(l.rungs.iter().map(|r| format!("×{}", r.multiplier)));
    let mut t = Table::new(headers);
    for m in &l.methods {
        let mut row = vec![Cell::text(&m.method), Cell::text(role_name(m.role))];
        row.extend(m.score.iter().map(|s| score_cell(*s)));
        t.push_row(row);
    }
    t
}

fn transfer_table(t: &Transfer) -> Table {
    let mut table = Table::new([
        "rung".to_string(),
        format!("{} (tuned here)", t.direct),
        format!("{} (from ×{})", t.transferred, t.from_width),
        "transfer regret".to_string(),
        "tuning here (s / cell)".to_string(),
        format!("tuning at ×{} (s / cell)", t.from_width),
    ]);
    for r in &t.rungs {
        table.push_row(vec![
            Cell::numeric(format!("×{}", r.multiplier)),
            score_cell(r.direct),
            score_cell(r.transferred),
            interval_cell(r.regret),
            seconds_cell(r.direct_tuning_seconds),
            seconds_cell(r.transferred_tuning_seconds),
        ]);
    }
    table
}

fn family_table(f: &FamilyAxis) -> Table {
    let mut t = Table::new(["family", "complexity", "tasks", "HPO advantage"]);
    for p in &f.points {
        t.push_row(vec![
            Cell::text(&p.family),
            Cell::number(f64::from(p.complexity), 0),
            Cell::text(p.tasks.join(", ")),
            interval_cell(p.advantage),
        ]);
    }
    t
}

/// Points of a method's score where both the rung's size and its score are known.
fn method_series(m: &MethodScale, x: &[Option<f64>]) -> Option<LineSeries> {
    let pts: Vec<(f64, Interval)> = x
        .iter()
        .zip(&m.score)
        .filter_map(|(x, s)| Some(((*x)?, (*s)?)))
        .filter(|(_, s)| s.point.is_finite())
        .collect();
    (!pts.is_empty()).then(|| {
        LineSeries::new(
            &m.method,
            pts.iter().map(|p| p.0).collect(),
            pts.iter().map(|p| p.1.point).collect(),
        )
        .with_band(
            pts.iter().map(|p| p.1.lo).collect(),
            pts.iter().map(|p| p.1.hi).collect(),
        )
        .with_style(m.method_index)
    })
}

fn score_chart(l: &LadderAnalysis, x: &[Option<f64>], x_label: &str) -> String {
    let mut chart = LineChart::new(
        format!("Normalised score against {x_label} — {}", l.base),
        x_label,
        "normalised score",
    )
    .log_x(true);
    for m in &l.methods {
        if let Some(s) = method_series(m, x) {
            chart = chart.series(s);
        }
    }
    line_chart(&chart)
}

fn advantage_chart(l: &LadderAnalysis, x: &[Option<f64>]) -> String {
    let pts: Vec<(f64, Interval)> = x
        .iter()
        .zip(&l.rungs)
        .filter_map(|(x, r)| Some(((*x)?, r.advantage?)))
        .collect();
    let series = LineSeries::new(
        "HPO advantage",
        pts.iter().map(|p| p.0).collect(),
        pts.iter().map(|p| p.1.point).collect(),
    )
    .with_band(
        pts.iter().map(|p| p.1.lo).collect(),
        pts.iter().map(|p| p.1.hi).collect(),
    );
    line_chart(
        &LineChart::new(
            format!("HPO advantage against parameters — {}", l.base),
            "parameters",
            "best tuned − best untuned",
        )
        .log_x(true)
        .series(series),
    )
}

/// Appends the Scale section to `doc`.
pub fn scale_section(doc: &mut Document, a: &ScaleAnalysis) {
    doc.section("Scale");
    let ScaleAnalysis::Ladders {
        ladders, families, ..
    } = a
    else {
        if let ScaleAnalysis::NoLadder { reason } = a {
            doc.note(format!("This study has no ladder: {reason}."));
        }
        return;
    };
    doc.paragraph(
        "Does tuning lose its edge as models grow? Each ladder is one task at growing width or \
         depth. Scores are min–max normalised per task over every run of the study (1 = the \
         rung's best run, 0 = its worst; diverged runs score 0); the HPO advantage is the best \
         tuned method's mean score minus the best untuned method's, and its trend is the \
         least-squares slope against the natural log of the rung's size, with a stratified \
         bootstrap interval over seeds (the rungs themselves are fixed).",
    );
    let tables = scale_tables(a);
    let mut tables = tables.into_iter();
    for l in ladders {
        doc.subsection(format!("{} along {}", l.base, l.axis.as_str()));
        doc.paragraph(format!(
            "{} {}",
            sentence(&l.trend_params, "e-fold of parameters"),
            sentence(&l.trend_flops, "e-fold of FLOPs per step")
        ));
        let params: Vec<Option<f64>> = l
            .rungs
            .iter()
            .map(|r| r.n_params.map(|n| n as f64))
            .collect();
        let flops: Vec<Option<f64>> = l.rungs.iter().map(|r| r.flops_per_step).collect();
        let s = slug(l);
        doc.figure(
            &format!("{s}-params"),
            format!(
                "{}: each method's mean normalised score against parameters, {:.0} % \
                 bootstrap band over seeds.",
                l.base,
                CONFIDENCE * 100.0
            ),
            score_chart(l, &params, "parameters"),
        );
        doc.figure(
            &format!("{s}-flops"),
            format!(
                "{}: each method's mean normalised score against FLOPs per training step \
                 (6 × forward MACs × batch).",
                l.base
            ),
            score_chart(l, &flops, "FLOPs per step"),
        );
        doc.figure(
            &format!("{s}-advantage"),
            format!(
                "{}: the HPO advantage per rung with its {:.0} % bootstrap interval.",
                l.base,
                CONFIDENCE * 100.0
            ),
            advantage_chart(l, &params),
        );
        if !l.transfers.is_empty() {
            doc.paragraph(
                "Tune small, train large: a tuned method's width-fidelity copy tunes on the \
                 ladder's narrow rung and trains every wider rung with what it found there; \
                 the transfer regret is what that costs in score, the tuning columns what it \
                 saves.",
            );
        }
        for _ in 0..2 + l.transfers.len() {
            if let Some((name, caption, table)) = tables.next() {
                doc.table(&name, caption, table);
            }
        }
    }
    doc.subsection("Across families");
    doc.paragraph(sentence(&families.trend, "step of the complexity axis"));
    if let Some((name, caption, table)) = tables.next() {
        doc.table(&name, caption, table);
    }
}
