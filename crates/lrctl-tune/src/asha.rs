//! Asynchronous successive halving (ASHA).

use std::collections::BTreeSet;

use crate::sampler::{RandomSampler, Sampler};
use crate::space::{Fidelity, SearchSpace};
use crate::tuner::{Ask, History, TuneError, Tuner, compare_trials, wait_or_done};

/// ASHA (Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht & Talwalkar 2020, "A system
/// for massively parallel hyperparameter tuning", MLSys), Algorithm 2 with early-stopping rate
/// `s = 0`.
///
/// Rungs `k = 0..=s_max` have budgets `max_budget · eta^(k − s_max)`
/// ([`Fidelity::rung_budget`]), as in the most aggressive Hyperband bracket. On every ask, from
/// the second-highest rung down: if a configuration is among the top `floor(|finished in rung
/// k| / eta)` of rung `k` and was not promoted yet, the best such one is promoted to rung
/// `k + 1` (its rung-`k` trial is the `parent`). Otherwise a new configuration from the sampler
/// starts at rung 0. So ASHA never waits for stragglers; it answers [`Ask::Wait`] only once
/// `max_trials` trials were issued and some are still outstanding.
///
/// Deviation from the paper: the top rung is `max_budget` (rounded rung budgets) rather than
/// `min_budget · eta^k` for as long as that stays below the maximum.
#[derive(Debug, Clone)]
pub struct Asha<S: Sampler = RandomSampler> {
    space: SearchSpace,
    fidelity: Fidelity,
    sampler: S,
    max_trials: Option<usize>,
    /// Ids per rung, in issue order.
    rungs: Vec<Vec<u64>>,
    /// Trials (by id) already promoted out of their rung.
    promoted: BTreeSet<u64>,
    history: History,
}

impl Asha<RandomSampler> {
    /// ASHA with random sampling ("asha").
    pub fn new(
        space: SearchSpace,
        fidelity: Fidelity,
        seed: u64,
    ) -> Result<Asha<RandomSampler>, TuneError> {
        Asha::with_sampler(space, fidelity, RandomSampler::new(seed))
    }
}

impl<S: Sampler> Asha<S> {
    /// ASHA drawing new configurations from `sampler`; validates the space and fidelity.
    pub fn with_sampler(
        space: SearchSpace,
        fidelity: Fidelity,
        sampler: S,
    ) -> Result<Asha<S>, TuneError> {
        space.validate()?;
        fidelity.validate()?;
        Ok(Asha {
            rungs: vec![Vec::new(); fidelity.s_max() + 1],
            space,
            fidelity,
            sampler,
            max_trials: None,
            promoted: BTreeSet::new(),
            history: History::new(),
        })
    }

    /// Stops issuing after `n` trials (promotions included); unlimited by default.
    pub fn max_trials(mut self, n: usize) -> Self {
        self.max_trials = Some(n);
        self
    }

    /// Budget of rung `k`.
    pub fn rung_budget(&self, k: usize) -> u64 {
        self.fidelity.rung_budget(self.rungs.len() - 1, k)
    }

    /// The trial to promote out of rung `k`: the best not-yet-promoted trial among the top
    /// `floor(finished / eta)` finished trials of the rung.
    pub fn promotable(&self, k: usize) -> Option<u64> {
        let mut done: Vec<(f64, u64)> = self.rungs[k]
            .iter()
            .filter_map(|&id| self.history.score(id).map(|s| (s, id)))
            .collect();
        done.sort_by(|&a, &b| compare_trials(a, b));
        let top = (done.len() as f64 / self.fidelity.eta + 1e-9).floor() as usize;
        done.iter()
            .take(top)
            .map(|&(_, id)| id)
            .find(|id| !self.promoted.contains(id))
    }
}

impl<S: Sampler> Tuner for Asha<S> {
    fn name(&self) -> &str {
        "asha"
    }

    fn ask(&mut self) -> Ask {
        if self.max_trials.is_some_and(|m| self.history.len() >= m) {
            return wait_or_done(&self.history);
        }
        for k in (0..self.rungs.len() - 1).rev() {
            if let Some(parent) = self.promotable(k) {
                self.promoted.insert(parent);
                let budget = self.rung_budget(k + 1);
                let request = self.history.promote(parent, budget, 0, k + 1);
                self.rungs[k + 1].push(request.id);
                return Ask::Trial(request);
            }
        }
        let config = self.sampler.propose(&self.space, &self.history);
        let request = self.history.issue(config, self.rung_budget(0), 0, 0, None);
        self.rungs[0].push(request.id);
        Ask::Trial(request)
    }

    fn tell(&mut self, id: u64, score: f64) -> Result<(), TuneError> {
        self.history.tell(id, score)
    }

    fn history(&self) -> &History {
        &self.history
    }
}
