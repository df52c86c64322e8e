//! Rough CPU-time estimates for `lrctl suites`, without loading data or training.
//!
//! A step costs a fixed overhead plus its multiply-accumulates divided by a per-family
//! throughput. The constants were measured with `lrctl train` on the 2-core CI machine (release
//! build, one thread per cell; see README's performance table); the estimate is meant to say
//! "seconds, minutes or hours", not to be exact.

use lrctl_data::catalog::{self, Role};
use lrctl_tasks::{Budget, DataSpec, ModelSpec, TaskSpec};

/// Fixed cost of one step (batching, optimizer pass, bookkeeping), seconds.
const STEP_OVERHEAD: f64 = 20e-6;

/// Multiply-accumulates per second (forward + backward counted as 3 forward passes), by family.
fn macs_per_second(model: &ModelSpec) -> f64 {
    match model {
        ModelSpec::Linear | ModelSpec::Mlp { .. } => 30e9,
        ModelSpec::Cnn { .. } => 10e9,
        ModelSpec::Lm { .. } => 15e9,
    }
}

/// Rows of the training file of a task's dataset (before holdout), when known without loading.
fn dataset_rows(data: &DataSpec) -> Option<(usize, Option<usize>)> {
    match data {
        DataSpec::Embedded { name } => {
            let rows = match name.as_str() {
                "iris" => 150,
                "breast-cancer" => 569,
                "wine-quality" => 1599,
                "digits" => 1797,
                _ => return None,
            };
            Some((rows, None))
        }
        DataSpec::Libsvm { name, path: None } => {
            let d = catalog::find(name)?;
            let train = d.file(Role::Train)?.rows;
            Some((train, d.file(Role::Test).map(|f| f.rows)))
        }
        DataSpec::Images {
            name,
            path: None,
            subsample,
        } => {
            let d = catalog::find(name)?;
            let train = d.file(Role::TrainImages)?.rows;
            Some((subsample.map_or(train, |s| s.min(train)), Some(0)))
        }
        DataSpec::Text { .. } => Some((1_000_000, None)),
        _ => None,
    }
}

/// Input features, classes and (for images) pixels of a task's dataset, when known.
fn shape(data: &DataSpec) -> (usize, usize) {
    match data {
        DataSpec::Embedded { name } => match name.as_str() {
            "iris" => (4, 3),
            "breast-cancer" => (30, 2),
            "wine-quality" => (11, 6),
            _ => (64, 10),
        },
        DataSpec::Libsvm { name, .. } => catalog::find(name)
            .map(|d| (d.features.unwrap_or(100), d.classes.unwrap_or(2)))
            .unwrap_or((100, 2)),
        DataSpec::Images { .. } => (784, 10),
        DataSpec::Text { .. } => (256, 256),
    }
}

/// Training-file rows (when known without loading), input features and classes of a task's
/// dataset: static meta-features for algorithm selection.
pub fn data_shape(task: &TaskSpec) -> (Option<usize>, usize, usize) {
    let (features, classes) = shape(&task.data);
    (dataset_rows(&task.data).map(|(r, _)| r), features, classes)
}

/// Optimizer steps of one cell (the budget resolved against the dataset size).
pub fn steps(task: &TaskSpec) -> Option<u64> {
    match task.budget {
        Budget::Steps(n) => Some(n),
        Budget::Epochs(_) => {
            let (rows, test) = dataset_rows(&task.data)?;
            // Files with an official test split keep validation out of the training rows only.
            let kept = match test {
                Some(_) => 1.0 - task.holdout.validation,
                None => (1.0 - task.holdout.test) * (1.0 - task.holdout.validation),
            };
            let n_train = ((rows as f64) * kept).round().max(1.0) as usize;
            Some(task.budget.steps(n_train, task.batch_size))
        }
    }
}

/// Multiply-accumulates of one forward pass over one example.
fn forward_macs(task: &TaskSpec) -> f64 {
    let (features, classes) = shape(&task.data);
    let w = task.width as usize;
    match &task.model {
        ModelSpec::Linear => (features * classes) as f64,
        ModelSpec::Mlp { hidden } => {
            let mut dims = vec![features];
            dims.extend(hidden.iter().map(|h| h * w));
            dims.push(classes);
            dims.windows(2).map(|p| (p[0] * p[1]) as f64).sum()
        }
        ModelSpec::Cnn { channels, hidden } => {
            let (c1, c2, h) = (channels[0] * w, channels[1] * w, hidden * w);
            (28 * 28 * c1 * 9 + 14 * 14 * c1 * c2 * 9 + 7 * 7 * c2 * h + h * classes) as f64
        }
        ModelSpec::Lm {
            d_model,
            layers,
            context,
            ..
        } => {
            let d = d_model * w;
            let l = layers * task.depth as usize;
            // Per token: 12 d² in projections and MLP, 2 · context · d in attention, the head.
            (context * (l * (12 * d * d + 2 * context * d) + d * classes)) as f64
        }
    }
}

/// Estimated seconds of one cell on one core: training steps plus the periodic and final
/// evaluations (forward passes over at most `eval_max_examples` rows each).
pub fn cell_seconds(task: &TaskSpec) -> Option<f64> {
    let steps = steps(task)? as f64;
    let rate = macs_per_second(&task.model);
    let step = STEP_OVERHEAD + 3.0 * forward_macs(task) * task.batch_size as f64 / rate;
    let evals = f64::from(task.evals) + 3.0;
    let eval = evals * task.eval_max_examples as f64 * forward_macs(task) / rate;
    Some(steps * step + eval)
}

/// Tuning a tuned method costs about this many full runs per (task, tuning seed): its trials
/// times their mean budget, taken as midway between the smallest and the full budget (SMAC's
/// 50 trials from 20 % measured 33 full runs on logreg/iris; this says 30). 0 for plain methods.
pub fn tuning_full_runs(method: &lrctl_method::MethodSpec) -> f64 {
    method.tune.as_ref().map_or(0.0, |t| {
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
    fn steps_follow_the_budget() {
        let t = lrctl_tasks::registry::find("logreg/iris").unwrap();
        // 150 rows, 108 kept, batch 64 → 2 steps/epoch × 100 epochs.
        assert_eq!(steps(&t), Some(200));
        let lm = lrctl_tasks::registry::find("lm/tinyshakespeare").unwrap();
        assert_eq!(steps(&lm), Some(600));
    }

    #[test]
    fn bigger_models_cost_more() {
        let a = lrctl_tasks::registry::find("mlp/fashion-mnist-10k").unwrap();
        let b = lrctl_tasks::registry::find("mlp/fashion-mnist-10k@w4").unwrap();
        assert!(cell_seconds(&b).unwrap() > 4.0 * cell_seconds(&a).unwrap());
        assert_eq!(human(30.0), "30 s");
        assert_eq!(human(600.0), "10.0 min");
    }
}
