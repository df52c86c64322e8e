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

/// Estimated seconds of a whole study on one core: every cell's run, and every tuned method's
/// tuning once per task it tunes on ([`tuning_full_runs`] full runs of that task) — a task's
/// own, or with width fidelity its narrow copy, which every rung of a width ladder shares.
/// `None` when a task's data size is unknown (a user's file).
pub fn study_seconds(study: &crate::Study) -> Option<f64> {
    let mut total = 0.0;
    let mut tunings = std::collections::HashSet::new();
    for task in &study.tasks {
        let run = cell_seconds(task)?;
        for method in &study.methods {
            total += run * study.seeds.len() as f64;
            let full_runs = tuning_full_runs(method);
            if full_runs > 0.0 {
                // With width fidelity, the narrow copy (a refused one: the task itself).
                let on =
                    lrctl_wrap::tuned::tuning_task(task, method).unwrap_or_else(|| task.clone());
                if tunings.insert((method.name().to_string(), on.name.clone())) {
                    total += cell_seconds(&on)? * full_runs;
                }
            }
        }
    }
    Some(total)
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

    /// Width fidelity tunes once, at width ×1, for every rung: the `-w1` copy of a tuned
    /// method costs the rungs' runs plus one tuning of the ×1 rung.
    #[test]
    fn width_fidelity_tunes_once_at_the_bottom_rung() {
        let ladder = ["mlp/fashion-mnist-ladder", "mlp/fashion-mnist-ladder@w4"];
        let study = |method: &str| {
            crate::StudyFile {
                tasks: ladder.iter().map(|t| t.to_string()).collect(),
                methods: vec![method.to_string()],
                seeds: Some(crate::Seeds::Count(3)),
                ..Default::default()
            }
            .resolve()
            .unwrap()
        };
        let [w1, w4] =
            ladder.map(|t| cell_seconds(&lrctl_tasks::registry::find(t).unwrap()).unwrap());
        let tuning = tuning_full_runs(&lrctl_wrap::find("smac-fixed").unwrap());
        let direct = study_seconds(&study("smac-fixed")).unwrap();
        let transferred = study_seconds(&study("smac-fixed-w1")).unwrap();
        let runs = 3.0 * (w1 + w4);
        assert!((direct - (runs + tuning * (w1 + w4))).abs() < 1e-9 * direct);
        assert!((transferred - (runs + tuning * w1)).abs() < 1e-9 * direct);
        assert!(transferred < direct);
    }
}
