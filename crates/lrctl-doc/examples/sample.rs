//! Writes a demo report exercising every chart type and document element.
//!
//! ```text
//! cargo run -p lrctl-doc --example sample -- /tmp/lrctl-demo
//! ```
//!
//! The directory then holds `index.html`, `report.md`, `figures/*.svg` and
//! `tables/*.csv`. The numbers are synthetic.

use lrctl_doc::{
    Cell, ColorScale, Document, Heatmap, Interval, IntervalChart, IntervalPanel, LineChart,
    LineSeries, ProfileChart, Scatter, ScatterPoint, Table, heatmap, interval_chart, line_chart,
    profile_chart, scatter,
};

/// Deterministic pseudo-noise in [-1, 1].
fn noise(i: usize, k: usize) -> f64 {
    let x = ((i * 7919 + k * 104_729) % 1000) as f64 / 1000.0;
    (x * std::f64::consts::TAU * 3.0).sin()
}

const METHODS: [&str; 4] = ["constant", "cosine", "hypergradient", "pbt <ctrl> & \"rl\""];

/// The demo document (also used by the browser integration test).
pub fn demo_document() -> Document {
    let steps: Vec<f64> = (0..=200).map(|s| s as f64 * 50.0).collect();
    let mut curves = LineChart::new(
        "Validation loss on cifar10-resnet (mean ± SE, 5 seeds)",
        "training step",
        "validation loss (nats)",
    );
    for (k, m) in METHODS.iter().enumerate() {
        let rate = 1.0 + 0.4 * k as f64;
        let mean: Vec<f64> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if k == 2 && (120..130).contains(&i) {
                    f64::NAN // a gap: missing evaluations
                } else {
                    0.4 + 1.9 * (-s / 10_000.0 * rate).exp() + 0.02 * noise(i, k)
                }
            })
            .collect();
        let se: Vec<f64> = (0..steps.len())
            .map(|i| 0.04 + 0.02 * noise(i, k + 9).abs())
            .collect();
        let lower = mean.iter().zip(&se).map(|(m, s)| m - s).collect();
        let upper = mean.iter().zip(&se).map(|(m, s)| m + s).collect();
        curves = curves.series(LineSeries::new(*m, steps.clone(), mean).with_band(lower, upper));
    }

    let mut lr = LineChart::new(
        "Effective learning rate",
        "training step",
        "learning rate (log scale)",
    )
    .log_y(true);
    for (k, m) in METHODS.iter().enumerate() {
        let y: Vec<f64> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| match k {
                0 => 1e-3,
                1 => {
                    1e-5 + 0.5 * (1e-3 - 1e-5) * (1.0 + (std::f64::consts::PI * s / 10_000.0).cos())
                }
                2 => 1e-3 * (1.0 + 0.5 * noise(i, 3)) * (-s / 5000.0).exp() + 1e-6,
                _ => 10f64.powi(-2 - (i as i32 / 50)),
            })
            .collect();
        lr = lr.series(LineSeries::new(*m, steps.clone(), y));
    }

    let tasks: Vec<String> = [
        "cifar10-resnet",
        "wikitext-lstm",
        "mnist-mlp",
        "imdb-transformer",
        "wine-linear",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let methods: Vec<String> = METHODS.iter().map(|s| s.to_string()).collect();
    let ranks = vec![
        vec![3.2, 2.8, 3.9, 3.0, 2.5],
        vec![2.1, 1.9, 2.4, f64::NAN, 2.2],
        vec![1.4, 2.2, 1.1, 1.8, 1.9],
        vec![3.3, 3.1, 2.6, 2.7, 3.4],
    ];
    let mut rank_map = Heatmap::new(
        "Mean rank per task (1 = best)",
        methods.clone(),
        tasks.clone(),
        ranks.clone(),
    );
    rank_map.row_title = "method".into();
    rank_map.col_title = "task".into();
    rank_map.value_label = "mean rank over seeds (lower is better)".into();
    rank_map.scale = ColorScale::Sequential { reversed: true };
    rank_map.range = Some((1.0, 4.0));

    let poi = vec![
        vec![f64::NAN, 0.31, 0.12, 0.55],
        vec![0.69, f64::NAN, 0.27, 0.71],
        vec![0.88, 0.73, f64::NAN, 0.91],
        vec![0.45, 0.29, 0.09, f64::NAN],
    ];
    let mut poi_map = Heatmap::new(
        "Probability of improvement P(row > column)",
        methods.clone(),
        methods.clone(),
        poi,
    );
    poi_map.row_title = "X".into();
    poi_map.col_title = "Y".into();
    poi_map.value_label = "P(X > Y)".into();
    poi_map.scale = ColorScale::Diverging { center: 0.5 };
    poi_map.range = Some((0.0, 1.0));

    let panel = |title: &str, label: &str, base: f64, reference: Option<f64>| {
        let mut p = IntervalPanel::new(
            title,
            label,
            (0..METHODS.len())
                .map(|k| {
                    let e = base + 0.08 * k as f64 - 0.05 * noise(k, 1);
                    Interval::new(e, e - 0.05 - 0.01 * k as f64, e + 0.06)
                })
                .collect(),
        );
        p.reference = reference;
        p
    };
    let intervals =
        IntervalChart::new("Aggregate performance (95% bootstrap CIs)", methods.clone())
            .panel(panel("IQM", "normalised score", 0.6, None))
            .panel(panel("Mean", "normalised score", 0.55, None))
            .panel(panel("Median", "normalised score", 0.62, None))
            .panel(panel(
                "Optimality gap",
                "gap (lower is better)",
                0.2,
                Some(0.0),
            ));

    let taus: Vec<f64> = (0..=40).map(|i| 1.0 + i as f64 * 0.05).collect();
    let mut profile = ProfileChart::new(
        "Performance profile",
        "τ (loss within factor τ of best)",
        "fraction of tasks",
    );
    for (k, m) in METHODS.iter().enumerate() {
        let rho: Vec<f64> = taus
            .iter()
            .map(|t| (((t - 1.0) * (3.0 + k as f64) * 5.0).floor() / 10.0).min(1.0))
            .collect();
        profile.series.push(LineSeries::new(*m, taus.clone(), rho));
    }
    let costs: Vec<f64> = (0..=30).map(|i| 10f64.powf(2.0 + i as f64 * 0.1)).collect();
    let mut cost_profile = ProfileChart::new(
        "Cost profile",
        "budget (optimizer steps, log scale)",
        "fraction of tasks solved",
    );
    cost_profile.log_x = true;
    for (k, m) in METHODS.iter().enumerate() {
        let rho: Vec<f64> = (0..costs.len())
            .map(|i| ((i as f64 - 4.0 * k as f64) / 20.0).clamp(0.0, 1.0))
            .collect();
        cost_profile
            .series
            .push(LineSeries::new(*m, costs.clone(), rho));
    }

    let mut sc = Scatter::new(
        "Cost versus quality",
        "cost (GPU-seconds, log scale)",
        "test accuracy (%)",
    );
    for (k, m) in METHODS.iter().enumerate() {
        let mut p = ScatterPoint::new(
            *m,
            30.0 * 4f64.powi(k as i32),
            88.0 + 2.0 * k as f64 - (k as f64 - 2.0).powi(2),
        );
        p.y_interval = Some((p.y - 0.8, p.y + 0.8));
        sc.points.push(p);
    }

    let mut table = Table::new(["method", "final loss", "IQM", "runs"]);
    for (k, m) in METHODS.iter().enumerate() {
        table.push_row(vec![
            Cell::text(*m),
            Cell::number(0.41 + 0.03 * k as f64, 3).emphasized_if(k == 0),
            Cell::numeric(format!("{:.2} ± {:.2}", 0.6 + 0.08 * k as f64, 0.05)),
            Cell::number(if k == 3 { 17.0 } else { 20.0 }, 0),
        ]);
    }

    let mut doc = Document::new("lrctl study report: demo <synthetic>");
    doc.paragraph("Synthetic numbers, generated by the lrctl-doc example. Every chart type and document element appears once.")
        .warning("3 cells unfinished; 2 seeds missing for \"pbt\" on wine-linear.")
        .note("Confidence intervals are 95% stratified bootstrap intervals.")
        .code("lrctl report --study demo --out report/")
        .section("Learning curves")
        .figure("learning-curves", "Validation loss, mean ± standard error over seeds.", line_chart(&curves))
        .figure("effective-lr", "Effective learning rate actually applied (log scale).", line_chart(&lr))
        .section("Rankings")
        .subsection("Per-task ranks")
        .figure("rank-heatmap", "Mean rank of each method on each task; n/a marks missing cells.", heatmap(&rank_map))
        .subsection("Pairwise comparison")
        .figure("poi", "Probability that the row method beats the column method.", heatmap(&poi_map))
        .section("Aggregates")
        .figure("aggregates", "Point estimates with 95% CIs.", interval_chart(&intervals))
        .table("summary", "Summary per method (best in bold).", table)
        .list(["IQM: interquartile mean", "gap: distance to the best possible score"])
        .section("Profiles")
        .figure("performance-profile", "Performance profile over tasks.", profile_chart(&profile))
        .figure("cost-profile", "Cost profile: fraction solved within a budget.", profile_chart(&cost_profile))
        .figure("cost-quality", "Cost versus quality per method.", scatter(&sc));
    doc
}

#[allow(dead_code)] // unused when the browser test includes this file as a module
fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: sample <output-dir>");
        std::process::exit(2);
    };
    let doc = demo_document();
    if let Err(e) = doc.write_dir(&dir) {
        eprintln!("cannot write {dir}: {e}");
        std::process::exit(1);
    }
    println!("wrote {dir}/index.html");
}
