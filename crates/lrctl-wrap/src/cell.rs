//! The flow of one cell, from method to recorded result: a selection method first chooses
//! ([`crate::select`]), a tuned method then tunes itself ([`crate::tuned`]), and the chosen
//! configuration trains on the cell's seed (continuing a race winner's paused run); a learned
//! method trains its base steered by its fold's policy ([`crate::learn`]). What choosing,
//! tuning and meta-training cost is charged to the cell.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use lrctl_engine::{Cancelled, Checkpoint, CurvePoint, RunOptions, RunResult};
use lrctl_store::{CellResult, CurvePointRow, Store};
use lrctl_tasks::{Task, TaskSpec, Workload};

use crate::error::CellError;
use crate::learn::{LearnCache, Learned};
use crate::method::Method;
use crate::select::{References, Selected, SelectionCache};
use crate::tuned::{Tuned, TuningCache};

/// What the cells of one process share: tuning results and shared races.
#[derive(Default)]
pub struct Caches {
    /// Tuning runs, by tuning key.
    pub tuning: TuningCache,
    /// Shared selections, by (task, method).
    pub selection: SelectionCache,
    /// Learned methods' folds, by learn key.
    pub learning: LearnCache,
}

/// What a cell's run needs besides its task, method and seed.
pub struct CellContext<'a> {
    /// The store tuning trials go to (and are replayed from).
    pub store: &'a Mutex<Box<dyn Store>>,
    /// The study's other results, for `auto`, and its tasks, for learned methods.
    pub references: &'a dyn References,
    /// What the cells of this process share.
    pub caches: &'a Caches,
    /// Stops the run at the next step.
    pub cancel: &'a AtomicBool,
    /// Called with (steps done, total steps) while training, and while choosing or tuning
    /// (heartbeats ride on it).
    pub progress: &'a (dyn Fn(u64, u64) + Sync),
    /// Told the curve so far whenever the final run records a point (the caller throttles
    /// it and writes it to the store as the cell's partial curve, for live dashboards).
    /// Advancing in pieces changes no result (see [`lrctl_engine::Run`]).
    pub curve: Option<&'a CurveSink<'a>>,
}

/// Receives a training run's curve so far ([`CellContext::curve`]).
pub type CurveSink<'a> = dyn Fn(&[CurvePoint]) + Sync + 'a;

/// Advances `run` to `end` in about a thousand pieces, telling `sink` the curve after each
/// piece that added a point; at once without a sink.
fn advance_streaming(
    run: &mut Checkpoint,
    workload: &mut dyn Workload,
    end: u64,
    options: &RunOptions<'_>,
    sink: Option<&CurveSink<'_>>,
) -> Result<(), Cancelled> {
    let Some(sink) = sink else {
        return run.advance_to(workload, end, options);
    };
    let piece = (end / 1000).max(1);
    loop {
        let (steps, points) = (run.run.steps(), run.run.curve().len());
        if steps >= end || run.run.outcome() != lrctl_engine::Outcome::Finished {
            return Ok(());
        }
        run.advance_to(workload, (steps + piece).min(end), options)?;
        if run.run.curve().len() != points {
            sink(run.run.curve());
        }
        if run.run.steps() == steps {
            return Ok(());
        }
    }
}

/// A trained cell: the run, and what was chosen and tuned before it.
#[derive(Debug, Clone)]
pub struct TrainedCell {
    /// The run of the method finally trained.
    pub run: RunResult,
    /// What a selection method chose (and what choosing cost).
    pub selected: Option<Selected>,
    /// What tuning found (and what it cost).
    pub tuned: Option<Tuned>,
    /// A learned method's fold (and what meta-training cost).
    pub learned: Option<Learned>,
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f`, turning a panic into a failure with `what` named.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, CellError>) -> Result<T, CellError> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(CellError::Failed(format!("{what} panicked"))))
}

/// Trains one cell of `task` under `method` with `seed` (see the module docs), single-threaded.
pub fn train(
    task: &dyn Task,
    method: &Method,
    seed: u64,
    ctx: &CellContext<'_>,
) -> Result<TrainedCell, CellError> {
    let beat = || (ctx.progress)(0, 0);
    let select_ctx = crate::select::Context {
        references: ctx.references,
        beat: &beat,
        cancel: ctx.cancel,
    };
    let selected = guarded("selection", || {
        crate::select::resolve(task, method, seed, &ctx.caches.selection, &select_ctx)
    })?;
    let (selected, continuation) = match selected {
        Some((s, c)) => (Some(s), c),
        None => (None, None),
    };
    let method = selected.as_ref().map_or(method, |s| &s.method);
    let learned = guarded("meta-training", || {
        let learn_ctx = crate::learn::Context {
            references: ctx.references,
            store: ctx.store,
            cache: &ctx.caches.learning,
            cancel: ctx.cancel,
            beat: &beat,
        };
        crate::learn::resolve(task, method, &learn_ctx)
    })?;
    let tuned = guarded("tuning", || {
        crate::tuned::resolve(
            task,
            method,
            ctx.store,
            &ctx.caches.tuning,
            ctx.cancel,
            &beat,
            &beat,
        )
    })?;
    let spec = match (&learned, &tuned) {
        (Some(l), _) => &l.method,
        (None, Some(t)) => &t.method,
        (None, None) => &method.spec,
    };
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        lrctl_engine::with_threads(1, || {
            let options = RunOptions {
                seed,
                steps: None,
                progress: Some(ctx.progress),
                cancel: Some(ctx.cancel),
                eval_limit: None,
            };
            match continuation {
                // A race's winner: its paused run goes on to the end.
                Some(mut run) => {
                    let mut workload = task.instantiate(seed, &lrctl_tasks::default_device())?;
                    run.run.load_into(workload.as_mut());
                    let end = run.run.horizon();
                    if advance_streaming(&mut run, workload.as_mut(), end, &options, ctx.curve)
                        .is_err()
                    {
                        return Ok::<_, lrctl_engine::StartError>(None);
                    }
                    Ok(Some(run.finish(workload.as_mut())))
                }
                // `lrctl_engine::train_method`, in pieces.
                None => {
                    let (mut workload, mut run) = lrctl_engine::start(task, spec, &options)?;
                    let end = run.run.horizon();
                    if advance_streaming(&mut run, workload.as_mut(), end, &options, ctx.curve)
                        .is_err()
                    {
                        return Ok(None);
                    }
                    Ok(Some(run.finish(workload.as_mut())))
                }
            }
        })
    }));
    match run {
        Ok(Ok(Some(run))) => Ok(TrainedCell {
            run,
            selected,
            tuned,
            learned,
        }),
        Ok(Ok(None)) => Err(CellError::Cancelled),
        Ok(Err(e)) => Err(CellError::from(e)),
        Err(panic) => Err(CellError::Failed(format!(
            "the run panicked: {}",
            panic_message(&*panic)
        ))),
    }
}

impl TrainedCell {
    /// The store's record and curve, with choosing, tuning and (amortised) meta-training
    /// charged and described in the result JSON (under `selection`, `tuning` and `learning`).
    pub fn into_store(self, task: &TaskSpec) -> (CellResult, Vec<CurvePointRow>) {
        let (mut result, curve) = self.run.to_record(task);
        if let Some(s) = &self.selected {
            charge(&mut result, "selection", s.steps, s.seconds, s);
        }
        if let Some(t) = &self.tuned {
            charge(&mut result, "tuning", t.steps, t.seconds, t);
        }
        if let Some(l) = &self.learned {
            charge(&mut result, "learning", l.steps, l.seconds, l);
        }
        (result, curve)
    }
}

/// Adds what choosing the trained method cost (tuning, a race) to the cell's bill, and what
/// was chosen to its result JSON under `what`.
fn charge(
    result: &mut CellResult,
    what: &str,
    steps: u64,
    seconds: f64,
    info: &impl serde::Serialize,
) {
    result.cost_steps += steps;
    result.cost_seconds += seconds;
    let mut json: serde_json::Value =
        serde_json::from_str(&result.result_json).expect("the result is JSON");
    json[what] = serde_json::to_value(info).expect("the choice serialises");
    result.result_json = json.to_string();
}

/// The record of a cell that could not run, with the reason.
pub fn failed(reason: String) -> (CellResult, Vec<CurvePointRow>) {
    (CellResult::failed(reason), Vec::new())
}
