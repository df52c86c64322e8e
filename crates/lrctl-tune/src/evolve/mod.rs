//! Continuous black-box optimisers over a real vector, for meta-training small learned
//! learning-rate policies (a linear or small MLP policy of tens to a few thousand weights)
//! whose objective is noisy and expensive: every evaluation trains models.
//!
//! * **Interface** — the [`Evolver`] trait: [`ask`](Evolver::ask) a generation of candidate
//!   vectors, evaluate them (in parallel: they are independent), [`tell`](Evolver::tell) their
//!   fitness values in the same order. Fitness is minimised. A non-finite fitness (a diverged
//!   training run) ranks below every finite one ([`rank_score`](crate::rank_score)).
//! * **Optimisers** — [`Cmaes`], CMA-ES with a full covariance matrix or, for large
//!   dimensions, the diagonal sep-CMA-ES ([`CovarianceModel`]); [`OpenAiEs`], the evolution
//!   strategies baseline of Salimans et al. (2017) with mirrored sampling, centred ranks and a
//!   fixed σ.
//! * **Determinism and resume** — an evolver is a pure function of its seed and the fitness
//!   values told; its whole state, random generator included, is serialisable (serde), so a
//!   meta-training run stores it after every `tell` and a killed run resumes from the stored
//!   state bit-identically (JSON through `serde_json` with `float_roundtrip`, as this
//!   workspace configures it). A deserialised state is trusted as stored: it is not
//!   re-validated.
//!
//! ```
//! use lrctl_tune::{Cmaes, Evolver};
//!
//! let sphere = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>();
//! let mut es = Cmaes::new(vec![1.0; 4], 0.5, 7).unwrap();
//! while es.evaluations() < 2000 {
//!     let candidates = es.ask();
//!     let fitness: Vec<f64> = candidates.iter().map(|x| sphere(x)).collect();
//!     es.tell(&fitness).unwrap();
//! }
//! assert!(es.best().unwrap().1 < 1e-8);
//! ```

mod cmaes;
mod es;
#[cfg(test)]
mod tests;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::tuner::rank_score;

pub use cmaes::{Cmaes, CmaesSettings, CovarianceModel, FULL_COVARIANCE_MAX_DIM, StrategyParams};
pub use es::{EsOptimizer, EsSettings, OpenAiEs};

/// Errors of the evolvers: an invalid start or setting, or a `tell` that does not match the
/// generation asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvolveError {
    /// The start point has no coordinate.
    #[error(
        "the start point has dimension 0: give the initial mean as a vector of at least one \
         coordinate (the policy's flattened weights)"
    )]
    ZeroDimension,
    /// A coordinate of the start point is NaN or infinite.
    #[error("coordinate {index} of the start point is {value}: every coordinate must be finite")]
    NonFiniteMean {
        /// Index of the coordinate.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The step size σ is not a finite positive number.
    #[error(
        "step size σ = {0} is invalid: it must be finite and > 0 (a common start is about a \
         third of the expected distance from the start to the optimum, per coordinate)"
    )]
    InvalidSigma(f64),
    /// The population is smaller than the optimiser needs.
    #[error(
        "population size {got} is too small: {algorithm} needs at least {min} candidates per \
         generation (leave the population unset for the default)"
    )]
    PopulationTooSmall {
        /// The optimiser.
        algorithm: &'static str,
        /// The requested size.
        got: usize,
        /// The smallest accepted size.
        min: usize,
    },
    /// Mirrored sampling needs an even population.
    #[error(
        "population size {0} is odd: mirrored sampling evaluates candidates in pairs (θ + σε, \
         θ − σε), so give an even number"
    )]
    OddPopulation(usize),
    /// Another setting is out of range (the message says which and what is accepted).
    #[error("invalid setting: {0}")]
    Setting(String),
    /// `tell` got a different number of values than the generation has candidates.
    #[error(
        "tell got {got} fitness values for a generation of {expected} candidates: tell exactly \
         one value per candidate, in the order ask returned them"
    )]
    FitnessCount {
        /// Candidates in the generation.
        expected: usize,
        /// Values told.
        got: usize,
    },
    /// `tell` without an outstanding generation.
    #[error(
        "tell without an outstanding generation: call ask, evaluate its candidates, then tell \
         their fitness values once"
    )]
    NotAsked,
}

/// A population-based optimiser over `R^n` driven by ask/tell, minimising a fitness.
///
/// A driver loops: [`ask`](Evolver::ask) for a generation of candidates; evaluate every
/// candidate (independently, e.g. in parallel); [`tell`](Evolver::tell) the fitness values in
/// the order of the candidates. Asking again before telling returns the same candidates (no
/// random draws are spent), so a driver that lost them, or resumed from a state stored between
/// ask and tell, asks again.
///
/// **Fitness**: lower is better. A non-finite value (NaN, ±∞: a diverged run) ranks below
/// every finite value, never ahead of one; equal values are ranked by candidate index
/// ([`Cmaes`]) or share their rank ([`OpenAiEs`]).
///
/// **Determinism**: an evolver is a pure function of its construction (settings, start point,
/// seed) and the sequence of fitness values told. Its state serialises with serde; a stored
/// state deserialised later continues exactly as the uninterrupted run would.
pub trait Evolver {
    /// Short name of the algorithm ("cma-es", "sep-cma-es", "openai-es").
    fn name(&self) -> &str;
    /// Dimension `n` of the search space.
    fn dim(&self) -> usize;
    /// Candidates per generation (λ).
    fn population_size(&self) -> usize;
    /// The candidates of the current generation, [`population_size`](Evolver::population_size)
    /// vectors of length [`dim`](Evolver::dim).
    fn ask(&mut self) -> Vec<Vec<f64>>;
    /// Reports the fitness of every candidate of the outstanding generation, in order, and
    /// updates the search distribution.
    fn tell(&mut self, fitness: &[f64]) -> Result<(), EvolveError>;
    /// The mean of the search distribution: the current estimate of the optimum (for a noisy
    /// objective usually a better final answer than [`best`](Evolver::best)).
    fn mean(&self) -> &[f64];
    /// The best candidate told so far with a finite fitness, and that fitness.
    fn best(&self) -> Option<(&[f64], f64)>;
    /// Generations told so far.
    fn generation(&self) -> u64;
    /// Fitness evaluations told so far.
    fn evaluations(&self) -> u64 {
        self.generation() * self.population_size() as u64
    }
}

/// The best candidate seen: its vector and finite fitness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Best {
    pub x: Vec<f64>,
    pub fitness: f64,
}

impl Best {
    /// Replaces `best` by the best finite candidate of a generation when that one is better.
    pub(crate) fn update(best: &mut Option<Best>, candidates: &[Vec<f64>], fitness: &[f64]) {
        let winner = fitness
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_finite())
            .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)));
        if let Some((i, &f)) = winner
            && best.as_ref().is_none_or(|b| f < b.fitness)
        {
            *best = Some(Best {
                x: candidates[i].clone(),
                fitness: f,
            });
        }
    }

    pub(crate) fn view(best: &Option<Best>) -> Option<(&[f64], f64)> {
        best.as_ref().map(|b| (b.x.as_slice(), b.fitness))
    }
}

/// Candidate indices best first: lower [`rank_score`], then lower index.
pub(crate) fn ranking(fitness: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..fitness.len()).collect();
    order.sort_by(|&a, &b| {
        rank_score(fitness[a])
            .total_cmp(&rank_score(fitness[b]))
            .then(a.cmp(&b))
    });
    order
}

/// Checks a start point and step size.
pub(crate) fn check_start(mean: &[f64], sigma: f64) -> Result<(), EvolveError> {
    if mean.is_empty() {
        return Err(EvolveError::ZeroDimension);
    }
    if let Some((index, &value)) = mean.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(EvolveError::NonFiniteMean { index, value });
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(EvolveError::InvalidSigma(sigma));
    }
    Ok(())
}

/// Checks the length of a `tell`.
pub(crate) fn check_count(expected: usize, fitness: &[f64]) -> Result<(), EvolveError> {
    if fitness.len() == expected {
        Ok(())
    } else {
        Err(EvolveError::FitnessCount {
            expected,
            got: fitness.len(),
        })
    }
}

/// A ChaCha8 generator whose position serialises, so that a stored evolver resumes the same
/// random stream: the 32-byte key, the stream and the word position (68 bits, stored as two
/// 64-bit halves so that every serde format can hold it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RngState", into = "RngState")]
pub(crate) struct EvolveRng(pub ChaCha8Rng);

impl EvolveRng {
    /// The generator of `seed` (stream 2: no draws shared with a tuner or sampler seeded from
    /// the same number).
    pub(crate) fn new(seed: u64) -> EvolveRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2);
        EvolveRng(rng)
    }
}

#[derive(Serialize, Deserialize)]
struct RngState {
    key: [u8; 32],
    stream: u64,
    word_pos_high: u64,
    word_pos_low: u64,
}

impl From<EvolveRng> for RngState {
    fn from(rng: EvolveRng) -> RngState {
        let pos = rng.0.get_word_pos();
        RngState {
            key: rng.0.get_seed(),
            stream: rng.0.get_stream(),
            word_pos_high: (pos >> 64) as u64,
            word_pos_low: pos as u64,
        }
    }
}

impl From<RngState> for EvolveRng {
    fn from(state: RngState) -> EvolveRng {
        let mut rng = ChaCha8Rng::from_seed(state.key);
        rng.set_stream(state.stream);
        rng.set_word_pos((u128::from(state.word_pos_high) << 64) | u128::from(state.word_pos_low));
        EvolveRng(rng)
    }
}
