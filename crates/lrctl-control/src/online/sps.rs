//! Stochastic Polyak step size.

use serde::{Deserialize, Serialize};

use crate::check::Ctx;
use crate::spec::{ControllerConfig, OnlineConfig};
use crate::{ControlError, Controller, Observation};

/// The stochastic Polyak step size SPS_max (Loizou et al. 2021, *Stochastic Polyak Step-size
/// for SGD: An Adaptive Learning Rate for Fast Convergence*):
/// `γ_t = min((f_i(x_t) - f_i*) / (c · ‖∇f_i(x_t)‖²), γ_b)` with the mini-batch loss `f_i`, its
/// lower bound `f_i* = f_star` (0 by default, exact for interpolating models and a valid bound
/// for cross-entropy), and the cap `γ_b = lr`.
///
/// Deviations: a loss below `f_star` gives 0 (the formula would be negative); a zero gradient
/// norm or a non-finite loss or norm gives the cap (never NaN; the engine flags non-finite losses
/// as divergence itself). The paper's smoothed variant (`γ_b` growing by `τ^{b/n}`) is not
/// implemented. The step is derived for SGD; with other optimizers it is a multiplier of their
/// update.
#[derive(Debug, Clone, PartialEq)]
pub struct Sps {
    cap: f64,
    c: f64,
    f_star: f64,
}

impl Sps {
    /// The step size for mini-batch loss `loss` and gradient norm `grad_norm`.
    pub fn step_size(&self, loss: f64, grad_norm: f64) -> f64 {
        let gap = loss - self.f_star;
        let denom = self.c * grad_norm * grad_norm;
        if !gap.is_finite() || !denom.is_finite() || denom == 0.0 {
            return self.cap;
        }
        (gap / denom).clamp(0.0, self.cap)
    }
}

impl Controller for Sps {
    fn needs_history(&self) -> bool {
        false
    }

    fn lr(&mut self, obs: &Observation) -> f64 {
        self.step_size(obs.loss, obs.grad.norm)
    }

    fn snapshot(&self) -> Option<Box<dyn Controller>> {
        Some(Box::new(self.clone()))
    }
}

fn half() -> f64 {
    0.5
}

/// `kind = "sps"`: [`Sps`] (SPS_max).
///
/// ```toml
/// [controller]
/// kind = "sps"
/// lr = 1.0      # the cap γ_b
/// c = 0.5
/// f_star = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpsConfig {
    /// The cap `γ_b`, >= 0 (alias `gamma_b`).
    #[serde(alias = "gamma_b")]
    pub lr: f64,
    /// The constant `c`, > 0 (default 0.5, the paper's theory; its experiments use 0.2).
    #[serde(default = "half")]
    pub c: f64,
    /// Lower bound `f*` of every mini-batch loss (default 0).
    #[serde(default)]
    pub f_star: f64,
}

impl ControllerConfig for SpsConfig {
    const KIND: &'static str = "sps";

    fn signals(&self) -> Vec<crate::Signal> {
        vec![crate::Signal::Loss, crate::Signal::GradNorm]
    }

    fn lr(&self) -> Option<f64> {
        Some(self.lr)
    }

    fn describe(&self) -> String {
        format!(
            "stochastic Polyak step (SPS_max): c {}, f* {}, capped at lr {}",
            self.c, self.f_star, self.lr
        )
    }
}

impl OnlineConfig for SpsConfig {
    type Controller = Sps;

    fn build(&self, ctx: &Ctx) -> Result<Sps, ControlError> {
        Ok(Sps {
            cap: ctx.non_negative("lr", self.lr)?,
            c: ctx.positive("c", self.c)?,
            f_star: ctx.finite("f_star", self.f_star)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sps() -> Sps {
        SpsConfig {
            lr: 1.0,
            c: 0.5,
            f_star: 0.0,
        }
        .build(&Ctx::root())
        .unwrap()
    }

    #[test]
    fn by_hand() {
        let s = sps();
        // loss 0.5, ‖g‖ = 2: 0.5 / (0.5 · 4) = 0.25.
        assert_eq!(s.step_size(0.5, 2.0), 0.25);
        // Capped: 2 / (0.5 · 1) = 4 > 1.
        assert_eq!(s.step_size(2.0, 1.0), 1.0);
        let s = SpsConfig {
            lr: 10.0,
            c: 0.2,
            f_star: 0.1,
        }
        .build(&Ctx::root())
        .unwrap();
        // (1.1 - 0.1) / (0.2 · 9) = 1/1.8.
        assert!((s.step_size(1.1, 3.0) - 1.0 / 1.8).abs() < 1e-15);
        // Below the lower bound: no step.
        assert_eq!(s.step_size(0.05, 3.0), 0.0);
    }

    #[test]
    fn degenerate_inputs_give_the_cap_never_nan() {
        let s = sps();
        assert_eq!(s.step_size(0.3, 0.0), 1.0); // zero gradient
        assert_eq!(s.step_size(0.0, 0.0), 1.0); // 0/0
        assert_eq!(s.step_size(f64::NAN, 1.0), 1.0);
        assert_eq!(s.step_size(f64::INFINITY, 1.0), 1.0);
        assert_eq!(s.step_size(1.0, f64::NAN), 1.0);
        assert_eq!(s.step_size(1.0, f64::INFINITY), 1.0);
        assert_eq!(s.step_size(1.0, 1e-200), 1.0); // norm² underflows to 0
        // Through the controller, with the observation's loss and norm.
        let mut ctl = sps();
        let mut o = Observation::at_step(0, 10);
        o.loss = 0.5;
        o.grad.norm = 2.0;
        assert_eq!(ctl.lr(&o), 0.25);
        o.grad.norm = 0.0;
        assert_eq!(ctl.lr(&o), 1.0);
    }

    #[test]
    fn ranges() {
        let e = SpsConfig {
            lr: 1.0,
            c: 0.0,
            f_star: 0.0,
        }
        .build(&Ctx::root())
        .unwrap_err();
        assert!(e.to_string().contains("`c`"), "{e}");
        let e = SpsConfig {
            lr: -1.0,
            c: 0.5,
            f_star: 0.0,
        }
        .build(&Ctx::root())
        .unwrap_err();
        assert!(e.to_string().contains("`lr`"), "{e}");
        let e = SpsConfig {
            lr: 1.0,
            c: 0.5,
            f_star: f64::NEG_INFINITY,
        }
        .build(&Ctx::root())
        .unwrap_err();
        assert!(e.to_string().contains("`f_star`"), "{e}");
    }
}
