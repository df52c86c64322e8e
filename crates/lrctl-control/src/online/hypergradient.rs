//! Hypergradient descent.

use serde::{Deserialize, Serialize};

use crate::check::Ctx;
use crate::spec::{ControllerConfig, OnlineConfig};
use crate::{ControlError, Controller, Observation};

/// Hypergradient descent (Baydin et al. 2018, *Online Learning Rate Adaptation with
/// Hypergradient Descent*): before each update,
/// `α_t = α_{t-1} + β · g_t · d_{t-1}`, where `g_t` is the current gradient and
/// `d_{t-1} = (θ_{t-2} - θ_{t-1}) / α_{t-1}` the previous update direction
/// ([`GradStats::dot_prev_direction`](crate::GradStats::dot_prev_direction)). The
/// hypergradient `∂f(θ_{t-1})/∂α = -g_t · d_{t-1}` is followed downhill with step `β`.
///
/// SGD-HD and Adam-HD are the same rule: for SGD the direction is the previous gradient, for
/// Adam it is the previous `m̂ / (√v̂ + ε)`; the engine reports whichever direction the optimizer
/// took, so one controller serves both (the paper suggests β = 0.001 for SGD and 1e-7 for Adam,
/// as the dot products differ in scale).
///
/// Deviations: the rate is clamped to `[min_lr, max_lr]` (by default `[0, ∞)`: a negative rate
/// would be gradient ascent, which the paper does not clamp against). A missing or non-finite
/// dot product (the first step, a step after a zero rate) leaves the rate unchanged. With weight
/// decay or momentum the reported direction includes them, which is the natural generalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypergradient {
    lr: f64,
    beta: f64,
    min_lr: f64,
    max_lr: f64,
}

impl Hypergradient {
    /// The current rate `α`.
    pub fn current(&self) -> f64 {
        self.lr
    }
}

impl Controller for Hypergradient {
    fn needs_history(&self) -> bool {
        true
    }

    fn lr(&mut self, obs: &Observation) -> f64 {
        if let Some(h) = obs.grad.dot_prev_direction {
            let next = self.lr + self.beta * h;
            if next.is_finite() {
                self.lr = next.clamp(self.min_lr, self.max_lr);
            }
        }
        self.lr
    }

    fn snapshot(&self) -> Option<Box<dyn Controller>> {
        Some(Box::new(self.clone()))
    }
}

/// `kind = "hypergradient"`: [`Hypergradient`].
///
/// ```toml
/// [controller]
/// kind = "hypergradient"
/// lr = 0.001
/// beta = 1e-7
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypergradientConfig {
    /// Initial learning rate `α_0`, within `[min_lr, max_lr]`.
    pub lr: f64,
    /// Hyper-learning rate `β`, >= 0 (alias `hypergrad_lr`, the reference code's name).
    #[serde(alias = "hypergrad_lr")]
    pub beta: f64,
    /// Lower clamp on the rate, >= 0 (default 0).
    #[serde(default)]
    pub min_lr: f64,
    /// Upper clamp on the rate (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lr: Option<f64>,
}

impl ControllerConfig for HypergradientConfig {
    const KIND: &'static str = "hypergradient";

    fn signals(&self) -> Vec<crate::Signal> {
        vec![crate::Signal::DotPrevDirection]
    }

    fn lr(&self) -> Option<f64> {
        Some(self.lr)
    }

    fn describe(&self) -> String {
        format!(
            "hypergradient descent: lr {} adapted with β {} within [{}, {}]",
            self.lr,
            self.beta,
            self.min_lr,
            self.max_lr.unwrap_or(f64::INFINITY)
        )
    }
}

impl OnlineConfig for HypergradientConfig {
    type Controller = Hypergradient;

    fn build(&self, ctx: &Ctx) -> Result<Hypergradient, ControlError> {
        let lr = ctx.non_negative("lr", self.lr)?;
        let min_lr = ctx.non_negative("min_lr", self.min_lr)?;
        let max_lr = match self.max_lr {
            Some(m) => {
                let m = ctx.non_negative("max_lr", m)?;
                if m < min_lr {
                    return Err(
                        ctx.invalid("max_lr", format!("must be >= min_lr ({min_lr}), got {m}"))
                    );
                }
                m
            }
            None => f64::INFINITY,
        };
        if lr < min_lr || lr > max_lr {
            return Err(ctx.invalid(
                "lr",
                format!("must lie in [min_lr, max_lr] = [{min_lr}, {max_lr}], got {lr}"),
            ));
        }
        Ok(Hypergradient {
            lr,
            beta: ctx.non_negative("beta", self.beta)?,
            min_lr,
            max_lr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GradStats;

    fn config() -> HypergradientConfig {
        HypergradientConfig {
            lr: 0.1,
            beta: 0.01,
            min_lr: 0.0,
            max_lr: None,
        }
    }

    fn with_dot(dot: Option<f64>) -> Observation {
        let mut o = Observation::at_step(1, 10);
        o.grad = GradStats {
            norm: 1.0,
            cos_prev: None,
            dot_prev_direction: dot,
            prev_update_norm: None,
            param_norm: None,
        };
        o
    }

    #[test]
    fn follows_the_dot_product_by_hand() {
        let mut hd = config().build(&Ctx::root()).unwrap();
        assert_eq!(hd.lr(&with_dot(None)), 0.1); // first step
        // Aligned gradients: grow by β·h.
        assert!((hd.lr(&with_dot(Some(2.0))) - 0.12).abs() < 1e-15);
        // Opposed gradients (overshoot): shrink.
        assert!((hd.lr(&with_dot(Some(-3.0))) - 0.09).abs() < 1e-15);
        assert!((hd.current() - 0.09).abs() < 1e-15);
    }

    #[test]
    fn sgd_on_a_quadratic_by_hand() {
        // f(θ) = θ²/2, θ_0 = 1, SGD: g = θ, direction d = g. α_0 = 0.5, β = 0.1.
        let mut hd = HypergradientConfig {
            lr: 0.5,
            beta: 0.1,
            min_lr: 0.0,
            max_lr: None,
        }
        .build(&Ctx::root())
        .unwrap();
        let (mut theta, mut prev_dir): (f64, Option<f64>) = (1.0, None);
        let mut alphas = vec![];
        for _ in 0..3 {
            let g = theta;
            let a = hd.lr(&with_dot(prev_dir.map(|d| g * d)));
            alphas.push(a);
            theta -= a * g;
            prev_dir = Some(g);
        }
        // θ: 1 → 0.5 (α 0.5); g·d = 0.5·1 → α 0.55; θ → 0.225; g·d = 0.225·0.5 → α 0.56125.
        assert_eq!(alphas[0], 0.5);
        assert!((alphas[1] - 0.55).abs() < 1e-15);
        assert!((alphas[2] - 0.56125).abs() < 1e-15);
    }

    #[test]
    fn clamps_and_ignores_non_finite() {
        let mut hd = HypergradientConfig {
            max_lr: Some(0.15),
            ..config()
        }
        .build(&Ctx::root())
        .unwrap();
        assert_eq!(hd.lr(&with_dot(Some(100.0))), 0.15);
        assert_eq!(hd.lr(&with_dot(Some(-100.0))), 0.0); // never negative
        assert_eq!(hd.lr(&with_dot(Some(f64::NAN))), 0.0);
        assert_eq!(hd.lr(&with_dot(Some(f64::INFINITY))), 0.0);
        assert!((hd.lr(&with_dot(Some(1.0))) - 0.01).abs() < 1e-15);
    }

    #[test]
    fn ranges() {
        let root = Ctx::root();
        let e = HypergradientConfig {
            beta: -1.0,
            ..config()
        }
        .build(&root)
        .unwrap_err();
        assert!(e.to_string().contains("`beta`"), "{e}");
        let e = HypergradientConfig {
            max_lr: Some(0.05),
            ..config()
        }
        .build(&root)
        .unwrap_err();
        assert!(e.to_string().contains("`lr`"), "{e}");
        let e = HypergradientConfig {
            min_lr: 0.2,
            max_lr: Some(0.1),
            ..config()
        }
        .build(&root)
        .unwrap_err();
        assert!(e.to_string().contains("`max_lr`"), "{e}");
    }
}
