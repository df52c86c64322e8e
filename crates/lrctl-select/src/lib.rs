//! Algorithm selection for learning-rate control: pick, per task, the learning-rate controller
//! (method) expected to do best from cheap *meta-features* of the task (Rice 1976, "The
//! algorithm selection problem", Advances in Computers 15; Kerschke, Hoos, Neumann & Trautmann
//! 2019, "Automated algorithm selection: survey and perspectives", ECJ 27).
//!
//! * **Meta-features** — [`MetaFeatures`] (`[task][feature]`) and the [`Standardizer`]
//!   (z-scores fitted on training tasks only; missing or non-finite values become the training
//!   mean).
//! * **Selectors** — the [`Selector`] trait (fit on `[task][method]` normalised performance,
//!   predict a score per method, [`Selector::select`] the argmax) with four implementations:
//!   [`SingleBest`] (baseline), [`PerMethodRegression`] (a random forest per method, SATzilla
//!   2009 style), [`PairwiseClassification`] (cost-sensitive pairwise voting, SATzilla 2012
//!   style) and [`KNearestTasks`] (k-NN over tasks, Malitsky et al. 2011). Build one by name
//!   with [`selector`] / [`selector_with_seed`] ([`SELECTOR_NAMES`]).
//! * **Evaluation** — [`evaluate_loto`] / [`evaluate_loto_with`]: leave-one-task-out
//!   cross-validation reporting per-task choices, regret to the oracle (virtual best), the
//!   fraction of the single-best → oracle gap closed, and the probe cost of computing the
//!   features ([`LotoReport`]).
//!
//! Everything is deterministic given the seed: the forests use smartcore's seeded generator.
//!
//! ```
//! use lrctl_eval::ScoreTable;
//! use lrctl_select::{MetaFeatures, evaluate_loto};
//!
//! // Method "a" wins on small x, "b" on large x.
//! let xs: Vec<f64> = (0..12).map(|i| (i as f64 + 0.5) / 12.0).collect();
//! let tasks: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
//! let a = xs.iter().map(|&x| vec![if x < 0.5 { 1.0 } else { 0.0 }]).collect();
//! let b = xs.iter().map(|&x| vec![if x < 0.5 { 0.0 } else { 1.0 }]).collect();
//! let table = ScoreTable::new(tasks, vec!["a".into(), "b".into()], vec![a, b], vec![true; 12])
//!     .unwrap();
//! let features = MetaFeatures::new(vec!["x".into()], xs.iter().map(|&x| vec![x]).collect())
//!     .unwrap();
//! let report = evaluate_loto(&table, &features, "knn", None).unwrap();
//! assert!(report.optimal_fraction > 0.8);
//! let sbs = evaluate_loto(&table, &features, "sbs", None).unwrap();
//! assert_eq!(sbs.gap_closed, Some(0.0));
//! ```

mod features;
mod loto;
mod selectors;

pub use features::{MetaFeatures, Standardizer};
pub use loto::{LotoReport, LotoTask, evaluate_loto, evaluate_loto_with, performance_matrix};
pub use selectors::{
    DEFAULT_SEED, KNearestTasks, PairwiseClassification, PerMethodRegression, SELECTOR_NAMES,
    Selector, SingleBest, argmax, selector, selector_with_seed,
};

/// Errors of this crate: malformed input or an unknown selector name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Dimensions of the inputs do not agree.
    #[error("malformed input: {0}")]
    Shape(String),
    /// No selector of that name (see [`SELECTOR_NAMES`]).
    #[error("unknown selector {0:?} (known: {known})", known = SELECTOR_NAMES.join(", "))]
    UnknownSelector(String),
}
