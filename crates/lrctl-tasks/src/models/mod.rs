//! The model families: one module per family, registered in one list.
//!
//! A family is a configuration struct — the fields of a task's `model = { kind = "…", … }`
//! table — implementing [`ModelFamily`] next to its burn network: its name, the scale axes it
//! has, the data it reads, its arithmetic from the data's shape (parameters, multiply-accumulates,
//! activations), building its network, the description the PyTorch reference of `lrctl bench`
//! reads, and its measured CPU throughput. [`ModelSpec`], the tagged enum of every family, and
//! its dispatch are generated from the registration list below. Adding a family is its module,
//! one line in that list, its tasks in [`crate::registry`] and its PyTorch model in
//! `scripts/bench/pytorch_reference.py`.
//!
//! Classifiers take a `[batch, features]` tensor (images flattened row-major) and return logits
//! ([`Classifier`]); language models take `[batch, context]` byte ids and return per-position
//! logits ([`LanguageModel`]). Initial values are replaced by [`crate::init::init_params`], so
//! the burn initialisers used at construction time do not matter.

mod cnn;
mod linear;
mod lm;
mod mlp;
mod resmlp;

pub use cnn::{Cnn, CnnSpec};
pub use linear::{LinearSpec, Logistic};
pub use lm::{ByteLm, LmSpec};
pub use mlp::{Mlp, MlpSpec};
pub use resmlp::{ResMlp, ResMlpSpec};

use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::data::TaskData;
use crate::error::TaskError;
use crate::stacked::StackedWorkload;
use crate::workload::{ClassifierWorkload, LmWorkload, Workload};
use lrctl_data::catalog::Shape;

model_spec! {
    /// The network of a task, before the width/depth multipliers are applied, tagged by `kind`:
    /// one line per family, `Variant(its configuration) = "its kind tag"` (the tag must be the
    /// configuration's [`ModelFamily::KIND`], checked when compiling).
    pub enum ModelSpec {
        /// Multinomial logistic regression ([`LinearSpec`]).
        Linear(LinearSpec) = "linear",
        /// Fully connected ReLU network ([`MlpSpec`]).
        Mlp(MlpSpec) = "mlp",
        /// Small convolutional network ([`CnnSpec`]).
        Cnn(CnnSpec) = "cnn",
        /// Byte-level decoder-only transformer ([`LmSpec`]).
        Lm(LmSpec) = "lm",
        /// Pre-norm residual MLP ([`ResMlpSpec`]).
        ResMlp(ResMlpSpec) = "resmlp",
    }
}

/// One model family: its configuration (the `model` table of a task), what it reads, its
/// arithmetic, and how its network is built.
///
/// Implementations use `#[serde(deny_unknown_fields)]`; the field names are those of a study
/// file's `model` table. [`ModelFamily::n_params`] must be exactly the parameter count of
/// [`ModelFamily::network`] (a test checks every built-in task and scale).
pub trait ModelFamily:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The `kind` tag of the `model` table, e.g. `"mlp"`: also the family's name in task names
    /// (`mlp/digits`) and meta-features.
    const KIND: &'static str;

    /// The scale multipliers the family has (a suffix naming another one is refused).
    const AXES: Axes;

    /// The family's place on the seed paper's complexity axis, logistic regression (0) → MLP
    /// (1) → CNN (2) → transformer LM (3): the x axis on which the report's Scale section
    /// compares tuning across families.
    const COMPLEXITY: u32;

    /// Multiply-accumulates per second lrctl's CPU back end trains this family at on one
    /// thread (forward and backward counted as three forward passes), measured with
    /// `lrctl train` (README's performance table): the CPU-time estimates of `lrctl suites`.
    const MACS_PER_SECOND: f64;

    /// Timed steps of `lrctl bench` by default: about two to four seconds of lrctl's training
    /// per repetition on the family's built-in tasks.
    const BENCH_STEPS: u64;

    /// The burn network the family builds.
    type Network: Network;

    /// The data the family trains on.
    fn input(&self) -> Input;

    /// Checks every field's range without building anything; the error names the field as a
    /// study file writes it (`model.hidden[1]`).
    fn validate(&self) -> Result<(), FieldError>;

    /// Trainable scalars at `scale` on data of `shape`: exactly those of
    /// [`ModelFamily::network`]. Saturates at `u64::MAX` instead of overflowing.
    fn n_params(&self, scale: Scale, shape: &Shape) -> u64;

    /// Multiply-accumulates of one forward pass over one example (a row, an image, a window
    /// of text). Saturates.
    fn forward_macs(&self, scale: Scale, shape: &Shape) -> u64;

    /// Floats one example's forward pass produces (layer outputs, attention scores): the unit
    /// of activation memory. Saturates.
    fn activations(&self, scale: Scale, shape: &Shape) -> u64;

    /// Builds the network at `scale` for data of `shape` on `device` (its initial values are
    /// then drawn by [`crate::init::init_params`] in the network's field order).
    fn network(&self, scale: Scale, shape: &Shape, device: &Device) -> Self::Network;

    /// The sizes, after the scale, that `scripts/bench/pytorch_reference.py` builds the same
    /// network from (the keys its model for [`ModelFamily::KIND`] reads; `lrctl bench` adds
    /// the data's `features` and `classes`).
    fn reference(&self, scale: Scale, shape: &Shape) -> serde_json::Map<String, serde_json::Value>;

    /// A few-unit instance that builds and trains in milliseconds: the tests run every
    /// registered family on it (gradient check, seeded initialisation, parameter count).
    fn tiny() -> Self;

    /// `k` copies of the network at `scale`, each starting from `init` (the initialised
    /// network's flat parameters), trained together over the same mini-batches (batched tuning
    /// trials, [`crate::stacked`]); `None`, the default, for a family without a stacked form.
    fn stacked(
        &self,
        scale: Scale,
        data: &TaskData,
        init: &[f32],
        k: usize,
    ) -> Option<Box<dyn StackedWorkload>> {
        let _ = (scale, data, init, k);
        None
    }
}

/// The width and depth multipliers of a task (`@w4d2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Width multiplier (hidden units, channels, embedding size).
    pub width: u32,
    /// Depth multiplier (hidden layers, blocks).
    pub depth: u32,
}

impl Scale {
    /// Scale 1: the model as configured.
    pub const ONE: Scale = Scale { width: 1, depth: 1 };

    /// `n` times the width multiplier, saturating.
    pub fn wide(self, n: usize) -> u64 {
        crate::size::mul(n as u64, self.width.into())
    }

    /// `n` times the depth multiplier, saturating.
    pub fn deep(self, n: usize) -> u64 {
        crate::size::mul(n as u64, self.depth.into())
    }
}

/// Which scale multipliers a family has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axes {
    /// Whether `@wN` scales it.
    pub width: bool,
    /// Whether `@dN` scales it.
    pub depth: bool,
}

impl Axes {
    /// Neither (logistic regression).
    pub const NONE: Axes = Axes {
        width: false,
        depth: false,
    };
    /// Width only.
    pub const WIDTH: Axes = Axes {
        width: true,
        depth: false,
    };
    /// Width and depth.
    pub const BOTH: Axes = Axes {
        width: true,
        depth: true,
    };
}

/// The data a family trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Labelled rows of features: a LIBSVM file, an embedded table, or images flattened.
    Rows,
    /// Labelled images at least `min_side` pixels high and wide.
    Images {
        /// The smallest height and width the network can read.
        min_side: usize,
    },
    /// A byte corpus read in windows of `context` bytes.
    Text {
        /// Window length in bytes.
        context: usize,
    },
}

impl Input {
    /// Whether prepared `data` is of the kind this input reads (its sizes are checked by
    /// [`crate::LoadedTask::new`]).
    pub fn reads(self, data: &TaskData) -> bool {
        matches!(
            (self, data),
            (Input::Rows | Input::Images { .. }, TaskData::Class(_))
                | (Input::Text { .. }, TaskData::Text(_))
        )
    }
}

/// A model field out of range: which field, and why (a task's validation turns it into
/// [`TaskError::Invalid`] naming the task).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct FieldError {
    /// The field as a study file writes it, e.g. `model.hidden[1]`.
    pub field: String,
    /// What is wrong with its value, e.g. `= 0: a layer needs at least one unit`.
    pub reason: String,
}

impl FieldError {
    /// `field` is 0 where a layer needs at least one unit.
    pub fn zero_units(field: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "= 0: a layer needs at least one unit".into(),
        }
    }
}

/// A network mapping flattened examples to class logits.
pub trait Classifier: Module + std::fmt::Debug {
    /// `[batch, features]` → `[batch, classes]`.
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;
}

/// A network mapping windows of byte ids to next-byte logits at every position.
pub trait LanguageModel: Module + std::fmt::Debug {
    /// `[batch, t]` byte ids → `[batch, t, 256]` logits.
    fn logits(&self, tokens: Tensor<2, Int>) -> Tensor<3>;
    /// The window length it reads.
    fn context(&self) -> usize;
}

/// A family's network and the [`Workload`] it trains as.
pub trait Network: Module + std::fmt::Debug + 'static {
    /// The workload training this (initialised) network on `data`; `None` when the data is
    /// of the other kind (text for a classifier, rows for a language model).
    fn workload(self, data: &TaskData, device: &Device) -> Option<Box<dyn Workload>>;
}

impl<N: Classifier + 'static> Network for N {
    fn workload(self, data: &TaskData, device: &Device) -> Option<Box<dyn Workload>> {
        match data {
            TaskData::Class(c) => Some(Box::new(ClassifierWorkload::new(
                self,
                Arc::clone(c),
                device.clone(),
            ))),
            TaskData::Text(_) => None,
        }
    }
}

/// The [`Network::workload`] of a language model.
pub fn lm_workload<N: LanguageModel + 'static>(
    model: N,
    data: &TaskData,
    device: &Device,
) -> Option<Box<dyn Workload>> {
    match data {
        TaskData::Text(t) => {
            let context = model.context();
            Some(Box::new(LmWorkload::new(
                model,
                Arc::clone(t),
                context,
                device.clone(),
            )))
        }
        TaskData::Class(_) => None,
    }
}

/// [`ModelFamily`] without its constants and associated type, so that [`ModelSpec`] can
/// dispatch to any family through one `match` ([`ModelSpec::family_ref`]).
trait AnyFamily {
    fn kind(&self) -> &'static str;
    fn axes(&self) -> Axes;
    fn complexity(&self) -> u32;
    fn macs_per_second(&self) -> f64;
    fn bench_steps(&self) -> u64;
    fn input(&self) -> Input;
    fn validate(&self) -> Result<(), FieldError>;
    fn n_params(&self, scale: Scale, shape: &Shape) -> u64;
    fn forward_macs(&self, scale: Scale, shape: &Shape) -> u64;
    fn activations(&self, scale: Scale, shape: &Shape) -> u64;
    fn reference(&self, scale: Scale, shape: &Shape) -> serde_json::Map<String, serde_json::Value>;
    fn workload(
        &self,
        scale: Scale,
        data: &TaskData,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Option<Box<dyn Workload>>, TaskError>;
    fn stacked(
        &self,
        scale: Scale,
        data: &TaskData,
        init: &[f32],
        k: usize,
    ) -> Option<Box<dyn StackedWorkload>>;
}

impl<F: ModelFamily> AnyFamily for F {
    fn kind(&self) -> &'static str {
        F::KIND
    }
    fn axes(&self) -> Axes {
        F::AXES
    }
    fn complexity(&self) -> u32 {
        F::COMPLEXITY
    }
    fn macs_per_second(&self) -> f64 {
        F::MACS_PER_SECOND
    }
    fn bench_steps(&self) -> u64 {
        F::BENCH_STEPS
    }
    fn input(&self) -> Input {
        ModelFamily::input(self)
    }
    fn validate(&self) -> Result<(), FieldError> {
        ModelFamily::validate(self)
    }
    fn n_params(&self, scale: Scale, shape: &Shape) -> u64 {
        ModelFamily::n_params(self, scale, shape)
    }
    fn forward_macs(&self, scale: Scale, shape: &Shape) -> u64 {
        ModelFamily::forward_macs(self, scale, shape)
    }
    fn activations(&self, scale: Scale, shape: &Shape) -> u64 {
        ModelFamily::activations(self, scale, shape)
    }
    fn reference(&self, scale: Scale, shape: &Shape) -> serde_json::Map<String, serde_json::Value> {
        ModelFamily::reference(self, scale, shape)
    }
    fn workload(
        &self,
        scale: Scale,
        data: &TaskData,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Option<Box<dyn Workload>>, TaskError> {
        let network = self.network(scale, &data.shape(), device);
        let network = crate::init::init_params(network, rng)?;
        Ok(network.workload(data, device))
    }
    fn stacked(
        &self,
        scale: Scale,
        data: &TaskData,
        init: &[f32],
        k: usize,
    ) -> Option<Box<dyn StackedWorkload>> {
        ModelFamily::stacked(self, scale, data, init, k)
    }
}

impl ModelSpec {
    /// Short family name used in task names and meta-features (the `kind` tag).
    pub fn family(&self) -> &'static str {
        self.family_ref().kind()
    }

    /// The scale multipliers the family has.
    pub fn axes(&self) -> Axes {
        self.family_ref().axes()
    }

    /// The family's place on the complexity axis ([`ModelFamily::COMPLEXITY`]).
    pub fn complexity(&self) -> u32 {
        self.family_ref().complexity()
    }

    /// The data the model trains on.
    pub fn input(&self) -> Input {
        self.family_ref().input()
    }

    /// Checks every field's range (see [`ModelFamily::validate`]).
    pub fn validate(&self) -> Result<(), FieldError> {
        self.family_ref().validate()
    }

    /// Trainable scalars of this model at scale `width` × `depth` on data of `shape`: exactly
    /// what the instantiated burn model has.
    pub fn n_params(&self, width: u32, depth: u32, shape: &Shape) -> u64 {
        self.family_ref().n_params(Scale { width, depth }, shape)
    }

    /// Multiply-accumulates of one forward pass over one example (a row, an image, or a
    /// `context`-byte window for a language model), at scale `width` × `depth` on data of
    /// `shape`.
    pub fn forward_macs(&self, width: u32, depth: u32, shape: &Shape) -> u64 {
        self.family_ref()
            .forward_macs(Scale { width, depth }, shape)
    }

    /// Floats one example's forward pass produces, the unit of activation memory.
    pub(crate) fn activations(&self, scale: Scale, shape: &Shape) -> u64 {
        self.family_ref().activations(scale, shape)
    }

    /// Multiply-accumulates per second a step of this family runs at on one CPU thread
    /// ([`ModelFamily::MACS_PER_SECOND`]).
    pub fn macs_per_second(&self) -> f64 {
        self.family_ref().macs_per_second()
    }

    /// Timed steps of `lrctl bench` by default ([`ModelFamily::BENCH_STEPS`]).
    pub fn bench_steps(&self) -> u64 {
        self.family_ref().bench_steps()
    }

    /// What `scripts/bench/pytorch_reference.py` reads to build the same network: `model`
    /// (the family) and its sizes after the scale ([`ModelFamily::reference`]).
    pub fn reference(
        &self,
        scale: Scale,
        shape: &Shape,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut meta = serde_json::Map::new();
        meta.insert("model".into(), self.family().into());
        meta.extend(self.family_ref().reference(scale, shape));
        meta
    }

    /// Builds the network for prepared `data`, draws its initial values from `rng` and wraps
    /// it as the workload the engine trains; `Ok(None)` when the data is not of the kind the
    /// family reads.
    pub(crate) fn workload(
        &self,
        scale: Scale,
        data: &TaskData,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Option<Box<dyn Workload>>, TaskError> {
        self.family_ref().workload(scale, data, rng, device)
    }

    /// `k` stacked copies starting from `init` ([`ModelFamily::stacked`]).
    pub(crate) fn stacked(
        &self,
        scale: Scale,
        data: &TaskData,
        init: &[f32],
        k: usize,
    ) -> Option<Box<dyn StackedWorkload>> {
        self.family_ref().stacked(scale, data, init, k)
    }
}

/// `a == b`, usable in constants (the registration's compile-time check of the tags).
const fn same_tag(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() && a[i] == b[i] {
        i += 1;
    }
    i == a.len() && i == b.len()
}

/// Generates [`ModelSpec`] from the registration list: the enum, tagged by `kind` with each
/// variant renamed to its literal (so a task serializes exactly as the list says), the one
/// `match` every method dispatches through, `From` each configuration, [`ModelSpec::KINDS`]
/// and [`ModelSpec::tiny_of_each`]. Each literal must equal its configuration's
/// [`ModelFamily::KIND`] (checked when compiling).
macro_rules! model_spec {
    (
        $(#[$enum_attr:meta])*
        pub enum ModelSpec {
            $( $(#[$attr:meta])* $variant:ident($spec:ty) = $kind:literal, )+
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "kind")]
        pub enum ModelSpec {
            $( $(#[$attr])* #[serde(rename = $kind)] $variant($spec), )+
        }

        const _: () = {
            $(
                assert!(
                    same_tag(<$spec as ModelFamily>::KIND, $kind),
                    concat!("the registered tag `", $kind, "` is not its configuration's KIND"),
                );
            )+
        };

        impl ModelSpec {
            /// Every registered `kind` tag, in registration order.
            pub const KINDS: &'static [&'static str] = &[$($kind),+];

            /// Every family's [`ModelFamily::tiny`] instance, in registration order.
            pub fn tiny_of_each() -> Vec<ModelSpec> {
                vec![$( ModelSpec::$variant(<$spec as ModelFamily>::tiny()), )+]
            }

            fn family_ref(&self) -> &dyn AnyFamily {
                match self {
                    $( ModelSpec::$variant(spec) => spec, )+
                }
            }
        }

        $(
            impl From<$spec> for ModelSpec {
                fn from(spec: $spec) -> ModelSpec {
                    ModelSpec::$variant(spec)
                }
            }
        )+
    };
}
use model_spec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_tag_compares_bytes() {
        assert!(same_tag("mlp", "mlp"));
        assert!(!same_tag("mlp", "ml"));
        assert!(!same_tag("ml", "mlp"));
        assert!(!same_tag("mlp", "mlq"));
        assert!(same_tag("", ""));
    }

    #[test]
    fn every_family_serializes_under_its_tag_and_round_trips() {
        let tiny = ModelSpec::tiny_of_each();
        assert_eq!(tiny.len(), ModelSpec::KINDS.len());
        let mut kinds = ModelSpec::KINDS.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(
            kinds.len(),
            ModelSpec::KINDS.len(),
            "a tag is registered twice"
        );
        for (spec, &kind) in tiny.iter().zip(ModelSpec::KINDS) {
            assert_eq!(spec.family(), kind);
            spec.validate()
                .unwrap_or_else(|e| panic!("{kind}: tiny() is invalid: {e}"));
            let json = serde_json::to_value(spec).unwrap();
            assert_eq!(json["kind"], kind);
            let back: ModelSpec = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(&back, spec);
            // An unknown field is refused under every tag.
            let mut extra = json;
            extra["no_such_field"] = 1.into();
            assert!(
                serde_json::from_value::<ModelSpec>(extra).is_err(),
                "{kind}"
            );
        }
    }

    #[test]
    fn the_reference_description_names_the_family() {
        let shape = Shape {
            rows: 10,
            test_rows: None,
            features: 16,
            classes: 3,
            image: Some([1, 4, 4]),
        };
        for spec in ModelSpec::tiny_of_each() {
            let meta = spec.reference(Scale::ONE, &shape);
            assert_eq!(meta["model"], spec.family());
        }
    }
}
