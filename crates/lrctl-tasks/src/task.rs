//! A task with its data loaded: the object every cell of a task shares.

use std::sync::Arc;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::{ClassData, TaskData};
use crate::error::TaskError;
use crate::init::init_params;
use crate::models::{ByteLm, Cnn, Logistic, Mlp};
use crate::spec::{ModelSpec, TaskSpec};
use crate::workload::{ClassifierWorkload, LmWorkload, Workload};

/// Summary of a task's data (meta-features for selection, lines for `lrctl tasks`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataSummary {
    /// Training examples (rows, or byte windows for text).
    pub train: usize,
    /// Validation examples.
    pub validation: usize,
    /// Test examples.
    pub test: usize,
    /// Input features (0 for text).
    pub features: usize,
    /// Classes (256 byte values for text).
    pub classes: usize,
    /// Fraction of zero feature values in the training rows.
    pub sparsity: f64,
    /// Whether the test split is an official test file.
    pub official_test: bool,
}

/// A task whose data is in memory; instantiate it once per seed.
pub trait Task: Send + Sync {
    /// The configuration.
    fn spec(&self) -> &TaskSpec;
    /// Sizes of the data.
    fn summary(&self) -> DataSummary;
    /// Builds the model for `seed` (seeded initialisation) on `device`.
    fn instantiate(&self, seed: u64, device: &Device) -> Result<Box<dyn Workload>, TaskError>;
}

/// The only [`Task`] implementation: a spec and its loaded data. Model families are chosen by
/// [`ModelSpec`], so adding a family means adding a model and one match arm.
pub struct LoadedTask {
    spec: TaskSpec,
    data: TaskData,
}

impl LoadedTask {
    /// Wraps already prepared data, refusing what cannot train: a model family that does not
    /// fit the data, a specification [`TaskSpec::validate`] refuses, data without features
    /// or with fewer than two classes, a CNN on images smaller than 4×4 (its two poolings
    /// would leave nothing), and a cell estimated to need more than this machine's memory.
    pub fn new(spec: TaskSpec, data: TaskData) -> Result<Self, TaskError> {
        let invalid = |reason: String| TaskError::Invalid {
            name: spec.name.clone(),
            reason,
        };
        let ok = matches!(
            (&spec.model, &data),
            (ModelSpec::Lm { .. }, TaskData::Text(_))
                | (
                    ModelSpec::Linear | ModelSpec::Mlp { .. } | ModelSpec::Cnn { .. },
                    TaskData::Class(_)
                )
        );
        if !ok {
            return Err(invalid(
                "the model family does not fit the data (language models need text, \
                 classifiers need labelled rows)"
                    .into(),
            ));
        }
        spec.validate()?;
        if let TaskData::Class(c) = &data {
            if c.train.n_features == 0 {
                return Err(invalid(
                    "the data has no features (every row is a bare label)".into(),
                ));
            }
            if c.train.n_present_classes() < 2 {
                return Err(invalid(format!(
                    "the training rows hold {} class(es); a classifier needs at least two",
                    c.train.n_present_classes()
                )));
            }
            if let ModelSpec::Cnn { .. } = &spec.model {
                match c.train.image_shape {
                    None => {
                        return Err(invalid(
                            "a CNN needs image data (rows with an image shape)".into(),
                        ));
                    }
                    Some([_, h, w]) if h < 4 || w < 4 => {
                        return Err(invalid(format!(
                            "a CNN needs images of at least 4x4 pixels (two 2x2 poolings); \
                             these are {h}x{w}: use an MLP (`mlp/idx`)"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(available) = crate::machine_memory() {
            spec.check_memory(&data_shape(&data), available)?;
        }
        Ok(LoadedTask { spec, data })
    }

    /// The prepared data.
    pub fn data(&self) -> &TaskData {
        &self.data
    }
}

impl Task for LoadedTask {
    fn spec(&self) -> &TaskSpec {
        &self.spec
    }

    fn summary(&self) -> DataSummary {
        match &self.data {
            TaskData::Class(c) => {
                let zeros = c.train.x.iter().filter(|&&v| v == 0.0).count();
                DataSummary {
                    train: c.train.n_rows,
                    validation: c.validation.n_rows,
                    test: c.test.n_rows,
                    features: c.train.n_features,
                    classes: c.train.n_classes,
                    sparsity: zeros as f64 / c.train.x.len().max(1) as f64,
                    official_test: c.official_test,
                }
            }
            TaskData::Text(t) => DataSummary {
                train: t.train.len(),
                validation: t.validation.len(),
                test: t.test.len(),
                features: 0,
                classes: 256,
                sparsity: 0.0,
                official_test: false,
            },
        }
    }

    fn instantiate(&self, seed: u64, device: &Device) -> Result<Box<dyn Workload>, TaskError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_for_init(seed));
        let w = self.spec.width as usize;
        let d = self.spec.depth as usize;
        Ok(match (&self.spec.model, &self.data) {
            (ModelSpec::Linear, TaskData::Class(c)) => {
                let m = Logistic::new(c.train.n_features, c.train.n_classes, device);
                classifier(init_params(m, &mut rng)?, c, device)
            }
            (ModelSpec::Mlp { hidden }, TaskData::Class(c)) => {
                let widths = crate::spec::scaled_hidden(hidden, self.spec.width, self.spec.depth);
                let m = Mlp::new(c.train.n_features, &widths, c.train.n_classes, device);
                classifier(init_params(m, &mut rng)?, c, device)
            }
            (ModelSpec::Cnn { channels, hidden }, TaskData::Class(c)) => {
                let Some(image) = c.train.image_shape else {
                    unreachable!("checked in LoadedTask::new")
                };
                let m = Cnn::new(
                    image,
                    [channels[0] * w, channels[1] * w],
                    hidden * w,
                    c.train.n_classes,
                    device,
                );
                classifier(init_params(m, &mut rng)?, c, device)
            }
            (
                ModelSpec::Lm {
                    d_model,
                    layers,
                    heads,
                    context,
                },
                TaskData::Text(t),
            ) => {
                let m = ByteLm::new(d_model * w, layers * d, heads * w, *context, device);
                Box::new(LmWorkload::new(
                    init_params(m, &mut rng)?,
                    Arc::clone(t),
                    *context,
                    device.clone(),
                ))
            }
            _ => unreachable!("checked in LoadedTask::new"),
        })
    }
}

fn classifier<N: crate::models::Classifier + 'static>(
    model: N,
    data: &Arc<ClassData>,
    device: &Device,
) -> Box<dyn Workload> {
    Box::new(ClassifierWorkload::new(
        model,
        Arc::clone(data),
        device.clone(),
    ))
}

/// The shape of prepared data (rows: the training split).
fn data_shape(data: &TaskData) -> lrctl_data::catalog::Shape {
    match data {
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

/// The initialisation stream of a cell seed (distinct from the engine's shuffle stream).
fn seed_for_init(seed: u64) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x1217_a11a_u64
}
