//! Model arithmetic of a task: parameter counts, forward multiply-accumulates and memory of its
//! model, computed from its specification and its dataset's shape without building anything.
//! Each family states its own layers' arithmetic ([`crate::models::ModelFamily`]); this module
//! adds what every cell holds besides (parameter copies, activations of a batch, the data).
//!
//! The dataset shapes come from [`lrctl_data::catalog`] (every mirror and embedded dataset, see
//! [`TaskSpec::data_shape`]) or from loaded data ([`shape_of`]). The parameter count is exactly
//! that of the instantiated burn model (a test checks it for every family and scale); the
//! multiply-accumulates and memory are what the CPU back end computes and holds, to the
//! precision that matters for "does it fit" and "seconds, minutes or hours".
//!
//! Every count saturates at `u64::MAX` instead of overflowing, so absurd scales (`@w4000000000`)
//! give an absurd estimate, not a wrong small one.

use lrctl_data::Tabular;
use lrctl_data::catalog::{self, Shape};

use crate::error::TaskError;
use crate::models::Input;
use crate::spec::{DataSpec, TaskSpec};

/// Bytes of one parameter or activation (`f32`).
const FLOAT: u64 = 4;

/// Copies of the parameter vector a training cell holds at once: the model's own tensors, the
/// engine's flat parameters and gradient, burn's gradient, the previous gradient and up to
/// five optimizer states (Prodigy, D-Adaptation and Schedule-Free keep the most).
const PARAM_COPIES: u64 = 10;

/// Activation memory relative to one forward pass: the forward values kept for backward, their
/// gradients, and temporaries.
const ACTIVATION_FACTOR: u64 = 3;

/// Rows evaluated per forward pass (the workloads' evaluation chunk).
const EVAL_ROWS: u64 = 128;

/// `a · b`, saturating (the families' arithmetic).
pub(crate) fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

/// `a + b`, saturating.
pub(crate) fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

/// A size as `u64`.
pub(crate) fn u(x: usize) -> u64 {
    x as u64
}

/// Parameters of a dense layer `d_in → d_out` with bias.
pub(crate) fn dense(d_in: u64, d_out: u64) -> u64 {
    add(mul(d_in, d_out), d_out)
}

/// The shape of loaded classification data, as [`crate::ModelSpec::n_params`] needs it.
pub fn shape_of(train: &Tabular) -> Shape {
    Shape {
        rows: train.n_rows,
        test_rows: None,
        features: train.n_features,
        classes: train.n_classes,
        image: train.image_shape,
    }
}

/// Estimated peak memory of one training cell, by what holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Parameters, gradients and optimizer state.
    pub parameters: u64,
    /// Activations of one training batch (forward, backward, temporaries) or of one
    /// evaluation chunk, whichever is larger.
    pub activations: u64,
    /// The task's data held in memory (all splits).
    pub data: u64,
}

impl MemoryEstimate {
    /// All of it, in bytes.
    pub fn total(&self) -> u64 {
        add(add(self.parameters, self.activations), self.data)
    }
}

/// `12.3 GiB`, `512.0 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if v >= 10_000.0 {
        format!("{v:.3e} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Memory of this machine that one process may use: the smaller of physical memory
/// (`/proc/meminfo`) and the cgroup's limit (`memory.max`, v2; `memory.limit_in_bytes`, v1).
/// `None` where neither can be read (the memory check is then skipped).
pub fn machine_memory() -> Option<u64> {
    let physical = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| {
            let kib = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
            kib.trim().parse::<u64>().ok().map(|k| mul(k, 1024))
        })
    });
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok());
    match (physical, cgroup) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => p.or(c),
    }
}

impl TaskSpec {
    /// The shape of this task's dataset from the catalog, without loading it: `None` for a
    /// user's file (its shape is known once loaded, see [`shape_of`]) or an unknown name. For
    /// subsampled images, `rows` is the subsample.
    pub fn data_shape(&self) -> Option<Shape> {
        match &self.data {
            DataSpec::Embedded { name } => catalog::embedded_shape(name),
            DataSpec::Libsvm { name, path: None } => {
                catalog::find_kind(name, catalog::Kind::Libsvm).map(|d| d.shape())
            }
            DataSpec::Images {
                name,
                path: None,
                subsample,
            } => catalog::find_kind(name, catalog::Kind::Images).map(|d| {
                let mut s = d.shape();
                if let Some(n) = subsample {
                    s.rows = s.rows.min(*n);
                }
                s
            }),
            DataSpec::Text { name, path: None } => {
                catalog::find_kind(name, catalog::Kind::Text).map(|d| d.shape())
            }
            _ => None,
        }
    }

    /// Optimizer steps of one full run, when the dataset's size is known without loading it
    /// (a budget in epochs is resolved against the training rows left after holdout: files
    /// with an official test split keep only validation out of their rows).
    pub fn planned_steps(&self) -> Option<u64> {
        match self.budget {
            crate::Budget::Steps(n) => Some(n),
            crate::Budget::Epochs(_) => {
                let shape = self.data_shape()?;
                let kept = match shape.test_rows {
                    Some(_) => 1.0 - self.holdout.validation,
                    None => (1.0 - self.holdout.test) * (1.0 - self.holdout.validation),
                };
                let n_train = ((shape.rows as f64) * kept).round().max(1.0) as usize;
                Some(self.budget.steps(n_train, self.batch_size))
            }
        }
    }

    /// Trainable scalars of this task's model on data of `shape` (see
    /// [`crate::ModelSpec::n_params`]).
    pub fn n_params(&self, shape: &Shape) -> u64 {
        self.model.n_params(self.width, self.depth, shape)
    }

    /// Forward multiply-accumulates per example on data of `shape` (see
    /// [`crate::ModelSpec::forward_macs`]).
    pub fn forward_macs(&self, shape: &Shape) -> u64 {
        self.model.forward_macs(self.width, self.depth, shape)
    }

    /// Peak memory of one training cell of this task on data of `shape`.
    pub fn memory_estimate(&self, shape: &Shape) -> MemoryEstimate {
        let per_example = self.model.activations(self.scale(), shape);
        let batch = mul(
            mul(per_example, u(self.batch_size)),
            mul(ACTIVATION_FACTOR, FLOAT),
        );
        let eval = mul(mul(per_example, EVAL_ROWS), FLOAT);
        let rows = add(u(shape.rows), u(shape.test_rows.unwrap_or(0)));
        let data = match self.model.input() {
            // Bytes, held as the corpus and its three parts.
            Input::Text { .. } => mul(2, rows),
            // The loaded file and its normalised splits.
            _ => mul(mul(2, rows), mul(u(shape.features).max(1), FLOAT)),
        };
        MemoryEstimate {
            parameters: mul(mul(self.n_params(shape), PARAM_COPIES), FLOAT),
            activations: batch.max(eval),
            data,
        }
    }

    /// Refuses a cell whose estimated memory exceeds `available` bytes (see
    /// [`machine_memory`]), before anything is allocated, with the estimate in the message.
    pub fn check_memory(&self, shape: &Shape, available: u64) -> Result<(), TaskError> {
        let m = self.memory_estimate(shape);
        if m.total() <= available {
            return Ok(());
        }
        Err(TaskError::TooLarge {
            name: self.name.clone(),
            estimate: human_bytes(m.total()),
            available: human_bytes(available),
            detail: format!(
                "{} parameters: {} with gradients and optimizer state; activations {}; data {}",
                self.n_params(shape),
                human_bytes(m.parameters),
                human_bytes(m.activations),
                human_bytes(m.data)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{LmSpec, MlpSpec, ModelSpec};

    #[test]
    fn sizes_saturate_instead_of_overflowing() {
        let shape = catalog::embedded_shape("digits").unwrap();
        let mlp = ModelSpec::Mlp(MlpSpec {
            hidden: vec![usize::MAX, 2],
        });
        assert_eq!(mlp.n_params(u32::MAX, u32::MAX, &shape), u64::MAX);
        assert_eq!(mlp.forward_macs(u32::MAX, 1, &shape), u64::MAX);
        let lm = ModelSpec::Lm(LmSpec {
            d_model: 1 << 40,
            layers: 1 << 40,
            heads: 1,
            context: 1 << 40,
        });
        assert_eq!(lm.n_params(u32::MAX, u32::MAX, &shape), u64::MAX);
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
        assert!(human_bytes(u64::MAX).ends_with("PiB"));
    }

    #[test]
    fn machine_memory_is_known_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(machine_memory().is_some_and(|m| m > 1 << 26));
        }
    }
}
