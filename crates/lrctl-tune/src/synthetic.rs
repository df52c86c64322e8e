//! Synthetic multi-fidelity benchmarks with known optima, for testing tuners without training.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::space::{Config, Fidelity, Param, SearchSpace};
use crate::tuner::TrialRequest;

/// A classic global-optimisation test function (Dixon & Szegő 1978, "The global optimisation
/// problem: an introduction"; definitions and optima as in Surjanovic & Bingham's Virtual
/// Library of Simulation Experiments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestFunction {
    /// Branin–Hoo on `[−5, 10] × [0, 15]`; minimum 0.397887 at three points.
    Branin,
    /// Hartmann 3-D on `[0, 1]³`; minimum −3.86278.
    Hartmann3,
    /// Hartmann 6-D on `[0, 1]⁶`; minimum −3.32237.
    Hartmann6,
}

const H3_A: [[f64; 3]; 4] = [
    [3.0, 10.0, 30.0],
    [0.1, 10.0, 35.0],
    [3.0, 10.0, 30.0],
    [0.1, 10.0, 35.0],
];
const H3_P: [[f64; 3]; 4] = [
    [0.3689, 0.1170, 0.2673],
    [0.4699, 0.4387, 0.7470],
    [0.1091, 0.8732, 0.5547],
    [0.0381, 0.5743, 0.8828],
];
const H6_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const H6_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];
const H_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];

fn hartmann<const D: usize>(a: &[[f64; D]; 4], p: &[[f64; D]; 4], x: &[f64]) -> f64 {
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..D).map(|j| a[i][j] * (x[j] - p[i][j]).powi(2)).sum();
            H_ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

impl TestFunction {
    /// Number of variables.
    pub fn dim(self) -> usize {
        match self {
            TestFunction::Branin => 2,
            TestFunction::Hartmann3 => 3,
            TestFunction::Hartmann6 => 6,
        }
    }

    /// Box of variable `j`.
    fn bounds(self, j: usize) -> (f64, f64) {
        match (self, j) {
            (TestFunction::Branin, 0) => (-5.0, 10.0),
            (TestFunction::Branin, _) => (0.0, 15.0),
            _ => (0.0, 1.0),
        }
    }

    /// The domain as a search space with linear float parameters `x0`, `x1`, ….
    pub fn space(self) -> SearchSpace {
        let params = (0..self.dim())
            .map(|j| {
                let (low, high) = self.bounds(j);
                Param::float(&format!("x{j}"), low, high, false)
            })
            .collect();
        SearchSpace::new(params).expect("valid by construction")
    }

    /// Value at `x` (the function's own coordinates).
    pub fn value(self, x: &[f64]) -> f64 {
        match self {
            TestFunction::Branin => {
                use std::f64::consts::PI;
                let (x1, x2) = (x[0], x[1]);
                let b = 5.1 / (4.0 * PI * PI);
                let c = 5.0 / PI;
                let t = 1.0 / (8.0 * PI);
                (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
            }
            TestFunction::Hartmann3 => hartmann(&H3_A, &H3_P, x),
            TestFunction::Hartmann6 => hartmann(&H6_A, &H6_P, x),
        }
    }

    /// The global minimum.
    pub fn optimum(self) -> f64 {
        match self {
            TestFunction::Branin => 0.397_887_357_729_739,
            TestFunction::Hartmann3 => -3.862_779_787_332_8,
            TestFunction::Hartmann6 => -3.322_368_011_391_3,
        }
    }

    /// A typical spread of the function's values over its domain, which scales the bias and
    /// the noise of [`MultiFidelity`].
    pub fn scale(self) -> f64 {
        match self {
            TestFunction::Branin => 10.0,
            TestFunction::Hartmann3 | TestFunction::Hartmann6 => 1.0,
        }
    }
}

/// A multi-fidelity version of a [`TestFunction`], in the spirit of the "Branin / Hartmann
/// with fidelity" benchmarks of the multi-fidelity BO literature (Kandasamy, Dasarathy,
/// Schneider & Póczos 2017, BOCA) and the noisy low-budget evaluations of Hyperband and BOHB:
///
/// `f_b(x) = f(x) + scale · t(b) · (1 + bias · h(x)) + noise_sd(b) · ε`
///
/// with `t(b) = ln(max/b) / ln(max/min)` (1 at `min_budget`, 0 at `max_budget`), `h(u)` the
/// mean squared distance of the unit-cube point `u` to a fixed point away from the optimum
/// (so short runs are biased towards the wrong region, more so the shorter they are),
/// `noise_sd(b) = noise · scale · sqrt(min_budget / b)` and `ε ~ N(0, 1)` seeded by
/// (`seed`, trial id). At `max_budget` only the noise remains; [`MultiFidelity::value`] is the
/// noise-free full-budget value that regret is measured on.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiFidelity {
    /// The underlying function.
    pub function: TestFunction,
    /// Budget range.
    pub fidelity: Fidelity,
    /// Strength of the low-budget bias (relative to `scale`).
    pub bias: f64,
    /// Noise standard deviation at `min_budget` (relative to `scale`).
    pub noise: f64,
    /// Seed of the noise.
    pub seed: u64,
}

impl MultiFidelity {
    /// The benchmark with default bias (1.0) and noise (0.1).
    pub fn new(function: TestFunction, fidelity: Fidelity, seed: u64) -> MultiFidelity {
        MultiFidelity {
            function,
            fidelity,
            bias: 1.0,
            noise: 0.1,
            seed,
        }
    }

    /// The search space ([`TestFunction::space`]).
    pub fn space(&self) -> SearchSpace {
        self.function.space()
    }

    fn point(&self, config: &Config) -> Vec<f64> {
        (0..self.function.dim())
            .map(|j| config.get(&format!("x{j}")).copied().unwrap_or(f64::NAN))
            .collect()
    }

    /// Noise-free value at the full budget.
    pub fn value(&self, config: &Config) -> f64 {
        self.function.value(&self.point(config))
    }

    /// `value(config) − optimum`, the simple regret of recommending `config`.
    pub fn regret(&self, config: &Config) -> f64 {
        self.value(config) - self.function.optimum()
    }

    /// Noisy value of `config` trained for `budget`, with noise keyed by `key` (the trial id).
    pub fn evaluate_at(&self, config: &Config, budget: u64, key: u64) -> f64 {
        let f = &self.fidelity;
        let gap = if f.max_budget > f.min_budget {
            let b = budget.clamp(f.min_budget, f.max_budget) as f64;
            (f.max_budget as f64 / b).ln() / (f.max_budget as f64 / f.min_budget as f64).ln()
        } else {
            0.0
        };
        let space = self.space();
        let u = space.to_unit(config);
        let h = u
            .iter()
            .enumerate()
            .map(|(j, &x)| (x - (0.8 - 0.15 * (j % 3) as f64)).powi(2))
            .sum::<f64>()
            / u.len() as f64;
        let scale = self.function.scale();
        let sd = self.noise * scale * (f.min_budget as f64 / budget.max(1) as f64).sqrt();
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let eps: f64 = StandardNormal.sample(&mut rng);
        self.value(config) + scale * gap * (1.0 + self.bias * h) + sd * eps
    }

    /// [`MultiFidelity::evaluate_at`] for a trial request (noise keyed by its id).
    pub fn evaluate(&self, request: &TrialRequest) -> f64 {
        self.evaluate_at(&request.config, request.budget, request.id)
    }
}
