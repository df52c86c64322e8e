//! The report of an lrctl study: a [`Snapshot`] of the store in, an [`lrctl_doc::Document`]
//! (HTML with inline SVG figures, Markdown, CSV tables) out.
//!
//! Compute, then render: [`analyse`] computes every number the report shows — per task the
//! learning curves and final scores; across tasks ranks, gap to best, IQM with
//! stratified-bootstrap confidence intervals, performance profiles, probability of
//! improvement, cost against quality, time-to-target profiles, the portfolio, algorithm
//! selection, learned controllers, divergences and the Scale section's trends against model
//! size — with `lrctl-eval`, `lrctl-select` and `lrctl-study`, into a plain, serialisable
//! [`StudyAnalysis`]. [`render`] only formats an analysis into a document
//! with `lrctl-doc`; [`build`] does both.
//!
//! Unfinished cells and missing seeds are stated where they matter, so the report can be
//! written while a study runs.

mod across;
mod analysis;
mod learned;
mod render_across;
mod render_scale;
mod render_study;
mod scale;

pub use across::{
    AcrossTasks, Aggregates, CONFIDENCE, CostQuality, MIN_SELECTION_TASKS, RunProfile, Selection,
    TimeToTarget,
};
pub use analysis::{
    ConfigHash, CurveSeries, DivergenceCount, Divergences, FinalRow, MissingSeeds, ReportOptions,
    StudyAnalysis, TaskAnalysis, analyse,
};
pub use learned::{Learned, LearnedCost, LearnedMethod, LearnedSection, LearnedTask, Trajectory};
pub use render_scale::scale_tables;
pub use render_study::render;
pub use scale::{
    FamilyAxis, FamilyPoint, LadderAnalysis, MethodRole, MethodScale, Rung, ScaleAnalysis,
    Transfer, TransferRung, analyse as analyse_scale, transfer_sentence,
};

use lrctl_doc::Document;
use lrctl_study::snapshot::Snapshot;

/// The report document of a snapshot: [`analyse`], then [`render`].
pub fn build(snap: &Snapshot, opts: &ReportOptions) -> Document {
    render(&analyse(snap, opts))
}
