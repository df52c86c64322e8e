use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::Classifier;

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
