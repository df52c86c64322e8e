//! The one-epoch top-k baseline.

use crate::sampler::{RandomSampler, Sampler};
use crate::space::{Fidelity, SearchSpace};
use crate::tuner::{Ask, History, TuneError, Tuner, compare_trials, wait_or_done};

/// One-epoch top-k: train `n` random configurations for `min_budget` ("one epoch"), then
/// continue the best `k` to `max_budget` (each naming its short trial as `parent`). The
/// cheapest multi-fidelity baseline: a single successive-halving step with one cut.
///
/// The `k` continuations start once all `n` short trials are told.
#[derive(Debug, Clone)]
pub struct TopK {
    space: SearchSpace,
    fidelity: Fidelity,
    n: usize,
    k: usize,
    sampler: RandomSampler,
    /// Short trials, then continuations.
    short: Vec<u64>,
    long: Vec<u64>,
    /// Short trials to continue, best first (filled once every short trial is told).
    queue: Option<Vec<u64>>,
    history: History,
}

impl TopK {
    /// Top-`k` of `n` (`1 <= k <= n`).
    pub fn new(
        space: SearchSpace,
        fidelity: Fidelity,
        n: usize,
        k: usize,
        seed: u64,
    ) -> Result<TopK, TuneError> {
        space.validate()?;
        fidelity.validate()?;
        if k == 0 || k > n {
            return Err(TuneError::Setting(format!(
                "top-k needs 1 <= k <= n (got k = {k}, n = {n})"
            )));
        }
        Ok(TopK {
            space,
            fidelity,
            n,
            k,
            sampler: RandomSampler::new(seed),
            short: Vec::new(),
            long: Vec::new(),
            queue: None,
            history: History::new(),
        })
    }
}

impl Tuner for TopK {
    fn name(&self) -> &str {
        "top-k"
    }

    fn ask(&mut self) -> Ask {
        if self.short.len() < self.n {
            let config = self.sampler.propose(&self.space, &self.history);
            let request = self
                .history
                .issue(config, self.fidelity.min_budget, 0, 0, None);
            self.short.push(request.id);
            return Ask::Trial(request);
        }
        if self.queue.is_none() {
            let scores: Option<Vec<(f64, u64)>> = self
                .short
                .iter()
                .map(|&id| self.history.score(id).map(|s| (s, id)))
                .collect();
            let Some(mut ranked) = scores else {
                return Ask::Wait;
            };
            ranked.sort_by(|&a, &b| compare_trials(a, b));
            self.queue = Some(ranked.iter().take(self.k).map(|&(_, id)| id).collect());
        }
        let queue = self.queue.as_ref().expect("filled above");
        let Some(&parent) = queue.get(self.long.len()) else {
            return wait_or_done(&self.history);
        };
        let request = self.history.promote(parent, self.fidelity.max_budget, 0, 1);
        self.long.push(request.id);
        Ask::Trial(request)
    }

    fn tell(&mut self, id: u64, score: f64) -> Result<(), TuneError> {
        self.history.tell(id, score)
    }

    fn history(&self) -> &History {
        &self.history
    }
}
