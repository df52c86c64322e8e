//! Samplers: where a scheduler's new configurations come from (Optuna's sampler role; the
//! schedulers — successive halving, Hyperband, ASHA — play the pruner role).

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::space::{Config, SearchSpace};
use crate::tuner::{History, compare_trials};

/// Proposes the configuration of a new trial from everything finished so far.
///
/// `propose` is called once per new configuration, at the moment it is issued; it must be
/// deterministic given the sampler's seed and the history.
pub trait Sampler {
    /// A new configuration in `space`.
    fn propose(&mut self, space: &SearchSpace, history: &History) -> Config;
}

/// Uniform random sampling ([`SearchSpace::sample`]).
#[derive(Debug, Clone)]
pub struct RandomSampler {
    rng: ChaCha8Rng,
}

impl RandomSampler {
    /// A sampler seeded with `seed`.
    pub fn new(seed: u64) -> RandomSampler {
        RandomSampler {
            rng: sampler_rng(seed),
        }
    }
}

impl Sampler for RandomSampler {
    fn propose(&mut self, space: &SearchSpace, _history: &History) -> Config {
        space.sample(&mut self.rng)
    }
}

/// A sampler's generator: its own ChaCha stream, so that it never shares draws with the
/// scheduler seeded from the same number.
pub(crate) fn sampler_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    rng
}

/// Finished observations at one budget, in unit-cube coordinates, best first.
pub(crate) struct BudgetData {
    /// Unit-cube points, best first.
    pub x: Vec<Vec<f64>>,
    /// Their scores, best first; non-finite scores replaced by the worst finite one (by 1 if
    /// none is finite) so that models see numbers.
    pub y: Vec<f64>,
}

/// The observations at the largest budget with at least `min_points` finished trials (the
/// "largest budget with enough data" rule of BOHB and SMAC3's multi-fidelity facade).
pub(crate) fn largest_budget_data(
    space: &SearchSpace,
    history: &History,
    min_points: usize,
) -> Option<BudgetData> {
    let mut by_budget: BTreeMap<u64, Vec<(u64, f64)>> = BTreeMap::new();
    for (r, s) in history.finished() {
        by_budget
            .entry(r.request.budget)
            .or_default()
            .push((r.request.id, s));
    }
    let (_, trials) = by_budget
        .iter_mut()
        .rev()
        .find(|(_, t)| t.len() >= min_points.max(1))?;
    trials.sort_by(|a, b| compare_trials((a.1, a.0), (b.1, b.0)));
    let worst_finite = trials
        .iter()
        .map(|t| t.1)
        .filter(|s| s.is_finite())
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))))
        .unwrap_or(1.0);
    let x = trials
        .iter()
        .map(|&(id, _)| {
            let config = &history.get(id).expect("finished trial").request.config;
            space.to_unit(config)
        })
        .collect();
    let y = trials
        .iter()
        .map(|&(_, s)| if s.is_finite() { s } else { worst_finite })
        .collect();
    Some(BudgetData { x, y })
}

/// A uniform point of the unit cube.
pub(crate) fn random_unit<R: Rng + ?Sized>(rng: &mut R, dim: usize) -> Vec<f64> {
    (0..dim).map(|_| rng.random::<f64>()).collect()
}
