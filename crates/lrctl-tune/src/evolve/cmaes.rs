//! CMA-ES and its diagonal variant sep-CMA-ES.

use nalgebra::{DMatrix, SymmetricEigen};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::{Best, EvolveError, EvolveRng, Evolver, check_count, check_start, ranking};

/// The largest dimension for which [`CovarianceModel::Auto`] keeps a full covariance matrix.
///
/// A full matrix costs `O(n²)` memory and time per sample plus an `O(n³)` eigendecomposition
/// every `O(n/λ)` generations, and needs `O(n²)` evaluations to be learned at all; beyond a
/// couple of hundred coordinates (a policy network's weights) the diagonal model learns in
/// `O(n)` evaluations and costs `O(n)` per sample (Ros & Hansen 2008).
pub const FULL_COVARIANCE_MAX_DIM: usize = 200;

/// The covariance model of [`Cmaes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CovarianceModel {
    /// [`Full`](CovarianceModel::Full) up to [`FULL_COVARIANCE_MAX_DIM`] coordinates,
    /// [`Diagonal`](CovarianceModel::Diagonal) above.
    #[default]
    Auto,
    /// A full covariance matrix (CMA-ES): learns any linear coordinate system, `O(n²)` per
    /// sample.
    Full,
    /// A diagonal covariance matrix (sep-CMA-ES): learns one scale per coordinate, `O(n)` per
    /// sample, with learning rates raised by `(n + 1.5) / 3`.
    Diagonal,
}

impl CovarianceModel {
    /// Whether this model is diagonal in dimension `n`.
    pub fn is_diagonal(self, n: usize) -> bool {
        match self {
            CovarianceModel::Auto => n > FULL_COVARIANCE_MAX_DIM,
            CovarianceModel::Full => false,
            CovarianceModel::Diagonal => true,
        }
    }
}

/// Settings of [`Cmaes`] beyond the start point, step size and seed; the defaults are the
/// tutorial's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CmaesSettings {
    /// Candidates per generation λ (at least 2); `None` = `4 + ⌊3 ln n⌋`. A larger population
    /// (e.g. 10n) helps on multimodal or noisy objectives, at more evaluations per generation.
    pub population: Option<usize>,
    /// Full or diagonal covariance.
    pub covariance: CovarianceModel,
}

/// The strategy parameters of CMA-ES, fixed at construction (Hansen 2016, Table 1, with the
/// positive recombination weights only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyParams {
    /// Population size λ.
    pub lambda: usize,
    /// Parents μ = ⌊λ / 2⌋.
    pub mu: usize,
    /// Recombination weights `w_1 ≥ … ≥ w_μ > 0`, summing to 1.
    pub weights: Vec<f64>,
    /// Variance-effective selection mass μ_eff = 1 / Σ w_i².
    pub mu_eff: f64,
    /// Learning rate of the step-size path, c_σ.
    pub c_sigma: f64,
    /// Damping of the step-size update, d_σ.
    pub d_sigma: f64,
    /// Learning rate of the rank-one path, c_c.
    pub c_c: f64,
    /// Learning rate of the rank-one update, c_1.
    pub c_1: f64,
    /// Learning rate of the rank-μ update, c_μ.
    pub c_mu: f64,
    /// E‖N(0, I)‖ ≈ √n (1 − 1/(4n) + 1/(21n²)).
    pub chi_n: f64,
    /// Generations between eigendecompositions: `C` is decomposed after a generation once more
    /// than this many generations have passed since the last decomposition (0 for the
    /// diagonal model, which needs none: every generation).
    pub eigen_interval: f64,
}

impl StrategyParams {
    /// The default parameters in dimension `n` (≥ 1) with population `lambda` (≥ 2); the
    /// learning rates c_1 and c_μ multiplied by `(n + 1.5) / 3` (capped as in the full model)
    /// when `diagonal` (Ros & Hansen 2008).
    pub fn new(n: usize, lambda: usize, diagonal: bool) -> StrategyParams {
        let nf = n as f64;
        let mu = lambda / 2;
        let raw: Vec<f64> = (1..=mu)
            .map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - (i as f64).ln())
            .collect();
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / total).collect();
        let mu_eff = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let c_sigma = (mu_eff + 2.0) / (nf + mu_eff + 5.0);
        let d_sigma = 1.0 + 2.0 * (((mu_eff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + c_sigma;
        let c_c = (4.0 + mu_eff / nf) / (nf + 4.0 + 2.0 * mu_eff / nf);
        let alpha_cov = 2.0;
        let mut c_1 = alpha_cov / ((nf + 1.3).powi(2) + mu_eff);
        let mut c_mu = (alpha_cov * (mu_eff - 2.0 + 1.0 / mu_eff)
            / ((nf + 2.0).powi(2) + alpha_cov * mu_eff / 2.0))
            .min(1.0 - c_1);
        if diagonal {
            let boost = (nf + 1.5) / 3.0;
            c_1 = (c_1 * boost).min(1.0);
            c_mu = (c_mu * boost).min(1.0 - c_1);
        }
        let chi_n = nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf));
        // The tutorial's Matlab code decomposes when `λ / (c_1 + c_μ) / n / 10` evaluations
        // have passed since the last decomposition.
        let eigen_interval = if diagonal {
            0.0
        } else {
            1.0 / ((c_1 + c_mu) * nf * 10.0)
        };
        StrategyParams {
            lambda,
            mu,
            weights,
            mu_eff,
            c_sigma,
            d_sigma,
            c_c,
            c_1,
            c_mu,
            chi_n,
            eigen_interval,
        }
    }
}

/// The outstanding generation: standard-normal draws `z`, steps `y = B D z` and candidates
/// `x = m + σ y`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sampled {
    z: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    x: Vec<Vec<f64>>,
}

/// CMA-ES, the (μ/μ_w, λ) covariance matrix adaptation evolution strategy, as in Hansen's
/// tutorial (N. Hansen 2016, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772,
/// Appendix A), minimising.
///
/// Each generation samples `x_k = m + σ B D z_k` with `z_k ~ N(0, I)` and `C = B D² Bᵀ`;
/// [`tell`](Evolver::tell) ranks the candidates and applies, with the default parameters of
/// Table 1 ([`StrategyParams`]):
///
/// * weighted recombination of the μ best steps, `m ← m + σ ⟨y⟩_w` (c_m = 1);
/// * cumulative step-size adaptation: `p_σ ← (1 − c_σ) p_σ + √(c_σ (2 − c_σ) μ_eff) C^{−1/2}
///   ⟨y⟩_w`, `σ ← σ exp(c_σ / d_σ (‖p_σ‖ / E‖N(0, I)‖ − 1))`;
/// * the rank-one and rank-μ covariance updates, with the stall indicator h_σ (0 when
///   `‖p_σ‖ / √(1 − (1 − c_σ)^{2(g+1)}) ≥ (1.4 + 2/(n+1)) E‖N(0, I)‖`) holding back the path
///   `p_c` and compensating its variance loss `δ(h_σ) = (1 − h_σ) c_c (2 − c_c)`;
/// * the eigendecomposition of `C` (nalgebra's symmetric solver) only once more than
///   `λ / (c_1 + c_μ) / n / 10` evaluations (`1 / (10 n (c_1 + c_μ))` generations, of order
///   `n / (10 λ)`) have passed since the last one, as in the tutorial's code, which keeps its
///   `O(n³)` cost at `O(n²)` per evaluation; between decompositions sampling uses the last `B` and `D`, and `C^{−1/2}
///   ⟨y⟩_w` is computed consistently with them as `B ⟨z⟩_w`.
///
/// With [`CovarianceModel::Diagonal`] (or `Auto` above [`FULL_COVARIANCE_MAX_DIM`]) this is
/// sep-CMA-ES (R. Ros & N. Hansen 2008, "A simple modification in CMA-ES achieving linear time
/// and space complexity", PPSN X): the same updates restricted to the diagonal of `C`, no
/// eigendecomposition (`B = I`, `D = √diag C`), and c_1, c_μ multiplied by `(n + 1.5) / 3`.
/// It learns per-coordinate scales only, so it is slower than the full model on non-separable
/// objectives of small dimension but is the only affordable one for thousands of weights.
///
/// Deviations from the tutorial: the recombination weights are the positive ones only
/// (`w_i = 0` for `i > μ`, the tutorial's earlier default) rather than Table 1's negative
/// weights of active CMA; the eigenvalues of `C` are clamped at the smallest positive double.
/// There are no termination criteria: the caller stops on its budget (watch
/// [`sigma`](Cmaes::sigma)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cmaes {
    params: StrategyParams,
    diagonal: bool,
    mean: Vec<f64>,
    sigma: f64,
    p_sigma: Vec<f64>,
    p_c: Vec<f64>,
    /// `C`: row-major `n × n` (full) or its diagonal (diagonal).
    cov: Vec<f64>,
    /// `B`: row-major eigenvectors (full); empty (diagonal: `B = I`).
    basis: Vec<f64>,
    /// `D`: square roots of the eigenvalues of `C`.
    scales: Vec<f64>,
    /// Generation of the last eigendecomposition.
    eigen_generation: u64,
    generation: u64,
    rng: EvolveRng,
    pending: Option<Sampled>,
    best: Option<Best>,
}

impl Cmaes {
    /// CMA-ES from `mean` with step size `sigma` and the default settings (population
    /// `4 + ⌊3 ln n⌋`, [`CovarianceModel::Auto`]), seeded with `seed`.
    ///
    /// `sigma` is the initial standard deviation of every coordinate: the optimum should lie
    /// within about `mean ± 3 σ`.
    pub fn new(mean: Vec<f64>, sigma: f64, seed: u64) -> Result<Cmaes, EvolveError> {
        Cmaes::with_settings(mean, sigma, CmaesSettings::default(), seed)
    }

    /// CMA-ES from `mean` with step size `sigma` and `settings`, seeded with `seed`.
    pub fn with_settings(
        mean: Vec<f64>,
        sigma: f64,
        settings: CmaesSettings,
        seed: u64,
    ) -> Result<Cmaes, EvolveError> {
        check_start(&mean, sigma)?;
        let n = mean.len();
        let lambda = settings
            .population
            .unwrap_or(4 + (3.0 * (n as f64).ln()).floor() as usize);
        if lambda < 2 {
            return Err(EvolveError::PopulationTooSmall {
                algorithm: "CMA-ES",
                got: lambda,
                min: 2,
            });
        }
        let diagonal = settings.covariance.is_diagonal(n);
        let (cov, basis) = if diagonal {
            (vec![1.0; n], Vec::new())
        } else {
            let mut identity = vec![0.0; n * n];
            for i in 0..n {
                identity[i * n + i] = 1.0;
            }
            (identity.clone(), identity)
        };
        Ok(Cmaes {
            params: StrategyParams::new(n, lambda, diagonal),
            diagonal,
            mean,
            sigma,
            p_sigma: vec![0.0; n],
            p_c: vec![0.0; n],
            cov,
            basis,
            scales: vec![1.0; n],
            eigen_generation: 0,
            generation: 0,
            rng: EvolveRng::new(seed),
            pending: None,
            best: None,
        })
    }

    /// The strategy parameters.
    pub fn params(&self) -> &StrategyParams {
        &self.params
    }

    /// The current step size σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Whether the covariance model is diagonal (sep-CMA-ES).
    pub fn is_diagonal(&self) -> bool {
        self.diagonal
    }

    /// The standard deviation of every coordinate of the search distribution, `σ √C_ii`.
    pub fn std_devs(&self) -> Vec<f64> {
        let n = self.dim();
        (0..n)
            .map(|i| {
                let c = if self.diagonal {
                    self.cov[i]
                } else {
                    self.cov[i * n + i]
                };
                self.sigma * c.sqrt()
            })
            .collect()
    }

    /// The ratio of the largest to the smallest eigenvalue of `C` at the last decomposition.
    pub fn condition(&self) -> f64 {
        let max = self.scales.iter().copied().fold(0.0, f64::max);
        let min = self.scales.iter().copied().fold(f64::INFINITY, f64::min);
        (max / min).powi(2)
    }

    /// `B D z`.
    fn transform(&self, z: &[f64]) -> Vec<f64> {
        let n = self.dim();
        if self.diagonal {
            return z.iter().zip(&self.scales).map(|(z, d)| d * z).collect();
        }
        let dz: Vec<f64> = z.iter().zip(&self.scales).map(|(z, d)| d * z).collect();
        (0..n)
            .map(|i| {
                let row = &self.basis[i * n..(i + 1) * n];
                row.iter().zip(&dz).map(|(b, v)| b * v).sum()
            })
            .collect()
    }

    /// `B z` (= `C^{−1/2} B D z` for the current `B`, `D`).
    fn rotate(&self, z: &[f64]) -> Vec<f64> {
        let n = self.dim();
        if self.diagonal {
            return z.to_vec();
        }
        (0..n)
            .map(|i| {
                let row = &self.basis[i * n..(i + 1) * n];
                row.iter().zip(z).map(|(b, v)| b * v).sum()
            })
            .collect()
    }

    /// Recomputes `B` and `D` from `C`.
    fn decompose(&mut self) {
        let n = self.dim();
        self.eigen_generation = self.generation;
        if self.diagonal {
            self.scales = self
                .cov
                .iter()
                .map(|c| c.max(f64::MIN_POSITIVE).sqrt())
                .collect();
            return;
        }
        // C is kept exactly symmetric by the update; read it from the upper triangle anyway.
        let c = DMatrix::from_fn(n, n, |i, j| {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            self.cov[a * n + b]
        });
        let eigen = SymmetricEigen::new(c);
        for i in 0..n {
            for j in 0..n {
                self.basis[i * n + j] = eigen.eigenvectors[(i, j)];
            }
        }
        self.scales = eigen
            .eigenvalues
            .iter()
            .map(|&v| v.max(f64::MIN_POSITIVE).sqrt())
            .collect();
    }
}

impl Evolver for Cmaes {
    fn name(&self) -> &str {
        if self.diagonal {
            "sep-cma-es"
        } else {
            "cma-es"
        }
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn population_size(&self) -> usize {
        self.params.lambda
    }

    fn ask(&mut self) -> Vec<Vec<f64>> {
        if let Some(pending) = &self.pending {
            return pending.x.clone();
        }
        let n = self.dim();
        let lambda = self.params.lambda;
        let mut sampled = Sampled {
            z: Vec::with_capacity(lambda),
            y: Vec::with_capacity(lambda),
            x: Vec::with_capacity(lambda),
        };
        for _ in 0..lambda {
            let z: Vec<f64> = (0..n)
                .map(|_| StandardNormal.sample(&mut self.rng.0))
                .collect();
            let y = self.transform(&z);
            let x = self
                .mean
                .iter()
                .zip(&y)
                .map(|(m, y)| m + self.sigma * y)
                .collect();
            sampled.z.push(z);
            sampled.y.push(y);
            sampled.x.push(x);
        }
        let x = sampled.x.clone();
        self.pending = Some(sampled);
        x
    }

    fn tell(&mut self, fitness: &[f64]) -> Result<(), EvolveError> {
        let Some(sampled) = self.pending.take() else {
            return Err(EvolveError::NotAsked);
        };
        if let Err(e) = check_count(self.params.lambda, fitness) {
            self.pending = Some(sampled);
            return Err(e);
        }
        Best::update(&mut self.best, &sampled.x, fitness);
        let n = self.dim();
        let p = &self.params;
        let order = ranking(fitness);
        let parents = &order[..p.mu];

        // Recombination: ⟨y⟩_w and ⟨z⟩_w.
        let mut y_w = vec![0.0; n];
        let mut z_w = vec![0.0; n];
        for (&k, w) in parents.iter().zip(&p.weights) {
            for i in 0..n {
                y_w[i] += w * sampled.y[k][i];
                z_w[i] += w * sampled.z[k][i];
            }
        }
        for (m, y) in self.mean.iter_mut().zip(&y_w) {
            *m += self.sigma * y;
        }

        // Step-size path and step size.
        let c_inv_sqrt_y = self.rotate(&z_w);
        let cs = p.c_sigma;
        let ks = (cs * (2.0 - cs) * p.mu_eff).sqrt();
        for (ps, v) in self.p_sigma.iter_mut().zip(&c_inv_sqrt_y) {
            *ps = (1.0 - cs) * *ps + ks * v;
        }
        let ps_norm = self.p_sigma.iter().map(|v| v * v).sum::<f64>().sqrt();
        let g1 = (self.generation + 1) as f64;
        let h_sigma = ps_norm / (1.0 - (1.0 - cs).powf(2.0 * g1)).sqrt()
            < (1.4 + 2.0 / (n as f64 + 1.0)) * p.chi_n;
        self.sigma *= ((cs / p.d_sigma) * (ps_norm / p.chi_n - 1.0)).exp();

        // Covariance path and matrix.
        let cc = p.c_c;
        let kc = if h_sigma {
            (cc * (2.0 - cc) * p.mu_eff).sqrt()
        } else {
            0.0
        };
        for (pc, y) in self.p_c.iter_mut().zip(&y_w) {
            *pc = (1.0 - cc) * *pc + kc * y;
        }
        let delta = if h_sigma { 0.0 } else { cc * (2.0 - cc) };
        let decay = 1.0 + p.c_1 * delta - p.c_1 - p.c_mu;
        if self.diagonal {
            for i in 0..n {
                let rank_mu: f64 = parents
                    .iter()
                    .zip(&p.weights)
                    .map(|(&k, w)| w * sampled.y[k][i] * sampled.y[k][i])
                    .sum();
                self.cov[i] =
                    decay * self.cov[i] + p.c_1 * self.p_c[i] * self.p_c[i] + p.c_mu * rank_mu;
            }
        } else {
            for i in 0..n {
                for j in i..n {
                    let rank_mu: f64 = parents
                        .iter()
                        .zip(&p.weights)
                        .map(|(&k, w)| w * sampled.y[k][i] * sampled.y[k][j])
                        .sum();
                    let c = decay * self.cov[i * n + j]
                        + p.c_1 * self.p_c[i] * self.p_c[j]
                        + p.c_mu * rank_mu;
                    self.cov[i * n + j] = c;
                    self.cov[j * n + i] = c;
                }
            }
        }

        self.generation += 1;
        if (self.generation - self.eigen_generation) as f64 > self.params.eigen_interval {
            self.decompose();
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
