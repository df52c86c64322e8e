//! Studies: tasks × methods × seeds, run resumably and in parallel into a store.
//!
//! [`StudyFile`] is what the user writes (flags or TOML); [`StudyFile::resolve`] turns it into
//! a [`Study`] of full configurations; [`run::run_study`] adds its cells to the store and runs
//! every cell that has no result yet, one single-threaded cell per job (each one
//! [`lrctl_wrap::cell::train`]), reporting [`RunEvent`]s to an observer. The store is the source
//! of truth: a cell carries its resolved task and method configuration, so re-running a command
//! skips finished cells, and a killed run loses at most the cells that were in flight.

pub mod aslib;
pub mod estimate;
pub mod export;
pub mod external;
pub mod run;
pub mod selection;
pub mod snapshot;
pub mod spec;
pub mod suite;
pub mod summary;

pub use external::{
    ExternalMetric, ExternalTask, description_features, is_external, submit_external,
};
pub use run::{Observer, RunConfig, RunEvent, RunReport, run_study, submit, work};
pub use spec::{
    CellPlan, ENGINE_VERSION, LRCTL_VERSION, Seeds, Study, StudyError, StudyFile, check_submitter,
    config_hash,
};
pub use suite::{Suite, suites};
pub use summary::{CellSummary, MeanSe, MethodRow};

use lrctl_store::{CellRow, Outcome};

/// The summary of a stored cell, for tables (`None` while it has no result).
pub fn cell_summary(cell: &CellRow) -> Option<CellSummary> {
    let r = cell.result.as_ref()?;
    Some(CellSummary {
        task: cell.task.clone(),
        method: cell.method.clone(),
        outcome: r.outcome,
        train_loss: r.final_train_loss,
        metric: if r.outcome == Outcome::Finished {
            r.test_metric
        } else {
            None
        },
    })
}
