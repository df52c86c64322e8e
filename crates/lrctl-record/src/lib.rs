//! The result record of a cell, shared by every layer that touches it: the engine produces it,
//! tuners score it, the store keeps it, exports and reports print it. One definition here means
//! one mapping, not one per layer.
//!
//! * [`Outcome`] — how a run ended.
//! * [`CellResult`] — what a cell measured and cost, with its columns ([`CellResult::COLUMNS`],
//!   [`CellResult::values`], [`CellResult::from_values`]) written once, here: both store back
//!   ends and the export build their statements and rows from them.
//! * [`CurvePointRow`] — one point of a stored learning curve.

mod result;

pub use result::{CellResult, ColumnError, CurvePointRow, Kind, ProvenanceId, Value};

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The whole budget ran.
    Finished,
    /// A loss, gradient, parameter or learning rate became non-finite (or the loss exploded);
    /// the curve so far is kept.
    Diverged,
    /// The run could not be carried out (bad data, a bug); the reason says why.
    Failed,
}

impl Outcome {
    /// Every outcome, in the order tables list them.
    pub const ALL: [Outcome; 3] = [Outcome::Finished, Outcome::Diverged, Outcome::Failed];

    /// The name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Finished => "finished",
            Outcome::Diverged => "diverged",
            Outcome::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(o.to_string(), o.as_str());
        }
        assert_eq!(Outcome::parse("ok"), None);
    }
}
