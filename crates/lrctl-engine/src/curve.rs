//! What a run records: the learning curve and the outcome.

use lrctl_tasks::Metrics;
use serde::{Deserialize, Serialize};

pub use lrctl_record::Outcome;

/// One recorded point of a learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Optimizer steps taken.
    pub step: u64,
    /// Epochs taken (fractional).
    pub epoch: f64,
    /// Mean mini-batch training loss since the previous point.
    pub train_loss: f64,
    /// Learning rate the controller chose for the last step.
    pub lr: f64,
    /// Learning rate the optimizer actually used (e.g. `d·lr` for Prodigy).
    pub effective_lr: f64,
    /// Global gradient norm at the last step.
    pub grad_norm: f64,
    /// Seconds since the run started.
    pub wall_seconds: f64,
    /// Validation metrics when an evaluation ran at this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<Metrics>,
}

/// The result of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// How the run ended.
    pub outcome: Outcome,
    /// Why it diverged or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Optimizer steps taken.
    pub steps: u64,
    /// The budget in steps.
    pub total_steps: u64,
    /// Trainable scalars.
    pub n_params: usize,
    /// Loss of the last mini-batch (the paper's tuning objective).
    pub last_batch_loss: f64,
    /// Mean mini-batch loss over the last curve interval.
    pub final_train_loss: Option<f64>,
    /// Final metrics on (up to 16384 rows of) the training split.
    pub train: Option<Metrics>,
    /// Final metrics on the whole validation split.
    pub validation: Option<Metrics>,
    /// Final metrics on the whole test split.
    pub test: Option<Metrics>,
    /// Wall-clock seconds of the whole run, evaluations included.
    pub seconds: f64,
    /// Seconds spent evaluating.
    pub eval_seconds: f64,
    /// The learning curve.
    pub curve: Vec<CurvePoint>,
}
