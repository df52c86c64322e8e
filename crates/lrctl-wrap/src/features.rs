//! Meta-features of tasks: the one schema that algorithm selection (`auto`, `lrctl select`),
//! the report and the ASlib export share. Each feature's name is written next to its value
//! ([`StaticFeatures::columns`]), so the list of names can never drift from the values.
//!
//! Static features are known without training: the dataset's size and shape, the model's size,
//! the batch size, the budget and the model family. Probe features come from a short reference
//! run ([`crate::probe`]).

use lrctl_tasks::TaskSpec;

/// The families the one-hot columns name, in column order. A family registered since
/// (`lrctl_tasks::ModelSpec::KINDS`) has all four columns 0: the schema stays the one the
/// existing studies' selectors were fitted on, and a new family is none of these.
const FAMILIES: [&str; 4] = ["linear", "mlp", "cnn", "lm"];

/// Static meta-features of one task (missing values are `None` and become NaN in
/// [`StaticFeatures::columns`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticFeatures {
    /// Rows of the training file (before holdout), when known without loading it.
    pub train_rows: Option<usize>,
    /// Input features per example (pixels of an image; 0 for text).
    pub n_features: Option<usize>,
    /// Classes (256 byte values for text).
    pub n_classes: Option<usize>,
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
            ("n_features", self.n_features.map_or(f64::NAN, |n| n as f64)),
            ("n_classes", self.n_classes.map_or(f64::NAN, |n| n as f64)),
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

    /// The features of a task from its configuration and the data catalog (see
    /// [`TaskSpec::data_shape`]); `n_params` and `stored_steps` are what the caller knows of
    /// the model's size and budget (a built model, a stored result) when the catalog does not
    /// know the data (a user's file).
    pub fn of_task(
        task: &TaskSpec,
        n_params: Option<u64>,
        stored_steps: Option<u64>,
    ) -> StaticFeatures {
        let shape = task.data_shape();
        StaticFeatures {
            train_rows: shape.map(|s| s.rows),
            n_features: shape.map(|s| s.features),
            n_classes: shape.map(|s| s.classes),
            n_params: shape.map(|s| task.n_params(&s)).or(n_params),
            batch_size: task.batch_size,
            budget_steps: task.planned_steps().or(stored_steps),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_come_together() {
        let t = lrctl_tasks::registry::find("logreg/iris").unwrap();
        // The catalog knows iris: its size comes from there, whatever the caller says.
        let f = StaticFeatures::of_task(&t, None, None);
        let cols = f.columns();
        assert_eq!(cols.len(), StaticFeatures::names().len());
        let get = |n: &str| cols.iter().find(|c| c.0 == n).unwrap().1;
        assert_eq!(get("n_features"), 4.0);
        assert_eq!(get("n_classes"), 3.0);
        assert!((get("log_params") - 15f64.ln()).abs() < 1e-12);
        assert_eq!(get("family_linear"), 1.0);
        assert_eq!(get("family_mlp"), 0.0);
        // A user's file is unknown until loaded: what the caller knows, else missing.
        let user = lrctl_tasks::registry::find("libsvm/file").unwrap();
        assert!(StaticFeatures::of_task(&user, None, None).values()[3].is_nan());
        let known = StaticFeatures::of_task(&user, Some(99), Some(7)).values();
        assert!((known[3] - 99f64.ln()).abs() < 1e-12 && (known[5] - 7f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn the_family_one_hots_name_four_families_and_no_other() {
        assert_eq!(StaticFeatures::names().len(), 10);
        for t in lrctl_tasks::registry::builtin() {
            let family = t.model.family();
            let hot: Vec<&str> = StaticFeatures::of_task(&t, None, None)
                .columns()
                .into_iter()
                .filter(|&(name, v)| name.starts_with("family_") && v != 0.0)
                .map(|(name, _)| name)
                .collect();
            if FAMILIES.contains(&family) {
                assert_eq!(hot, [format!("family_{family}")], "{}", t.name);
            } else {
                assert!(hot.is_empty(), "{}: {hot:?}", t.name);
            }
        }
    }

    #[test]
    fn steps_follow_the_budget() {
        let t = lrctl_tasks::registry::find("logreg/iris").unwrap();
        // 150 rows, 108 kept, batch 64 → 2 steps/epoch × 100 epochs.
        assert_eq!(t.planned_steps(), Some(200));
        let lm = lrctl_tasks::registry::find("lm/tinyshakespeare").unwrap();
        assert_eq!(lm.planned_steps(), Some(600));
    }
}
