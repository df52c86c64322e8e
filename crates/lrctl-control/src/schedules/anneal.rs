//! Annealing from one value to another over a horizon (polynomial, cosine, linear warm-up) and
//! the inverse square root schedule.

use serde::{Deserialize, Serialize};

use super::{Clock, Horizon, Schedule, Unit, lr_text};
use crate::ControlError;
use crate::check::Ctx;
use crate::shape::{Curve, Shape, progress};
use crate::spec::{ControllerConfig, ScheduleConfig};

/// Moves from `start` to `end` along a curve over a horizon, then holds `end`:
/// `curve(start, end, min(t, T) / T)`.
///
/// Covers PyTorch's `PolynomialLR` (power curve to 0), `CosineAnnealingLR` (closed form,
/// cosine to `eta_min`; Loshchilov & Hutter 2017, *SGDR*, without restarts) and `LinearLR`
/// (linear between two factors of the base rate).
///
/// Deviation: PyTorch's `CosineAnnealingLR` keeps following the cosine after `T_max` (the rate
/// rises again); here the schedule holds `eta_min` after its horizon, like `PolynomialLR` and
/// `LinearLR` do. Inside the horizon the values are PyTorch's closed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Anneal {
    start: f64,
    end: f64,
    curve: Curve,
    horizon: Horizon,
    unit: Unit,
}

impl Schedule for Anneal {
    fn lr(&self, clock: Clock) -> f64 {
        let (t, budget) = clock.position(self.unit);
        let n = self.horizon.resolve(budget);
        self.curve.interpolate(self.start, self.end, progress(t, n))
    }
}

/// `kind = "polynomial"`: `eta_min + (lr - eta_min) · (1 - min(t, T)/T)^power` (PyTorch
/// `PolynomialLR`, which is the case `eta_min = 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolynomialConfig {
    /// Initial learning rate (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps (or epochs) to decay over; the budget when omitted. Alias `total_iters`.
    #[serde(
        default,
        alias = "total_iters",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<u64>,
    /// Power of the polynomial, >= 0 (default 1, linear).
    #[serde(default = "one")]
    pub power: f64,
    /// Final learning rate, >= 0 (default 0).
    #[serde(default)]
    pub eta_min: f64,
    /// Counter the schedule runs on (default `step`).
    #[serde(default)]
    pub unit: Unit,
}

fn one() -> f64 {
    1.0
}

impl ControllerConfig for PolynomialConfig {
    const KIND: &'static str = "polynomial";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "polynomial decay (power {}): {} → {} {}",
            self.power,
            lr_text(self.lr),
            self.eta_min,
            Horizon::describe(self.total, self.unit)
        )
    }
}

impl ScheduleConfig for PolynomialConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(Anneal {
            start: ctx.lr(self.lr, inherited)?,
            end: ctx.non_negative("eta_min", self.eta_min)?,
            curve: Curve::Power(ctx.non_negative("power", self.power)?),
            horizon: Horizon::from_option(ctx.horizon("total", self.total)?),
            unit: self.unit,
        }))
    }
}

/// `kind = "cosine"`: cosine annealing from `lr` to `eta_min` over the budget or `total` steps
/// (PyTorch `CosineAnnealingLR` in closed form; Loshchilov & Hutter 2017). Holds `eta_min`
/// after `total` (see [`Anneal`] for this deviation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineConfig {
    /// Initial (peak) learning rate (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps (or epochs) of the half cosine, PyTorch's `T_max` (alias `t_max`); the budget when
    /// omitted.
    #[serde(default, alias = "t_max", skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Final learning rate, >= 0 (default 0).
    #[serde(default)]
    pub eta_min: f64,
    /// Counter the schedule runs on (default `step`).
    #[serde(default)]
    pub unit: Unit,
}

impl ControllerConfig for CosineConfig {
    const KIND: &'static str = "cosine";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "cosine annealing: {} → {} {}",
            lr_text(self.lr),
            self.eta_min,
            Horizon::describe(self.total, self.unit)
        )
    }
}

impl ScheduleConfig for CosineConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(Anneal {
            start: ctx.lr(self.lr, inherited)?,
            end: ctx.non_negative("eta_min", self.eta_min)?,
            curve: Curve::Shape(Shape::Cosine),
            horizon: Horizon::from_option(ctx.horizon("total", self.total)?),
            unit: self.unit,
        }))
    }
}

fn one_third() -> f64 {
    1.0 / 3.0
}

/// `kind = "linear-warmup"`: `lr · (start_factor + (end_factor - start_factor) · min(t, n)/n)`
/// over `warmup` steps, then `lr · end_factor` (PyTorch `LinearLR`, same defaults).
///
/// Deviation: factors may exceed 1 (PyTorch restricts them to [0, 1]); a start factor of 0 is
/// allowed (PyTorch's chainable form divides by it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearWarmupConfig {
    /// Target learning rate (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Length of the ramp in steps (or epochs), at least 1. Alias `total_iters`.
    #[serde(alias = "total_iters")]
    pub warmup: u64,
    /// Factor of `lr` at step 0, >= 0 (default 1/3, as PyTorch).
    #[serde(default = "one_third")]
    pub start_factor: f64,
    /// Factor of `lr` at the end of the ramp and after it, >= 0 (default 1).
    #[serde(default = "one")]
    pub end_factor: f64,
    /// Counter the schedule runs on (default `step`).
    #[serde(default)]
    pub unit: Unit,
}

impl ControllerConfig for LinearWarmupConfig {
    const KIND: &'static str = "linear-warmup";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "linear warm-up: {} × {} → {} over {} {}",
            lr_text(self.lr),
            self.start_factor,
            self.end_factor,
            self.warmup,
            self.unit.plural()
        )
    }
}

impl ScheduleConfig for LinearWarmupConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        let lr = ctx.lr(self.lr, inherited)?;
        Ok(Box::new(Anneal {
            start: lr * ctx.non_negative("start_factor", self.start_factor)?,
            end: lr * ctx.non_negative("end_factor", self.end_factor)?,
            curve: Curve::Shape(Shape::Linear),
            horizon: Horizon::Fixed(ctx.at_least_one("warmup", self.warmup)?),
            unit: self.unit,
        }))
    }
}

/// The linear warm-up ramp shared by [`InverseSqrt`] and warmup-stable-decay: `lr · (t+1)/w`
/// for `t < w` (1-based step over the warm-up length, as in Vaswani et al. 2017, so the first
/// step is not wasted at zero), reaching `lr` at step `w - 1`.
pub(crate) fn warmup_ramp(lr: f64, t: u64, warmup: u64) -> f64 {
    Shape::Linear.interpolate(0.0, lr, progress(t + 1, warmup))
}

/// Inverse square root decay with linear warm-up (Vaswani et al. 2017, *Attention Is All You
/// Need*): `lr · min(s/w, √(w/s))` with `s = t + 1` and `w = max(warmup, 1)`.
///
/// Deviation: normalised so that the peak (reached at the end of the warm-up, step `w - 1`) is
/// `lr`; the paper's `d_model^-0.5 · min(s^-0.5, s · w^-1.5)` is this with
/// `lr = (d_model · w)^-0.5`. Without warm-up the rate starts at `lr` and decays as `1/√s`.
#[derive(Debug, Clone, PartialEq)]
pub struct InverseSqrt {
    lr: f64,
    warmup: u64,
}

impl Schedule for InverseSqrt {
    fn lr(&self, clock: Clock) -> f64 {
        let t = clock.step;
        if t < self.warmup {
            warmup_ramp(self.lr, t, self.warmup)
        } else {
            self.lr * (self.warmup.max(1) as f64 / (t + 1) as f64).sqrt()
        }
    }
}

/// `kind = "inverse-sqrt"`: linear warm-up to `lr`, then decay ∝ 1/√step ([`InverseSqrt`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverseSqrtConfig {
    /// Peak learning rate (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Warm-up steps (default 0: start at `lr` and decay at once).
    #[serde(default)]
    pub warmup: u64,
}

impl ControllerConfig for InverseSqrtConfig {
    const KIND: &'static str = "inverse-sqrt";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "inverse square root: peak {} after {} warm-up steps, then ∝ 1/√step",
            lr_text(self.lr),
            self.warmup
        )
    }
}

impl ScheduleConfig for InverseSqrtConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(InverseSqrt {
            lr: ctx.lr(self.lr, inherited)?,
            warmup: self.warmup,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-14 * a.abs().max(b.abs()).max(1e-300)
    }

    #[test]
    fn cosine_by_hand_over_the_budget_and_after_it() {
        let c = CosineConfig {
            lr: Some(1.0),
            total: None,
            eta_min: 0.2,
            unit: Unit::Step,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        assert_eq!(s.lr(Clock::new(0, 4)), 1.0);
        // t = 1 of 4: 0.2 + 0.8 · (1 + cos(π/4))/2
        assert!(close(
            s.lr(Clock::new(1, 4)),
            0.2 + 0.4 * (1.0 + 0.5f64.sqrt())
        ));
        assert!(close(s.lr(Clock::new(2, 4)), 0.6));
        // Beyond the budget: held at eta_min (PyTorch would rise again).
        assert!(close(s.lr(Clock::new(4, 4)), 0.2));
        assert!(close(s.lr(Clock::new(7, 4)), 0.2));
        // A budget of one step: the only step runs at lr.
        assert_eq!(s.lr(Clock::new(0, 1)), 1.0);
    }

    #[test]
    fn cosine_with_explicit_total_ignores_the_budget() {
        let c = CosineConfig {
            lr: Some(2.0),
            total: Some(10),
            eta_min: 0.0,
            unit: Unit::Step,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        assert!(close(s.lr(Clock::new(5, 1000)), 1.0));
        assert_eq!(s.lr(Clock::new(10, 1000)), 0.0);
    }

    #[test]
    fn cosine_in_epochs() {
        let c = CosineConfig {
            lr: Some(1.0),
            total: None,
            eta_min: 0.0,
            unit: Unit::Epoch,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        // 4 epochs of 10 steps: epoch 2 (steps 20..29) is the midpoint.
        assert!(close(s.lr(Clock::with_epochs(20, 40, 10)), 0.5));
        assert!(close(s.lr(Clock::with_epochs(29, 40, 10)), 0.5));
        // A partial last epoch still counts as an epoch: 35 steps → 4 epochs.
        assert!(close(s.lr(Clock::with_epochs(20, 35, 10)), 0.5));
    }

    #[test]
    fn polynomial_by_hand() {
        let c = PolynomialConfig {
            lr: Some(1.0),
            total: Some(4),
            power: 2.0,
            eta_min: 0.0,
            unit: Unit::Step,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        let got: Vec<f64> = (0..6).map(|t| s.lr(Clock::new(t, 100))).collect();
        assert_eq!(got, [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]);
        let c = PolynomialConfig {
            eta_min: 0.5,
            power: 1.0,
            ..c
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        assert_eq!(s.lr(Clock::new(2, 100)), 0.75);
        assert_eq!(s.lr(Clock::new(9, 100)), 0.5);
    }

    #[test]
    fn linear_warmup_by_hand() {
        // PyTorch's docstring example: lr 0.05, start_factor 0.5, 4 iterations.
        let c = LinearWarmupConfig {
            lr: Some(0.05),
            warmup: 4,
            start_factor: 0.5,
            end_factor: 1.0,
            unit: Unit::Step,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        let got: Vec<f64> = (0..6).map(|t| s.lr(Clock::new(t, 100))).collect();
        let want = [0.025, 0.03125, 0.0375, 0.04375, 0.05, 0.05];
        for (g, w) in got.iter().zip(want) {
            assert!(close(*g, w), "{got:?}");
        }
    }

    #[test]
    fn inverse_sqrt_by_hand() {
        let c = InverseSqrtConfig {
            lr: Some(1.0),
            warmup: 4,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        let got: Vec<f64> = (0..4).map(|t| s.lr(Clock::new(t, 100))).collect();
        assert_eq!(got, [0.25, 0.5, 0.75, 1.0]);
        assert!(close(s.lr(Clock::new(15, 100)), 0.5)); // √(4/16)
        assert!(close(s.lr(Clock::new(63, 100)), 0.25)); // √(4/64)
        // Vaswani's formula with d_model = 512, warmup 4000, at s = 10000.
        let (d, w, step) = (512.0f64, 4000u64, 9999u64);
        let paper = d.powf(-0.5) * ((step + 1) as f64).powf(-0.5);
        let lr = (d * w as f64).powf(-0.5);
        let s = InverseSqrtConfig {
            lr: Some(lr),
            warmup: w,
        }
        .build(&Ctx::root(), None)
        .unwrap();
        assert!(close(s.lr(Clock::new(step, 20_000)), paper));
        let paper_warm = d.powf(-0.5) * 100.0 * (w as f64).powf(-1.5);
        assert!(close(s.lr(Clock::new(99, 20_000)), paper_warm));
        // No warm-up: lr, lr/√2, ...
        let s = InverseSqrtConfig {
            lr: Some(1.0),
            warmup: 0,
        }
        .build(&Ctx::root(), None)
        .unwrap();
        assert_eq!(s.lr(Clock::new(0, 10)), 1.0);
        assert!(close(s.lr(Clock::new(1, 10)), 0.5f64.sqrt()));
    }

    #[test]
    fn ranges() {
        let root = Ctx::root();
        let e = LinearWarmupConfig {
            lr: Some(0.1),
            warmup: 0,
            start_factor: 0.1,
            end_factor: 1.0,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`warmup`"), "{e}");
        let e = CosineConfig {
            lr: Some(0.1),
            total: Some(0),
            eta_min: 0.0,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`total`"), "{e}");
        let e = CosineConfig {
            lr: Some(0.1),
            total: None,
            eta_min: f64::NAN,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`eta_min`"), "{e}");
        let e = PolynomialConfig {
            lr: Some(0.1),
            total: None,
            power: -1.0,
            eta_min: 0.0,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`power`"), "{e}");
    }
}
