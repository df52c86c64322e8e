//! `lrctl bench --study`: a whole study end to end, lrctl against a PyTorch loop.
//!
//! Per task, interleaved, lrctl runs the study's cells (`lrctl run`, tuning included) into a
//! fresh store; then [`plan_reference`] reads that store and writes, for
//! `scripts/bench/pytorch_study.py`, every training run lrctl did: each tuning trial (its
//! configuration applied to the tuned method, its budget, the steps it trained) and each cell's
//! final run (the tuned cells with their incumbent), with the learning rate of every step from
//! lrctl's own controller ([`lrctl_control::Stepper`]), so the PyTorch side replays lrctl's
//! tuner decisions and only training speed is compared. [`StudyReport`] is the ratio of wall
//! times and each side's tuning share.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use lrctl_method::MethodSpec;
use lrctl_store::{CellSet, Outcome, Store, TrialRow};
use lrctl_tasks::{LoadedTask, Task, TaskData};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::BenchError;

/// The study the benchmark runs in the store it creates.
pub const STUDY_NAME: &str = "bench-study";

/// Whether a run tunes a method or is a cell's run that counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// A tuning trial of a tuned method.
    Tuning,
    /// A cell's evaluation run (for a tuned method: its incumbent on the cell's seed).
    Cell,
}

/// One training run the PyTorch side replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// The method (as the study names it).
    pub method: String,
    /// Tuning trial or cell.
    pub phase: Phase,
    /// The cell's seed, or the tuning seed of a trial.
    pub seed: u64,
    /// Optimizer steps lrctl trained (fewer than the horizon when it diverged).
    pub steps: u64,
    /// The run's horizon in steps (a trial's budget; a cell's task budget).
    pub horizon: u64,
    /// The method's `[optimizer]` table as lrctl serialises it (what
    /// `lrctl/_torch_optim.py`'s `build` reads).
    pub optimizer: serde_json::Value,
    /// The learning rate of every step when it is constant.
    pub lr: f64,
    /// Otherwise the file (in the plan's directory) holding one little-endian `f64` per step.
    pub lr_file: Option<String>,
}

/// What lrctl did on one task, read back from its store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrctlSide {
    /// Wall seconds of `lrctl run` (process start to exit: data loading, tuning, training,
    /// evaluations, store writes).
    pub wall_seconds: f64,
    /// Seconds of its tuning trials, as the trials recorded them.
    pub tuning_seconds: f64,
    /// Seconds by method: its cells' runs, plus its trials for a tuned method.
    pub method_seconds: BTreeMap<String, f64>,
    /// Cells with a result.
    pub cells: usize,
    /// Tuning trials.
    pub trials: usize,
    /// Optimizer steps over every run (trials included).
    pub steps: u64,
}

/// What the PyTorch script reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceStudyRun {
    /// Per planned run, in plan order: the steps it trained and its seconds.
    pub runs: Vec<(u64, f64)>,
    /// What ran (`torch 1.13.0`).
    pub version: String,
    /// Threads it ran with.
    pub threads: usize,
    /// The BLAS library its process loaded.
    pub blas: String,
}

/// One task on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyTaskReport {
    /// Task name.
    pub task: String,
    /// lrctl's side.
    pub lrctl: LrctlSide,
    /// Wall seconds of the PyTorch process (start, data, every run, exit).
    pub pytorch_wall_seconds: f64,
    /// Its seconds in tuning trials.
    pub pytorch_tuning_seconds: f64,
    /// Its seconds by method.
    pub pytorch_method_seconds: BTreeMap<String, f64>,
    /// Optimizer steps it trained (equal to lrctl's: the command checks).
    pub pytorch_steps: u64,
    /// PyTorch's wall time over lrctl's (> 1: lrctl is faster).
    pub ratio: f64,
}

/// The whole-study benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyReport {
    /// The machine (`lrctl_store::machine_description`).
    pub machine: String,
    /// The reference's version and BLAS.
    pub reference: String,
    /// Methods of the study.
    pub methods: Vec<String>,
    /// Seeds per (task, method).
    pub seeds: u32,
    /// `uptime` before and after the run (the machine may be shared).
    pub uptime: (String, String),
    /// Per task, in the order they ran.
    pub tasks: Vec<StudyTaskReport>,
    /// The target ratio (the issue's ≥ 5×).
    pub target: f64,
    /// Trials each tuned method trains at once on lrctl's side (`[tune] batch`; 1: the paper's
    /// one at a time). PyTorch replays the same trials one by one.
    #[serde(default = "one")]
    pub batch: usize,
}

fn one() -> usize {
    1
}

impl StudyReport {
    /// Wall seconds over every task: (lrctl, PyTorch).
    pub fn totals(&self) -> (f64, f64) {
        self.tasks.iter().fold((0.0, 0.0), |(l, p), t| {
            (l + t.lrctl.wall_seconds, p + t.pytorch_wall_seconds)
        })
    }

    /// PyTorch's total wall time over lrctl's.
    pub fn ratio(&self) -> f64 {
        let (l, p) = self.totals();
        p / l.max(1e-9)
    }

    /// Tuning's share of each side's wall time: (lrctl, PyTorch).
    pub fn tuning_shares(&self) -> (f64, f64) {
        let (l, p) = self.totals();
        let lt: f64 = self.tasks.iter().map(|t| t.lrctl.tuning_seconds).sum();
        let pt: f64 = self.tasks.iter().map(|t| t.pytorch_tuning_seconds).sum();
        (lt / l.max(1e-9), pt / p.max(1e-9))
    }

    /// The Markdown README carries: one row per task, the total, then seconds by method.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let (l, p) = self.totals();
        let (ls, ps) = self.tuning_shares();
        let ratio = self.ratio();
        let verdict = if ratio >= self.target {
            "met"
        } else {
            "**not met**"
        };
        s.push_str(&format!(
            "Machine: {}. One core per side (`lrctl run --jobs 1`; `torch.set_num_threads(1)`), \
             {} seed(s), {}methods {}; reference: {}.\n\
             Load before: `{}`; after: `{}`.\n\n",
            self.machine,
            self.seeds,
            if self.batch > 1 {
                format!(
                    "the tuned methods' trials {} at a time on lrctl's side (`[tune] batch = {}`; \
                     PyTorch replays them one by one), ",
                    self.batch, self.batch
                )
            } else {
                String::new()
            },
            self.methods
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            self.reference,
            self.uptime.0.trim(),
            self.uptime.1.trim(),
        ));
        s.push_str(
            "| task | cells | trials | steps | lrctl s (tuning) | PyTorch s (tuning) | PyTorch / lrctl |\n\
             |---|---|---|---|---|---|---|\n",
        );
        let pct = |a: f64, b: f64| 100.0 * a / b.max(1e-9);
        for t in &self.tasks {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {:.1} ({:.0} %) | {:.1} ({:.0} %) | {:.2}× |\n",
                t.task,
                t.lrctl.cells,
                t.lrctl.trials,
                t.lrctl.steps,
                t.lrctl.wall_seconds,
                pct(t.lrctl.tuning_seconds, t.lrctl.wall_seconds),
                t.pytorch_wall_seconds,
                pct(t.pytorch_tuning_seconds, t.pytorch_wall_seconds),
                t.ratio
            ));
        }
        let sum = |f: fn(&StudyTaskReport) -> u64| self.tasks.iter().map(f).sum::<u64>();
        s.push_str(&format!(
            "| **all** | {} | {} | {} | {l:.1} ({:.0} %) | {p:.1} ({:.0} %) | **{ratio:.2}×** |\n\n",
            sum(|t| t.lrctl.cells as u64),
            sum(|t| t.lrctl.trials as u64),
            sum(|t| t.lrctl.steps),
            100.0 * ls,
            100.0 * ps,
        ));
        s.push_str(&format!(
            "- End to end: PyTorch takes {ratio:.2}× lrctl's wall time (target ≥ {}×: {verdict}); \
             tuning is {:.0} % of lrctl's time and {:.0} % of PyTorch's.\n\n",
            self.target,
            100.0 * ls,
            100.0 * ps
        ));
        let mut by_method: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for t in &self.tasks {
            for (m, v) in &t.lrctl.method_seconds {
                by_method.entry(m).or_default().0 += v;
            }
            for (m, v) in &t.pytorch_method_seconds {
                by_method.entry(m).or_default().1 += v;
            }
        }
        s.push_str("| method | lrctl s | PyTorch s | PyTorch / lrctl |\n|---|---|---|---|\n");
        for m in &self.methods {
            if let Some((a, b)) = by_method.get(m.as_str()) {
                s.push_str(&format!(
                    "| `{m}` | {a:.1} | {b:.1} | {:.2}× |\n",
                    b / a.max(1e-9)
                ));
            }
        }
        s
    }
}

/// Reads the study lrctl ran into `store` (as [`STUDY_NAME`]) for `task`: what it did
/// ([`LrctlSide`], with `wall_seconds` as measured by the caller) and the runs the PyTorch side
/// replays, in lrctl's order (a tuned method's trials, then its cells). The learning-rate
/// sequences that are not constant are written into `dir`.
pub fn plan_reference(
    store: &mut dyn Store,
    task: &LoadedTask,
    wall_seconds: f64,
    dir: &Path,
) -> Result<(LrctlSide, Vec<PlannedRun>), BenchError> {
    let spec = task.spec();
    let study = store
        .study(STUDY_NAME)?
        .ok_or_else(|| BenchError::Run(format!("the store has no study `{STUDY_NAME}`")))?;
    let n_train = task.summary().train;
    let batch = spec.batch_size.min(n_train).max(1);
    let per_epoch = lrctl_tasks::steps_per_epoch(n_train, batch);
    let mut side = LrctlSide {
        wall_seconds,
        tuning_seconds: 0.0,
        method_seconds: BTreeMap::new(),
        cells: 0,
        trials: 0,
        steps: 0,
    };
    let mut runs = Vec::new();
    let mut tuned_keys: Vec<String> = Vec::new();
    let mut lr_files = 0usize;
    let mut plan = |method: &str,
                    phase: Phase,
                    seed: u64,
                    spec: &MethodSpec,
                    steps: u64,
                    horizon: u64|
     -> Result<PlannedRun, BenchError> {
        let lrs = lr_sequence(spec, steps, horizon, per_epoch)?;
        let first = lrs.first().copied().unwrap_or(0.0);
        let lr_file = if lrs.iter().all(|&x| x.to_bits() == first.to_bits()) {
            None
        } else {
            lr_files += 1;
            let name = format!("lr-{lr_files}.f64");
            let bytes: Vec<u8> = lrs.iter().flat_map(|v| v.to_le_bytes()).collect();
            write_file(&dir.join(&name), &bytes)?;
            Some(name)
        };
        Ok(PlannedRun {
            method: method.to_string(),
            phase,
            seed,
            steps,
            horizon,
            optimizer: serde_json::to_value(&spec.optimizer).expect("an optimizer serialises"),
            lr: first,
            lr_file,
        })
    };
    for cell in store.cells(study.id, CellSet::Current)? {
        if cell.task != spec.name {
            continue;
        }
        let Some(result) = &cell.result else {
            return Err(BenchError::Run(format!(
                "{} {} seed {} has no result",
                cell.task, cell.method, cell.seed
            )));
        };
        if result.outcome == Outcome::Failed {
            return Err(BenchError::Run(format!(
                "{} {} seed {} failed: {}",
                cell.task,
                cell.method,
                cell.seed,
                result.reason.as_deref().unwrap_or("no reason")
            )));
        }
        let method: lrctl_wrap::Method = serde_json::from_str(&cell.method_config)
            .map_err(|e| BenchError::Run(format!("cell {}'s method: {e}", cell.id.0)))?;
        let extra: serde_json::Value = serde_json::from_str(&result.result_json)
            .map_err(|e| BenchError::Run(format!("cell {}'s result: {e}", cell.id.0)))?;
        let trained = match method.tune() {
            None if method.wrapper.is_some() => {
                return Err(BenchError::Run(format!(
                    "{}: only plain and tuned methods can be replayed in PyTorch",
                    cell.method
                )));
            }
            None => method.spec.clone(),
            Some(tune) => {
                let tuned: lrctl_wrap::Tuned = serde_json::from_value(extra["tuning"].clone())
                    .map_err(|e| {
                        BenchError::Run(format!("cell {}'s tuning record: {e}", cell.id.0))
                    })?;
                // Studies tune with the `restart` fidelity schedule: every trial trains from
                // scratch over its own budget, which is what is replayed.
                if !tuned_keys.contains(&tuned.tuning_key) {
                    tuned_keys.push(tuned.tuning_key.clone());
                    let trials: Vec<TrialRow> = store.trials(&tuned.tuning_key)?;
                    for t in trials.iter().filter(|t| t.steps > 0) {
                        let config: lrctl_tune::Config = serde_json::from_str(&t.config_json)
                            .map_err(|e| BenchError::Run(format!("trial {}: {e}", t.trial)))?;
                        let m = lrctl_method::with_params(&method.spec, &config)
                            .map_err(|e| BenchError::Run(format!("trial {}: {e}", t.trial)))?;
                        runs.push(plan(
                            &cell.method,
                            Phase::Tuning,
                            tune.seed,
                            &m,
                            t.steps,
                            t.budget,
                        )?);
                        side.steps += t.steps;
                        side.tuning_seconds += t.seconds;
                        *side.method_seconds.entry(cell.method.clone()).or_default() += t.seconds;
                    }
                    side.trials += trials.len();
                }
                tuned.method
            }
        };
        runs.push(plan(
            &cell.method,
            Phase::Cell,
            cell.seed,
            &trained,
            result.steps,
            result.total_steps,
        )?);
        side.cells += 1;
        side.steps += result.steps;
        *side.method_seconds.entry(cell.method.clone()).or_default() += result.seconds;
    }
    if side.cells == 0 {
        return Err(BenchError::Run(format!(
            "the study has no cell of {}",
            spec.name
        )));
    }
    Ok((side, runs))
}

/// The learning rate lrctl's controller of `method` gives each of the first `steps` steps of a
/// run of `horizon` steps. Only controllers that read nothing but the step counters (schedules)
/// can be replayed; an online one would need the PyTorch run's own losses.
pub fn lr_sequence(
    method: &MethodSpec,
    steps: u64,
    horizon: u64,
    per_epoch: u64,
) -> Result<Vec<f64>, BenchError> {
    let mut stepper =
        lrctl_control::Stepper::new(&method.controller, horizon.max(1), Some(per_epoch))
            .map_err(|e| BenchError::Run(format!("{}: {e}", method.name)))?;
    if !stepper.signals().is_empty() {
        return Err(BenchError::Run(format!(
            "{}: its controller reads the run's signals, so its rates cannot be replayed in \
             PyTorch from lrctl's",
            method.name
        )));
    }
    (0..steps)
        .map(|_| {
            stepper
                .step(&lrctl_control::Inputs::default())
                .map_err(|e| BenchError::Run(format!("{}: {e}", method.name)))
        })
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| BenchError::io(format!("writing {}", path.display()), e))
}

/// Writes what `scripts/bench/pytorch_study.py` reads into `dir`: `plan.json` (the model as
/// [`lrctl_tasks::ModelSpec::reference`] describes it, batch size, evaluation cadence, `runs`)
/// and the task's three splits exactly as lrctl trains and evaluates on them
/// (`{train,validation,test}.x.f32` row-major, `.y.i64`).
pub fn export_study(task: &LoadedTask, runs: &[PlannedRun], dir: &Path) -> Result<(), BenchError> {
    let spec = task.spec();
    let data = task.data();
    let TaskData::Class(c) = data else {
        return Err(BenchError::Run(format!(
            "{}: the study benchmark replays tasks on rows (LIBSVM, tabular), not text",
            spec.name
        )));
    };
    let mut meta = json!({
        "task": spec.name,
        "batch": spec.batch_size,
        "features": c.train.n_features,
        "classes": c.train.n_classes,
        "evals": spec.evals,
        "eval_max_examples": spec.eval_max_examples,
        "runs": runs,
    });
    for (key, value) in spec.model.reference(spec.scale(), &data.shape()) {
        meta[key] = value;
    }
    for (name, rows) in [
        ("train", &c.train),
        ("validation", &c.validation),
        ("test", &c.test),
    ] {
        let x = rows.f32_le_bytes();
        let y: Vec<u8> = rows
            .y
            .iter()
            .flat_map(|&c| i64::from(c).to_le_bytes())
            .collect();
        write_file(&dir.join(format!("{name}.x.f32")), &x)?;
        write_file(&dir.join(format!("{name}.y.i64")), &y)?;
    }
    write_file(&dir.join("plan.json"), meta.to_string().as_bytes())
}

/// Runs the study script with `python` on `dir` (single-threaded: `OPENBLAS_NUM_THREADS=1`,
/// `torch.set_num_threads(1)`); returns its report and its process's wall seconds.
pub fn run_study_reference(
    python: &Path,
    script: &Path,
    dir: &Path,
) -> Result<(ReferenceStudyRun, f64), BenchError> {
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg("--data")
        .arg(dir)
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1");
    let start = Instant::now();
    let run = crate::reference::run_json_script(cmd, python, script, "study");
    let wall = start.elapsed().as_secs_f64();
    let run = run?;
    Ok((run, wall))
}

impl StudyTaskReport {
    /// Puts both sides of one task together; an error when the PyTorch side did not train
    /// exactly the planned runs and steps.
    pub fn new(
        task: &str,
        lrctl: LrctlSide,
        plan: &[PlannedRun],
        reference: &ReferenceStudyRun,
        pytorch_wall_seconds: f64,
    ) -> Result<StudyTaskReport, BenchError> {
        if reference.runs.len() != plan.len() {
            return Err(BenchError::Reference(format!(
                "{task}: the PyTorch side reported {} runs of the {} planned",
                reference.runs.len(),
                plan.len()
            )));
        }
        let mut tuning = 0.0;
        let mut by_method: BTreeMap<String, f64> = BTreeMap::new();
        let mut steps = 0;
        for (p, &(s, secs)) in plan.iter().zip(&reference.runs) {
            if s != p.steps {
                return Err(BenchError::Reference(format!(
                    "{task}: a {} run of {} trained {s} steps in PyTorch, {} in lrctl",
                    p.method,
                    match p.phase {
                        Phase::Tuning => "tuning",
                        Phase::Cell => "cell",
                    },
                    p.steps
                )));
            }
            steps += s;
            if p.phase == Phase::Tuning {
                tuning += secs;
            }
            *by_method.entry(p.method.clone()).or_default() += secs;
        }
        if steps != lrctl.steps {
            return Err(BenchError::Reference(format!(
                "{task}: PyTorch trained {steps} steps, lrctl {}",
                lrctl.steps
            )));
        }
        Ok(StudyTaskReport {
            task: task.to_string(),
            ratio: pytorch_wall_seconds / lrctl.wall_seconds.max(1e-9),
            lrctl,
            pytorch_wall_seconds,
            pytorch_tuning_seconds: tuning,
            pytorch_method_seconds: by_method,
            pytorch_steps: steps,
        })
    }
}

/// Replaces the text between `<!-- bench-study:begin -->` and `<!-- bench-study:end -->`.
pub fn splice_study(doc: &str, table: &str) -> Result<String, BenchError> {
    crate::report::splice_between(
        doc,
        table,
        "<!-- bench-study:begin -->",
        "<!-- bench-study:end -->",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_and_scheduled_rates_come_from_the_controller() {
        let mut m = lrctl_method::find("cawr-default").unwrap();
        let lrs = lr_sequence(&m, 25, 100, 10).unwrap();
        assert_eq!(lrs.len(), 25);
        assert_eq!(lrs[0], 0.005);
        assert!(lrs[5] < lrs[0], "{lrs:?}");
        assert_eq!(lrs[10], 0.005, "restart after t0 = 10 steps: {lrs:?}");
        m = lrctl_method::find("adam-fixed").unwrap();
        let lrs = lr_sequence(&m, 7, 7, 3).unwrap();
        assert!(lrs.iter().all(|&x| x == lrs[0]));
    }
}
