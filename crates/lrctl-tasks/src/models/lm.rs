//! A byte-level decoder-only transformer (GPT-style: Radford et al. 2019), pre-LayerNorm
//! (Xiong et al. 2020), learned positions, no dropout so a seed fully determines the run.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Axes, FieldError, Input, LanguageModel, ModelFamily, Network, Scale};
use crate::data::TaskData;
use crate::size::{add, dense, mul, u};
use crate::workload::Workload;
use lrctl_data::catalog::{BYTE_VOCABULARY, Shape};

/// The `lm` family: learned positions, pre-LayerNorm blocks, causal self-attention, GELU MLP
/// (4× expansion), final LayerNorm, untied output head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmSpec {
    /// Embedding size (multiplied by `width`).
    pub d_model: usize,
    /// Transformer blocks (multiplied by `depth`).
    pub layers: usize,
    /// Attention heads (multiplied by `width`, so the head size stays fixed).
    pub heads: usize,
    /// Context length in bytes.
    pub context: usize,
}

impl ModelFamily for LmSpec {
    const KIND: &'static str = "lm";
    const AXES: Axes = Axes::BOTH;
    const COMPLEXITY: u32 = 3;
    const MACS_PER_SECOND: f64 = 15e9;
    const BENCH_STEPS: u64 = 12;
    type Network = ByteLm;

    fn input(&self) -> Input {
        Input::Text {
            context: self.context,
        }
    }

    fn validate(&self) -> Result<(), FieldError> {
        for (field, v) in [
            ("model.d_model", self.d_model),
            ("model.layers", self.layers),
            ("model.heads", self.heads),
            ("model.context", self.context),
        ] {
            if v == 0 {
                return Err(FieldError {
                    field: field.into(),
                    reason: "= 0: must be at least 1".into(),
                });
            }
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(FieldError {
                field: "model.d_model".into(),
                reason: format!(
                    "= {} is not divisible by model.heads = {}",
                    self.d_model, self.heads
                ),
            });
        }
        Ok(())
    }

    fn n_params(&self, scale: Scale, _: &Shape) -> u64 {
        let d = scale.wide(self.d_model);
        let l = scale.deep(self.layers);
        let v = u(BYTE_VOCABULARY);
        // Per block: two LayerNorms, qkv, projection, 4× MLP: 12 d² + 13 d.
        let block = add(mul(12, mul(d, d)), mul(13, d));
        [
            mul(v, d),               // token embedding
            mul(u(self.context), d), // positions
            mul(l, block),           // blocks
            mul(2, d),               // final LayerNorm
            dense(d, v),             // output head
        ]
        .into_iter()
        .fold(0, add)
    }

    /// Attention counts the causal products (`t(t+1)/2` scores and as many weighted values
    /// per head dimension).
    fn forward_macs(&self, scale: Scale, _: &Shape) -> u64 {
        let d = scale.wide(self.d_model);
        let l = scale.deep(self.layers);
        let t = u(self.context);
        let per_token = add(mul(l, mul(12, mul(d, d))), mul(d, u(BYTE_VOCABULARY)));
        let attention = mul(l, mul(mul(t, add(t, 1)), d));
        add(mul(t, per_token), attention)
    }

    fn activations(&self, scale: Scale, _: &Shape) -> u64 {
        let d = scale.wide(self.d_model);
        let l = scale.deep(self.layers);
        let t = u(self.context);
        let h = scale.wide(self.heads).max(1);
        // Per block: LayerNorms, qkv, context, projection, 4× MLP before and after GELU,
        // residuals (≈ 18 d per token), and the heads' t × t scores.
        let block = add(mul(18, mul(t, d)), mul(h, mul(t, t)));
        add(
            mul(l, block),
            mul(t, add(mul(2, d), mul(2, u(BYTE_VOCABULARY)))),
        )
    }

    fn network(&self, scale: Scale, _: &Shape, device: &Device) -> ByteLm {
        let (w, d) = (scale.width as usize, scale.depth as usize);
        ByteLm::new(
            self.d_model * w,
            self.layers * d,
            self.heads * w,
            self.context,
            device,
        )
    }

    fn reference(&self, scale: Scale, _: &Shape) -> serde_json::Map<String, serde_json::Value> {
        let (w, d) = (scale.width as usize, scale.depth as usize);
        let mut meta = serde_json::Map::new();
        meta.insert("d_model".into(), (self.d_model * w).into());
        meta.insert("layers".into(), (self.layers * d).into());
        meta.insert("heads".into(), (self.heads * w).into());
        meta.insert("context".into(), self.context.into());
        meta
    }

    fn tiny() -> Self {
        LmSpec {
            d_model: 8,
            layers: 1,
            heads: 2,
            context: 4,
        }
    }
}

/// Byte-level decoder-only transformer (GPT-style, pre-LayerNorm, learned positions, no
/// dropout so a seed fully determines the run).
#[derive(Module, Debug)]
pub struct ByteLm {
    tokens: Embedding,
    positions: Embedding,
    blocks: Vec<Block>,
    norm: LayerNorm,
    head: Linear,
    context: usize,
}

/// One pre-LayerNorm block: `x + attn(ln(x))`, then `x + mlp(ln(x))`.
#[derive(Module, Debug)]
pub struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc: Linear,
    out: Linear,
    heads: usize,
}

impl ByteLm {
    /// `layers` blocks of width `d_model` with `heads` heads over a `context`-byte window.
    pub fn new(
        d_model: usize,
        layers: usize,
        heads: usize,
        context: usize,
        device: &Device,
    ) -> Self {
        let blocks = (0..layers)
            .map(|_| Block {
                norm1: LayerNormConfig::new(d_model).init(device),
                qkv: LinearConfig::new(d_model, 3 * d_model).init(device),
                proj: LinearConfig::new(d_model, d_model).init(device),
                norm2: LayerNormConfig::new(d_model).init(device),
                fc: LinearConfig::new(d_model, 4 * d_model).init(device),
                out: LinearConfig::new(4 * d_model, d_model).init(device),
                heads,
            })
            .collect();
        ByteLm {
            tokens: EmbeddingConfig::new(256, d_model).init(device),
            positions: EmbeddingConfig::new(context, d_model).init(device),
            blocks,
            norm: LayerNormConfig::new(d_model).init(device),
            head: LinearConfig::new(d_model, 256).init(device),
            context,
        }
    }

    /// `[batch, t]` byte ids → `[batch, t, 256]` logits for the next byte at every position.
    pub fn logits(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let pos = Tensor::<1, Int>::arange(0..t as i64, &device)
            .reshape([1, t])
            .expand([b, t]);
        let mut x = self.tokens.forward(tokens) + self.positions.forward(pos);
        for block in &self.blocks {
            x = block.forward(x);
        }
        lrctl_kernels::linear(&self.head, self.norm.forward(x))
    }
}

impl LanguageModel for ByteLm {
    fn logits(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        ByteLm::logits(self, tokens)
    }

    fn context(&self) -> usize {
        self.context
    }
}

impl Network for ByteLm {
    fn workload(self, data: &TaskData, device: &Device) -> Option<Box<dyn Workload>> {
        super::lm_workload(self, data, device)
    }
}

impl Block {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        // lrctl's kernels on the CPU backend (dense layers, fused causal attention, GELU),
        // burn's operations elsewhere.
        let qkv = lrctl_kernels::linear(&self.qkv, self.norm1.forward(x.clone()));
        let ctx = lrctl_kernels::causal_self_attention(qkv, self.heads);
        let x = x + lrctl_kernels::linear(&self.proj, ctx);
        let h = lrctl_kernels::gelu(lrctl_kernels::linear(
            &self.fc,
            self.norm2.forward(x.clone()),
        ));
        let m = lrctl_kernels::linear(&self.out, h);
        x + m
    }
}
