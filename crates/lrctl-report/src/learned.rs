//! The "Learned controllers" section: how a study's learned methods (`[learn]`, e.g.
//! `learned-loto`: each task's policy meta-trained on the study's other tasks) did against the
//! single best plain method, the selection methods (`auto`, `race`) and the per-task oracle,
//! what their meta-training cost, and the learning-rate trajectories the policies chose.
//!
//! [`analyse`] computes the numbers (serialisable), [`render`] formats them. Scores are those
//! of the selection section ([`lrctl_study::selection::realised`]): per-task min–max normalised
//! final scores over all of the task's runs (1 = the task's best run), averaged over seeds,
//! then over the tasks where the learned method has results; the single best and the oracle
//! are taken among the candidates (neither selection nor learned methods) on the same tasks.

use lrctl_doc::{Cell, Document, LineChart, LineSeries, Table, line_chart};
use lrctl_study::selection::{Candidates, Realised};
use lrctl_study::snapshot::Snapshot;
use serde::Serialize;

/// The section's numbers: one entry per learned method of the study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedSection {
    /// Each learned method.
    pub methods: Vec<LearnedMethod>,
}

/// How one learned method did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedMethod {
    /// Its score against the single best plain method and the oracle, and its charged steps
    /// over the single best's (`realised.cost_ratio`) — the numbers a selection method gets.
    pub realised: Realised,
    /// The plain method of the study that is its base (same optimizer and controller), and
    /// its mean normalised score on the same tasks: what the policy changed.
    pub base: Option<(String, f64)>,
    /// The study's selection methods (`auto`, `race`, …) on the same tasks: name and mean
    /// normalised score (over the tasks where they have results).
    pub selections: Vec<(String, f64)>,
    /// Per task.
    pub per_task: Vec<LearnedTask>,
    /// Meta-training cost.
    pub cost: LearnedCost,
}

/// One task of a learned method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedTask {
    /// The held-out task.
    pub task: String,
    /// The learned method's normalised score on it.
    pub score: f64,
    /// The single best candidate's (over all tasks) normalised score on it.
    pub sbs_score: f64,
    /// The best candidate on it, and its normalised score.
    pub best: (String, f64),
    /// The tasks its policy was meta-trained on (never this one).
    pub trained_on: Vec<String>,
    /// The fold's whole meta-training cost in optimizer steps.
    pub fold_steps: u64,
    /// The fold's whole meta-training cost in seconds of training.
    pub fold_seconds: f64,
}

/// What a learned method's meta-training cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedCost {
    /// Distinct folds: one per held-out task, or the cross-task folds.
    pub folds: usize,
    /// Mean fold cost in optimizer steps (one policy's meta-training).
    pub fold_steps: f64,
    /// Mean fold cost in seconds of training.
    pub fold_seconds: f64,
    /// Steps charged to each cell: the fold's cost over the study's tasks, mean over tasks.
    pub amortised_steps: f64,
    /// Seconds charged to each cell, likewise.
    pub amortised_seconds: f64,
    /// The tasks a fold's cost is spread over.
    pub amortised_over: usize,
}

/// The learning rates one learned method chose on one task, next to its base's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trajectory {
    /// The task.
    pub task: String,
    /// The learned method.
    pub method: String,
    /// Series: the learned method's rate and, when the study runs it, its base method's (name,
    /// steps, geometric mean over seeds of the controller's rate).
    pub series: Vec<(String, Vec<f64>, Vec<f64>)>,
}

/// The section's numbers and pictures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Learned {
    /// The scores and costs.
    pub section: LearnedSection,
    /// Per task and learned method: the rates chosen.
    pub trajectories: Vec<Trajectory>,
}

/// The learned methods' analysis; `None` when the study has none.
pub fn analyse(snap: &Snapshot) -> Option<Learned> {
    let learned = lrctl_study::selection::learned_methods(snap);
    if learned.is_empty() {
        return None;
    }
    let selection = lrctl_study::selection::selection_methods(snap);
    let candidates = Candidates::of(snap);
    let (table, perf) = (&candidates.table, &candidates.perf);
    let mut methods = Vec::new();
    let mut trajectories = Vec::new();
    for name in &learned {
        let (Some(m), Some(realised)) = (table.method_index(name), candidates.realise(snap, name))
        else {
            continue;
        };
        let tasks: Vec<usize> = (0..table.n_tasks())
            .filter(|&t| candidates.has(m, t))
            .collect();
        let sbs = table
            .method_index(&realised.sbs.0)
            .expect("the single best is a study method");
        let mean = |f: &dyn Fn(usize) -> f64| {
            tasks.iter().map(|&t| f(t)).sum::<f64>() / tasks.len() as f64
        };
        let selections = selection
            .iter()
            .filter_map(|s| {
                let i = table.method_index(s)?;
                let on: Vec<usize> = tasks
                    .iter()
                    .copied()
                    .filter(|&t| candidates.has(i, t))
                    .collect();
                (!on.is_empty()).then(|| {
                    let v = on.iter().map(|&t| perf[t][i]).sum::<f64>() / on.len() as f64;
                    (s.clone(), v)
                })
            })
            .collect();
        let base = base_method(snap, name).and_then(|b| {
            let i = table.method_index(&b)?;
            Some((b, mean(&|t| perf[t][i])))
        });
        let per_task: Vec<LearnedTask> = tasks
            .iter()
            .map(|&t| {
                let task = &table.tasks[t];
                let info = learning_info(snap, task, name);
                let (b, bs) = candidates.best_on(t).expect("candidates exist");
                LearnedTask {
                    task: task.clone(),
                    score: perf[t][m],
                    sbs_score: perf[t][sbs],
                    best: (table.methods[b].clone(), bs),
                    trained_on: info.trained_on,
                    fold_steps: info.cost_steps,
                    fold_seconds: info.cost_seconds,
                }
            })
            .collect();
        let infos: Vec<LearningInfo> = tasks
            .iter()
            .map(|&t| learning_info(snap, &table.tasks[t], name))
            .collect();
        let n = infos.len().max(1) as f64;
        // One meta-training per fold: with cross-task folds several tasks share one (its key).
        let mut folds: Vec<&LearningInfo> = Vec::new();
        for i in infos.iter().filter(|i| i.cost_steps > 0) {
            if i.learn_key.is_empty() || !folds.iter().any(|f| f.learn_key == i.learn_key) {
                folds.push(i);
            }
        }
        let k = folds.len().max(1) as f64;
        let cost = LearnedCost {
            folds: folds.len(),
            fold_steps: folds.iter().map(|i| i.cost_steps as f64).sum::<f64>() / k,
            fold_seconds: folds.iter().map(|i| i.cost_seconds).sum::<f64>() / k,
            amortised_steps: infos.iter().map(|i| i.steps as f64).sum::<f64>() / n,
            amortised_seconds: infos.iter().map(|i| i.seconds).sum::<f64>() / n,
            amortised_over: infos.iter().map(|i| i.amortised_over).max().unwrap_or(0),
        };
        for &t in &tasks {
            trajectories.push(trajectory(snap, &table.tasks[t], name));
        }
        methods.push(LearnedMethod {
            realised,
            base,
            selections,
            per_task,
            cost,
        });
    }
    (!methods.is_empty()).then_some(Learned {
        section: LearnedSection { methods },
        trajectories,
    })
}

/// The `learning` record of a learned method's cells on a task (any cell: the seeds share
/// the fold).
#[derive(Debug, Default, serde::Deserialize)]
struct LearningInfo {
    #[serde(default)]
    trained_on: Vec<String>,
    #[serde(default)]
    learn_key: String,
    #[serde(default)]
    cost_steps: u64,
    #[serde(default)]
    cost_seconds: f64,
    #[serde(default)]
    steps: u64,
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    amortised_over: usize,
}

fn learning_info(snap: &Snapshot, task: &str, method: &str) -> LearningInfo {
    snap.cells_of(task, method)
        .filter_map(|c| c.result.as_ref())
        .find_map(|r| {
            let json: serde_json::Value = serde_json::from_str(&r.result_json).ok()?;
            serde_json::from_value(json.get("learning")?.clone()).ok()
        })
        .unwrap_or_default()
}

/// The stored configuration of a learned method's base: its optimizer and controller.
fn base_of(snap: &Snapshot, method: &str) -> Option<serde_json::Value> {
    let c = snap.cells.iter().find(|c| c.method == method)?;
    let json: serde_json::Value = serde_json::from_str(&c.method_config).ok()?;
    Some(serde_json::json!([
        json.get("optimizer")?,
        json.get("controller")?
    ]))
}

/// A plain method of the study whose optimizer and controller are the learned method's base.
fn base_method(snap: &Snapshot, method: &str) -> Option<String> {
    let base = base_of(snap, method)?;
    snap.methods
        .iter()
        .filter(|m| *m != method)
        .find(|m| {
            snap.cells.iter().any(|c| {
                &c.method == *m
                    && serde_json::from_str::<serde_json::Value>(&c.method_config)
                        .ok()
                        .is_some_and(|j| {
                            j.get("learn").is_none()
                                && j.get("select").is_none()
                                && j.get("tune").is_none()
                                && serde_json::json!([j.get("optimizer"), j.get("controller")])
                                    == base
                        })
            })
        })
        .cloned()
}

fn trajectory(snap: &Snapshot, task: &str, method: &str) -> Trajectory {
    let lr = |m: &str| {
        let pts = snap.mean_curve(task, m, |p| (p.lr > 0.0).then(|| p.lr.ln()), None);
        (
            m.to_string(),
            pts.iter().map(|p| p.0).collect::<Vec<_>>(),
            pts.iter().map(|p| p.1.exp()).collect::<Vec<_>>(),
        )
    };
    let mut series = vec![lr(method)];
    if let Some(base) = base_method(snap, method) {
        series.push(lr(&base));
    }
    series.retain(|s| !s.1.is_empty());
    Trajectory {
        task: task.to_string(),
        method: method.to_string(),
        series,
    }
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Writes the section (nothing when the study has no learned method).
pub fn render(doc: &mut Document, learned: Option<&Learned>) {
    let Some(l) = learned else {
        return;
    };
    doc.section("Learned controllers");
    doc.paragraph(
        "A learned method steers its base optimizer and controller with a small policy network \
         meta-trained by an evolution strategy. Inside a study it is evaluated leave-one-task-out: \
         each task's cells use a policy meta-trained only on the study's other tasks (with \
         cross-task folds, `[learn] folds = k`, only on the other folds' tasks), so every \
         score below is on a task the policy never saw. Scores are per-task min–max normalised \
         final scores (1 = the task's best run), averaged over seeds and tasks; the single best \
         method and the oracle are taken among the plain methods (neither selection nor learned \
         methods).",
    );
    let mut table = Table::new([
        "learned method",
        "tasks",
        "score",
        "its base",
        "single best",
        "oracle",
        "gap closed",
        "selection methods",
        "cost vs single best",
    ]);
    for m in &l.section.methods {
        let sel: Vec<String> = m
            .selections
            .iter()
            .map(|(n, s)| format!("{n} {s:.3}"))
            .collect();
        table = table.row(vec![
            Cell::text(&m.realised.method),
            Cell::number(m.realised.tasks as f64, 0),
            Cell::number(m.realised.score, 3),
            m.base
                .as_ref()
                .map_or(Cell::text("not in the study"), |(b, s)| {
                    Cell::text(format!("{b} {s:.3}"))
                }),
            Cell::text(format!("{} {:.3}", m.realised.sbs.0, m.realised.sbs.1)),
            Cell::number(m.realised.oracle, 3),
            m.realised
                .gap_closed
                .map_or(Cell::text("—"), |g| Cell::numeric(pct(g))),
            Cell::text(if sel.is_empty() {
                "none in the study".to_string()
            } else {
                sel.join(", ")
            }),
            Cell::numeric(format!("{:.2}×", m.realised.cost_ratio)),
        ]);
    }
    doc.table(
        "learned-scores",
        "Learned methods on held-out tasks against their base (the plain method they steer, \
         where the study runs it), the single best plain method, the oracle (the best plain \
         method per task) and the study's selection methods on the same tasks. \
         Gap closed: (score − single best) / (oracle − single best). Cost: charged optimizer \
         steps (the run plus the amortised meta-training) over the single best's, mean over \
         tasks.",
        table,
    );
    for m in &l.section.methods {
        let c = &m.cost;
        doc.paragraph(format!(
            "`{}`: {} fold(s), {}; one fold's meta-training cost {:.3e} \
             optimizer steps ({:.1} s of training) on average. Each cell is charged its fold's \
             cost spread over the study's {} tasks — {:.3e} steps ({:.1} s) per task — because \
             a policy meta-trained on the other tasks stands for one deployable policy, which \
             serves every task of the distribution; the whole fold's cost is in each cell's \
             result (`learning.cost_steps`).",
            m.realised.method,
            c.folds,
            if c.folds == m.per_task.len() {
                "one per held-out task".to_string()
            } else {
                format!(
                    "cross-task folds, each holding out about {} of the {} tasks",
                    m.per_task.len().div_ceil(c.folds.max(1)),
                    m.per_task.len()
                )
            },
            c.fold_steps,
            c.fold_seconds,
            c.amortised_over,
            c.amortised_steps,
            c.amortised_seconds
        ));
        let mut table = Table::new([
            "held-out task",
            "learned",
            "single best",
            "best plain method",
            "meta-trained on",
            "fold cost (steps)",
        ]);
        for t in &m.per_task {
            table = table.row(vec![
                Cell::text(&t.task),
                Cell::number(t.score, 3).emphasized_if(t.score >= t.best.1),
                Cell::number(t.sbs_score, 3),
                Cell::text(format!("{} {:.3}", t.best.0, t.best.1)),
                Cell::numeric(format!("{} task(s)", t.trained_on.len())),
                Cell::numeric(format!("{:.3e}", t.fold_steps as f64)),
            ]);
        }
        doc.table(
            &format!("learned-{}-tasks", m.realised.method),
            format!(
                "`{}` per held-out task: normalised scores (bold where it matches or beats \
                 every plain method); its policy never saw the task.",
                m.realised.method
            ),
            table,
        );
    }
    for t in &l.trajectories {
        let slug = format!("learned-lr-{}-{}", t.method, t.task.replace('/', "-"));
        let mut chart = LineChart::new(
            format!("Learning rate — {} on {}", t.method, t.task),
            "optimizer step",
            "learning rate",
        )
        .log_y(true);
        for (i, (name, x, y)) in t.series.iter().enumerate() {
            chart = chart.series(LineSeries::new(name, x.clone(), y.clone()).with_style(i));
        }
        doc.figure(
            &slug,
            format!(
                "{}: the learning rate `{}`'s held-out policy chose (geometric mean over seeds), \
                 next to its base method's where the study runs it.",
                t.task, t.method
            ),
            line_chart(&chart),
        );
    }
}
