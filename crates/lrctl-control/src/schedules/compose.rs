//! Composition of schedules: one after another, or multiplied.

use serde::{Deserialize, Serialize};

use super::{Clock, Schedule, lr_text};
use crate::check::Ctx;
use crate::spec::{ControllerConfig, ScheduleConfig};
use crate::{ControlError, ControllerSpec};

/// Phases run one after another (PyTorch `SequentialLR`): phase `i` covers steps
/// `[start_i, start_{i+1})` and sees its own clock, starting at step 0, with the phase length
/// as its budget (the last phase runs to the end of the run). So a cosine phase without an
/// explicit length anneals over exactly its phase, and each phase starts from its initial value
/// like PyTorch's `scheduler.step(0)` at a milestone.
#[derive(Debug)]
pub struct Sequential {
    starts: Vec<u64>,
    phases: Vec<Box<dyn Schedule>>,
}

impl Schedule for Sequential {
    fn lr(&self, clock: Clock) -> f64 {
        // starts[0] == 0, so at least one phase has started.
        let i = self.starts.partition_point(|&s| s <= clock.step) - 1;
        let end = self.starts.get(i + 1).copied();
        self.phases[i].lr(clock.phase(self.starts[i], end))
    }
}

/// Factors multiplied together: `lr · Π (f_i(t) / lr)`, where every factor is built with the
/// product's `lr` as its base. A warm-up times a cosine is `lr` times the warm-up factor times
/// the cosine factor, and a cosine factor's `eta_min` stays an absolute rate. (PyTorch's
/// `ChainedScheduler` does this recursively for chainable schedulers.)
#[derive(Debug)]
pub struct Product {
    lr: f64,
    factors: Vec<Box<dyn Schedule>>,
}

impl Schedule for Product {
    fn lr(&self, clock: Clock) -> f64 {
        if self.lr == 0.0 {
            return 0.0;
        }
        self.factors
            .iter()
            .fold(self.lr, |acc, f| acc * (f.lr(clock) / self.lr))
    }
}

/// `kind = "sequential"`: [`Sequential`].
///
/// ```toml
/// [controller]
/// kind = "sequential"
/// lr = 0.01
/// milestones = [100]
/// phases = [
///     { kind = "linear-warmup", warmup = 100, start_factor = 0.01 },
///     { kind = "cosine", eta_min = 1e-5 },
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequentialConfig {
    /// Base learning rate handed to every phase that does not set its own `lr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps at which the next phase starts: strictly increasing, > 0, one fewer than `phases`.
    #[serde(default)]
    pub milestones: Vec<u64>,
    /// The phases, fixed schedules (not online controllers); at least one.
    pub phases: Vec<ControllerSpec>,
}

impl ControllerConfig for SequentialConfig {
    const KIND: &'static str = "sequential";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        let mut text = format!("sequential ({}): ", lr_text(self.lr));
        for (i, p) in self.phases.iter().enumerate() {
            if i > 0 {
                text.push_str(", then ");
            }
            text.push_str(&format!("[{}]", p.describe()));
            if let Some(m) = self.milestones.get(i) {
                text.push_str(&format!(" until step {m}"));
            }
        }
        text
    }
}

impl ScheduleConfig for SequentialConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        let lr = match self.lr {
            Some(v) => Some(ctx.non_negative("lr", v)?),
            None => inherited,
        };
        if self.phases.is_empty() {
            return Err(ctx.invalid("phases", "must list at least one schedule"));
        }
        if self.milestones.len() + 1 != self.phases.len() {
            return Err(ctx.invalid(
                "milestones",
                format!(
                    "must have one entry fewer than `phases`: got {} milestones for {} phases",
                    self.milestones.len(),
                    self.phases.len()
                ),
            ));
        }
        let mut prev = 0;
        for &m in &self.milestones {
            if m <= prev {
                return Err(ctx.invalid(
                    "milestones",
                    format!(
                        "must be > 0 and strictly increasing, got {:?}",
                        self.milestones
                    ),
                ));
            }
            prev = m;
        }
        let mut starts = vec![0];
        starts.extend_from_slice(&self.milestones);
        let phases = self
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| p.nested_schedule(&ctx.item("phases", i), lr))
            .collect::<Result<_, _>>()?;
        Ok(Box::new(Sequential { starts, phases }))
    }
}

/// `kind = "product"` (alias `multiplicative`): [`Product`].
///
/// ```toml
/// [controller]
/// kind = "product"
/// lr = 0.001
/// factors = [
///     { kind = "linear-warmup", warmup = 500, start_factor = 0.0 },
///     { kind = "cosine" },
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductConfig {
    /// Base learning rate (required at the top level; inherited inside a composition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// The factors, fixed schedules without their own `lr`; at least one.
    pub factors: Vec<ControllerSpec>,
}

impl ControllerConfig for ProductConfig {
    const KIND: &'static str = "product";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .factors
            .iter()
            .map(|f| format!("[{}]", f.describe()))
            .collect();
        format!("product ({}) of {}", lr_text(self.lr), parts.join(" × "))
    }
}

impl ScheduleConfig for ProductConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        let lr = ctx.lr(self.lr, inherited)?;
        if self.factors.is_empty() {
            return Err(ctx.invalid("factors", "must list at least one schedule"));
        }
        let factors = self
            .factors
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let fctx = ctx.item("factors", i);
                if f.is_schedule() && f.lr().is_some() {
                    return Err(fctx.invalid(
                        "lr",
                        "must not be set: every factor takes the product's `lr` as its base",
                    ));
                }
                f.nested_schedule(&fctx, Some(lr))
            })
            .collect::<Result<_, _>>()?;
        Ok(Box::new(Product { lr, factors }))
    }
}
