//! The per-task results table printed at the end of `lrctl run` and by `lrctl show`.

use std::collections::BTreeMap;

use lrctl_store::Outcome;
use serde::Serialize;

/// One finished (or diverged/failed) cell, as the table needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Final training loss (mean mini-batch loss over the last curve interval).
    pub train_loss: Option<f64>,
    /// Held-out (test split) primary metric.
    pub metric: Option<f64>,
}

/// Mean and standard error over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanSe {
    /// Mean.
    pub mean: f64,
    /// Standard error of the mean (0 for a single value).
    pub se: f64,
    /// Values averaged.
    pub n: usize,
}

impl MeanSe {
    /// Mean ± SE of the finite values, `None` when there are none.
    pub fn of(values: impl Iterator<Item = f64>) -> Option<MeanSe> {
        let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let se = if v.len() > 1 {
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (var / n).sqrt()
        } else {
            0.0
        };
        Some(MeanSe {
            mean,
            se,
            n: v.len(),
        })
    }
}

/// One row of a task's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodRow {
    /// Method name.
    pub method: String,
    /// Final train loss over finished seeds.
    pub train_loss: Option<MeanSe>,
    /// Held-out metric over finished seeds.
    pub metric: Option<MeanSe>,
    /// Seeds that diverged.
    pub diverged: usize,
    /// Seeds that failed.
    pub failed: usize,
    /// Seeds recorded.
    pub cells: usize,
    /// Best held-out metric of the task.
    pub best: bool,
}

/// Builds the table of each task, methods in the order given; `maximize` says which way the
/// task's metric improves.
pub fn tables(
    cells: &[CellSummary],
    method_order: &[String],
    maximize: impl Fn(&str) -> bool,
) -> BTreeMap<String, Vec<MethodRow>> {
    let mut by_task: BTreeMap<String, Vec<MethodRow>> = BTreeMap::new();
    let tasks: Vec<&str> = {
        let mut t: Vec<&str> = cells.iter().map(|c| c.task.as_str()).collect();
        t.sort();
        t.dedup();
        t
    };
    for task in tasks {
        let mut rows = Vec::new();
        let mut methods: Vec<&str> = method_order.iter().map(String::as_str).collect();
        for c in cells.iter().filter(|c| c.task == task) {
            if !methods.contains(&c.method.as_str()) {
                methods.push(&c.method);
            }
        }
        for method in methods {
            let mine: Vec<&CellSummary> = cells
                .iter()
                .filter(|c| c.task == task && c.method == method)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let finished = || mine.iter().filter(|c| c.outcome == Outcome::Finished);
            rows.push(MethodRow {
                method: method.to_string(),
                train_loss: MeanSe::of(finished().filter_map(|c| c.train_loss)),
                metric: MeanSe::of(finished().filter_map(|c| c.metric)),
                diverged: mine
                    .iter()
                    .filter(|c| c.outcome == Outcome::Diverged)
                    .count(),
                failed: mine.iter().filter(|c| c.outcome == Outcome::Failed).count(),
                cells: mine.len(),
                best: false,
            });
        }
        // Every method tied at the best mean is marked, not one of them arbitrarily.
        let max = maximize(task);
        let best = rows
            .iter()
            .filter_map(|r| r.metric.map(|m| m.mean))
            .reduce(|a, b| if max { a.max(b) } else { a.min(b) });
        if let Some(best) = best {
            for r in &mut rows {
                r.best = r.metric.is_some_and(|m| m.mean == best);
            }
        }
        by_task.insert(task.to_string(), rows);
    }
    by_task
}

/// Renders one task's table as aligned text.
pub fn render(task: &str, metric_name: &str, rows: &[MethodRow]) -> String {
    // One seed has no standard error: print the value alone rather than a false "± 0".
    let fmt = |m: &Option<MeanSe>, digits: usize| match m {
        Some(m) if m.n > 1 => format!("{:.digits$} ± {:.digits$}", m.mean, m.se),
        Some(m) => format!("{:.digits$}", m.mean),
        None => "—".to_string(),
    };
    let header = [
        "method".to_string(),
        "train loss".to_string(),
        format!("test {metric_name}"),
        "diverged".to_string(),
        "seeds".to_string(),
    ];
    let mut lines: Vec<[String; 5]> = vec![header];
    for r in rows {
        lines.push([
            format!("{}{}", if r.best { "* " } else { "  " }, r.method),
            fmt(&r.train_loss, 4),
            fmt(&r.metric, 4),
            format!(
                "{}{}",
                r.diverged,
                if r.failed > 0 {
                    format!(" (+{} failed)", r.failed)
                } else {
                    String::new()
                }
            ),
            match r.metric {
                Some(m) if m.n < r.cells => format!("{} of {}", m.n, r.cells),
                _ => r.cells.to_string(),
            },
        ]);
    }
    lines[0][0] = format!("  {}", lines[0][0]);
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{task}\n");
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (s, w))| {
                let pad = w - s.chars().count();
                if i == 0 {
                    format!("{s}{}", " ".repeat(pad))
                } else {
                    format!("{}{s}", " ".repeat(pad))
                }
            })
            .collect();
        out += &format!("  {}\n", cells.join("   "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(task: &str, method: &str, outcome: &str, metric: f64) -> CellSummary {
        CellSummary {
            task: task.into(),
            method: method.into(),
            outcome: Outcome::parse(outcome).unwrap(),
            train_loss: Some(1.0 - metric),
            metric: Some(metric),
        }
    }

    #[test]
    fn mean_and_standard_error() {
        let m = MeanSe::of([1.0, 2.0, 3.0, f64::NAN].into_iter()).unwrap();
        assert_eq!(m.n, 3);
        assert!((m.mean - 2.0).abs() < 1e-12);
        // sample sd 1, se 1/sqrt(3)
        assert!((m.se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        assert!(MeanSe::of(std::iter::empty()).is_none());
    }

    #[test]
    fn best_respects_direction_and_ignores_diverged_seeds() {
        let cells = vec![
            cell("t", "a", "finished", 0.8),
            cell("t", "a", "finished", 0.9),
            cell("t", "b", "finished", 0.95),
            cell("t", "b", "diverged", f64::NAN),
        ];
        let order = vec!["a".to_string(), "b".to_string()];
        let t = tables(&cells, &order, |_| true);
        let rows = &t["t"];
        assert!(!rows[0].best && rows[1].best);
        assert_eq!(rows[1].diverged, 1);
        assert_eq!(rows[1].metric.unwrap().n, 1);
        let t = tables(&cells, &order, |_| false);
        assert!(t["t"][0].best);
        let text = render("t", "accuracy", &t["t"]);
        assert!(text.contains("* a"), "{text}");
        // b: one finished seed of two, no "± 0".
        assert!(
            text.contains("0.9500 ") && text.contains("1 of 2"),
            "{text}"
        );
        assert!(!text.contains("0.9500 ± 0.0000"), "{text}");
    }

    #[test]
    fn every_tied_best_is_marked() {
        let cells = vec![
            cell("t", "a", "finished", 0.9),
            cell("t", "b", "finished", 0.9),
            cell("t", "c", "finished", 0.8),
        ];
        let order: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let rows = &tables(&cells, &order, |_| true)["t"];
        assert!(rows[0].best && rows[1].best && !rows[2].best);
    }
}
