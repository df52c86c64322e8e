//! A residual MLP: pre-norm residual blocks of `Linear → ReLU → Linear` with identity skip
//! connections.
//!
//! The residual connection is He et al., *Deep Residual Learning for Image Recognition* (CVPR
//! 2016), with the block's normalisation before its layers and nothing after the addition as in
//! their *Identity Mappings in Deep Residual Networks* (ECCV 2016); the block and the head are
//! the tabular ResNet of Gorishniy et al., *Revisiting Deep Learning Models for Tabular Data*
//! (NeurIPS 2021):
//!
//! ```text
//! x ← Linear(features → dim)(x)
//! x ← x + Linear(hidden → dim)(ReLU(Linear(dim → hidden)(LayerNorm(x))))   (× blocks)
//! logits = Linear(dim → classes)(ReLU(LayerNorm(x)))
//! ```
//!
//! Deviations from Gorishniy et al.: LayerNorm instead of BatchNorm (no batch statistics, so a
//! step depends only on its batch and an evaluation is the training-mode forward pass) and no
//! dropout (a seed fully determines the run).

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::{Axes, Classifier, FieldError, Input, ModelFamily, Scale};
use crate::size::{add, dense, mul, u};
use lrctl_data::catalog::Shape;

/// The `resmlp` family: an input projection to `dim`, `blocks` pre-norm residual blocks with
/// `hidden` inner units, and a LayerNorm + ReLU + linear head. The width multiplies `dim` and
/// `hidden`, the depth the blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResMlpSpec {
    /// Width of the residual stream (multiplied by `width`).
    pub dim: usize,
    /// Inner width of each block (multiplied by `width`).
    pub hidden: usize,
    /// Residual blocks (multiplied by `depth`).
    pub blocks: usize,
}

/// The sizes after the scale, saturating.
struct Dims {
    d: u64,
    h: u64,
    blocks: u64,
}

impl ResMlpSpec {
    fn dims(&self, scale: Scale) -> Dims {
        Dims {
            d: scale.wide(self.dim),
            h: scale.wide(self.hidden),
            blocks: scale.deep(self.blocks),
        }
    }
}

impl ModelFamily for ResMlpSpec {
    const KIND: &'static str = "resmlp";
    const AXES: Axes = Axes::BOTH;
    // A residual MLP is an MLP on this axis (the paper has no residual MLP).
    const COMPLEXITY: u32 = 1;
    // Dense layers like the MLP's; LayerNorm's passes are not counted as MACs.
    const MACS_PER_SECOND: f64 = 30e9;
    const BENCH_STEPS: u64 = 400;
    type Network = ResMlp;

    fn input(&self) -> Input {
        Input::Rows
    }

    fn validate(&self) -> Result<(), FieldError> {
        if self.dim == 0 {
            return Err(FieldError::zero_units("model.dim"));
        }
        if self.hidden == 0 {
            return Err(FieldError::zero_units("model.hidden"));
        }
        if self.blocks == 0 {
            return Err(FieldError {
                field: "model.blocks".into(),
                reason: "= 0: a residual MLP needs at least one block".into(),
            });
        }
        Ok(())
    }

    fn n_params(&self, scale: Scale, shape: &Shape) -> u64 {
        let Dims { d, h, blocks } = self.dims(scale);
        // Per block: LayerNorm (γ, β), d → h, h → d.
        let block = [mul(2, d), dense(d, h), dense(h, d)]
            .into_iter()
            .fold(0, add);
        [
            dense(u(shape.features), d), // input projection
            mul(blocks, block),          // blocks
            mul(2, d),                   // final LayerNorm
            dense(d, u(shape.classes)),  // output
        ]
        .into_iter()
        .fold(0, add)
    }

    fn forward_macs(&self, scale: Scale, shape: &Shape) -> u64 {
        let Dims { d, h, blocks } = self.dims(scale);
        [
            mul(u(shape.features), d),
            mul(blocks, mul(2, mul(d, h))),
            mul(d, u(shape.classes)),
        ]
        .into_iter()
        .fold(0, add)
    }

    fn activations(&self, scale: Scale, shape: &Shape) -> u64 {
        let Dims { d, h, blocks } = self.dims(scale);
        // Input and logits, the projection; per block the LayerNorm, both layers, the ReLU
        // and the sum (3 d + 2 h); the head's LayerNorm and ReLU.
        [
            add(u(shape.features), u(shape.classes)),
            d,
            mul(blocks, add(mul(3, d), mul(2, h))),
            mul(2, d),
        ]
        .into_iter()
        .fold(0, add)
    }

    fn network(&self, scale: Scale, shape: &Shape, device: &Device) -> ResMlp {
        let (w, d) = (scale.width as usize, scale.depth as usize);
        ResMlp::new(
            shape.features,
            self.dim * w,
            self.hidden * w,
            self.blocks * d,
            shape.classes,
            device,
        )
    }

    fn reference(&self, scale: Scale, _: &Shape) -> serde_json::Map<String, serde_json::Value> {
        let (w, d) = (scale.width as usize, scale.depth as usize);
        let mut meta = serde_json::Map::new();
        meta.insert("dim".into(), (self.dim * w).into());
        meta.insert("hidden".into(), (self.hidden * w).into());
        meta.insert("blocks".into(), (self.blocks * d).into());
        meta
    }

    fn tiny() -> Self {
        ResMlpSpec {
            dim: 6,
            hidden: 8,
            blocks: 2,
        }
    }
}

/// A residual MLP (see the module docs for the architecture and its sources).
#[derive(Module, Debug)]
pub struct ResMlp {
    input: Linear,
    blocks: Vec<ResBlock>,
    norm: LayerNorm,
    output: Linear,
}

/// One pre-norm residual block: `x + out(relu(fc(norm(x))))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    norm: LayerNorm,
    fc: Linear,
    out: Linear,
}

impl ResMlp {
    /// `features → dim`, `blocks` blocks `dim → hidden → dim`, then `dim → classes`.
    pub fn new(
        features: usize,
        dim: usize,
        hidden: usize,
        blocks: usize,
        classes: usize,
        device: &Device,
    ) -> Self {
        let blocks = (0..blocks)
            .map(|_| ResBlock {
                norm: LayerNormConfig::new(dim).init(device),
                fc: LinearConfig::new(dim, hidden).init(device),
                out: LinearConfig::new(hidden, dim).init(device),
            })
            .collect();
        ResMlp {
            input: LinearConfig::new(features, dim).init(device),
            blocks,
            norm: LayerNormConfig::new(dim).init(device),
            output: LinearConfig::new(dim, classes).init(device),
        }
    }
}

impl Classifier for ResMlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = lrctl_kernels::linear(&self.input, x);
        for block in &self.blocks {
            let h = relu(lrctl_kernels::linear(
                &block.fc,
                block.norm.forward(x.clone()),
            ));
            x = x + lrctl_kernels::linear(&block.out, h);
        }
        lrctl_kernels::linear(&self.output, relu(self.norm.forward(x)))
    }
}
