//! What a tuning trial is scored on ([`Objective`]) and how diverged runs are scored
//! ([`Scoring`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::tuner::TuneError;

/// Score of a diverged trial in the paper's setup.
pub const DEFAULT_WORST_SCORE: f64 = 100.0;

/// The quantity a tuner minimises for a trial. Computing it from a training run is the
/// driver's job; every objective is a loss (lower is better), so a validation metric must be
/// expressed as one (e.g. error rate rather than accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Loss of the last training mini-batch: free to compute, noisy; the paper's choice
    /// ("final-train-loss").
    FinalTrainLoss,
    /// Mean training loss over the run ("mean-train-loss").
    MeanTrainLoss,
    /// Loss on the validation split at the end of the trial ("valid-loss").
    ValidLoss,
    /// The task's validation metric as a loss, e.g. error rate ("valid-metric", the default).
    #[default]
    ValidMetric,
}

impl Objective {
    /// Every objective, in declaration order.
    pub const ALL: [Objective; 4] = [
        Objective::FinalTrainLoss,
        Objective::MeanTrainLoss,
        Objective::ValidLoss,
        Objective::ValidMetric,
    ];

    /// The objective's name, as parsed by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Objective::FinalTrainLoss => "final-train-loss",
            Objective::MeanTrainLoss => "mean-train-loss",
            Objective::ValidLoss => "valid-loss",
            Objective::ValidMetric => "valid-metric",
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Objective {
    type Err = TuneError;

    fn from_str(s: &str) -> Result<Self, TuneError> {
        Objective::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Objective::ALL.iter().map(|o| o.name()).collect();
                TuneError::Setting(format!(
                    "unknown objective {s:?} (known: {})",
                    known.join(", ")
                ))
            })
    }
}

/// The objective and the score given to diverged trials.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// What is minimised.
    #[serde(default)]
    pub objective: Objective,
    /// Score of a diverged trial (default [`DEFAULT_WORST_SCORE`]).
    #[serde(default = "default_worst")]
    pub worst_score: f64,
}

fn default_worst() -> f64 {
    DEFAULT_WORST_SCORE
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            objective: Objective::default(),
            worst_score: DEFAULT_WORST_SCORE,
        }
    }
}

impl Scoring {
    /// The score to tell a tuner: a non-finite score (NaN or infinite: the run diverged) and
    /// any score above `worst_score` become `worst_score`, so a blow-up never outranks a
    /// merely bad run and models see bounded numbers.
    pub fn sanitize(&self, score: f64) -> f64 {
        if score.is_finite() {
            score.min(self.worst_score)
        } else {
            self.worst_score
        }
    }
}
