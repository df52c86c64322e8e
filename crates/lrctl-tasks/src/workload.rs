//! A task instantiated for one seed: data + an initialised model, seen by the training engine as
//! a flat parameter vector with a loss/gradient oracle and an evaluator.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::data::{ClassData, TextData};
use crate::init::{count_params, param_shapes, read_grads, read_params, write_params};
use crate::models::{Classifier, LanguageModel};

/// Which part of the data to evaluate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The rows the model trains on.
    Train,
    /// Held-out rows carved from the training file (used for tuning and periodic evaluation).
    Validation,
    /// The official test file, or held-out rows carved from the training file when none exists.
    Test,
}

/// Loss and metrics on a split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean cross-entropy in nats (per example; per byte for language models).
    pub loss: f64,
    /// Fraction classified correctly (classification tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Loss in bits per byte (language models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_byte: Option<f64>,
    /// `exp(loss)` per byte (language models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<f64>,
    /// Examples (or predicted bytes) evaluated.
    pub examples: usize,
}

impl Metrics {
    /// A classifier's metrics on `n` examples from its summed per-example loss and the count
    /// it got right.
    pub(crate) fn classification(loss_sum: f64, correct: usize, n: usize) -> Metrics {
        let n_eval = n as f64;
        Metrics {
            loss: loss_sum / n_eval,
            accuracy: Some(correct as f64 / n_eval),
            bits_per_byte: None,
            perplexity: None,
            examples: n,
        }
    }
}

/// What the engine trains.
pub trait Workload {
    /// Number of trainable scalars.
    fn n_params(&self) -> usize;
    /// The shapes of the parameter tensors in the flat order of [`Workload::params`] (their
    /// boundaries, and for per-tensor statistics their dimensions; the element counts add up
    /// to [`Workload::n_params`]). Default: one tensor of all parameters.
    fn param_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![self.n_params()]]
    }
    /// Training examples per epoch.
    fn n_train(&self) -> usize;
    /// Copies the parameters into `out` (flat, fixed order).
    fn params(&self, out: &mut Vec<f32>);
    /// Replaces the parameters from a flat vector in the same order.
    fn set_params(&mut self, flat: &[f32]);
    /// Mean loss on the training examples `batch` and its gradient, written flat into `grad`.
    fn loss_and_grad(&mut self, batch: &[usize], grad: &mut Vec<f32>) -> f32;
    /// Loss and metrics on `split`, using at most `limit` examples (in a fixed order).
    ///
    /// `None` when that leaves no example (an empty held-out split, e.g. `holdout.validation
    /// = 0` or a file too small to carve one, or `limit = Some(0)`): there is no value to
    /// report, which is not the same as a loss or an accuracy of 0.
    fn evaluate(&self, split: Split, limit: Option<usize>) -> Option<Metrics>;
}

/// Rows per forward pass during evaluation.
const EVAL_CHUNK: usize = 128;

/// A classifier over tabular or image rows.
pub struct ClassifierWorkload<N: Classifier> {
    model: Option<N>,
    data: Arc<ClassData>,
    device: Device,
    n_params: usize,
    batch_x: Vec<f32>,
    batch_y: Vec<i64>,
}

impl<N: Classifier> ClassifierWorkload<N> {
    /// Wraps an initialised model.
    pub fn new(model: N, data: Arc<ClassData>, device: Device) -> Self {
        let n_params = count_params(&model);
        ClassifierWorkload {
            model: Some(model),
            data,
            device,
            n_params,
            batch_x: Vec::new(),
            batch_y: Vec::new(),
        }
    }

    fn model(&self) -> &N {
        self.model.as_ref().expect("model present between calls")
    }
}

impl<N: Classifier> Workload for ClassifierWorkload<N> {
    fn n_params(&self) -> usize {
        self.n_params
    }

    fn param_shapes(&self) -> Vec<Vec<usize>> {
        param_shapes(self.model())
    }

    fn n_train(&self) -> usize {
        self.data.train.n_rows
    }

    fn params(&self, out: &mut Vec<f32>) {
        read_params(self.model(), out);
    }

    fn set_params(&mut self, flat: &[f32]) {
        let model = self.model.take().expect("model present between calls");
        self.model = Some(write_params(model, flat));
    }

    fn loss_and_grad(&mut self, batch: &[usize], grad: &mut Vec<f32>) -> f32 {
        let train = &self.data.train;
        let f = train.n_features;
        self.batch_x.clear();
        self.batch_y.clear();
        // Image bytes become `f32` here, one mini-batch at a time.
        train.gather_rows(batch, &mut self.batch_x);
        self.batch_y
            .extend(batch.iter().map(|&i| train.y[i] as i64));
        let b = batch.len();
        let x = Tensor::<2>::from_data(
            TensorData::new(std::mem::take(&mut self.batch_x), [b, f]),
            &self.device,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(std::mem::take(&mut self.batch_y), [b]),
            &self.device,
        );
        let model = self.model();
        let loss = cross_entropy(model.logits(x), y);
        let mut grads = loss.backward();
        read_grads(model, &mut grads, grad);
        loss.into_scalar::<f32>()
    }

    fn evaluate(&self, split: Split, limit: Option<usize>) -> Option<Metrics> {
        let rows = self.data.split(split);
        let n = limit.map_or(rows.n_rows, |l| l.min(rows.n_rows));
        if n == 0 {
            return None;
        }
        let f = rows.n_features;
        let model = self.model().valid();
        let device = self.device.clone().without_autodiff();
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let mut start = 0;
        while start < n {
            let end = (start + EVAL_CHUNK).min(n);
            let b = end - start;
            let x = Tensor::<2>::from_data(
                TensorData::new(rows.rows(start..end).into_owned(), [b, f]),
                &device,
            );
            let labels: Vec<i64> = rows.y[start..end].iter().map(|&c| c as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [b]), &device);
            let logits = model.logits(x);
            let pred = logits.clone().argmax(1).into_data();
            correct += pred
                .iter::<i64>()
                .zip(&labels)
                .filter(|(p, l)| p == *l)
                .count();
            loss_sum += cross_entropy(logits, y).into_scalar::<f32>() as f64 * b as f64;
            start = end;
        }
        Some(Metrics::classification(loss_sum, correct, n))
    }
}

/// Mean softmax cross-entropy of `[batch, classes]` logits against class ids.
fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, _] = logits.dims();
    let log_probs = log_softmax(logits, 1);
    log_probs.gather(1, targets.reshape([b, 1])).mean().neg()
}

/// A byte-level language model over a text corpus. Training example `i` is the window starting
/// at byte `i` of the training text.
pub struct LmWorkload<N: LanguageModel> {
    model: Option<N>,
    data: Arc<TextData>,
    context: usize,
    device: Device,
    n_params: usize,
}

impl<N: LanguageModel> LmWorkload<N> {
    /// Wraps an initialised model.
    pub fn new(model: N, data: Arc<TextData>, context: usize, device: Device) -> Self {
        let n_params = count_params(&model);
        LmWorkload {
            model: Some(model),
            data,
            context,
            device,
            n_params,
        }
    }

    fn model(&self) -> &N {
        self.model.as_ref().expect("model present between calls")
    }

    /// Input and target windows starting at `starts`.
    fn windows(&self, text: &[u8], starts: impl Iterator<Item = usize>) -> (Vec<i64>, Vec<i64>) {
        let t = self.context;
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for s in starts {
            xs.extend(text[s..s + t].iter().map(|&c| c as i64));
            ys.extend(text[s + 1..s + t + 1].iter().map(|&c| c as i64));
        }
        (xs, ys)
    }
}

impl<N: LanguageModel> Workload for LmWorkload<N> {
    fn n_params(&self) -> usize {
        self.n_params
    }

    fn param_shapes(&self) -> Vec<Vec<usize>> {
        param_shapes(self.model())
    }

    fn n_train(&self) -> usize {
        self.data
            .train
            .len()
            .saturating_sub(self.context + 1)
            .max(1)
    }

    fn params(&self, out: &mut Vec<f32>) {
        read_params(self.model(), out);
    }

    fn set_params(&mut self, flat: &[f32]) {
        let model = self.model.take().expect("model present between calls");
        self.model = Some(write_params(model, flat));
    }

    fn loss_and_grad(&mut self, batch: &[usize], grad: &mut Vec<f32>) -> f32 {
        let (xs, ys) = self.windows(&self.data.train, batch.iter().copied());
        let (b, t) = (batch.len(), self.context);
        let x = Tensor::<2, Int>::from_data(TensorData::new(xs, [b, t]), &self.device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(ys, [b * t]), &self.device);
        let model = self.model();
        let logits = model.logits(x).reshape([b * t, 256]);
        let loss = cross_entropy(logits, y);
        let mut grads = loss.backward();
        read_grads(model, &mut grads, grad);
        loss.into_scalar::<f32>()
    }

    fn evaluate(&self, split: Split, limit: Option<usize>) -> Option<Metrics> {
        let text: &[u8] = match split {
            Split::Train => &self.data.train,
            Split::Validation => &self.data.validation,
            Split::Test => &self.data.test,
        };
        let t = self.context;
        // Non-overlapping windows covering the split.
        let total = text.len().saturating_sub(1) / t;
        let n = limit.map_or(total, |l| l.min(total));
        if n == 0 {
            return None;
        }
        let model = self.model().valid();
        let device = self.device.clone().without_autodiff();
        let chunk = (EVAL_CHUNK * 8 / t).max(1);
        let mut loss_sum = 0.0f64;
        let mut start = 0;
        while start < n {
            let end = (start + chunk).min(n);
            let b = end - start;
            let (xs, ys) = self.windows(text, (start..end).map(|w| w * t));
            let x = Tensor::<2, Int>::from_data(TensorData::new(xs, [b, t]), &device);
            let y = Tensor::<1, Int>::from_data(TensorData::new(ys, [b * t]), &device);
            let logits = model.logits(x).reshape([b * t, 256]);
            loss_sum += cross_entropy(logits, y).into_scalar::<f32>() as f64 * (b * t) as f64;
            start = end;
        }
        let loss = loss_sum / (n * t) as f64;
        Some(Metrics {
            loss,
            accuracy: None,
            bits_per_byte: Some(loss / std::f64::consts::LN_2),
            perplexity: Some(loss.exp()),
            examples: n * t,
        })
    }
}
