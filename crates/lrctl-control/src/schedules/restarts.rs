//! Cosine annealing with warm restarts (SGDR).

use serde::{Deserialize, Serialize};

use super::{Clock, Schedule, Unit, lr_text};
use crate::ControlError;
use crate::check::Ctx;
use crate::shape::Shape;
use crate::spec::{ControllerConfig, ScheduleConfig};

/// Cosine annealing with warm restarts (Loshchilov & Hutter 2017, *SGDR: Stochastic Gradient
/// Descent with Warm Restarts*): within cycle `i` of length `T_i = t0 · t_mult^i`,
/// `eta_min + (lr - eta_min) · (1 + cos(π · T_cur / T_i)) / 2`, where `T_cur` counts steps since
/// the last restart.
///
/// Equal to PyTorch's `CosineAnnealingWarmRestarts` stepped once per optimizer step (integer
/// `T_cur`, `T_i`, found here exactly in integer arithmetic instead of PyTorch's running
/// counters). Deviation from the paper: restarts happen on integer steps (or epochs with
/// `unit = "epoch"`); the paper also advances `T_cur` by fractions of an epoch per batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CosineWarmRestarts {
    lr: f64,
    eta_min: f64,
    t0: u64,
    t_mult: u64,
    unit: Unit,
}

impl CosineWarmRestarts {
    /// `(T_cur, T_i)`: position in the current cycle and its length, at position `t`.
    pub fn cycle(&self, t: u64) -> (u64, u64) {
        if self.t_mult == 1 {
            return (t % self.t0, self.t0);
        }
        let (mut t_cur, mut t_i) = (t, self.t0);
        while t_cur >= t_i {
            t_cur -= t_i;
            t_i = t_i.saturating_mul(self.t_mult);
        }
        (t_cur, t_i)
    }
}

impl Schedule for CosineWarmRestarts {
    fn lr(&self, clock: Clock) -> f64 {
        let (t, _) = clock.position(self.unit);
        let (t_cur, t_i) = self.cycle(t);
        Shape::Cosine.interpolate(self.lr, self.eta_min, t_cur as f64 / t_i as f64)
    }
}

fn one() -> u64 {
    1
}

/// `kind = "cosine-warm-restarts"`: SGDR ([`CosineWarmRestarts`]).
///
/// ```toml
/// [controller]
/// kind = "cosine-warm-restarts"
/// lr = 0.005
/// t0 = 10
/// t_mult = 2
/// eta_min = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineWarmRestartsConfig {
    /// Learning rate at each restart (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Length of the first cycle in steps (or epochs), at least 1 (PyTorch's `T_0`).
    pub t0: u64,
    /// Growth factor of the cycle length after each restart, at least 1 (default 1).
    #[serde(default = "one")]
    pub t_mult: u64,
    /// Learning rate at the end of each cycle, >= 0 (default 0).
    #[serde(default)]
    pub eta_min: f64,
    /// Counter the schedule runs on (default `step`).
    #[serde(default)]
    pub unit: Unit,
}

impl ControllerConfig for CosineWarmRestartsConfig {
    const KIND: &'static str = "cosine-warm-restarts";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "cosine with warm restarts (SGDR): {} → {}, T0 {} {}, T_mult {}",
            lr_text(self.lr),
            self.eta_min,
            self.t0,
            self.unit.plural(),
            self.t_mult
        )
    }
}

impl ScheduleConfig for CosineWarmRestartsConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(CosineWarmRestarts {
            lr: ctx.lr(self.lr, inherited)?,
            eta_min: ctx.non_negative("eta_min", self.eta_min)?,
            t0: ctx.at_least_one("t0", self.t0)?,
            t_mult: ctx.at_least_one("t_mult", self.t_mult)?,
            unit: self.unit,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sgdr(t0: u64, t_mult: u64) -> CosineWarmRestarts {
        CosineWarmRestarts {
            lr: 1.0,
            eta_min: 0.0,
            t0,
            t_mult,
            unit: Unit::Step,
        }
    }

    #[test]
    fn cycles_by_hand() {
        let s = sgdr(10, 2);
        assert_eq!(s.cycle(0), (0, 10));
        assert_eq!(s.cycle(9), (9, 10));
        assert_eq!(s.cycle(10), (0, 20));
        assert_eq!(s.cycle(29), (19, 20));
        assert_eq!(s.cycle(30), (0, 40));
        assert_eq!(s.cycle(70), (0, 80));
        let s = sgdr(3, 1);
        assert_eq!(s.cycle(7), (1, 3));
        // No overflow at the far end of u64.
        let (t_cur, t_i) = sgdr(1, 3).cycle(u64::MAX);
        assert!(t_cur < t_i);
    }

    #[test]
    fn values_by_hand() {
        let s = sgdr(4, 2);
        let at = |t| s.lr(Clock::new(t, 100));
        assert_eq!(at(0), 1.0);
        assert!((at(2) - 0.5).abs() < 1e-15); // half-way through the first cycle
        assert_eq!(at(4), 1.0); // restart
        assert!((at(8) - 0.5).abs() < 1e-15); // half-way through the 8-step cycle
        assert_eq!(at(12), 1.0);
        let s = CosineWarmRestarts {
            lr: 0.5,
            eta_min: 0.1,
            t0: 2,
            t_mult: 1,
            unit: Unit::Step,
        };
        assert!((s.lr(Clock::new(1, 100)) - 0.3).abs() < 1e-15);
        assert_eq!(s.lr(Clock::new(2, 100)), 0.5);
    }

    #[test]
    fn t0_and_t_mult_must_be_positive() {
        let c = CosineWarmRestartsConfig {
            lr: Some(0.005),
            t0: 0,
            t_mult: 2,
            eta_min: 0.0,
            unit: Unit::Step,
        };
        let e = c.build(&Ctx::root(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "controller field `t0` must be at least 1, got 0"
        );
        let c = CosineWarmRestartsConfig {
            t0: 10,
            t_mult: 0,
            ..c
        };
        let e = c.build(&Ctx::root(), None).unwrap_err();
        assert!(e.to_string().contains("`t_mult`"), "{e}");
    }
}
