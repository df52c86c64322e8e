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
    /// Wraps already prepared data.
    pub fn new(spec: TaskSpec, data: TaskData) -> Result<Self, TaskError> {
        let ok = matches!(
            (&spec.model, &data),
            (ModelSpec::Lm { .. }, TaskData::Text(_))
                | (
                    ModelSpec::Linear | ModelSpec::Mlp { .. } | ModelSpec::Cnn { .. },
                    TaskData::Class(_)
                )
        );
        if !ok {
            return Err(TaskError::Invalid {
                name: spec.name.clone(),
                reason: "the model family does not fit the data (language models need text, \
                         classifiers need labelled rows)"
                    .into(),
            });
        }
        if let (ModelSpec::Cnn { .. }, TaskData::Class(c)) = (&spec.model, &data)
            && c.train.image_shape.is_none()
        {
            return Err(TaskError::Invalid {
                name: spec.name.clone(),
                reason: "a CNN needs image data (rows with an image shape)".into(),
            });
        }
        if let ModelSpec::Lm { d_model, heads, .. } = &spec.model
            && !(d_model * spec.width as usize).is_multiple_of(heads * spec.width as usize)
        {
            return Err(TaskError::Invalid {
                name: spec.name.clone(),
                reason: format!("d_model {d_model} is not divisible by heads {heads}"),
            });
        }
        if spec.batch_size == 0 {
            return Err(TaskError::Invalid {
                name: spec.name.clone(),
                reason: "batch_size must be at least 1".into(),
            });
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
                classifier(init_params(m, &mut rng), c, device)
            }
            (ModelSpec::Mlp { hidden }, TaskData::Class(c)) => {
                let widths = crate::spec::scaled_hidden(hidden, self.spec.width, self.spec.depth);
                let m = Mlp::new(c.train.n_features, &widths, c.train.n_classes, device);
                classifier(init_params(m, &mut rng), c, device)
            }
            (ModelSpec::Cnn { channels, hidden }, TaskData::Class(c)) => {
                let image = c.train.image_shape.expect("checked in LoadedTask::new");
                let m = Cnn::new(
                    image,
                    [channels[0] * w, channels[1] * w],
                    hidden * w,
                    c.train.n_classes,
                    device,
                );
                classifier(init_params(m, &mut rng), c, device)
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
                    init_params(m, &mut rng),
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

/// The initialisation stream of a cell seed (distinct from the engine's shuffle stream).
fn seed_for_init(seed: u64) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x1217_a11a_u64
}
