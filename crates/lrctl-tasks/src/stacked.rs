//! Batched trials: `K` weight sets of one model trained together over the same mini-batches
//! ([`StackedWorkload`]), for the small models whose step is overhead-bound.
//!
//! Tuning trials that share a task, a seed (so an initialisation and a data order) and a start
//! can train as one model: the `K` weight sets are stacked side by side, and one pass over each
//! mini-batch computes every member's loss and gradient. The members stay independent — each
//! column block of the stacked weights is one member's, no sum ever mixes two members, so a
//! member that diverges (non-finite weights) leaves the others' numbers untouched.
//!
//! **Tolerance.** A member's loss and gradient equal those of the family's own [`Workload`]
//! up to floating-point summation order, not bit for bit: the stacked GEMM blocks its inner
//! products differently from the single model's, and the softmax cross-entropy and its
//! gradient are written out here instead of going through burn's `log_softmax`, `gather`,
//! `mean` and autodiff. Each family's test states its tolerance.
//!
//! Families with a stacked form: logistic regression ([`StackedLinear`]).

use std::sync::Arc;

use lrctl_kernels::activation::exp_neg;
use lrctl_kernels::linear::{LinearShape, backward, forward};

use crate::data::ClassData;
use crate::workload::{Metrics, Split};

/// `K` members of one model trained on the same mini-batches (see the module docs): the
/// batched counterpart of [`crate::Workload`], member by member.
pub trait StackedWorkload {
    /// Members (`K`).
    fn members(&self) -> usize;
    /// Trainable scalars of one member.
    fn n_params(&self) -> usize;
    /// One member's parameter shapes, in the flat order ([`crate::Workload::param_shapes`]).
    fn param_shapes(&self) -> Vec<Vec<usize>>;
    /// Training examples per epoch.
    fn n_train(&self) -> usize;
    /// Copies member `k`'s parameters into `out` (the single model's flat order).
    fn params(&self, k: usize, out: &mut Vec<f32>);
    /// Replaces member `k`'s parameters from a flat vector in that order.
    fn set_params(&mut self, k: usize, flat: &[f32]);
    /// Mean losses on the training examples `batch` and their gradients, for the members
    /// listed in `members` (in any order): `losses[k]` and `grads[k]` are member `k`'s; the
    /// other entries are left alone.
    fn loss_and_grads(
        &mut self,
        batch: &[usize],
        members: &[usize],
        losses: &mut [f32],
        grads: &mut [Vec<f32>],
    );
    /// Member `k`'s loss and metrics on `split` ([`crate::Workload::evaluate`]).
    fn evaluate(&self, k: usize, split: Split, limit: Option<usize>) -> Option<Metrics>;
}

/// Rows per forward pass during evaluation (as the single model's).
const EVAL_CHUNK: usize = 128;

/// `K` multinomial logistic regressions ([`crate::models::Logistic`]) stacked into one
/// `features → K·classes` dense layer: member `k` owns output columns `k·C .. (k+1)·C`. A step
/// is one GEMM forward and one backward over the mini-batch for all members, on
/// `lrctl-kernels`' dense layer, and a softmax cross-entropy per member.
pub struct StackedLinear {
    data: Arc<ClassData>,
    k: usize,
    features: usize,
    classes: usize,
    /// `[features, K·classes]`, row-major.
    weight: Vec<f32>,
    /// `[K·classes]`.
    bias: Vec<f32>,
    batch_x: Vec<f32>,
}

impl StackedLinear {
    /// `k` members, each starting from `init`: a logistic regression's flat parameters (its
    /// `[features, classes]` weight row-major, then its bias). `None` when `init` does not have
    /// that length or `k` is 0.
    pub fn new(data: Arc<ClassData>, init: &[f32], k: usize) -> Option<StackedLinear> {
        let (features, classes) = (data.train.n_features, data.train.n_classes);
        if k == 0 || init.len() != features * classes + classes {
            return None;
        }
        let mut stacked = StackedLinear {
            data,
            k,
            features,
            classes,
            weight: vec![0.0; features * k * classes],
            bias: vec![0.0; k * classes],
            batch_x: Vec::new(),
        };
        for member in 0..k {
            stacked.set_params(member, init);
        }
        Some(stacked)
    }

    fn width(&self) -> usize {
        self.k * self.classes
    }
}

impl StackedWorkload for StackedLinear {
    fn members(&self) -> usize {
        self.k
    }

    fn n_params(&self) -> usize {
        self.features * self.classes + self.classes
    }

    fn param_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![self.features, self.classes], vec![self.classes]]
    }

    fn n_train(&self) -> usize {
        self.data.train.n_rows
    }

    fn params(&self, k: usize, out: &mut Vec<f32>) {
        let (c, w) = (self.classes, self.width());
        out.clear();
        for row in self.weight.chunks_exact(w) {
            out.extend_from_slice(&row[k * c..][..c]);
        }
        out.extend_from_slice(&self.bias[k * c..][..c]);
    }

    fn set_params(&mut self, k: usize, flat: &[f32]) {
        let (c, w) = (self.classes, self.width());
        let (weight, bias) = flat.split_at(self.features * c);
        for (row, src) in self.weight.chunks_exact_mut(w).zip(weight.chunks_exact(c)) {
            row[k * c..][..c].copy_from_slice(src);
        }
        self.bias[k * c..][..c].copy_from_slice(bias);
    }

    fn loss_and_grads(
        &mut self,
        batch: &[usize],
        members: &[usize],
        losses: &mut [f32],
        grads: &mut [Vec<f32>],
    ) {
        let train = &self.data.train;
        let (f, c, w) = (self.features, self.classes, self.width());
        self.batch_x.clear();
        train.gather_rows(batch, &mut self.batch_x);
        let shape = LinearShape {
            rows: batch.len(),
            d_in: f,
            d_out: w,
        };
        // Every member's logits in one GEMM (members not asked for cost a few columns).
        let logits = forward(&self.batch_x, &self.weight, Some(&self.bias), &shape);
        // d(mean loss)/d(logits): (softmax − one-hot) / batch, zero for members not asked for.
        let mut g = vec![0.0f32; logits.len()];
        let scale = 1.0 / batch.len().max(1) as f32;
        let mut sums = vec![0.0f64; members.len()];
        for ((zrow, grow), &i) in logits.chunks_exact(w).zip(g.chunks_exact_mut(w)).zip(batch) {
            let y = train.y[i] as usize;
            for (sum, &k) in sums.iter_mut().zip(members) {
                let z = &zrow[k * c..(k + 1) * c];
                let gz = &mut grow[k * c..(k + 1) * c];
                let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                // One exponential per logit, kept in the gradient, then normalised: a
                // branch-free exponential in a loop of its own vectorises (a scalar `expf` per
                // logit was a fifth of the step with 26 classes); the sum stays in order.
                for (gv, &v) in gz.iter_mut().zip(z) {
                    *gv = exp_neg(v - max);
                }
                let total: f32 = gz.iter().sum();
                *sum += f64::from(max + total.ln() - z[y]);
                let norm = scale / total;
                gz.iter_mut().for_each(|gv| *gv *= norm);
                gz[y] -= scale;
            }
        }
        for (sum, &k) in sums.iter().zip(members) {
            losses[k] = (sum / batch.len().max(1) as f64) as f32;
        }
        let grad = backward(&g, &self.batch_x, &self.weight, &shape, false);
        for &k in members {
            let out = &mut grads[k];
            out.clear();
            for row in grad.weight.chunks_exact(w) {
                out.extend_from_slice(&row[k * c..][..c]);
            }
            out.extend_from_slice(&grad.bias[k * c..][..c]);
        }
    }

    fn evaluate(&self, k: usize, split: Split, limit: Option<usize>) -> Option<Metrics> {
        let rows = self.data.split(split);
        let n = limit.map_or(rows.n_rows, |l| l.min(rows.n_rows));
        if n == 0 {
            return None;
        }
        let (f, c) = (self.features, self.classes);
        let mut flat = Vec::new();
        self.params(k, &mut flat);
        let (weight, bias) = flat.split_at(f * c);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let mut start = 0;
        while start < n {
            let end = (start + EVAL_CHUNK).min(n);
            let b = end - start;
            let shape = LinearShape {
                rows: b,
                d_in: f,
                d_out: c,
            };
            let logits = forward(&rows.rows(start..end), weight, Some(bias), &shape);
            let mut chunk = 0.0f64;
            for (z, &y) in logits.chunks_exact(c).zip(&rows.y[start..end]) {
                let (arg, max) =
                    z.iter()
                        .copied()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |a, (i, v)| if v > a.1 { (i, v) } else { a },
                        );
                correct += usize::from(arg == y as usize);
                let total: f32 = z.iter().map(|&v| (v - max).exp()).sum();
                chunk += f64::from(max + total.ln() - z[y as usize]);
            }
            loss_sum += chunk;
            start = end;
        }
        Some(Metrics::classification(loss_sum, correct, n))
    }
}
