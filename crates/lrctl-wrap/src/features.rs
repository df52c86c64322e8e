//! Meta-features of tasks: the one schema that algorithm selection (`auto`, `lrctl select`),
//! the report and the ASlib export share. Each feature's name is written next to its value
//! ([`StaticFeatures::columns`]), so the list of names can never drift from the values.
//!
//! Static features are known without training: the dataset's size and shape, the model's size,
//! the batch size, the budget and the model family. Probe features come from a short reference
//! run ([`crate::probe`]).

use lrctl_data::catalog::{self, Role};
use lrctl_tasks::{Budget, DataSpec, ModelSpec, TaskSpec};

/// The families the one-hot columns name, in column order.
const FAMILIES: [&str; 4] = ["linear", "mlp", "cnn", "lm"];

/// Static meta-features of one task (missing values are `None` and become NaN in
/// [`StaticFeatures::columns`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticFeatures {
    /// Rows of the training file (before holdout), when known without loading it.
    pub train_rows: Option<usize>,
    /// Input features per example.
    pub n_features: usize,
    /// Classes (or vocabulary size).
    pub n_classes: usize,
    /// Trainable parameters of the model.
    pub n_params: Option<u64>,
    /// Examples per mini-batch.
    pub batch_size: usize,
    /// Optimizer steps of a full run.
    pub budget_steps: Option<u64>,
    /// The model family (`linear`, `mlp`, `cnn`, `lm`, …).
    pub family: String,
}

impl StaticFeatures {
    /// The features as (name, value) columns, in schema order.
    pub fn columns(&self) -> Vec<(&'static str, f64)> {
        let ln = |v: Option<f64>| v.map_or(f64::NAN, f64::ln);
        let mut columns = vec![
            ("log_train_rows", ln(self.train_rows.map(|r| r as f64))),
            ("n_features", self.n_features as f64),
            ("n_classes", self.n_classes as f64),
            ("log_params", ln(self.n_params.map(|p| p as f64))),
            ("batch_size", self.batch_size as f64),
            ("log_budget_steps", ln(self.budget_steps.map(|s| s as f64))),
        ];
        for (name, family) in [
            ("family_linear", FAMILIES[0]),
            ("family_mlp", FAMILIES[1]),
            ("family_cnn", FAMILIES[2]),
            ("family_lm", FAMILIES[3]),
        ] {
            columns.push((name, f64::from(u8::from(self.family == family))));
        }
        columns
    }

    /// The column names, in schema order.
    pub fn names() -> Vec<&'static str> {
        StaticFeatures::default()
            .columns()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// The values, in schema order.
    pub fn values(&self) -> Vec<f64> {
        self.columns().into_iter().map(|(_, v)| v).collect()
    }

    /// The features of a task from its configuration; `n_params` is what the caller knows of
    /// the model's size (from a built model or a stored result), `stored_steps` the budget a
    /// stored result ran, used when the dataset's size is not known without loading it.
    pub fn of_task(
        task: &TaskSpec,
        n_params: Option<u64>,
        stored_steps: Option<u64>,
    ) -> StaticFeatures {
        let (features, classes) = shape(&task.data);
        StaticFeatures {
            train_rows: dataset_rows(&task.data).map(|(r, _)| r),
            n_features: features,
            n_classes: classes,
            n_params,
            batch_size: task.batch_size,
            budget_steps: steps(task).or(stored_steps),
            family: task.model.family().to_string(),
        }
    }
}

/// The static feature names as owned strings (what `lrctl_select::MetaFeatures` holds).
pub fn static_names() -> Vec<String> {
    StaticFeatures::names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Static meta-features of a prepared task, its model built once to count its parameters.
pub fn task_features(
    task: &dyn lrctl_tasks::Task,
) -> Result<StaticFeatures, lrctl_tasks::TaskError> {
    let n_params = task
        .instantiate(0, &lrctl_tasks::default_device())?
        .n_params();
    Ok(StaticFeatures::of_task(
        task.spec(),
        Some(n_params as u64),
        None,
    ))
}

/// Rows of the training file of a task's dataset (before holdout) and of its official test
/// file, when known without loading.
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

/// Input features and classes of a task's dataset, when known.
pub fn shape(data: &DataSpec) -> (usize, usize) {
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

/// Optimizer steps of one cell (the budget resolved against the dataset size), when the
/// dataset's size is known without loading it.
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
pub fn forward_macs(task: &TaskSpec) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_come_together() {
        let t = lrctl_tasks::registry::find("logreg/iris").unwrap();
        let f = StaticFeatures::of_task(&t, Some(15), None);
        let cols = f.columns();
        assert_eq!(cols.len(), StaticFeatures::names().len());
        let get = |n: &str| cols.iter().find(|c| c.0 == n).unwrap().1;
        assert_eq!(get("n_features"), 4.0);
        assert_eq!(get("n_classes"), 3.0);
        assert!((get("log_params") - 15f64.ln()).abs() < 1e-12);
        assert_eq!(get("family_linear"), 1.0);
        assert_eq!(get("family_mlp"), 0.0);
        assert!(StaticFeatures::of_task(&t, None, None).values()[3].is_nan());
    }

    #[test]
    fn steps_follow_the_budget() {
        let t = lrctl_tasks::registry::find("logreg/iris").unwrap();
        // 150 rows, 108 kept, batch 64 → 2 steps/epoch × 100 epochs.
        assert_eq!(steps(&t), Some(200));
        let lm = lrctl_tasks::registry::find("lm/tinyshakespeare").unwrap();
        assert_eq!(steps(&lm), Some(600));
    }
}
