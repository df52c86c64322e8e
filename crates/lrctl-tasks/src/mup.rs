//! Parametrisations across width: the standard one and µP (Yang et al. 2022, "Tensor Programs
//! V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer", Table 3).
//!
//! Under µP, a network's best learning rate stays put as its width grows, so a learning rate
//! tuned on a narrow copy transfers to the wide one. Table 3 gives, per kind of tensor, its
//! initialisation variance and its learning rate as functions of fan-in and fan-out:
//!
//! | | input weights & all biases | output weights | hidden weights |
//! |---|---|---|---|
//! | init. variance | 1/fan_in | 1/fan_in² | 1/fan_in |
//! | SGD LR | fan_out | 1/fan_in | 1 |
//! | Adam LR | 1 | 1/fan_in | 1/fan_in |
//!
//! The standard parametrisation (PyTorch's defaults) has variance 1/fan_in and one learning
//! rate everywhere. lrctl states µP *relative to the task at width ×1* (the base shapes of the
//! authors' `mup` package): every multiplier below is Table 3 at the task's width divided by
//! Table 3 at width ×1, so µP and the standard parametrisation coincide at width ×1 and a
//! learning rate tuned there means the same under both. Only the dimensions that grow with the
//! width multiplier count as widths (a network's input features and classes do not grow).
//!
//! Deviations: vector-like tensors that are not biases (LayerNorm gains) are treated as biases,
//! as `mup` does; the readout's zero initialisation the authors also recommend is not applied;
//! [`roles`] reads roles from the tensors' order and ranks only, so a transformer's positional
//! embedding (its second matrix) counts as hidden where µP has it input-like.

use serde::{Deserialize, Serialize};

/// How a task's tensors are initialised and how their learning rates scale with width.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parametrization {
    /// PyTorch's defaults: variance 1/fan_in, one learning rate for every tensor.
    #[default]
    Standard,
    /// µP (Tensor Programs V, Table 3), relative to the task at width ×1.
    Mup,
}

impl Parametrization {
    /// Whether this is the standard parametrisation (the default, left out of a task's JSON so
    /// configuration hashes of existing tasks do not change).
    pub fn is_standard(&self) -> bool {
        *self == Parametrization::Standard
    }
}

/// What a tensor is to Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerRole {
    /// Maps the input (fixed size) to the width: the first weight matrix or embedding; also
    /// every bias and other vector-like tensor.
    Input,
    /// Maps width to width.
    Hidden,
    /// Maps the width to the output (fixed size): the last weight matrix.
    Output,
}

/// Which learning-rate column of Table 3 an optimizer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateRule {
    /// Steps proportional to the gradient (SGD, with or without momentum).
    Sgd,
    /// Steps normalised per coordinate (Adam, AdamW, and their relatives).
    Adam,
}

/// Table 3 for one tensor: initialisation variance and learning rate (up to the global
/// learning rate), from its fan-in and fan-out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Table3 {
    /// Initialisation variance.
    pub init_variance: f64,
    /// Learning-rate factor.
    pub lr: f64,
}

/// Table 3's entry for a tensor of `role` with `fan_in` and `fan_out` under `rule`.
pub fn table3(role: LayerRole, rule: UpdateRule, fan_in: f64, fan_out: f64) -> Table3 {
    let (init_variance, lr) = match (role, rule) {
        (LayerRole::Input, UpdateRule::Sgd) => (1.0 / fan_in, fan_out),
        (LayerRole::Input, UpdateRule::Adam) => (1.0 / fan_in, 1.0),
        (LayerRole::Output, _) => (1.0 / (fan_in * fan_in), 1.0 / fan_in),
        (LayerRole::Hidden, UpdateRule::Sgd) => (1.0 / fan_in, 1.0),
        (LayerRole::Hidden, UpdateRule::Adam) => (1.0 / fan_in, 1.0 / fan_in),
    };
    Table3 { init_variance, lr }
}

/// Multipliers of one tensor relative to the standard parametrisation of the same network:
/// its initial values' standard deviation and its learning rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    /// Factor on the standard initialisation's standard deviation.
    pub init_std: f64,
    /// Factor on the global learning rate.
    pub lr: f64,
}

impl Scaling {
    /// No change.
    pub const ONE: Scaling = Scaling {
        init_std: 1.0,
        lr: 1.0,
    };
}

impl Parametrization {
    /// The multipliers of a tensor of `role` at `width_ratio` times the base width (its
    /// widened fans are `width_ratio` times the base's) under `rule`.
    ///
    /// µP: Table 3 at the task's width divided by Table 3 at the base width, and for the
    /// initialisation additionally divided by the standard variance ratio (the standard
    /// initialisation already scales as 1/fan_in).
    pub fn scaling(self, role: LayerRole, rule: UpdateRule, width_ratio: f64) -> Scaling {
        if self == Parametrization::Standard {
            return Scaling::ONE;
        }
        let m = width_ratio;
        // Fans at the base (1) and at the task's width (m), along the dimensions that widen.
        let fans = |w: f64| match role {
            LayerRole::Input => (1.0, w),
            LayerRole::Hidden => (w, w),
            LayerRole::Output => (w, 1.0),
        };
        let (at, base) = (fans(m), fans(1.0));
        let mu = table3(role, rule, at.0, at.1);
        let mu0 = table3(role, rule, base.0, base.1);
        let standard_variance_ratio = base.0 / at.0;
        Scaling {
            init_std: (mu.init_variance / mu0.init_variance / standard_variance_ratio).sqrt(),
            lr: mu.lr / mu0.lr,
        }
    }
}

/// The role of each tensor of a network from its shapes in the flat parameter order (as
/// [`crate::Workload::param_shapes`] lists them): vectors are biases (input-like), the first
/// matrix (or kernel, or embedding) is the input layer, the last the output layer, the others
/// hidden. A network with one matrix (logistic regression) has it as the output layer (its
/// fan-in does not widen: every multiplier is 1 for it).
pub fn roles(shapes: &[Vec<usize>]) -> Vec<LayerRole> {
    let matrices: Vec<usize> = shapes
        .iter()
        .enumerate()
        .filter(|(_, s)| s.len() >= 2)
        .map(|(i, _)| i)
        .collect();
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.len() < 2 {
                LayerRole::Input
            } else if Some(&i) == matrices.last() {
                LayerRole::Output
            } else if Some(&i) == matrices.first() {
                LayerRole::Input
            } else {
                LayerRole::Hidden
            }
        })
        .collect()
}

/// Per-coordinate learning-rate multipliers of the flat parameter vector: each tensor's
/// [`Parametrization::scaling`] `lr`, repeated over its coordinates. `None` for the standard
/// parametrisation or width ×1 (all ones: nothing to apply).
pub fn lr_multipliers(
    parametrization: Parametrization,
    rule: UpdateRule,
    width_ratio: f64,
    shapes: &[Vec<usize>],
) -> Option<Vec<f32>> {
    lr_or_init(parametrization, rule, width_ratio, shapes, |s| s.lr)
}

/// Per-coordinate factors on the standard initial values (scaling a draw of the standard
/// initialisation scales its standard deviation): each tensor's [`Parametrization::scaling`]
/// `init_std`, which under µP is below 1 for the output layer only (the SGD and Adam columns
/// agree on initialisation). `None` when nothing changes.
pub fn init_multipliers(
    parametrization: Parametrization,
    width_ratio: f64,
    shapes: &[Vec<usize>],
) -> Option<Vec<f32>> {
    lr_or_init(
        parametrization,
        UpdateRule::Adam,
        width_ratio,
        shapes,
        |s| s.init_std,
    )
}

fn lr_or_init(
    parametrization: Parametrization,
    rule: UpdateRule,
    width_ratio: f64,
    shapes: &[Vec<usize>],
    pick: impl Fn(Scaling) -> f64,
) -> Option<Vec<f32>> {
    // One matrix (logistic regression): its fans do not widen, nothing scales.
    if parametrization.is_standard()
        || width_ratio == 1.0
        || shapes.iter().filter(|s| s.len() >= 2).count() < 2
    {
        return None;
    }
    let mut out = Vec::new();
    for (shape, role) in shapes.iter().zip(roles(shapes)) {
        let n: usize = shape.iter().product();
        let f = pick(parametrization.scaling(role, rule, width_ratio));
        out.extend(std::iter::repeat_n(f as f32, n));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12 * b.abs().max(1.0)
    }

    /// Table 3 as printed, at fan-in 256 and fan-out 512.
    #[test]
    fn table3_as_printed() {
        use LayerRole::*;
        use UpdateRule::*;
        let (i, o) = (256.0, 512.0);
        let t = |r, u| table3(r, u, i, o);
        assert_eq!(
            t(Input, Sgd),
            Table3 {
                init_variance: 1.0 / i,
                lr: o
            }
        );
        assert_eq!(
            t(Input, Adam),
            Table3 {
                init_variance: 1.0 / i,
                lr: 1.0
            }
        );
        assert_eq!(
            t(Output, Sgd),
            Table3 {
                init_variance: 1.0 / (i * i),
                lr: 1.0 / i
            }
        );
        assert_eq!(
            t(Output, Adam),
            Table3 {
                init_variance: 1.0 / (i * i),
                lr: 1.0 / i
            }
        );
        assert_eq!(
            t(Hidden, Sgd),
            Table3 {
                init_variance: 1.0 / i,
                lr: 1.0
            }
        );
        assert_eq!(
            t(Hidden, Adam),
            Table3 {
                init_variance: 1.0 / i,
                lr: 1.0 / i
            }
        );
    }

    /// At 4 × the base width: µP's multipliers relative to the standard parametrisation.
    /// Input: init ×1, SGD LR ×4 (fan_out grew 4×), Adam LR ×1. Hidden: init ×1, SGD ×1, Adam
    /// ×1/4. Output: init std ×1/2 (variance 1/fan_in² against the standard 1/fan_in), LR ×1/4
    /// under both.
    #[test]
    fn mup_multipliers_at_width_ratio_four() {
        use LayerRole::*;
        use UpdateRule::*;
        let mup = |r, u| Parametrization::Mup.scaling(r, u, 4.0);
        let expect = [
            (Input, Sgd, 1.0, 4.0),
            (Input, Adam, 1.0, 1.0),
            (Hidden, Sgd, 1.0, 1.0),
            (Hidden, Adam, 1.0, 0.25),
            (Output, Sgd, 0.5, 0.25),
            (Output, Adam, 0.5, 0.25),
        ];
        for (r, u, init_std, lr) in expect {
            let s = mup(r, u);
            assert!(
                close(s.init_std, init_std) && close(s.lr, lr),
                "{r:?} {u:?}: {s:?}"
            );
            // At the base width µP is the standard parametrisation, and the standard one never
            // changes anything.
            assert_eq!(Parametrization::Mup.scaling(r, u, 1.0), Scaling::ONE);
            assert_eq!(Parametrization::Standard.scaling(r, u, 4.0), Scaling::ONE);
        }
    }

    #[test]
    fn roles_and_flat_multipliers_of_an_mlp() {
        // 784 → 256 → 256 → 10 at width ×4 of 64: weights [in, out] and biases, burn's order.
        let shapes = vec![
            vec![784, 256],
            vec![256],
            vec![256, 256],
            vec![256],
            vec![256, 10],
            vec![10],
        ];
        use LayerRole::*;
        assert_eq!(roles(&shapes), [Input, Input, Hidden, Input, Output, Input]);
        let m = lr_multipliers(Parametrization::Mup, UpdateRule::Adam, 4.0, &shapes).unwrap();
        let n: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
        assert_eq!(m.len(), n);
        assert_eq!(m[0], 1.0);
        assert_eq!(m[784 * 256 + 256], 0.25);
        assert_eq!(m[n - 11], 0.25);
        assert_eq!(m[n - 1], 1.0);
        assert!(
            lr_multipliers(Parametrization::Standard, UpdateRule::Adam, 4.0, &shapes).is_none()
        );
        assert!(lr_multipliers(Parametrization::Mup, UpdateRule::Adam, 1.0, &shapes).is_none());
        let init = init_multipliers(Parametrization::Mup, 4.0, &shapes).unwrap();
        assert_eq!(
            (init[0], init[784 * 256 + 256], init[n - 11]),
            (1.0, 1.0, 0.5)
        );
        assert_eq!(init[n - 1], 1.0);
    }
}
