//! Controllers decide the learning rate of every step from observations.
//!
//! A fixed schedule is a controller that ignores everything but the step counter; online
//! controllers (reduce-on-plateau, hypergradient descent, stochastic Polyak) read the loss,
//! gradient statistics and evaluation results. The engine calls [`Controller::lr`] once per
//! optimizer step, *after* the gradient of that step is known and *before* the update, and hands
//! the result to the optimizer.
//!
//! # Layout
//!
//! * [`schedules`]: fixed schedules as pure functions of a [`Clock`] (step, budget, steps per
//!   epoch) that compose ([`schedules::Sequential`], [`schedules::Product`]); the interpolation
//!   curves they share live in [`Shape`]. [`ScheduleController`] turns any [`Schedule`] into a
//!   [`Controller`].
//! * [`online`]: controllers with state that read observations.
//! * [`ControllerSpec`]: every controller as configuration data, the `[controller]` table of a
//!   method file, with validation ([`ControllerSpec::build`]) and a one-line
//!   [`ControllerSpec::describe`].
//!
//! # Adding a controller
//!
//! Its module (the rule, and its configuration struct implementing [`ControllerConfig`] and
//! building as a schedule or an online controller) and one line in its family's registration
//! list (`schedules/mod.rs` or `online/mod.rs`), from which [`ControllerSpec`] and its dispatch
//! are generated.
//!
//! # Configuration
//!
//! The table is tagged by `kind` (kebab-case); field names are snake_case, like the
//! `[optimizer]` table next to it. Unknown kinds and unknown fields are errors.
//!
//! ```
//! use lrctl_control::{ControllerSpec, Observation};
//!
//! let spec: ControllerSpec = serde_json::from_str(
//!     r#"{"kind": "cosine-warm-restarts", "lr": 0.005, "t0": 10, "t_mult": 2, "eta_min": 0.0}"#,
//! )
//! .unwrap();
//! let mut ctl = spec.build().unwrap();
//! assert_eq!(ctl.lr(&Observation::at_step(0, 1000)), 0.005);
//! assert_eq!(ctl.lr(&Observation::at_step(10, 1000)), 0.005); // first restart
//! ```

mod check;
mod error;
pub mod observe;
pub mod online;
pub mod schedules;
mod shape;
mod spec;
pub mod stepper;

pub use error::ControlError;
pub use observe::{OBSERVATION_LEN, OBSERVATION_NAMES, OBSERVATION_VERSION, ObservationEncoder};
pub use schedules::{Clock, Horizon, Schedule, ScheduleController, Unit};
pub use shape::Shape;
pub use spec::{ControllerConfig, ControllerSpec};
pub use stepper::{Inputs, MissingSignals, Stepper};

/// An observation a controller reads besides the step counters: what a caller driving a
/// controller from outside the engine (the Python `lrctl.torch.Scheduler`) must supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// The mini-batch loss of every step ([`Observation::loss`]).
    Loss,
    /// The gradient norm of every step ([`GradStats::norm`]).
    GradNorm,
    /// The gradient's dot product with the previous update direction of every step after the
    /// first ([`GradStats::dot_prev_direction`]).
    DotPrevDirection,
    /// The held-out loss of each evaluation, when one ran ([`EvalObservation::loss`]).
    EvalLoss,
    /// The held-out metric of each evaluation, when one ran ([`EvalObservation::metric`]).
    EvalMetric,
}

impl Signal {
    /// Its name as a keyword argument (`loss`, `grad_norm`, …).
    pub fn name(self) -> &'static str {
        match self {
            Signal::Loss => "loss",
            Signal::GradNorm => "grad_norm",
            Signal::DotPrevDirection => "dot_prev_direction",
            Signal::EvalLoss => "eval_loss",
            Signal::EvalMetric => "eval_metric",
        }
    }

    /// Whether it comes every step (rather than only when an evaluation ran).
    pub fn every_step(self) -> bool {
        matches!(
            self,
            Signal::Loss | Signal::GradNorm | Signal::DotPrevDirection
        )
    }
}

/// Cheap global statistics of the current mini-batch gradient, computed by the engine over the
/// whole model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GradStats {
    /// Global L2 norm of the current gradient.
    pub norm: f64,
    /// Cosine between the current and the previous gradient (`None` at the first step).
    pub cos_prev: Option<f64>,
    /// Dot product of the current gradient with the previous update direction
    /// `(θ_{t-1} - θ_t) / lr_{t-1}` (what hypergradient descent needs; `None` at the first step).
    pub dot_prev_direction: Option<f64>,
    /// Global L2 norm of the previous update `θ_t - θ_{t-1}` (`None` at the first step).
    pub prev_update_norm: Option<f64>,
    /// Global L2 norm of the parameters `θ_t` the gradient was taken at (for the
    /// update-to-parameter ratio of [`observe`]); like the statistics above, only computed
    /// for controllers that [need the history](Controller::needs_history).
    pub param_norm: Option<f64>,
}

/// A finished evaluation on held-out data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalObservation {
    /// Optimizer steps taken when the evaluation ran.
    pub step: u64,
    /// Held-out loss.
    pub loss: f64,
    /// The task's primary held-out metric (accuracy, bits per byte, ...), if it has one.
    pub metric: Option<f64>,
}

/// Everything a controller may look at before step `step` is taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Zero-based index of the step about to be taken.
    pub step: u64,
    /// Total steps of the run (the budget).
    pub total_steps: u64,
    /// Optimizer steps per epoch of the training set.
    pub steps_per_epoch: u64,
    /// Zero-based epoch the step belongs to.
    pub epoch: u64,
    /// Mini-batch loss at the current parameters (the loss whose gradient is about to be used).
    pub loss: f64,
    /// Statistics of that gradient.
    pub grad: GradStats,
    /// The newest evaluation, present only on the first step after it ran.
    pub eval: Option<EvalObservation>,
}

impl Observation {
    /// An observation that carries only the step counters (for schedules, plots and tests).
    pub fn at_step(step: u64, total_steps: u64) -> Self {
        Observation {
            step,
            total_steps,
            steps_per_epoch: total_steps.max(1),
            epoch: 0,
            loss: f64::NAN,
            grad: GradStats::default(),
            eval: None,
        }
    }
}

/// Decides the learning rate of each step.
pub trait Controller: Send {
    /// The learning rate for step `obs.step`. For hyperparameter-free optimizers this is their
    /// multiplier (their configured `lr` times any schedule).
    fn lr(&mut self, obs: &Observation) -> f64;

    /// Whether the controller reads the statistics that compare this step with the previous
    /// one ([`GradStats::cos_prev`], [`GradStats::dot_prev_direction`],
    /// [`GradStats::prev_update_norm`], [`GradStats::param_norm`]; everything
    /// [`ObservationEncoder`] reads). When it does not, the engine skips the copies and the
    /// passes over the parameters they need and passes `None` for them; the gradient norm is
    /// always there. Default `true` (safe for controllers written elsewhere).
    fn needs_history(&self) -> bool {
        true
    }

    /// Why the controller could not decide, asked when [`lr`](Controller::lr) returned a value
    /// that is not a learning rate (NaN, negative): an external policy that raised or died,
    /// say. The engine then records the run as failed with this reason; `None` (the default)
    /// means the value was the controller's answer, and the run is recorded as diverged.
    fn failure(&self) -> Option<String> {
        None
    }

    /// An independent copy in the current state, which continues exactly as this one would:
    /// what branching a run off a checkpoint needs. `None` when the controller cannot be
    /// copied, the default; every controller of this crate can.
    fn snapshot(&self) -> Option<Box<dyn Controller>> {
        None
    }
}
