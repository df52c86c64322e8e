//! Held-out splits of a task's data, prepared once and shared by every cell of the task.

use std::sync::Arc;

use lrctl_data::{DataDirs, Tabular};

use crate::error::TaskError;
use crate::models::Input;
use crate::spec::{DataSpec, TaskSpec};

/// Fixed seed for carving held-out rows: every cell of a task is scored on the same rows.
const SPLIT_SEED: u64 = 0x005e_ed0f_5917;

/// Classification rows split three ways, normalised with statistics of the training rows.
#[derive(Debug, Clone)]
pub struct ClassData {
    /// Rows the model trains on.
    pub train: Tabular,
    /// Held-out rows carved from the training file.
    pub validation: Tabular,
    /// Official test file, or held-out rows carved from the training file.
    pub test: Tabular,
    /// Whether `test` is an official test file.
    pub official_test: bool,
}

impl ClassData {
    /// The rows of a split.
    pub fn split(&self, split: crate::Split) -> &Tabular {
        match split {
            crate::Split::Train => &self.train,
            crate::Split::Validation => &self.validation,
            crate::Split::Test => &self.test,
        }
    }
}

/// A text corpus cut into contiguous train / validation / test ranges.
#[derive(Debug, Clone)]
pub struct TextData {
    /// Training bytes (the start of the corpus).
    pub train: Vec<u8>,
    /// Validation bytes (after the training range).
    pub validation: Vec<u8>,
    /// Test bytes (the end of the corpus).
    pub test: Vec<u8>,
}

/// Data of either kind.
#[derive(Debug, Clone)]
pub enum TaskData {
    /// Rows with class labels.
    Class(Arc<ClassData>),
    /// A byte corpus.
    Text(Arc<TextData>),
}

impl TaskData {
    /// The shape of prepared data (rows: the training split; for text, every byte), as the
    /// model arithmetic and the networks read it.
    pub fn shape(&self) -> lrctl_data::catalog::Shape {
        match self {
            TaskData::Class(c) => crate::shape_of(&c.train),
            TaskData::Text(t) => lrctl_data::catalog::Shape {
                rows: t.train.len() + t.validation.len() + t.test.len(),
                test_rows: None,
                features: 0,
                classes: lrctl_data::catalog::BYTE_VOCABULARY,
                image: None,
            },
        }
    }
}

/// Loads and splits the data of `spec`.
pub fn load(spec: &TaskSpec, dirs: &DataDirs) -> Result<TaskData, TaskError> {
    let wrap = |source| TaskError::Data {
        name: spec.name.clone(),
        source,
    };
    let h = spec.holdout;
    // Also part of `TaskSpec::validate`; repeated because callers may load without it and a
    // fraction outside [0, 1) would leave no training rows.
    check_fraction(spec, "holdout.validation", h.validation)?;
    check_fraction(spec, "holdout.test", h.test)?;
    match &spec.data {
        DataSpec::Embedded { name } => {
            let all = lrctl_data::embedded::load(name).map_err(wrap)?;
            let (rest, test) = carve(all, h.test, SPLIT_SEED);
            class_data(spec, rest, test, false)
        }
        DataSpec::Libsvm { name, path } => {
            let files = lrctl_data::load_libsvm(name, path.as_deref(), dirs).map_err(wrap)?;
            match files.test {
                Some(test) => class_data(spec, files.train, test, true),
                None => {
                    let (rest, test) = carve(files.train, h.test, SPLIT_SEED);
                    class_data(spec, rest, test, false)
                }
            }
        }
        DataSpec::Images {
            name,
            path,
            subsample,
        } => {
            let (train, test) =
                lrctl_data::load_images(name, path.as_deref(), dirs).map_err(wrap)?;
            let train = match subsample {
                Some(n) if *n < train.n_rows => {
                    let idx = lrctl_data::split::sample(train.n_rows, *n, SPLIT_SEED);
                    train.subset(&idx)
                }
                _ => train,
            };
            class_data(spec, train, test, true)
        }
        DataSpec::Text { name, path } => {
            let corpus = lrctl_data::load_text(name, path.as_deref(), dirs).map_err(wrap)?;
            let n = corpus.bytes.len();
            let n_test = (n as f64 * h.test) as usize;
            let n_val = (n as f64 * h.validation) as usize;
            let n_train = n - n_test - n_val;
            let Input::Text { context } = spec.model.input() else {
                return Err(invalid(
                    spec,
                    "text data needs a language model (`kind = \"lm\"`)",
                ));
            };
            for (part, len) in [
                ("training", n_train),
                ("validation", n_val),
                ("test", n_test),
            ] {
                if len < context + 2 {
                    return Err(invalid(
                        spec,
                        &format!(
                            "the {part} part of the corpus has {len} bytes, fewer than the \
                             context ({context}) + 2"
                        ),
                    ));
                }
            }
            let b = corpus.bytes;
            Ok(TaskData::Text(Arc::new(TextData {
                train: b[..n_train].to_vec(),
                validation: b[n_train..n_train + n_val].to_vec(),
                test: b[n_train + n_val..].to_vec(),
            })))
        }
    }
}

fn invalid(spec: &TaskSpec, reason: &str) -> TaskError {
    TaskError::Invalid {
        name: spec.name.clone(),
        reason: reason.to_string(),
    }
}

fn check_fraction(spec: &TaskSpec, field: &str, v: f64) -> Result<(), TaskError> {
    if (0.0..0.9).contains(&v) {
        Ok(())
    } else {
        Err(invalid(spec, &format!("{field} = {v} must be in [0, 0.9)")))
    }
}

/// Splits off a seeded `fraction` of the rows: (kept, held out). In place: the kept rows are
/// not copied (a second copy of a 60 000-image training set was the peak of a cell's memory).
fn carve(all: Tabular, fraction: f64, seed: u64) -> (Tabular, Tabular) {
    let (_, held) = lrctl_data::split::holdout(all.n_rows, fraction, seed);
    all.split_off_rows(&held)
}

/// Carves validation rows out of `train`, then normalises all three splits with statistics
/// of the remaining training rows.
fn class_data(
    spec: &TaskSpec,
    train: Tabular,
    test: Tabular,
    official_test: bool,
) -> Result<TaskData, TaskError> {
    let (mut train, mut validation) = carve(train, spec.holdout.validation, SPLIT_SEED ^ 1);
    let mut test = test;
    // An empty validation or test split (a tiny file, a zero fraction) is kept empty: its
    // evaluations report no value (`Workload::evaluate` gives `None`), never a 0.
    if train.n_rows == 0 {
        return Err(invalid(
            spec,
            "no training rows left after the held-out splits",
        ));
    }
    // The readers give a test file the training file's width (LIBSVM) or refuse another
    // image size (IDX); padding here would hide a reader bug behind zeros.
    if test.n_features != train.n_features || test.image_shape != train.image_shape {
        return Err(invalid(
            spec,
            &format!(
                "the test split has {} features ({:?}), the training split {} ({:?})",
                test.n_features, test.image_shape, train.n_features, train.image_shape
            ),
        ));
    }
    let norm = spec.normalization.fit(&train);
    norm.apply(&mut train);
    norm.apply(&mut validation);
    norm.apply(&mut test);
    Ok(TaskData::Class(Arc::new(ClassData {
        train,
        validation,
        test,
        official_test,
    })))
}
