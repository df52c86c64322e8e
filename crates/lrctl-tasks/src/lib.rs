//! Tasks: dataset + model + loss + metrics + budget + scale.
//!
//! A [`TaskSpec`] is configuration; [`prepare`] loads its data once into a [`Task`], which
//! every cell of the task shares; [`Task::instantiate`] builds the seeded model as a
//! [`Workload`] the engine trains through a flat parameter vector. Each model family is one
//! module of [`models`] implementing [`ModelFamily`], registered in [`ModelSpec`].

pub mod data;
pub mod error;
mod identity;
pub mod init;
pub mod ladder;
pub mod models;
pub mod mup;
pub mod registry;
pub mod size;
pub mod spec;
pub mod stacked;
pub mod task;
pub mod workload;

use std::sync::Arc;

pub use burn::prelude::Device;
pub use data::{ClassData, TaskData, TextData};
pub use error::TaskError;
pub use ladder::{Ladder, ScaleAxis, ladders};
pub use lrctl_data::catalog::Shape;
pub use models::{ModelFamily, ModelSpec, Scale};
pub use mup::Parametrization;
pub use size::{MemoryEstimate, human_bytes, machine_memory, shape_of};
pub use spec::{Budget, DataSpec, Direction, Holdout, TaskSpec, steps_per_epoch};
pub use stacked::StackedWorkload;
pub use task::{DataSummary, LoadedTask, Task};
pub use workload::{Metrics, Split, Workload};

/// Checks the specification ([`TaskSpec::validate`]) and, when the catalog knows the
/// dataset's shape, that a cell fits in this machine's memory; then loads the data and checks
/// that the model fits it (see [`LoadedTask::new`]).
pub fn prepare(spec: &TaskSpec, dirs: &lrctl_data::DataDirs) -> Result<Arc<dyn Task>, TaskError> {
    spec.validate()?;
    spec.check_identity()?;
    // Before loading: a scale that cannot fit is refused without reading gigabytes of data.
    if let (Some(shape), Some(available)) = (spec.data_shape(), machine_memory()) {
        spec.check_memory(&shape, available)?;
    }
    let data = data::load(spec, dirs)?;
    Ok(Arc::new(LoadedTask::new(spec.clone(), data)?))
}

/// The device cells train on: CUDA when built with the `cuda` feature, else burn's pure-Rust
/// CPU backend (flex), with autodiff.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0).autodiff()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Device::flex().autodiff()
    }
}

impl TaskSpec {
    /// The held-out metric reported for the task, and which way it improves.
    pub fn primary_metric(&self) -> (&'static str, Direction) {
        // Language-model workloads report bits per byte, classifiers accuracy.
        match self.model.input() {
            models::Input::Text { .. } => ("bits_per_byte", Direction::Minimize),
            models::Input::Rows | models::Input::Images { .. } => ("accuracy", Direction::Maximize),
        }
    }
}

/// The name of the compute back end cells run on (recorded in provenance).
pub fn backend_name() -> &'static str {
    if cfg!(feature = "cuda") {
        "burn-cuda"
    } else {
        "burn-flex-cpu"
    }
}
