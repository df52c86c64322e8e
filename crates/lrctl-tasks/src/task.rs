//! A task with its data loaded: the object every cell of a task shares.

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::TaskData;
use crate::error::TaskError;
use crate::models::Input;
use crate::spec::TaskSpec;
use crate::stacked::StackedWorkload;
use crate::workload::Workload;

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

    /// `k` copies of the model for `seed`, stacked to train together over the same
    /// mini-batches (batched tuning trials, [`crate::stacked`]); `Ok(None)`, the default, when
    /// the task's model family has no stacked form.
    fn instantiate_stacked(
        &self,
        seed: u64,
        k: usize,
    ) -> Result<Option<Box<dyn StackedWorkload>>, TaskError> {
        let _ = (seed, k);
        Ok(None)
    }

    /// The same task and data at width multiplier `width` (a narrower proxy to tune on, for
    /// `--fidelity width`), named as the registry names it. The default refuses: only a task
    /// that holds its data can share it.
    fn at_width(&self, width: u32) -> Result<std::sync::Arc<dyn Task>, TaskError> {
        Err(TaskError::Invalid {
            name: self.spec().name.clone(),
            reason: format!("this task cannot be rebuilt at width ×{width}"),
        })
    }
}

/// The only [`Task`] implementation: a spec and its loaded data. Model families are chosen by
/// [`crate::ModelSpec`] (one module per family, see [`crate::models`]), so this type knows none of
/// them.
pub struct LoadedTask {
    spec: TaskSpec,
    data: TaskData,
}

impl LoadedTask {
    /// Wraps already prepared data, refusing what cannot train: a model family that does not
    /// fit the data (its [`Input`]), a specification [`TaskSpec::validate`] refuses, data
    /// without features or with fewer than two classes, images smaller than the family reads
    /// (a CNN's two poolings would leave nothing of fewer than 4×4 pixels), and a cell
    /// estimated to need more than this machine's memory.
    pub fn new(spec: TaskSpec, data: TaskData) -> Result<Self, TaskError> {
        let invalid = |reason: String| TaskError::Invalid {
            name: spec.name.clone(),
            reason,
        };
        let input = spec.model.input();
        if !input.reads(&data) {
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
            if let Input::Images { min_side } = input {
                let family = spec.model.family();
                match c.train.image_shape {
                    None => {
                        return Err(invalid(format!(
                            "a {family} model needs image data (rows with an image shape)"
                        )));
                    }
                    Some([_, h, w]) if h < min_side || w < min_side => {
                        return Err(invalid(format!(
                            "a {family} model needs images of at least {min_side}x{min_side} \
                             pixels; these are {h}x{w}: use an MLP (`mlp/idx`)"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(available) = crate::machine_memory() {
            spec.check_memory(&data.shape(), available)?;
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
                let zeros = c.train.x.zeros(c.train.n_features);
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

    fn at_width(&self, width: u32) -> Result<std::sync::Arc<dyn Task>, TaskError> {
        Ok(std::sync::Arc::new(LoadedTask::new(
            self.spec.at_width(width),
            self.data.clone(),
        )?))
    }

    fn instantiate_stacked(
        &self,
        seed: u64,
        k: usize,
    ) -> Result<Option<Box<dyn StackedWorkload>>, TaskError> {
        // The seeded (and parametrised) initialisation of the single model, copied `k` times.
        let single = self.instantiate(seed, &crate::default_device())?;
        let mut init = Vec::new();
        single.params(&mut init);
        Ok(self
            .spec
            .model
            .stacked(self.spec.scale(), &self.data, &init, k))
    }

    fn instantiate(&self, seed: u64, device: &Device) -> Result<Box<dyn Workload>, TaskError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_for_init(seed));
        let mut workload = self
            .spec
            .model
            .workload(self.spec.scale(), &self.data, &mut rng, device)?
            .ok_or_else(|| TaskError::Invalid {
                name: self.spec.name.clone(),
                reason: "the model family does not fit the data".into(),
            })?;
        if let Some(factors) = crate::mup::init_multipliers(
            self.spec.parametrization,
            f64::from(self.spec.width),
            &workload.param_shapes(),
        ) {
            let mut params = Vec::new();
            workload.params(&mut params);
            for (p, f) in params.iter_mut().zip(factors) {
                *p *= f;
            }
            workload.set_params(&params);
        }
        Ok(workload)
    }
}

/// The initialisation stream of a cell seed (distinct from the engine's shuffle stream).
fn seed_for_init(seed: u64) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x1217_a11a_u64
}
