//! A fully connected ReLU network.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::{Axes, Classifier, FieldError, Input, ModelFamily, Scale};
use crate::size::{add, dense, mul, u};
use lrctl_data::catalog::Shape;

/// The `mlp` family: `features → hidden… → classes` with ReLU between layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSpec {
    /// Hidden layer widths (each multiplied by `width`; the list repeated `depth` times).
    pub hidden: Vec<usize>,
}

impl MlpSpec {
    /// The hidden widths after the scale multipliers: `hidden` times `width`, the list
    /// repeated `depth` times.
    pub fn scaled_hidden(&self, scale: Scale) -> Vec<usize> {
        (0..scale.depth as usize)
            .flat_map(|_| self.hidden.iter().map(move |h| h * scale.width as usize))
            .collect()
    }

    /// [`MlpSpec::scaled_hidden`] for the arithmetic, saturating.
    fn scaled_widths(&self, scale: Scale) -> Vec<u64> {
        // `scaled_hidden` would overflow `usize` and repeat the list `depth` times in memory.
        let depth = u64::from(scale.depth).min(1 << 20) as usize;
        (0..depth)
            .flat_map(|_| self.hidden.iter().map(move |&h| scale.wide(h)))
            .collect()
    }
}

impl ModelFamily for MlpSpec {
    const KIND: &'static str = "mlp";
    const AXES: Axes = Axes::BOTH;
    const COMPLEXITY: u32 = 1;
    const MACS_PER_SECOND: f64 = 30e9;
    const BENCH_STEPS: u64 = 400;
    type Network = Mlp;

    fn input(&self) -> Input {
        Input::Rows
    }

    fn validate(&self) -> Result<(), FieldError> {
        match self.hidden.iter().position(|&h| h == 0) {
            Some(i) => Err(FieldError::zero_units(format!("model.hidden[{i}]"))),
            None => Ok(()),
        }
    }

    fn n_params(&self, scale: Scale, shape: &Shape) -> u64 {
        let mut total = 0;
        let mut d_in = u(shape.features);
        for h in self.scaled_widths(scale) {
            total = add(total, dense(d_in, h));
            d_in = h;
        }
        add(total, dense(d_in, u(shape.classes)))
    }

    fn forward_macs(&self, scale: Scale, shape: &Shape) -> u64 {
        let mut total = 0;
        let mut d_in = u(shape.features);
        for h in self.scaled_widths(scale) {
            total = add(total, mul(d_in, h));
            d_in = h;
        }
        add(total, mul(d_in, u(shape.classes)))
    }

    fn activations(&self, scale: Scale, shape: &Shape) -> u64 {
        self.scaled_widths(scale)
            .into_iter()
            .fold(add(u(shape.features), u(shape.classes)), |a, h| {
                add(a, mul(2, h))
            })
    }

    fn network(&self, scale: Scale, shape: &Shape, device: &Device) -> Mlp {
        Mlp::new(
            shape.features,
            &self.scaled_hidden(scale),
            shape.classes,
            device,
        )
    }

    fn reference(&self, scale: Scale, _: &Shape) -> serde_json::Map<String, serde_json::Value> {
        let mut meta = serde_json::Map::new();
        meta.insert("hidden".into(), self.scaled_hidden(scale).into());
        meta
    }

    fn tiny() -> Self {
        MlpSpec { hidden: vec![7, 5] }
    }
}

/// Fully connected ReLU network.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    output: Linear,
}

impl Mlp {
    /// `features → widths[0] → … → classes`, ReLU between layers.
    pub fn new(features: usize, widths: &[usize], classes: usize, device: &Device) -> Self {
        let mut hidden = Vec::with_capacity(widths.len());
        let mut d_in = features;
        for &w in widths {
            hidden.push(LinearConfig::new(d_in, w).init(device));
            d_in = w;
        }
        Mlp {
            hidden,
            output: LinearConfig::new(d_in, classes).init(device),
        }
    }
}

impl Classifier for Mlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for layer in &self.hidden {
            h = relu(lrctl_kernels::linear(layer, h));
        }
        lrctl_kernels::linear(&self.output, h)
    }
}
