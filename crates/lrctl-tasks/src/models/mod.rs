//! The networks: burn modules for every task family.
//!
//! All classifiers take a `[batch, features]` tensor (images flattened row-major) and return
//! logits; the language model takes `[batch, context]` byte ids and returns per-position logits.
//! Initial values are replaced by [`crate::init::init_params`], so the burn initialisers used at
//! construction time do not matter.

mod cnn;
mod lm;
mod mlp;

pub use cnn::Cnn;
pub use lm::ByteLm;
pub use mlp::Mlp;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

/// A network mapping flattened examples to class logits.
pub trait Classifier: Module + std::fmt::Debug {
    /// `[batch, features]` → `[batch, classes]`.
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;
}

/// Multinomial logistic regression: one linear layer.
#[derive(Module, Debug)]
pub struct Logistic {
    linear: Linear,
}

impl Logistic {
    /// A `features → classes` linear layer with bias.
    pub fn new(features: usize, classes: usize, device: &Device) -> Self {
        Logistic {
            linear: LinearConfig::new(features, classes).init(device),
        }
    }
}

impl Classifier for Logistic {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear.forward(x)
    }
}
