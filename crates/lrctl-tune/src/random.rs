//! Random search at the full budget.

use crate::sampler::{RandomSampler, Sampler};
use crate::space::{Fidelity, SearchSpace};
use crate::tuner::{Ask, History, TuneError, Tuner, wait_or_done};

/// Random search (Bergstra & Bengio 2012, "Random search for hyper-parameter optimization",
/// JMLR 13): `n_trials` configurations drawn uniformly ([`SearchSpace::sample`]), each trained
/// for `max_budget`. The baseline every other tuner must beat at equal total budget.
#[derive(Debug, Clone)]
pub struct RandomSearch {
    space: SearchSpace,
    budget: u64,
    n_trials: usize,
    sampler: RandomSampler,
    history: History,
}

impl RandomSearch {
    /// Random search over `space` with `n_trials` trials at `fidelity.max_budget`.
    pub fn new(
        space: SearchSpace,
        fidelity: Fidelity,
        n_trials: usize,
        seed: u64,
    ) -> Result<RandomSearch, TuneError> {
        space.validate()?;
        fidelity.validate()?;
        Ok(RandomSearch {
            space,
            budget: fidelity.max_budget,
            n_trials,
            sampler: RandomSampler::new(seed),
            history: History::new(),
        })
    }
}

impl Tuner for RandomSearch {
    fn name(&self) -> &str {
        "random"
    }

    fn ask(&mut self) -> Ask {
        if self.history.len() >= self.n_trials {
            return wait_or_done(&self.history);
        }
        let config = self.sampler.propose(&self.space, &self.history);
        Ask::Trial(self.history.issue(config, self.budget, 0, 0, None))
    }

    fn tell(&mut self, id: u64, score: f64) -> Result<(), TuneError> {
        self.history.tell(id, score)
    }

    fn history(&self) -> &History {
        &self.history
    }
}
