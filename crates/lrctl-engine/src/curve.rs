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

impl CurvePoint {
    /// The point as the store keeps it.
    pub fn to_row(&self) -> lrctl_record::CurvePointRow {
        lrctl_record::CurvePointRow {
            step: self.step,
            epoch: self.epoch,
            train_loss: self.train_loss,
            lr: self.lr,
            effective_lr: self.effective_lr,
            grad_norm: self.grad_norm,
            wall_seconds: self.wall_seconds,
            eval_loss: self.eval.map(|m| m.loss),
            eval_metric: self.eval.as_ref().and_then(crate::task_metric),
        }
    }
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

impl RunResult {
    /// The result record and curve rows a store keeps of this run on `task` (the record crate's
    /// one definition; see [`lrctl_record::CellResult`]). Costs are the run's own steps and
    /// seconds; what choosing or tuning the method cost is added by whoever did it.
    pub fn to_record(
        &self,
        task: &lrctl_tasks::TaskSpec,
    ) -> (lrctl_record::CellResult, Vec<lrctl_record::CurvePointRow>) {
        let metric = |m: &Option<Metrics>| m.as_ref().and_then(crate::task_metric);
        let loss = |m: &Option<Metrics>| m.as_ref().map(|m| m.loss);
        let mut summary = self.clone();
        summary.curve.clear();
        let result = lrctl_record::CellResult {
            outcome: self.outcome,
            reason: self.reason.clone(),
            steps: self.steps,
            total_steps: self.total_steps,
            n_params: self.n_params as u64,
            final_train_loss: self.final_train_loss,
            last_batch_loss: Some(self.last_batch_loss),
            train_loss: loss(&self.train),
            train_metric: metric(&self.train),
            validation_loss: loss(&self.validation),
            validation_metric: metric(&self.validation),
            test_loss: loss(&self.test),
            test_metric: metric(&self.test),
            metric_name: Some(task.primary_metric().0.to_string()),
            seconds: self.seconds,
            eval_seconds: self.eval_seconds,
            cost_steps: self.steps,
            cost_seconds: self.seconds,
            result_json: serde_json::to_string(&summary).expect("a result serialises"),
            provenance: lrctl_record::ProvenanceId(0),
        };
        let curve = self.curve.iter().map(CurvePoint::to_row).collect();
        (result, curve)
    }
}
