//! Task configuration as data: what to train, on what, for how long.
//!
//! Built-in tasks live in [`crate::registry`]; a study file can declare its own with the same
//! fields, so bringing a dataset or a model size never needs a code change.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::TaskError;

pub use crate::models::{ModelSpec, Scale};
pub use crate::mup::Parametrization;

pub use lrctl_data::Normalization;

/// A task: dataset + model + loss + metrics + budget + scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Registry name, `family/dataset`, e.g. `libsvm/letter`.
    pub name: String,
    /// One line for `lrctl tasks`.
    pub description: String,
    /// Where the examples come from.
    pub data: DataSpec,
    /// The network trained on them.
    pub model: ModelSpec,
    /// Width multiplier (hidden units, channels, embedding size); the `ladder` suite's axis.
    #[serde(default = "one")]
    pub width: u32,
    /// Depth multiplier (hidden layers, transformer blocks).
    #[serde(default = "one")]
    pub depth: u32,
    /// How initialisation and per-layer learning rates scale with `width`: `standard` (the
    /// default, left out of the JSON so existing configuration hashes hold) or `mup`
    /// ([`crate::mup`], relative to width ×1).
    #[serde(default, skip_serializing_if = "Parametrization::is_standard")]
    pub parametrization: Parametrization,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Training length.
    pub budget: Budget,
    /// Evaluations on the validation split over the run (evenly spaced, the last at the end).
    #[serde(default = "default_evals")]
    pub evals: u32,
    /// Points in the recorded learning curve (train loss is averaged between points).
    #[serde(default = "default_curve_points")]
    pub curve_points: u32,
    /// Cap on validation examples used by the periodic evaluations (the final evaluation uses
    /// the whole held-out split).
    #[serde(default = "default_eval_max")]
    pub eval_max_examples: usize,
    /// Per-feature normalisation fitted on the training rows.
    #[serde(default)]
    pub normalization: Normalization,
    /// How held-out data is carved out of the training file.
    #[serde(default)]
    pub holdout: Holdout,
    /// SHA-256 of the content of the data it reads from an explicit path, recorded when a study
    /// is defined (see [`TaskSpec::pinned`]); loading checks it. Absent for embedded and mirror
    /// datasets, which their names identify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
}

fn one() -> u32 {
    1
}
fn default_evals() -> u32 {
    10
}
fn default_curve_points() -> u32 {
    100
}
fn default_eval_max() -> usize {
    2048
}

/// Fractions of the training file set aside. The validation split is always carved from the
/// training file; the test split comes from the official test file when one exists
/// (LIBSVM `.t`, MNIST `t10k`), otherwise it is carved too. Splits use a fixed seed per task so
/// every cell of a study is scored on the same held-out rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// Fraction of the training file used for validation.
    pub validation: f64,
    /// Fraction used for testing when no official test file exists.
    pub test: f64,
}

impl Default for Holdout {
    fn default() -> Self {
        Holdout {
            validation: 0.1,
            test: 0.2,
        }
    }
}

/// Where a task's examples come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataSpec {
    /// A dataset compiled into a dependency (`iris`, `breast-cancer`, `digits`, `wine-quality`).
    Embedded {
        /// Dataset name.
        name: String,
    },
    /// A LIBSVM file: a mirror name (`letter`) or an explicit path (its `PATH.t` sibling, when
    /// present, is the test split).
    Libsvm {
        /// Mirror name or a label for a user file.
        name: String,
        /// Explicit file, overriding the lookup.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
    /// IDX images (`mnist`, `fashion-mnist`), optionally subsampled.
    Images {
        /// Mirror name.
        name: String,
        /// Explicit directory holding the four IDX files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
        /// Use this many training rows (seeded, fixed per task) instead of all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subsample: Option<usize>,
    },
    /// A byte-level text corpus (`tinyshakespeare`).
    Text {
        /// Mirror name.
        name: String,
        /// Explicit file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
}

impl DataSpec {
    /// The dataset's name.
    pub fn name(&self) -> &str {
        match self {
            DataSpec::Embedded { name }
            | DataSpec::Libsvm { name, .. }
            | DataSpec::Images { name, .. }
            | DataSpec::Text { name, .. } => name,
        }
    }

    /// Whether the data ships inside the binary (no files needed).
    pub fn is_embedded(&self) -> bool {
        matches!(self, DataSpec::Embedded { .. })
    }

    /// Whether this is a template (`libsvm/file`, `lm/file`, ...) that trains on a file the
    /// user names with `--data`, and none has been given yet.
    pub fn needs_path(&self) -> bool {
        match self {
            DataSpec::Embedded { .. } => false,
            DataSpec::Libsvm { name, path }
            | DataSpec::Images { name, path, .. }
            | DataSpec::Text { name, path } => path.is_none() && name == USER_FILE,
        }
    }

    /// The explicit file (or IDX directory) it reads, when one was given.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            DataSpec::Embedded { .. } => None,
            DataSpec::Libsvm { path, .. }
            | DataSpec::Images { path, .. }
            | DataSpec::Text { path, .. } => path.as_deref(),
        }
    }

    /// The same source read from an explicit file (or IDX directory). Embedded data has no
    /// file, so it is returned unchanged.
    pub fn with_path(&self, file: PathBuf) -> DataSpec {
        let mut d = self.clone();
        match &mut d {
            DataSpec::Embedded { .. } => {}
            DataSpec::Libsvm { path, .. }
            | DataSpec::Images { path, .. }
            | DataSpec::Text { path, .. } => *path = Some(file),
        }
        d
    }
}

/// Dataset name of the templates that train on a user's file.
pub const USER_FILE: &str = "file";

/// Training length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Budget {
    /// Passes over the training split (rounded up to whole steps).
    Epochs(f64),
    /// Optimizer steps.
    Steps(u64),
}

impl Budget {
    /// The budget in optimizer steps for a training split of `n_train` rows (at least one: a
    /// budget of zero or less is refused by [`TaskSpec::validate`] before it gets here).
    pub fn steps(&self, n_train: usize, batch_size: usize) -> u64 {
        let per_epoch = steps_per_epoch(n_train, batch_size);
        match *self {
            Budget::Steps(s) => s.max(1),
            Budget::Epochs(e) => ((e * per_epoch as f64).ceil() as u64).max(1),
        }
    }
}

/// Optimizer steps in one pass over `n_train` rows; the last partial batch is kept.
pub fn steps_per_epoch(n_train: usize, batch_size: usize) -> u64 {
    (n_train.max(1)).div_ceil(batch_size.max(1)) as u64
}

impl TaskSpec {
    /// The same task at width multiplier `width`, named like that ladder rung
    /// (`mlp/fashion-mnist-ladder@w4` → `mlp/fashion-mnist-ladder` at width 1). Not validated:
    /// a family without a width axis refuses it in [`TaskSpec::validate`].
    pub fn at_width(&self, width: u32) -> TaskSpec {
        let mut spec = self.clone();
        spec.width = width;
        spec.name = format!(
            "{}{}",
            crate::ladder::base_name(&self.name),
            crate::registry::scale_suffix(width, self.depth)
        );
        spec
    }

    /// The width and depth multipliers.
    pub fn scale(&self) -> Scale {
        Scale {
            width: self.width,
            depth: self.depth,
        }
    }

    /// Checks every field that does not depend on the data, naming the field: sizes and
    /// budgets of zero, negative or non-finite values, holdout fractions, scale factors the
    /// model has no axis for. Run before anything is stored or loaded; [`crate::prepare`] runs
    /// it too. (Data-dependent checks, e.g. image sizes and memory, come once the shape is
    /// known: [`TaskSpec::check_memory`] and `prepare`.)
    pub fn validate(&self) -> Result<(), TaskError> {
        let bad = |field: &str, reason: String| TaskError::Invalid {
            name: self.name.clone(),
            reason: format!("{field} {reason}"),
        };
        if self.name.trim().is_empty() || self.name.chars().any(char::is_control) {
            return Err(bad(
                "name",
                format!(
                    "{:?} must be non-empty and without control characters (newlines, tabs)",
                    self.name
                ),
            ));
        }
        for (field, v) in [("width", self.width), ("depth", self.depth)] {
            if v == 0 {
                return Err(bad(field, "= 0: scale factors start at 1".into()));
            }
        }
        crate::registry::check_axes(&self.model, self.width, self.depth)
            .map_err(|r| bad("width/depth:", r))?;
        if self.parametrization == Parametrization::Mup && !self.model.axes().width {
            return Err(bad(
                "parametrization",
                format!(
                    "= \"mup\": µP scales initialisation and learning rates with width, and a {} \
                     model has no width axis; use \"standard\"",
                    self.model.family()
                ),
            ));
        }
        if self.batch_size == 0 {
            return Err(bad(
                "batch_size",
                "= 0: a step needs at least one example".into(),
            ));
        }
        match self.budget {
            Budget::Epochs(e) if !(e.is_finite() && e > 0.0) => {
                return Err(bad(
                    "budget.epochs",
                    format!("= {e}: give a positive number of passes (e.g. 0.5, 20)"),
                ));
            }
            Budget::Steps(0) => {
                return Err(bad("budget.steps", "= 0: give at least one step".into()));
            }
            _ => {}
        }
        if self.curve_points == 0 {
            return Err(bad(
                "curve_points",
                "= 0: a curve needs at least one point".into(),
            ));
        }
        if self.eval_max_examples == 0 {
            return Err(bad(
                "eval_max_examples",
                "= 0: evaluations need at least one example".into(),
            ));
        }
        for (field, v) in [
            ("holdout.validation", self.holdout.validation),
            ("holdout.test", self.holdout.test),
        ] {
            if !(0.0..0.9).contains(&v) {
                return Err(bad(field, format!("= {v} must be in [0, 0.9)")));
            }
        }
        self.model.validate().map_err(|e| bad(&e.field, e.reason))?;
        Ok(())
    }
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Smaller is better (loss, bits per byte).
    Minimize,
    /// Larger is better (accuracy).
    Maximize,
}
