//! Rough CPU-time estimates for `lrctl suites`, without loading data or training.
//!
//! A step costs a fixed overhead plus its multiply-accumulates divided by its family's
//! throughput ([`lrctl_tasks::ModelFamily::MACS_PER_SECOND`]). The constants were measured with
//! `lrctl train` on the 2-core CI machine (release build, one thread per cell; see README's
//! performance table); the estimate is meant to say "seconds, minutes or hours", not to be
//! exact.

use lrctl_tasks::TaskSpec;

/// Fixed cost of one step (batching, optimizer pass, bookkeeping), seconds.
const STEP_OVERHEAD: f64 = 20e-6;

/// Estimated seconds of one cell on one core: training steps plus the periodic and final
/// evaluations (forward passes over at most `eval_max_examples` rows each).
/// The model arithmetic is `lrctl-tasks`' ([`TaskSpec::forward_macs`]), the dataset's shape
/// the catalog's; `None` when the data is a user's file (its size is unknown until loaded).
pub fn cell_seconds(task: &TaskSpec) -> Option<f64> {
    let steps = task.planned_steps()? as f64;
    let macs = task.forward_macs(&task.data_shape()?) as f64;
    let rate = task.model.macs_per_second();
    let step = STEP_OVERHEAD + 3.0 * macs * task.batch_size as f64 / rate;
    let evals = f64::from(task.evals) + 3.0;
    let eval = evals * task.eval_max_examples as f64 * macs / rate;
    Some(steps * step + eval)
}

/// Tuning a tuned method costs about this many full runs per (task, tuning seed): its trials
/// times their mean budget, taken as midway between the smallest and the full budget (SMAC's
/// 50 trials from 20 % measured 33 full runs on logreg/iris; this says 30). 0 for plain methods.
pub fn tuning_full_runs(method: &lrctl_wrap::Method) -> f64 {
    method.tune().map_or(0.0, |t| {
        let trials = t.trials.unwrap_or(lrctl_tune::DEFAULT_TRIALS) as f64;
        trials * (1.0 + t.min_budget_fraction) / 2.0
    })
}

/// "12 s", "4.5 min", "3.2 h".
pub fn human(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 5400.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigger_models_cost_more() {
        let a = lrctl_tasks::registry::find("mlp/fashion-mnist-10k").unwrap();
        let b = lrctl_tasks::registry::find("mlp/fashion-mnist-10k@w4").unwrap();
        assert!(cell_seconds(&b).unwrap() > 4.0 * cell_seconds(&a).unwrap());
        assert_eq!(human(30.0), "30 s");
        assert_eq!(human(600.0), "10.0 min");
    }
}
