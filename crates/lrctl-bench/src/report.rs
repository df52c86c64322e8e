//! Summaries of the repetitions: ratios with their spread, latency percentiles, shares, and
//! the Markdown table README carries.

use serde::{Deserialize, Serialize};

use crate::SideRun;

/// Minimum, median and maximum of a few values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Spread {
            min: v[0],
            median: quantile(&v, 0.5),
            max: v[v.len() - 1],
        })
    }
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn median(values: &[f64]) -> f64 {
    Spread::of(values).map_or(f64::NAN, |s| s.median)
}

/// The targets of the performance issue, on the benchmark machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// Median speed ratio lrctl/PyTorch for logistic regression.
    pub linear_speedup: f64,
    /// Median speed ratio for the MLP, CNN and language model.
    pub network_speedup: f64,
    /// lrctl's own per-step machinery, share of step time.
    pub machinery_share: f64,
    /// Store writes, share of a cell's time.
    pub store_share: f64,
    /// CPU use of a multi-cell study, percent (200 = two cores).
    pub study_cpu_percent: f64,
    /// Peak memory of a cell relative to PyTorch's.
    pub memory_ratio: f64,
    /// Global-pass optimizer update relative to AdamW's.
    pub global_pass_ratio: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            linear_speedup: 3.0,
            network_speedup: 1.0,
            machinery_share: 0.03,
            store_share: 0.01,
            study_cpu_percent: 180.0,
            memory_ratio: 0.25,
            global_pass_ratio: 1.5,
        }
    }
}

/// One task's repetitions on both sides and what follows from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// Task name.
    pub task: String,
    /// Model family (`linear`, `mlp`, `cnn`, `lm`).
    pub family: String,
    /// Mini-batch size (examples; sequences for the language model).
    pub batch: usize,
    /// lrctl's repetitions.
    pub lrctl: Vec<SideRun>,
    /// PyTorch's repetitions (empty when it was not run).
    pub pytorch: Vec<SideRun>,
    /// Median step time of each lrctl repetition, spread over repetitions (ms).
    pub lrctl_ms: Option<Spread>,
    /// Median step time of each PyTorch repetition, spread over repetitions (ms).
    pub pytorch_ms: Option<Spread>,
    /// Per repetition, PyTorch's median step time over lrctl's (> 1: lrctl is faster).
    pub speed_ratio: Option<Spread>,
    /// lrctl's step-time percentiles over all timed steps: p50, p90, p99 (ms).
    pub lrctl_latency_ms: [f64; 3],
    /// lrctl's training steps per second (median repetition).
    pub steps_per_second: f64,
    /// Share of lrctl's step time spent in its own machinery (median repetition).
    pub machinery_share: f64,
    /// Share spent writing the parameters back into the model (flat-vector design).
    pub sync_share: f64,
    /// A full-length cell's store writes over its training time (median repetition).
    pub store_share: f64,
    /// Peak resident memory, MiB (medians): lrctl, PyTorch.
    pub peak_rss_mb: (f64, Option<f64>),
    /// Memory added by model and training over the loaded data, MiB (medians).
    pub train_rss_mb: (f64, Option<f64>),
    /// Each global-pass optimizer's update time over AdamW's (medians).
    pub update_ratio: Vec<(String, f64)>,
}

impl TaskReport {
    /// Summarises the repetitions of one task.
    pub fn new(
        task: &str,
        family: &str,
        batch: usize,
        lrctl: Vec<SideRun>,
        pytorch: Vec<SideRun>,
    ) -> TaskReport {
        let med = |r: &SideRun| median(&r.step_ms);
        let lrctl_meds: Vec<f64> = lrctl.iter().map(med).collect();
        let torch_meds: Vec<f64> = pytorch.iter().map(med).collect();
        let ratios: Vec<f64> = lrctl_meds
            .iter()
            .zip(&torch_meds)
            .map(|(l, t)| t / l)
            .collect();
        let mut all: Vec<f64> = lrctl.iter().flat_map(|r| r.step_ms.clone()).collect();
        all.sort_by(f64::total_cmp);
        let latency = if all.is_empty() {
            [f64::NAN; 3]
        } else {
            [0.5, 0.9, 0.99].map(|q| quantile(&all, q))
        };
        let shares = |f: &dyn Fn(&lrctl_engine::StepPhases) -> f64| {
            median(
                &lrctl
                    .iter()
                    .filter_map(|r| r.phases.as_ref())
                    .map(|p| f(p) / p.total().max(1e-12))
                    .collect::<Vec<_>>(),
            )
        };
        let store_share = median(
            &lrctl
                .iter()
                .filter_map(|r| {
                    let cell_ms = med(r) * r.budget_steps as f64;
                    r.store_ms.map(|s| s / cell_ms.max(1e-12))
                })
                .collect::<Vec<_>>(),
        );
        let mut update_ratio = Vec::new();
        if let Some(first) = lrctl.first() {
            for (name, _) in first.update_ms.iter().skip(1) {
                let ratios: Vec<f64> = lrctl
                    .iter()
                    .filter_map(|r| {
                        let adamw = r.update_ms.first()?.1;
                        let ms = r.update_ms.iter().find(|(n, _)| n == name)?.1;
                        Some(ms / adamw)
                    })
                    .collect();
                update_ratio.push((name.clone(), median(&ratios)));
            }
        }
        let peak = |runs: &[SideRun]| {
            (!runs.is_empty())
                .then(|| median(&runs.iter().map(|r| r.peak_rss_mb).collect::<Vec<_>>()))
        };
        let train = |runs: &[SideRun]| {
            (!runs.is_empty()).then(|| {
                median(
                    &runs
                        .iter()
                        .map(|r| {
                            r.train_peak_rss_mb.unwrap_or(r.peak_rss_mb) - r.rss_before_model_mb
                        })
                        .collect::<Vec<_>>(),
                )
            })
        };
        let lrctl_ms = Spread::of(&lrctl_meds);
        TaskReport {
            task: task.into(),
            family: family.into(),
            batch,
            lrctl_ms,
            pytorch_ms: Spread::of(&torch_meds),
            speed_ratio: Spread::of(&ratios),
            lrctl_latency_ms: latency,
            steps_per_second: lrctl_ms.map_or(f64::NAN, |s| 1e3 / s.median),
            machinery_share: shares(&|p| p.machinery()),
            sync_share: shares(&|p| p.sync),
            store_share,
            peak_rss_mb: (peak(&lrctl).unwrap_or(f64::NAN), peak(&pytorch)),
            train_rss_mb: (train(&lrctl).unwrap_or(f64::NAN), train(&pytorch)),
            update_ratio,
            lrctl,
            pytorch,
        }
    }

    /// The speed target for this task's family.
    pub fn speed_target(&self, t: &Targets) -> f64 {
        if self.family == "linear" {
            t.linear_speedup
        } else {
            t.network_speedup
        }
    }
}

/// CPU use of a multi-cell study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyCpu {
    /// What ran.
    pub command: String,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// CPU seconds over wall seconds, percent.
    pub cpu_percent: f64,
}

/// Everything one `lrctl bench` invocation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The machine (CPU model, cores, memory).
    pub machine: String,
    /// The PyTorch reference that ran, if any.
    pub reference: Option<String>,
    /// Threads per side.
    pub threads: usize,
    /// Repetitions per task.
    pub reps: usize,
    /// Per task.
    pub tasks: Vec<TaskReport>,
    /// The multi-cell study, if measured.
    pub study: Option<StudyCpu>,
    /// The targets the table is judged against.
    pub targets: Targets,
}

fn pass(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

impl BenchReport {
    /// The README table: one row per task, then the study and the global passes.
    pub fn markdown(&self) -> String {
        let t = &self.targets;
        let mut s = format!(
            "Machine: {}. {} thread(s) per side, {} repetitions, interleaved; reference: {}.\n\n",
            self.machine,
            self.threads,
            self.reps,
            self.reference.as_deref().unwrap_or("not run"),
        );
        s.push_str(
            "| task | params | batch | lrctl ms/step p50 / p99 | PyTorch ms/step | speed lrctl/PyTorch \
             min–median–max | target | lrctl machinery | store writes | peak MiB (training) lrctl / PyTorch |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.tasks {
            let n_params = r.lrctl.first().map_or(0, |x| x.n_params);
            let ratio = r.speed_ratio.map_or("–".into(), |x| {
                format!("{:.2}× – **{:.2}×** – {:.2}×", x.min, x.median, x.max)
            });
            let target = r.speed_target(t);
            let verdict = r.speed_ratio.map_or("–".to_string(), |x| {
                format!("≥ {target}×: {}", pass(x.median >= target))
            });
            let torch = r
                .pytorch_ms
                .map_or("–".into(), |x| format!("{:.3}", x.median));
            let mem = match (r.peak_rss_mb.1, r.train_rss_mb.1) {
                (Some(p), Some(pt)) => format!(
                    "{:.0} ({:.0}) / {:.0} ({:.0})",
                    r.peak_rss_mb.0, r.train_rss_mb.0, p, pt
                ),
                _ => format!("{:.0} ({:.0}) / –", r.peak_rss_mb.0, r.train_rss_mb.0),
            };
            s.push_str(&format!(
                "| `{}` | {} | {} | {:.3} / {:.3} | {} | {} | {} | {:.1} % | {:.3} % | {} |\n",
                r.task,
                n_params,
                r.batch,
                r.lrctl_latency_ms[0],
                r.lrctl_latency_ms[2],
                torch,
                ratio,
                verdict,
                100.0 * r.machinery_share,
                100.0 * r.store_share,
                mem,
            ));
        }
        s.push('\n');
        let worst =
            |f: &dyn Fn(&TaskReport) -> f64| self.tasks.iter().map(f).fold(f64::NAN, f64::max);
        let machinery = worst(&|r| r.machinery_share);
        let store = worst(&|r| r.store_share);
        s.push_str(&format!(
            "- lrctl's own machinery (batch indices, gradient statistics, controller, \
             bookkeeping, curve recording): at most {:.1} % of step time (target ≤ {:.0} %: {}); \
             writing the flat parameters back into the model adds up to {:.1} %.\n",
            100.0 * machinery,
            100.0 * t.machinery_share,
            pass(machinery <= t.machinery_share),
            100.0 * worst(&|r| r.sync_share),
        ));
        s.push_str(&format!(
            "- Store writes of a full cell (SQLite): at most {:.3} % of its training time \
             (target ≤ {:.0} %: {}).\n",
            100.0 * store,
            100.0 * t.store_share,
            pass(store <= t.store_share),
        ));
        let mem: Vec<f64> = self
            .tasks
            .iter()
            .filter_map(|r| r.peak_rss_mb.1.map(|p| r.peak_rss_mb.0 / p))
            .collect();
        if !mem.is_empty() {
            let m = mem.iter().copied().fold(f64::NAN, f64::max);
            let train = self
                .tasks
                .iter()
                .filter_map(|r| r.train_rss_mb.1.map(|p| r.train_rss_mb.0 / p.max(1e-9)))
                .fold(f64::NAN, f64::max);
            s.push_str(&format!(
                "- Peak memory of a cell: whole process (data and runtime included) at most \
                 {:.2}× PyTorch's (target ≤ {:.2}×: {}); the part the model and training add \
                 once the data is loaded (in parentheses in the table) at most {:.2}× \
                 PyTorch's ({}).\n",
                m,
                t.memory_ratio,
                pass(m <= t.memory_ratio),
                train,
                pass(train <= t.memory_ratio)
            ));
        }
        if let Some(study) = &self.study {
            s.push_str(&format!(
                "- `{}`: {:.0} % CPU over {:.1} s (target ≥ {:.0} %: {}).\n",
                study.command,
                study.cpu_percent,
                study.wall_seconds,
                t.study_cpu_percent,
                pass(study.cpu_percent >= t.study_cpu_percent)
            ));
        }
        for r in &self.tasks {
            if r.update_ratio.is_empty() {
                continue;
            }
            let parts: Vec<String> = r
                .update_ratio
                .iter()
                .map(|(n, x)| format!("{n} {x:.2}×"))
                .collect();
            let ok = r
                .update_ratio
                .iter()
                .all(|(_, x)| *x <= t.global_pass_ratio);
            s.push_str(&format!(
                "- Optimizer update with global passes vs AdamW's on `{}`: {} (target ≤ {}×: {}).\n",
                r.task,
                parts.join(", "),
                t.global_pass_ratio,
                pass(ok)
            ));
        }
        s
    }
}

/// Replaces the text between `<!-- bench:begin -->` and `<!-- bench:end -->` in `doc`.
pub fn splice(doc: &str, table: &str) -> Result<String, crate::BenchError> {
    splice_between(doc, table, "<!-- bench:begin -->", "<!-- bench:end -->")
}

/// Replaces the text between the markers `begin` and `end` in `doc`.
pub(crate) fn splice_between(
    doc: &str,
    table: &str,
    begin: &str,
    end: &str,
) -> Result<String, crate::BenchError> {
    let (Some(b), Some(e)) = (doc.find(begin), doc.find(end)) else {
        return Err(crate::BenchError::Readme(format!(
            "the file has no `{begin}` … `{end}` markers to replace"
        )));
    };
    if e < b {
        return Err(crate::BenchError::Readme(format!(
            "`{end}` comes before `{begin}`"
        )));
    }
    Ok(format!("{}{begin}\n{table}{}", &doc[..b], &doc[e..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(ms: &[f64], phases: Option<lrctl_engine::StepPhases>) -> SideRun {
        SideRun {
            step_ms: ms.to_vec(),
            n_params: 10,
            peak_rss_mb: 100.0,
            rss_before_model_mb: 60.0,
            train_peak_rss_mb: Some(100.0),
            version: "x".into(),
            threads: 1,
            blas: None,
            phases,
            store_ms: Some(1.0),
            update_ms: vec![("adamw".into(), 2.0), ("prodigy".into(), 3.0)],
            budget_steps: 1000,
        }
    }

    #[test]
    fn spread_and_quantiles() {
        let s = Spread::of(&[3.0, 1.0, 2.0, f64::NAN, 10.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 10.0));
        assert!(Spread::of(&[]).is_none());
        assert_eq!(quantile(&[0.0, 10.0], 0.9), 9.0);
    }

    #[test]
    fn ratios_are_per_repetition_and_shares_add_up() {
        let phases = lrctl_engine::StepPhases {
            forward_backward: 0.9,
            statistics: 0.02,
            controller: 0.01,
            optimizer: 0.05,
            sync: 0.02,
            steps: 10,
            ..Default::default()
        };
        let r = TaskReport::new(
            "libsvm/a9a",
            "linear",
            64,
            vec![
                side(&[1.0, 1.0, 2.0], Some(phases)),
                side(&[2.0, 2.0, 2.0], Some(phases)),
            ],
            vec![side(&[4.0, 4.0, 4.0], None), side(&[3.0, 3.0, 3.0], None)],
        );
        let ratio = r.speed_ratio.unwrap();
        // Repetition 1: 4 / 1; repetition 2: 3 / 2.
        assert_eq!((ratio.min, ratio.max), (1.5, 4.0));
        assert!((r.machinery_share - 0.03).abs() < 1e-12);
        assert!((r.sync_share - 0.02).abs() < 1e-12);
        assert_eq!(r.update_ratio, vec![("prodigy".to_string(), 1.5)]);
        // store 1 ms over a 1000-step cell of median 1 ms (rep 1) and 2 ms (rep 2).
        assert!((r.store_share - 0.00075).abs() < 1e-12);
        assert_eq!(r.train_rss_mb, (40.0, Some(40.0)));
        let report = BenchReport {
            machine: "test".into(),
            reference: Some("torch".into()),
            threads: 1,
            reps: 2,
            tasks: vec![r],
            study: None,
            targets: Targets::default(),
        };
        let md = report.markdown();
        assert!(md.contains("| `libsvm/a9a` |"), "{md}");
        assert!(
            md.contains("≥ 3×: **not met**"),
            "median ratio 2.75 < 3: {md}"
        );
        assert!(md.contains("prodigy 1.50×"), "{md}");
    }

    #[test]
    fn splice_replaces_between_markers() {
        let doc = "a\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nb\n";
        let out = splice(doc, "new\n").unwrap();
        assert_eq!(out, "a\n<!-- bench:begin -->\nnew\n<!-- bench:end -->\nb\n");
        assert!(
            splice("no markers", "x")
                .unwrap_err()
                .to_string()
                .contains("markers")
        );
    }
}
