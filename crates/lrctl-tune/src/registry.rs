//! Tuners by name.

use crate::asha::Asha;
use crate::bohb::bohb;
use crate::hyperband::Hyperband;
use crate::random::RandomSearch;
use crate::smac::smac;
use crate::space::{Fidelity, SearchSpace};
use crate::topk::TopK;
use crate::tuner::{TuneError, Tuner};

/// Canonical tuner names accepted by [`tuner`], in a fixed order.
pub const TUNER_NAMES: [&str; 7] = ["random", "sh", "hyperband", "asha", "bohb", "smac", "top-k"];

/// Other spellings accepted by [`tuner`] and the canonical name they stand for.
pub const TUNER_ALIASES: [(&str, &str); 3] = [
    ("successive-halving", "sh"),
    ("random-search", "random"),
    ("topk", "top-k"),
];

/// Trials a tuner issues when [`TunerSettings::trials`] is `None` (the paper's 50).
pub const DEFAULT_TRIALS: usize = 50;

/// What every tuner in the registry is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct TunerSettings {
    /// The space searched.
    pub space: SearchSpace,
    /// Budgets per trial.
    pub fidelity: Fidelity,
    /// Seed of all the tuner's randomness.
    pub seed: u64,
    /// Trials to issue in total, every rung counted (default [`DEFAULT_TRIALS`]). For top-k
    /// this splits into `k = max(1, trials / (eta + 1))` continuations of
    /// `n = trials − k` short runs.
    pub trials: Option<usize>,
}

impl TunerSettings {
    /// Settings with seed 0 and the default number of trials.
    pub fn new(space: SearchSpace, fidelity: Fidelity) -> TunerSettings {
        TunerSettings {
            space,
            fidelity,
            seed: 0,
            trials: None,
        }
    }
}

/// The canonical name for `name` (itself or an alias), `None` if unknown.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    TUNER_NAMES
        .iter()
        .copied()
        .find(|&n| n == name)
        .or_else(|| {
            TUNER_ALIASES
                .iter()
                .find(|(alias, _)| *alias == name)
                .map(|(_, n)| *n)
        })
}

/// The tuner called `name` (see [`TUNER_NAMES`], [`TUNER_ALIASES`]) with default settings
/// otherwise: "random" [`RandomSearch`], "sh" [`Hyperband::successive_halving`], "hyperband"
/// [`Hyperband::new`], "asha" [`Asha::new`], "bohb" [`bohb`], "smac" [`smac`], "top-k"
/// [`TopK`]. Fails on an unknown name (the message lists the known ones) or an invalid space,
/// fidelity or trial count.
pub fn tuner(name: &str, settings: &TunerSettings) -> Result<Box<dyn Tuner + Send>, TuneError> {
    let canonical = canonical_name(name).ok_or_else(|| TuneError::UnknownTuner {
        name: name.to_string(),
        known: TUNER_NAMES
            .iter()
            .copied()
            .chain(TUNER_ALIASES.iter().map(|(a, _)| *a))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let trials = settings.trials.unwrap_or(DEFAULT_TRIALS);
    if trials == 0 {
        return Err(TuneError::Setting("trials must be positive".into()));
    }
    let TunerSettings {
        space,
        fidelity,
        seed,
        ..
    } = settings.clone();
    Ok(match canonical {
        "random" => Box::new(RandomSearch::new(space, fidelity, trials, seed)?),
        "sh" => Box::new(Hyperband::successive_halving(space, fidelity, seed)?.max_trials(trials)),
        "hyperband" => Box::new(Hyperband::new(space, fidelity, seed)?.max_trials(trials)),
        "asha" => Box::new(Asha::new(space, fidelity, seed)?.max_trials(trials)),
        "bohb" => Box::new(bohb(space, fidelity, seed)?.max_trials(trials)),
        "smac" => Box::new(smac(space, fidelity, seed)?.max_trials(trials)),
        "top-k" => {
            let k = (trials as f64 / (fidelity.eta + 1.0)).floor().max(1.0) as usize;
            let n = trials.saturating_sub(k);
            Box::new(TopK::new(space, fidelity, n, k, seed)?)
        }
        _ => unreachable!("every canonical name is handled"),
    })
}
