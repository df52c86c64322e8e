//! A controller driven from outside lrctl's engine: a user's own training loop (the Python
//! `lrctl.torch.Scheduler`) hands it the signals it reads, step by step.
//!
//! Given the observations the engine would have handed the controller, a [`Stepper`] returns
//! exactly the engine's learning rates (`lrctl-engine`'s tests replay a run through one).

use crate::{
    ControlError, Controller, ControllerSpec, EvalObservation, GradStats, Observation, Signal,
};

/// What a training loop knows about the step about to be taken. Everything is optional; what
/// the controller reads ([`Stepper::signals`]) must be there.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Inputs {
    /// The mini-batch loss at the current parameters.
    pub loss: Option<f64>,
    /// The global L2 norm of its gradient.
    pub grad_norm: Option<f64>,
    /// The gradient's dot product with the previous update direction
    /// `(θ_{t−1} − θ_t) / lr_{t−1}` (hypergradient descent).
    pub dot_prev_direction: Option<f64>,
    /// The cosine between this gradient and the previous one.
    pub cos_prev: Option<f64>,
    /// The norm of the previous update.
    pub prev_update_norm: Option<f64>,
    /// The norm of the parameters.
    pub param_norm: Option<f64>,
    /// The held-out loss of an evaluation that ran since the previous step.
    pub eval_loss: Option<f64>,
    /// Its held-out metric.
    pub eval_metric: Option<f64>,
}

/// Signals a step needed but did not get.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "step {step}: the controller `{kind}` reads {}, but {} {} not given",
    names(.needed), names(.missing), if .missing.len() == 1 { "was" } else { "were" }
)]
pub struct MissingSignals {
    /// The step (0-based).
    pub step: u64,
    /// The controller's kind.
    pub kind: String,
    /// What it reads every step.
    pub needed: Vec<Signal>,
    /// What was missing.
    pub missing: Vec<Signal>,
}

fn names(s: &[Signal]) -> String {
    s.iter()
        .map(|s| format!("`{}`", s.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A controller stepped from outside: it counts the steps and builds each [`Observation`].
pub struct Stepper {
    controller: Box<dyn Controller>,
    kind: &'static str,
    signals: Vec<Signal>,
    step: u64,
    total_steps: u64,
    steps_per_epoch: u64,
}

impl Stepper {
    /// A fresh controller of `spec` for a run of `total_steps` (>= 1) steps with
    /// `steps_per_epoch` steps per epoch (the whole run when `None`).
    pub fn new(
        spec: &ControllerSpec,
        total_steps: u64,
        steps_per_epoch: Option<u64>,
    ) -> Result<Stepper, ControlError> {
        if total_steps == 0 {
            return Err(ControlError::Invalid {
                field: "total_steps".into(),
                reason: "must be at least 1 (the run's length in optimizer steps)".into(),
            });
        }
        Ok(Stepper {
            controller: spec.build()?,
            kind: spec.kind(),
            signals: spec.signals(),
            step: 0,
            total_steps,
            steps_per_epoch: steps_per_epoch.unwrap_or(total_steps).max(1),
        })
    }

    /// What the controller reads besides the step counters.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The learning rate for the next step, from what the loop knows about it. A signal the
    /// controller reads every step must be given (the dot product with the previous direction
    /// from the second step on); evaluation results are given when an evaluation ran.
    pub fn step(&mut self, inputs: &Inputs) -> Result<f64, MissingSignals> {
        let missing: Vec<Signal> = self
            .signals
            .iter()
            .copied()
            .filter(|s| match s {
                Signal::Loss => inputs.loss.is_none(),
                Signal::GradNorm => inputs.grad_norm.is_none(),
                Signal::DotPrevDirection => self.step > 0 && inputs.dot_prev_direction.is_none(),
                Signal::EvalLoss | Signal::EvalMetric => false,
            })
            .collect();
        if !missing.is_empty() {
            return Err(MissingSignals {
                step: self.step,
                kind: self.kind.to_string(),
                needed: self
                    .signals
                    .iter()
                    .copied()
                    .filter(|s| s.every_step())
                    .collect(),
                missing,
            });
        }
        let obs = Observation {
            step: self.step,
            total_steps: self.total_steps,
            steps_per_epoch: self.steps_per_epoch,
            epoch: self.step / self.steps_per_epoch,
            loss: inputs.loss.unwrap_or(f64::NAN),
            grad: GradStats {
                norm: inputs.grad_norm.unwrap_or(f64::NAN),
                cos_prev: inputs.cos_prev,
                dot_prev_direction: inputs.dot_prev_direction,
                prev_update_norm: inputs.prev_update_norm,
                param_norm: inputs.param_norm,
            },
            eval: inputs.eval_loss.map(|loss| EvalObservation {
                step: self.step,
                loss,
                metric: inputs.eval_metric,
            }),
        };
        let lr = self.controller.lr(&obs);
        self.step += 1;
        Ok(lr)
    }

    /// Why the controller could not decide (an external policy that failed), if it could not.
    pub fn failure(&self) -> Option<String> {
        self.controller.failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> ControllerSpec {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn a_schedule_needs_nothing_and_follows_its_steps() {
        let s = spec("kind = \"cosine\"\nlr = 0.1\nt_max = 10");
        let mut st = Stepper::new(&s, 10, None).unwrap();
        assert!(st.signals().is_empty());
        let mut c = s.build().unwrap();
        for k in 0..10 {
            let lr = st.step(&Inputs::default()).unwrap();
            assert_eq!(lr.to_bits(), c.lr(&Observation::at_step(k, 10)).to_bits());
        }
        assert_eq!(st.steps(), 10);
    }

    #[test]
    fn missing_signals_are_named() {
        let mut st = Stepper::new(&spec("kind = \"sps\"\nlr = 1.0\nc = 0.5"), 100, None).unwrap();
        assert_eq!(st.signals(), [Signal::Loss, Signal::GradNorm]);
        let e = st
            .step(&Inputs {
                loss: Some(1.0),
                ..Inputs::default()
            })
            .unwrap_err();
        assert_eq!(e.missing, [Signal::GradNorm]);
        assert_eq!(
            e.to_string(),
            "step 0: the controller `sps` reads `loss`, `grad_norm`, but `grad_norm` was not given"
        );
        let lr = st
            .step(&Inputs {
                loss: Some(1.0),
                grad_norm: Some(2.0),
                ..Inputs::default()
            })
            .unwrap();
        assert!(lr.is_finite() && lr > 0.0);
        // Hypergradient descent needs the dot product from the second step on.
        let mut hd = Stepper::new(
            &spec("kind = \"hypergradient\"\nlr = 0.01\nbeta = 0.001"),
            10,
            None,
        )
        .unwrap();
        assert!(hd.step(&Inputs::default()).is_ok());
        let e = hd.step(&Inputs::default()).unwrap_err();
        assert_eq!(e.missing, [Signal::DotPrevDirection]);
        assert!(Stepper::new(&spec("kind = \"constant\"\nlr = 0.1"), 0, None).is_err());
    }
}
