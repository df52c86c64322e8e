//! The evolution-strategies baseline of Salimans et al. (2017).

use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{Best, EvolveError, EvolveRng, Evolver, check_count, check_start};
use crate::tuner::rank_score;

/// The update [`OpenAiEs`] applies to its gradient estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EsOptimizer {
    /// Plain gradient descent: `θ ← θ − α g`.
    Sgd,
    /// Adam (Kingma & Ba 2015, "Adam: a method for stochastic optimization", ICLR), as in
    /// Salimans et al.'s code.
    Adam {
        /// Decay of the first moment, β₁.
        beta1: f64,
        /// Decay of the second moment, β₂.
        beta2: f64,
        /// ε added to the root of the second moment.
        epsilon: f64,
    },
}

impl EsOptimizer {
    /// Adam with the default β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    pub const ADAM: EsOptimizer = EsOptimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
}

/// Settings of [`OpenAiEs`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EsSettings {
    /// Candidates per generation, even (pairs `θ ± σε`) and at least 2; `None` =
    /// `2 (4 + ⌊3 ln n⌋)`, twice CMA-ES's default.
    pub population: Option<usize>,
    /// The fixed standard deviation σ of the perturbations.
    pub sigma: f64,
    /// Learning rate α of the optimizer.
    pub learning_rate: f64,
    /// The update rule.
    pub optimizer: EsOptimizer,
    /// L2 coefficient λ₂ added to the gradient estimate as `λ₂ θ` (Salimans et al. used 0.005
    /// for their policies; 0 = none).
    pub weight_decay: f64,
}

impl EsSettings {
    /// Perturbations of standard deviation `sigma`, Adam with learning rate `learning_rate`,
    /// the default population and no weight decay.
    pub fn new(sigma: f64, learning_rate: f64) -> EsSettings {
        EsSettings {
            population: None,
            sigma,
            learning_rate,
            optimizer: EsOptimizer::ADAM,
            weight_decay: 0.0,
        }
    }
}

/// Evolution strategies as in T. Salimans, J. Ho, X. Chen, S. Sidor & I. Sutskever 2017,
/// "Evolution Strategies as a Scalable Alternative to Reinforcement Learning"
/// (arXiv:1703.03864): a Gaussian search distribution `N(θ, σ² I)` of fixed σ whose mean
/// follows a Monte-Carlo estimate of the gradient of the smoothed objective.
///
/// * **Mirrored sampling**: a generation of λ candidates is λ/2 pairs `θ + σε_j, θ − σε_j`
///   with `ε_j ~ N(0, I)`, returned interleaved (candidate `2j` is `θ + σε_j`, `2j + 1` is
///   `θ − σε_j`).
/// * **Fitness shaping**: centred ranks. Candidates are ranked by fitness (non-finite last;
///   equal values share their mean rank, so a generation of equal values moves nothing) and
///   candidate of rank `r` (0 = best) gets utility `u = 1/2 − r / (λ − 1)`.
/// * **Update**: the gradient estimate `g = −1/(λσ) Σ_j (u_{2j} − u_{2j+1}) ε_j + λ₂ θ`
///   feeds plain gradient descent or Adam ([`EsOptimizer`]).
///
/// Salimans et al.'s code leaves out the `1/σ` of the estimate (absorbed in the learning rate,
/// immaterial for Adam); this keeps it, so that the learning rate of
/// [`EsOptimizer::Sgd`] is one of a gradient step. Their virtual batch normalisation and shared
/// noise table belong to the policy and the workers, not here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAiEs {
    settings: EsSettings,
    lambda: usize,
    mean: Vec<f64>,
    /// Adam's first moment.
    moment1: Vec<f64>,
    /// Adam's second moment.
    moment2: Vec<f64>,
    generation: u64,
    rng: EvolveRng,
    /// The outstanding generation's perturbations `ε_j`, one per pair.
    pending: Option<Vec<Vec<f64>>>,
    best: Option<Best>,
}

impl OpenAiEs {
    /// The strategy from `mean` with `settings`, seeded with `seed`.
    pub fn new(mean: Vec<f64>, settings: EsSettings, seed: u64) -> Result<OpenAiEs, EvolveError> {
        check_start(&mean, settings.sigma)?;
        let n = mean.len();
        let lambda = settings
            .population
            .unwrap_or(2 * (4 + (3.0 * (n as f64).ln()).floor() as usize));
        if lambda < 2 {
            return Err(EvolveError::PopulationTooSmall {
                algorithm: "OpenAI-ES",
                got: lambda,
                min: 2,
            });
        }
        if lambda % 2 == 1 {
            return Err(EvolveError::OddPopulation(lambda));
        }
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(EvolveError::Setting(format!(
                    "{name} = {v}: it must be finite and > 0"
                )))
            }
        };
        positive("learning_rate", settings.learning_rate)?;
        if !(settings.weight_decay.is_finite() && settings.weight_decay >= 0.0) {
            return Err(EvolveError::Setting(format!(
                "weight_decay = {}: it must be finite and ≥ 0 (0 = none)",
                settings.weight_decay
            )));
        }
        if let EsOptimizer::Adam {
            beta1,
            beta2,
            epsilon,
        } = settings.optimizer
        {
            for (name, beta) in [("beta1", beta1), ("beta2", beta2)] {
                if !(0.0..1.0).contains(&beta) {
                    return Err(EvolveError::Setting(format!(
                        "Adam {name} = {beta}: it must lie in [0, 1) (default 0.9 / 0.999)"
                    )));
                }
            }
            positive("Adam epsilon", epsilon)?;
        }
        Ok(OpenAiEs {
            settings,
            lambda,
            moment1: vec![0.0; n],
            moment2: vec![0.0; n],
            mean,
            generation: 0,
            rng: EvolveRng::new(seed),
            pending: None,
            best: None,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &EsSettings {
        &self.settings
    }

    /// The candidates `θ ± σε_j` of the perturbations, interleaved.
    fn candidates(&self, noise: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let sigma = self.settings.sigma;
        noise
            .iter()
            .flat_map(|eps| {
                [1.0, -1.0].map(|sign| {
                    self.mean
                        .iter()
                        .zip(eps)
                        .map(|(m, e)| m + sign * sigma * e)
                        .collect()
                })
            })
            .collect()
    }
}

/// Centred-rank utilities: `1/2 − r / (λ − 1)` for rank `r` (0 = lowest fitness, non-finite
/// last), equal values sharing their mean rank.
fn centred_ranks(fitness: &[f64]) -> Vec<f64> {
    let n = fitness.len();
    let mut order: Vec<usize> = (0..n).collect();
    let key = |i: usize| rank_score(fitness[i]);
    order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    let mut utility = vec![0.0; n];
    let scale = (n.max(2) - 1) as f64;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && key(order[end]).total_cmp(&key(order[start])).is_eq() {
            end += 1;
        }
        let rank = (start + end - 1) as f64 / 2.0;
        for &i in &order[start..end] {
            utility[i] = 0.5 - rank / scale;
        }
        start = end;
    }
    utility
}

impl Evolver for OpenAiEs {
    fn name(&self) -> &str {
        "openai-es"
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn population_size(&self) -> usize {
        self.lambda
    }

    fn ask(&mut self) -> Vec<Vec<f64>> {
        if self.pending.is_none() {
            let n = self.dim();
            let noise = (0..self.lambda / 2)
                .map(|_| {
                    (0..n)
                        .map(|_| StandardNormal.sample(&mut self.rng.0))
                        .collect()
                })
                .collect();
            self.pending = Some(noise);
        }
        self.candidates(self.pending.as_deref().expect("just drawn"))
    }

    fn tell(&mut self, fitness: &[f64]) -> Result<(), EvolveError> {
        let Some(noise) = self.pending.take() else {
            return Err(EvolveError::NotAsked);
        };
        if let Err(e) = check_count(self.lambda, fitness) {
            self.pending = Some(noise);
            return Err(e);
        }
        let candidates = self.candidates(&noise);
        Best::update(&mut self.best, &candidates, fitness);
        let utility = centred_ranks(fitness);
        let n = self.dim();
        let s = &self.settings;
        let scale = -1.0 / (self.lambda as f64 * s.sigma);
        let mut grad: Vec<f64> = self.mean.iter().map(|m| s.weight_decay * m).collect();
        for (j, eps) in noise.iter().enumerate() {
            let w = scale * (utility[2 * j] - utility[2 * j + 1]);
            for i in 0..n {
                grad[i] += w * eps[i];
            }
        }
        self.generation += 1;
        match s.optimizer {
            EsOptimizer::Sgd => {
                for (m, g) in self.mean.iter_mut().zip(&grad) {
                    *m -= s.learning_rate * g;
                }
            }
            EsOptimizer::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                let t = self.generation as f64;
                let c1 = 1.0 - beta1.powf(t);
                let c2 = 1.0 - beta2.powf(t);
                let moments = self.moment1.iter_mut().zip(&mut self.moment2);
                for ((m, (m1, m2)), g) in self.mean.iter_mut().zip(moments).zip(&grad) {
                    *m1 = beta1 * *m1 + (1.0 - beta1) * g;
                    *m2 = beta2 * *m2 + (1.0 - beta2) * g * g;
                    *m -= s.learning_rate * (*m1 / c1) / ((*m2 / c2).sqrt() + epsilon);
                }
            }
        }
        Ok(())
    }

    fn mean(&self) -> &[f64] {
        &self.mean
    }

    fn best(&self) -> Option<(&[f64], f64)> {
        Best::view(&self.best)
    }

    fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::centred_ranks;

    #[test]
    fn centred_ranks_share_ties_and_put_non_finite_last() {
        let u = centred_ranks(&[3.0, 1.0, f64::NAN, 2.0, f64::INFINITY]);
        assert_eq!(u[1], 0.5);
        assert_eq!(u[3], 0.25);
        assert_eq!(u[0], 0.0);
        // NaN and +∞ tie for the last two ranks.
        assert_eq!(u[2], -0.375);
        assert_eq!(u[4], -0.375);
        assert_eq!(centred_ranks(&[f64::NAN; 4]), vec![0.0; 4]);
    }
}
