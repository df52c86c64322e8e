//! Errors: [`WrapError`] for configuring and running wrapped methods, [`CellError`] for how a
//! cell's run can end without a result.

use lrctl_engine::StartError;
use lrctl_method::{MethodError, ParamsError};
use lrctl_store::StoreError;
use lrctl_tune::TuneError;

/// Why a wrapped method cannot be configured or run.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    /// A method that cannot be found, read or built.
    #[error(transparent)]
    Method(#[from] MethodError),
    /// A hyperparameter path or value that does not fit the method.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// A search space naming hyperparameters the method does not have.
    #[error("the search space does not fit the method: {0}")]
    SpaceMismatch(ParamsError),
    /// A tuner that cannot be built or that misbehaved.
    #[error(transparent)]
    Tune(#[from] TuneError),
    /// A model or method that could not be built for a run.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A selector that cannot be fitted or used.
    #[error(transparent)]
    Select(#[from] lrctl_select::SelectError),
    /// A setting out of range (the message names it).
    #[error("{0}")]
    Invalid(String),
}

/// How a cell's run ended without a result to record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CellError {
    /// The run was cancelled: nothing is recorded and the cell goes back to the queue.
    #[error("cancelled")]
    Cancelled,
    /// Cells it learns from are still queued: put it back and train those first.
    #[error("deferred until the cells it learns from have results")]
    Deferred,
    /// It cannot run on this worker (data a learned method meta-trains on is missing here):
    /// put it back for another worker and go on with other cells.
    #[error("{0}")]
    Unavailable(String),
    /// It cannot run: the cell is recorded as failed with this reason.
    #[error("{0}")]
    Failed(String),
}

impl CellError {
    /// A failure with `context` (e.g. `tuning smac-fixed`) before the cause.
    pub fn failed(context: impl std::fmt::Display, cause: impl std::fmt::Display) -> CellError {
        CellError::Failed(format!("{context}: {cause}"))
    }
}

impl From<WrapError> for CellError {
    fn from(e: WrapError) -> Self {
        CellError::Failed(e.to_string())
    }
}

impl From<StartError> for CellError {
    fn from(e: StartError) -> Self {
        CellError::Failed(e.to_string())
    }
}
