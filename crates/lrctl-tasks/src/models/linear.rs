//! Multinomial logistic regression: one linear layer and softmax cross-entropy, the model of
//! the paper's LIBSVM setup.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Axes, Classifier, FieldError, Input, ModelFamily, Scale};
use crate::data::TaskData;
use crate::size::{add, dense, mul, u};
use crate::stacked::{StackedLinear, StackedWorkload};
use lrctl_data::catalog::Shape;

/// The `linear` family: no fields (`model = { kind = "linear" }`) and no scale axes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSpec {}

impl ModelFamily for LinearSpec {
    const KIND: &'static str = "linear";
    const AXES: Axes = Axes::NONE;
    const COMPLEXITY: u32 = 0;
    const MACS_PER_SECOND: f64 = 30e9;
    const BENCH_STEPS: u64 = 3000;
    type Network = Logistic;

    fn input(&self) -> Input {
        Input::Rows
    }

    fn validate(&self) -> Result<(), FieldError> {
        Ok(())
    }

    fn n_params(&self, _: Scale, shape: &Shape) -> u64 {
        dense(u(shape.features), u(shape.classes))
    }

    fn forward_macs(&self, _: Scale, shape: &Shape) -> u64 {
        mul(u(shape.features), u(shape.classes))
    }

    fn activations(&self, _: Scale, shape: &Shape) -> u64 {
        add(u(shape.features), u(shape.classes))
    }

    fn network(&self, _: Scale, shape: &Shape, device: &Device) -> Logistic {
        Logistic::new(shape.features, shape.classes, device)
    }

    fn reference(&self, _: Scale, _: &Shape) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    fn tiny() -> Self {
        LinearSpec {}
    }

    fn stacked(
        &self,
        _: Scale,
        data: &TaskData,
        init: &[f32],
        k: usize,
    ) -> Option<Box<dyn StackedWorkload>> {
        match data {
            TaskData::Class(c) => StackedLinear::new(std::sync::Arc::clone(c), init, k)
                .map(|s| Box::new(s) as Box<dyn StackedWorkload>),
            TaskData::Text(_) => None,
        }
    }
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
