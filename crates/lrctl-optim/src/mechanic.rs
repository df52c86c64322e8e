//! Mechanic: a learning-rate scale tuned online around a base optimizer.

use serde::{Deserialize, Serialize};

use crate::check::{Check, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL};
use crate::{OptimError, Optimizer, OptimizerConfig, OptimizerSpec, StepInfo};

fn default_s_decay() -> f64 {
    0.01
}

fn default_betas() -> Vec<f64> {
    vec![0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999]
}

fn default_s_init() -> f64 {
    1e-8
}

fn default_eps() -> f64 {
    1e-8
}

/// Configuration of [`Mechanic`] (`kind = "mechanic"`). Defaults are those of
/// `mechanic-pytorch` 0.0.1 `mechanize`; `base` has no default.
///
/// ```toml
/// [optimizer]
/// kind = "mechanic"
/// s_decay = 0.01
/// betas = [0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999]
/// s_init = 1e-8
/// eps = 1e-8
/// store_delta = false
///
/// [optimizer.base]
/// kind = "adamw"
/// betas = [0.9, 0.99]
/// weight_decay = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MechanicConfig {
    /// The optimizer whose updates Mechanic rescales: `kind` `"sgd"`, `"adam"` or `"adamw"`
    /// with that optimizer's own fields. It receives the controller's `lr` unchanged.
    pub base: Box<OptimizerSpec>,
    /// `λ`, the strength of the "weight decay" term in the tuner's gradient (not a weight decay
    /// on the parameters). Must be ≥ 0. Default 0.01.
    #[serde(default = "default_s_decay")]
    pub s_decay: f64,
    /// EMA coefficients of the tuners (one scale `s_j` each, summed), each in `[0, 1)`, at
    /// least one. Default `[0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999]`.
    #[serde(default = "default_betas")]
    pub betas: Vec<f64>,
    /// Initial wealth of the tuners (`s_init`, split evenly between them). Must be > 0.
    /// Default 1e-8.
    #[serde(default = "default_s_init")]
    pub s_init: f64,
    /// Added to the denominators. Must be > 0. Default 1e-8.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Keep the accumulated base updates `Δ` in memory (one more vector, the paper's
    /// algorithm) instead of recovering them as `(x − x_ref)/(s + eps)` each step (the
    /// reference's default, which saves memory but loses precision while `s` is tiny).
    /// Default false.
    #[serde(default)]
    pub store_delta: bool,
}

impl MechanicConfig {
    /// A Mechanic with the reference defaults around `base`.
    pub fn new(base: OptimizerSpec) -> Self {
        Self {
            base: Box::new(base),
            s_decay: default_s_decay(),
            betas: default_betas(),
            s_init: default_s_init(),
            eps: default_eps(),
            store_delta: false,
        }
    }
}

impl OptimizerConfig for MechanicConfig {
    const KIND: &'static str = "mechanic";
    type Optimizer = Mechanic;

    /// The learned scale `s` sets the step size; `lr` only reaches the base.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// Checks every field's range and that `base` is an optimizer Mechanic can wrap.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        match self.base.as_ref() {
            OptimizerSpec::Sgd(b) => b.validate()?,
            OptimizerSpec::Adam(b) => b.validate()?,
            OptimizerSpec::AdamW(b) => b.validate()?,
            other => {
                return Err(OptimError::InvalidField {
                    optimizer: "mechanic",
                    field: "base",
                    reason: format!(
                        "Mechanic wraps `sgd`, `adam` or `adamw`, not `{}`",
                        other.kind()
                    ),
                });
            }
        }
        c.field("s_decay", self.s_decay, NON_NEGATIVE)?;
        if self.betas.is_empty() {
            return Err(OptimError::InvalidField {
                optimizer: "mechanic",
                field: "betas",
                reason: "needs at least one coefficient".into(),
            });
        }
        for &beta in &self.betas {
            c.field("betas", beta, UNIT_INTERVAL)?;
        }
        c.field("s_init", self.s_init, POSITIVE)?;
        c.field("eps", self.eps, POSITIVE)
    }

    /// Validates and builds the optimizer (and its base) for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Mechanic, OptimError> {
        self.validate()?;
        let n = self.betas.len();
        Ok(Mechanic {
            base: self.base.build(n_params)?,
            store_delta: self.store_delta,
            eps: self.eps,
            betas: self.betas.iter().map(|&b| b as f32).collect(),
            s_decay: self.s_decay as f32,
            s_init: self.s_init as f32,
            s: vec![0.0; n],
            sum_squared_products: vec![0.0; n],
            reward: vec![0.0; n],
            max_product: vec![1e-6; n],
            reference: Vec::new(),
            previous: Vec::new(),
            delta: Vec::new(),
        })
    }
}

/// Mechanic (Cutkosky, Defazio, Mehta 2023, *Mechanic: A Learning Rate Tuner*, NeurIPS;
/// arXiv:2306.00144, Algorithm 1), matching `mechanic-pytorch` 0.0.1
/// (`mechanic_pytorch.mechanize(torch.optim.SGD)` / `mechanize(torch.optim.AdamW)`, by the
/// paper's first author).
///
/// The base optimizer proposes an update `u_t` from `x_t` (with the controller's `lr`);
/// Mechanic accumulates `Δ_{t+1} = Δ_t + u_t` and sets `x_{t+1} = x_ref + s_{t+1} · Δ_{t+1}`,
/// where `x_ref` is the initial point and the scale `s = Σ_j s_j` is learned by one
/// coin-betting tuner per `β_j` from `h_t = ⟨Δ_t, g_t + λ s_t ‖g_t‖/‖x‖ · x⟩`:
///
/// ```text
/// m_j ← max(β_j m_j, |h_t|)         v_j ← β_j² v_j + h_t²
/// r_j ← max(0, β_j r_j − s_j h_t)   s_j ← (s_init/n · m_j + r_j) / (sqrt(v_j) + eps)
/// ```
///
/// (`m_j` starts at 1e-6, `s_j` at 0; `g_t` is the raw gradient, before the base's weight
/// decay.) The **effective learning rate** reported is `max(s_{t+1}, 0) ·` the base's
/// effective learning rate (`lr` for SGD/Adam/AdamW): the factor by which the base update of
/// this step reaches the parameters.
///
/// Details taken from the reference rather than the paper:
/// * `‖x‖` and the `x` in `h_t` are the parameters *after* the base step (`x_t + u_t`), not
///   `x_t`; the tuner state is `f32`, as there.
/// * With `store_delta = false` (the reference's default) `Δ_t` is not stored but recovered
///   as `(x_t − x_ref)/(s_t + eps)` in `f32`, which is exact only up to the rounding of
///   `x_t`: a rounding error in `x_t` returns multiplied by `s_{t+1}/s_t`, large while the
///   scale grows from its ~1e-6 start. Runs in this mode are reproducible only to about
///   1e-4 of the distance travelled (the reference itself moves that much when only its
///   summation order changes; see `tests/mechanic.rs`). `store_delta = true` keeps `Δ` (the
///   paper's algorithm, one more vector) and agrees with the reference to about 1e-6.
/// * A NaN gradient propagates into the parameters (as in the reference), so the engine sees
///   the divergence.
///
/// Deviations from the reference: sums over all parameters (`h_t`, the norms) are
/// accumulated in `f64` and rounded to `f32` (the reference uses `f32` dot products); the
/// reference's optional logging is not reproduced.
pub struct Mechanic {
    base: Box<dyn Optimizer>,
    store_delta: bool,
    eps: f64,
    betas: Vec<f32>,
    s_decay: f32,
    s_init: f32,
    /// Scale of each tuner.
    s: Vec<f32>,
    /// `v_j`.
    sum_squared_products: Vec<f32>,
    /// `r_j`.
    reward: Vec<f32>,
    /// `m_j`.
    max_product: Vec<f32>,
    /// `x_ref`, captured at the first step (empty before).
    reference: Vec<f32>,
    /// `x_t` during a step.
    previous: Vec<f32>,
    /// `Δ_t` (only with `store_delta`).
    delta: Vec<f32>,
}

impl std::fmt::Debug for Mechanic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mechanic")
            .field("base", &self.base.name())
            .field("store_delta", &self.store_delta)
            .field("s", &self.s)
            .finish_non_exhaustive()
    }
}

/// `max(a, b)` that propagates NaN like `torch.maximum`/`torch.clamp` (Rust's `f32::max`
/// ignores it, which would turn a NaN gradient into a silent reset to `x_ref`).
fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

impl Mechanic {
    /// The current scale `s = Σ_j s_j` (0 before the first step).
    pub fn scale(&self) -> f64 {
        f64::from(self.s.iter().sum::<f32>())
    }
}

impl Optimizer for Mechanic {
    fn name(&self) -> &'static str {
        "mechanic"
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        assert_eq!(
            grads.len(),
            params.len(),
            "gradient length != parameter length"
        );
        self.previous.clear();
        self.previous.extend_from_slice(params);
        let base = self.base.step(params, grads, lr);
        if self.reference.is_empty() {
            self.reference.extend_from_slice(&self.previous);
            if self.store_delta {
                self.delta.resize(params.len(), 0.0);
            }
        }
        assert_eq!(
            self.reference.len(),
            params.len(),
            "parameter vector length changed"
        );
        let eps = self.eps as f32;
        let s_sum: f32 = self.s.iter().sum();

        let mut param_sq = 0.0f64;
        let mut grad_sq = 0.0f64;
        for (&x, &g) in params.iter().zip(grads) {
            param_sq += f64::from(x) * f64::from(x);
            grad_sq += f64::from(g) * f64::from(g);
        }
        let global_norm = (param_sq as f32).sqrt();
        let grad_norm = (grad_sq as f32).sqrt();
        let norm_ratio_den = global_norm + eps;

        // h = ⟨Δ_t, g + λ s ‖g‖/‖x‖ · x⟩; then Δ_{t+1} = Δ_t + u_t, kept in `previous` (or
        // `delta`).
        let mut inner = 0.0f64;
        let recover = s_sum + eps;
        for i in 0..params.len() {
            let x_new = params[i];
            let x_old = self.previous[i];
            let delta = if self.store_delta {
                self.delta[i]
            } else {
                (x_old - self.reference[i]) / recover
            };
            let decay = self.s_decay * x_new * s_sum * grad_norm / norm_ratio_den;
            inner += f64::from(delta) * f64::from(grads[i] + decay);
            let next = delta + (x_new - x_old);
            if self.store_delta {
                self.delta[i] = next;
            } else {
                self.previous[i] = next;
            }
        }
        let h = inner as f32;

        let n = self.betas.len() as f32;
        for j in 0..self.betas.len() {
            let beta = self.betas[j];
            self.max_product[j] = max_nan(beta * self.max_product[j], h.abs());
            self.sum_squared_products[j] = self.sum_squared_products[j] * (beta * beta) + h * h;
            self.reward[j] = max_nan(self.reward[j] * beta - self.s[j] * h, 0.0);
            let wealth = self.max_product[j] * self.s_init / n + self.reward[j];
            self.s[j] = wealth / (self.sum_squared_products[j].sqrt() + eps);
        }
        let scale = max_nan(self.s.iter().sum::<f32>(), 0.0);

        let deltas = if self.store_delta {
            &self.delta
        } else {
            &self.previous
        };
        for ((x, &r), &d) in params.iter_mut().zip(&self.reference).zip(deltas) {
            *x = r + d * scale;
        }
        StepInfo {
            effective_lr: f64::from(scale) * base.effective_lr,
        }
    }

    fn prepare_eval(&mut self, params: &mut [f32]) {
        self.base.prepare_eval(params);
    }

    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        self.base.set_param_shapes(shapes);
    }

    fn observe_loss(&mut self, loss: f64) {
        self.base.observe_loss(loss);
    }

    fn prepare_train(&mut self, params: &mut [f32]) {
        self.base.prepare_train(params);
    }

    fn snapshot(&self) -> Option<Box<dyn Optimizer>> {
        Some(Box::new(Mechanic {
            base: self.base.snapshot()?,
            store_delta: self.store_delta,
            eps: self.eps,
            betas: self.betas.clone(),
            s_decay: self.s_decay,
            s_init: self.s_init,
            s: self.s.clone(),
            sum_squared_products: self.sum_squared_products.clone(),
            reward: self.reward.clone(),
            max_product: self.max_product.clone(),
            reference: self.reference.clone(),
            previous: self.previous.clone(),
            delta: self.delta.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sgd::SgdConfig;

    #[test]
    fn first_step_is_the_tiny_initial_scale() {
        // Step 1: Δ = 0 so h = 0; m_j = 1e-6·β_j, v = 0, r = 0, s_j = m_j·s_init/n / eps.
        let cfg = MechanicConfig {
            betas: vec![0.5],
            s_init: 1e-2,
            eps: 1e-2,
            ..MechanicConfig::new(OptimizerSpec::Sgd(SgdConfig::default()))
        };
        let mut opt = cfg.build(2).unwrap();
        let mut x = vec![1.0f32, 2.0];
        let info = opt.step(&mut x, &[1.0, -1.0], 0.1);
        let s = 0.5e-6f64; // 0.5·1e-6 · 1e-2 / 1e-2
        assert!((opt.scale() - s).abs() < 1e-12, "{}", opt.scale());
        assert!((info.effective_lr - 0.1 * s).abs() < 1e-13);
        // x = x_ref + s·u with u = −0.1·g.
        assert!((f64::from(x[0]) - (1.0 - 0.1 * s)).abs() < 1e-7);
        assert!((f64::from(x[1]) - (2.0 + 0.1 * s)).abs() < 1e-7);
    }

    #[test]
    fn stored_and_recovered_delta_agree_while_the_scale_is_representable() {
        let spec = OptimizerSpec::Sgd(SgdConfig::default());
        let run = |store_delta: bool| {
            let cfg = MechanicConfig {
                store_delta,
                ..MechanicConfig::new(spec.clone())
            };
            let mut opt = cfg.build(2).unwrap();
            let mut x = vec![1.0f32, -1.0];
            for _ in 0..200 {
                let g = [x[0] - 3.0, 2.0 * (x[1] - 1.0)];
                opt.step(&mut x, &g, 0.1);
            }
            (x, opt.scale())
        };
        let (xs, ss) = run(true);
        let (xr, sr) = run(false);
        // The tuner grows s from ~1e-6 and moves towards the minimum (3, 1).
        assert!(ss > 0.1 && sr > 0.1, "{ss} {sr}");
        assert!(
            (xs[0] - 3.0).abs() < 0.5 && (xs[1] - 1.0).abs() < 0.5,
            "{xs:?}"
        );
        assert!(
            (xr[0] - 3.0).abs() < 0.5 && (xr[1] - 1.0).abs() < 0.5,
            "{xr:?}"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let sgd = OptimizerSpec::Sgd(SgdConfig::default());
        let err = |c: MechanicConfig| c.validate().unwrap_err().to_string();
        let base = MechanicConfig::new(sgd.clone());
        assert!(base.validate().is_ok());
        assert!(
            err(MechanicConfig {
                betas: vec![],
                ..base.clone()
            })
            .contains("`betas`")
        );
        assert!(
            err(MechanicConfig {
                betas: vec![0.9, 1.0],
                ..base.clone()
            })
            .contains("`betas`")
        );
        assert!(
            err(MechanicConfig {
                s_init: 0.0,
                ..base.clone()
            })
            .contains("`s_init`")
        );
        assert!(
            err(MechanicConfig {
                eps: -1.0,
                ..base.clone()
            })
            .contains("`eps`")
        );
        assert!(
            err(MechanicConfig {
                s_decay: -1.0,
                ..base.clone()
            })
            .contains("`s_decay`")
        );
        let nested = MechanicConfig::new(OptimizerSpec::Mechanic(base.clone()));
        let msg = err(nested);
        assert!(
            msg.contains("`base`") && msg.contains("`mechanic`"),
            "{msg}"
        );
        let bad_base = MechanicConfig::new(OptimizerSpec::Sgd(SgdConfig {
            momentum: 2.0,
            ..SgdConfig::default()
        }));
        assert!(err(bad_base).contains("`momentum`"));
    }
}
