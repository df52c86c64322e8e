//! Model arithmetic, in one place: parameter counts, forward multiply-accumulates and memory
//! of a task's model, computed from its specification and its dataset's shape without building
//! anything.
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
use lrctl_data::catalog::{self, BYTE_VOCABULARY, Shape};

use crate::error::TaskError;
use crate::spec::{DataSpec, ModelSpec, TaskSpec};

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

fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

fn u(x: usize) -> u64 {
    x as u64
}

/// Parameters of a dense layer `d_in → d_out` with bias.
fn dense(d_in: u64, d_out: u64) -> u64 {
    add(mul(d_in, d_out), d_out)
}

/// The shape of loaded classification data, as [`ModelSpec::n_params`] needs it.
pub fn shape_of(train: &Tabular) -> Shape {
    Shape {
        rows: train.n_rows,
        test_rows: None,
        features: train.n_features,
        classes: train.n_classes,
        image: train.image_shape,
    }
}

/// The CNN's layer sizes for an image shape, after the width multiplier.
struct CnnDims {
    c_in: u64,
    h: u64,
    w: u64,
    c1: u64,
    c2: u64,
    hidden: u64,
    /// Inputs of the dense layer: `c2 · ⌊h/4⌋ · ⌊w/4⌋` (two 2×2 poolings).
    flat: u64,
}

impl CnnDims {
    fn new(channels: [usize; 2], hidden: usize, width: u32, shape: &Shape) -> CnnDims {
        // Without an image shape the rows are taken as one-pixel-high images (the task check
        // refuses such a CNN; the arithmetic stays total).
        let [c, h, w] = shape.image.unwrap_or([1, 1, shape.features]);
        let (c1, c2) = (
            mul(u(channels[0]), width.into()),
            mul(u(channels[1]), width.into()),
        );
        CnnDims {
            c_in: u(c),
            h: u(h),
            w: u(w),
            c1,
            c2,
            hidden: mul(u(hidden), width.into()),
            flat: mul(c2, mul(u(h / 4), u(w / 4))),
        }
    }
}

impl ModelSpec {
    /// Trainable scalars of this model at scale `width` × `depth` on data of `shape`: exactly
    /// what the instantiated burn model has.
    pub fn n_params(&self, width: u32, depth: u32, shape: &Shape) -> u64 {
        let (f, k) = (u(shape.features), u(shape.classes));
        match self {
            ModelSpec::Linear => dense(f, k),
            ModelSpec::Mlp { hidden } => {
                let mut total = 0;
                let mut d_in = f;
                for h in scaled_widths(hidden, width, depth) {
                    total = add(total, dense(d_in, h));
                    d_in = h;
                }
                add(total, dense(d_in, k))
            }
            ModelSpec::Cnn { channels, hidden } => {
                let d = CnnDims::new(*channels, *hidden, width, shape);
                let conv1 = dense(mul(d.c_in, 9), d.c1);
                let conv2 = dense(mul(d.c1, 9), d.c2);
                [conv1, conv2, dense(d.flat, d.hidden), dense(d.hidden, k)]
                    .into_iter()
                    .fold(0, add)
            }
            ModelSpec::Lm {
                d_model,
                layers,
                context,
                ..
            } => {
                let d = mul(u(*d_model), width.into());
                let l = mul(u(*layers), depth.into());
                let v = u(BYTE_VOCABULARY);
                // Per block: two LayerNorms, qkv, projection, 4× MLP: 12 d² + 13 d.
                let block = add(mul(12, mul(d, d)), mul(13, d));
                [
                    mul(v, d),           // token embedding
                    mul(u(*context), d), // positions
                    mul(l, block),       // blocks
                    mul(2, d),           // final LayerNorm
                    dense(d, v),         // output head
                ]
                .into_iter()
                .fold(0, add)
            }
        }
    }

    /// Multiply-accumulates of one forward pass over one example (a row, an image, or a
    /// `context`-byte window for a language model), at scale `width` × `depth` on data of
    /// `shape`. Convolutions count their 3×3 kernels at every output pixel; attention counts
    /// the causal products (`t(t+1)/2` scores and as many weighted values per head
    /// dimension).
    pub fn forward_macs(&self, width: u32, depth: u32, shape: &Shape) -> u64 {
        let (f, k) = (u(shape.features), u(shape.classes));
        match self {
            ModelSpec::Linear => mul(f, k),
            ModelSpec::Mlp { hidden } => {
                let mut total = 0;
                let mut d_in = f;
                for h in scaled_widths(hidden, width, depth) {
                    total = add(total, mul(d_in, h));
                    d_in = h;
                }
                add(total, mul(d_in, k))
            }
            ModelSpec::Cnn { channels, hidden } => {
                let d = CnnDims::new(*channels, *hidden, width, shape);
                let conv1 = mul(mul(d.h, d.w), mul(mul(d.c_in, d.c1), 9));
                let conv2 = mul(mul(d.h / 2, d.w / 2), mul(mul(d.c1, d.c2), 9));
                [conv1, conv2, mul(d.flat, d.hidden), mul(d.hidden, k)]
                    .into_iter()
                    .fold(0, add)
            }
            ModelSpec::Lm {
                d_model,
                layers,
                context,
                ..
            } => {
                let d = mul(u(*d_model), width.into());
                let l = mul(u(*layers), depth.into());
                let t = u(*context);
                let per_token = add(mul(l, mul(12, mul(d, d))), mul(d, u(BYTE_VOCABULARY)));
                let attention = mul(l, mul(mul(t, add(t, 1)), d));
                add(mul(t, per_token), attention)
            }
        }
    }

    /// Floats one example's forward pass produces (layer outputs, attention scores), the unit
    /// of activation memory.
    fn activations(&self, width: u32, depth: u32, shape: &Shape, heads: u64) -> u64 {
        let (f, k) = (u(shape.features), u(shape.classes));
        match self {
            ModelSpec::Linear => add(f, k),
            ModelSpec::Mlp { hidden } => scaled_widths(hidden, width, depth)
                .into_iter()
                .fold(add(f, k), |a, h| add(a, mul(2, h))),
            ModelSpec::Cnn { channels, hidden } => {
                let d = CnnDims::new(*channels, *hidden, width, shape);
                let (hw, hw4, hw16) = (mul(d.h, d.w), mul(d.h / 2, d.w / 2), mul(d.h / 4, d.w / 4));
                // im2col buffers (9 · c_in · h · w and 9 · c1 · h/2 · w/2), conv outputs
                // before and after pooling, the dense layers.
                [
                    mul(mul(9, d.c_in), hw),
                    mul(mul(9, d.c1), hw4),
                    mul(2, mul(d.c1, hw)),
                    mul(2, mul(d.c2, hw4)),
                    mul(d.c2, hw16),
                    mul(2, d.hidden),
                    k,
                ]
                .into_iter()
                .fold(0, add)
            }
            ModelSpec::Lm {
                d_model,
                layers,
                context,
                ..
            } => {
                let d = mul(u(*d_model), width.into());
                let l = mul(u(*layers), depth.into());
                let t = u(*context);
                let h = mul(heads, width.into()).max(1);
                // Per block: LayerNorms, qkv, context, projection, 4× MLP before and after
                // GELU, residuals (≈ 18 d per token), and the heads' t × t scores.
                let block = add(mul(18, mul(t, d)), mul(h, mul(t, t)));
                add(
                    mul(l, block),
                    mul(t, add(mul(2, d), mul(2, u(BYTE_VOCABULARY)))),
                )
            }
        }
    }
}

/// The MLP's hidden widths after the multipliers, saturating.
fn scaled_widths(hidden: &[usize], width: u32, depth: u32) -> Vec<u64> {
    // `scaled_hidden` would overflow `usize` and repeat the list `depth` times in memory.
    let depth = u64::from(depth).min(1 << 20) as usize;
    (0..depth)
        .flat_map(|_| hidden.iter().map(move |&h| mul(u(h), width.into())))
        .collect()
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
    /// [`ModelSpec::n_params`]).
    pub fn n_params(&self, shape: &Shape) -> u64 {
        self.model.n_params(self.width, self.depth, shape)
    }

    /// Forward multiply-accumulates per example on data of `shape` (see
    /// [`ModelSpec::forward_macs`]).
    pub fn forward_macs(&self, shape: &Shape) -> u64 {
        self.model.forward_macs(self.width, self.depth, shape)
    }

    /// Peak memory of one training cell of this task on data of `shape`.
    pub fn memory_estimate(&self, shape: &Shape) -> MemoryEstimate {
        let heads = match self.model {
            ModelSpec::Lm { heads, .. } => u(heads),
            _ => 0,
        };
        let per_example = self.model.activations(self.width, self.depth, shape, heads);
        let batch = mul(
            mul(per_example, u(self.batch_size)),
            mul(ACTIVATION_FACTOR, FLOAT),
        );
        let eval = mul(mul(per_example, EVAL_ROWS), FLOAT);
        let rows = add(u(shape.rows), u(shape.test_rows.unwrap_or(0)));
        let data = match self.model {
            // Bytes, held as the corpus and its three parts.
            ModelSpec::Lm { .. } => mul(2, rows),
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

    #[test]
    fn sizes_saturate_instead_of_overflowing() {
        let shape = catalog::embedded_shape("digits").unwrap();
        let mlp = ModelSpec::Mlp {
            hidden: vec![usize::MAX, 2],
        };
        assert_eq!(mlp.n_params(u32::MAX, u32::MAX, &shape), u64::MAX);
        assert_eq!(mlp.forward_macs(u32::MAX, 1, &shape), u64::MAX);
        let lm = ModelSpec::Lm {
            d_model: 1 << 40,
            layers: 1 << 40,
            heads: 1,
            context: 1 << 40,
        };
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
