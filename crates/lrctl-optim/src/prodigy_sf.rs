//! Prodigy + Schedule-Free: Prodigy's distance estimate driving Schedule-Free's averaged
//! iterates, with the extras of the `prodigy-plus-schedule-free` package.

use serde::{Deserialize, Serialize};

use crate::averaging::{EvalSwitch, Rectification, average_from_y, averaging_coefficient};
use crate::check::{Check, NON_NEGATIVE, OPEN_UNIT_INTERVAL, POSITIVE, UNIT_INTERVAL};
use crate::moments::{bf16, lerp, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// The reference estimates `d` from every 11th coordinate of each tensor (`slice_p = 11`).
const SLICE: usize = 11;

/// The reference factors a tensor's second moment only when some dimension has at least this
/// many entries (`min_dim_size_to_factor`).
const MIN_DIM_TO_FACTOR: usize = 32;

/// Adam-atan2's scale `1 / atan(1)`, as the reference writes it.
const ATAN2_SCALE: f32 = 1.273_239_5;

/// Configuration of [`ProdigyScheduleFree`] (`kind = "prodigy-sf"`). Defaults are those of
/// `prodigy-plus-schedule-free` 2.0.1 `ProdigyPlusScheduleFree` (whose `lr` default, 1, is the
/// controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "prodigy-sf"
/// betas = [0.9, 0.99]
/// weight_decay = 0.0
/// d0 = 1e-6
/// factored = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProdigyScheduleFreeConfig {
    /// `[β1, β2]`: `β1` in `(0, 1)` interpolates between the average `x` and `z` (there is no
    /// first moment), `β2` in `[0, 1)` is the second moment's EMA coefficient. Default
    /// `[0.9, 0.99]`.
    pub betas: [f64; 2],
    /// EMA coefficient of the `d` estimate's sums, in `[0, 1)`. Absent: `sqrt(betas[1])`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta3: Option<f64>,
    /// Decoupled weight decay, computed at `y`. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// Multiply the weight decay by the step size `d · lr` (AdamW's form). Default true.
    pub weight_decay_by_lr: bool,
    /// Initial estimate of `d`. Must be > 0. Default 1e-6.
    pub d0: f64,
    /// Multiplies the estimate `d̂`. Must be > 0. Default 1.
    pub d_coef: f64,
    /// Limit `d̂` to `2^(1/4) · d` each step (before `d_coef`). Default true.
    pub d_limiter: bool,
    /// When > 0, `d` stops adapting from step `prodigy_steps` on (1-based). Default 0 (never).
    pub prodigy_steps: u64,
    /// Refined Schedule-Free averaging strength `C` (Song et al. 2025, *Through the River*,
    /// arXiv:2507.09846): the averaging weight becomes `min(1, c_k · (1 − β1) · C)`. Must be
    /// ≥ 0; 0 (the default) keeps the original rule.
    pub schedulefree_c: f64,
    /// Added (times `d`) to the second moment's square root. Must be > 0. Default 1e-8.
    /// Ignored with `adam_atan2`.
    pub eps: f64,
    /// Adam-atan2 (Everett et al. 2024, arXiv:2407.05872): the update is
    /// `atan2(d·g, sqrt(v)) / atan(1)` instead of `d·g / (sqrt(v) + d·eps)` (the reference's
    /// `eps = None`). Default false.
    pub adam_atan2: bool,
    /// Each parameter tensor is its own group with its own `d` (the reference with one
    /// parameter group per tensor and `split_groups = True`). Default false: one `d` for the
    /// whole model, as the reference with the model in one group.
    pub split_groups: bool,
    /// With `split_groups`, every tensor steps with the harmonic mean of the groups' `d`
    /// (its own `d` still drives its statistics). Requires `split_groups`. Default false.
    pub split_groups_mean: bool,
    /// Factored second moment (Adafactor's row and column averages) for tensors of two or more
    /// dimensions with one of at least 32 entries. Default true.
    pub factored: bool,
    /// The RAdam variant (`use_bias_correction`): rectified step size with an automatic
    /// warm-up and a debiased second moment. Default false.
    pub bias_correction: bool,
    /// StableAdamW-style scaling of each tensor's update by `1/sqrt(max(1, rms))`. Absent: on
    /// unless `adam_atan2` (the reference's default and its exclusion); `true` with
    /// `adam_atan2` is rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stableadamw: Option<bool>,
    /// Cautious updates (Liang et al. 2024, arXiv:2411.16085), masked on the update itself.
    /// Excludes `grams`. Default false.
    pub cautious: bool,
    /// Grams updates (Cao et al. 2024, arXiv:2412.17107), signs from the update itself.
    /// Excludes `cautious`. Default false.
    pub grams: bool,
    /// ADOPT's order (Taniguchi et al. 2024, arXiv:2411.02853): the second moment enters the
    /// denominator before the current gradient, and the first step only initialises it.
    /// Default false.
    pub adopt: bool,
}

impl Default for ProdigyScheduleFreeConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.99],
            beta3: None,
            weight_decay: 0.0,
            weight_decay_by_lr: true,
            d0: 1e-6,
            d_coef: 1.0,
            d_limiter: true,
            prodigy_steps: 0,
            schedulefree_c: 0.0,
            eps: 1e-8,
            adam_atan2: false,
            split_groups: false,
            split_groups_mean: false,
            factored: true,
            bias_correction: false,
            stableadamw: None,
            cautious: false,
            grams: false,
            adopt: false,
        }
    }
}

impl OptimizerConfig for ProdigyScheduleFreeConfig {
    const KIND: &'static str = "prodigy-sf";
    type Optimizer = ProdigyScheduleFree;

    /// The estimate `d` sets the step size; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("betas[0]", self.betas[0], OPEN_UNIT_INTERVAL)?;
        c.field("betas[1]", self.betas[1], UNIT_INTERVAL)?;
        if let Some(b3) = self.beta3 {
            c.field("beta3", b3, UNIT_INTERVAL)?;
        }
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("d0", self.d0, POSITIVE)?;
        c.field("d_coef", self.d_coef, POSITIVE)?;
        c.field("schedulefree_c", self.schedulefree_c, NON_NEGATIVE)?;
        c.field("eps", self.eps, POSITIVE)?;
        let invalid = |field, reason: &str| OptimError::InvalidField {
            optimizer: Self::KIND,
            field,
            reason: reason.into(),
        };
        if self.cautious && self.grams {
            return Err(invalid(
                "grams",
                "`cautious` and `grams` exclude each other (the reference drops `grams`)",
            ));
        }
        if self.split_groups_mean && !self.split_groups {
            return Err(invalid(
                "split_groups_mean",
                "only means something with `split_groups = true`",
            ));
        }
        if self.adam_atan2 && self.stableadamw == Some(true) {
            return Err(invalid(
                "stableadamw",
                "Adam-atan2 bounds the update itself; the reference turns StableAdamW off with it",
            ));
        }
        Ok(())
    }

    fn build(&self, n_params: usize) -> Result<ProdigyScheduleFree, OptimError> {
        self.validate()?;
        let mut opt = ProdigyScheduleFree {
            config: self.clone(),
            stableadamw: self.stableadamw.unwrap_or(!self.adam_atan2),
            n_params,
            tensors: Vec::new(),
            groups: Vec::new(),
            k: 1,
            started: false,
            z: Vec::new(),
            p0: Vec::new(),
            s: Vec::new(),
            eval: EvalSwitch::default(),
            scratch: Vec::new(),
            mask: Vec::new(),
        };
        opt.set_layout(&[vec![n_params]]);
        Ok(opt)
    }
}

/// One parameter tensor: where it sits in the flat vector, its slice of the `d` statistics
/// and its second moment.
#[derive(Debug, Clone)]
struct TensorState {
    start: usize,
    len: usize,
    /// Offset of its sampled coordinates (every [`SLICE`]-th) in `p0` and `s`.
    slice_start: usize,
    group: usize,
    moment: SecondMoment,
}

/// A tensor's second moment: full, or factored into row and column averages.
#[derive(Debug, Clone)]
enum SecondMoment {
    Full(Vec<f32>),
    Factored(Factored),
}

/// Adafactor's factored second moment, with the reference's axes: `dr` the largest dimension
/// and `dc` the second largest; `row` averages `g²` over `dr`, `col` over `dc` (each keeps
/// the collapsed axis with size 1); the denominator is `sqrt(row / mean(row) · col)`, the
/// mean taken over axis `reduce_dc` of `row` (`dc − 1` when `dc > dr`, as in the reference).
#[derive(Debug, Clone)]
struct Factored {
    shape: Vec<usize>,
    dr: usize,
    dc: usize,
    reduce_dc: usize,
    row: Vec<f32>,
    col: Vec<f32>,
}

/// Maps a row-major flat index of a tensor to its index once one axis is collapsed to size 1.
#[derive(Debug, Clone, Copy)]
struct Collapse {
    /// Entries after the axis (its stride).
    inner: usize,
    /// Entries of the axis and after.
    outer: usize,
}

impl Collapse {
    fn new(shape: &[usize], axis: usize) -> Self {
        let inner: usize = shape[axis + 1..].iter().product();
        Self {
            inner,
            outer: inner * shape[axis],
        }
    }

    fn index(self, i: usize) -> usize {
        (i / self.outer) * self.inner + i % self.inner
    }
}

impl Factored {
    /// The reference's `factored_dims`: `None` for fewer than two dimensions or when every
    /// dimension is below [`MIN_DIM_TO_FACTOR`].
    fn new(shape: &[usize]) -> Option<Self> {
        if shape.len() < 2 || shape.iter().all(|&d| d < MIN_DIM_TO_FACTOR) {
            return None;
        }
        // Python's `sorted` of (size, index) pairs: ties broken by the index.
        let mut order: Vec<(usize, usize)> = shape.iter().copied().zip(0..).collect();
        order.sort();
        let dr = order[order.len() - 1].1;
        let dc = order[order.len() - 2].1;
        let n: usize = shape.iter().product();
        Some(Self {
            shape: shape.to_vec(),
            dr,
            dc,
            reduce_dc: if dc > dr { dc - 1 } else { dc },
            row: vec![0.0; n / shape[dr]],
            col: vec![0.0; n / shape[dc]],
        })
    }

    /// `row ← β·row + w · mean_dr(g²)`, `col ← β·col + w · mean_dc(g²)`, each mean formed as
    /// the reference does: `norm(g)² · (1/n)`, the norm in `f32`.
    fn update(&mut self, g: &[f32], beta: f64, w: f64) {
        for (axis, acc) in [(self.dr, &mut self.row), (self.dc, &mut self.col)] {
            let collapse = Collapse::new(&self.shape, axis);
            let mut sq = vec![0.0f64; acc.len()];
            for (i, &g) in g.iter().enumerate() {
                sq[collapse.index(i)] += f64::from(g) * f64::from(g);
            }
            let inv_n = (1.0 / self.shape[axis] as f64) as f32;
            let (beta, w) = (beta as f32, w as f32);
            for (a, sq) in acc.iter_mut().zip(sq) {
                let norm = sq.sqrt() as f32;
                let mean = (norm * norm) * inv_n;
                *a = *a * beta + w * mean;
            }
        }
    }

    /// `sqrt(row / (mean over reduce_dc of row + 1e-30) · col)` into `out`.
    fn denominator(&self, out: &mut [f32]) {
        // The row's shape: `shape` with `dr` collapsed.
        let mut row_shape = self.shape.clone();
        row_shape[self.dr] = 1;
        let to_mean = Collapse::new(&row_shape, self.reduce_dc);
        let (to_row, to_col) = (
            Collapse::new(&self.shape, self.dr),
            Collapse::new(&self.shape, self.dc),
        );
        let mut means = vec![0.0f64; self.row.len() / row_shape[self.reduce_dc]];
        for (j, &r) in self.row.iter().enumerate() {
            means[to_mean.index(j)] += f64::from(r);
        }
        let count = row_shape[self.reduce_dc] as f64;
        let means: Vec<f32> = means.iter().map(|&m| (m / count) as f32 + 1e-30).collect();
        for (i, out) in out.iter_mut().enumerate() {
            let r = to_row.index(i);
            *out = ((self.row[r] / means[to_mean.index(r)]) * self.col[to_col.index(i)]).sqrt();
        }
    }
}

/// One group's `d` estimate (the whole model, or one tensor with `split_groups`).
#[derive(Debug, Clone)]
struct Group {
    d: f64,
    d_numerator: f64,
    /// Harmonic mean of every group's `d` (`split_groups_mean`), set after the first step.
    shared_d: Option<f64>,
    weight_sum: f64,
    /// This step's sums over the group's tensors, `f32` as the reference's tensors.
    running_numerator: f32,
    running_denominator: f32,
    /// Whether a tensor of the group took a step this step (ADOPT skips the first).
    stepped: bool,
}

/// Prodigy + Schedule-Free, matching `prodigy-plus-schedule-free` 2.0.1
/// `ProdigyPlusScheduleFree` (`use_schedulefree = True`, float32 parameters): Prodigy's
/// distance estimate (Mishchenko & Defazio 2023, *Prodigy: An Expeditiously Adaptive
/// Parameter-Free Learner*, arXiv:2306.06101) sets the step size of Schedule-Free AdamW
/// (Defazio et al. 2024, *The Road Less Scheduled*, arXiv:2405.15682), as in the authors'
/// AlgoPerf submission `schedule_free_prodigy` and packaged by LoganBooker.
///
/// Step `k = 1, 2, …` of a group with estimate `d`, lr multiplier `lr` and `dlr = d · lr`
/// (times RAdam's rectification with `bias_correction`); per tensor, `y` the parameters (the
/// training point), `z` the base sequence, `g` the gradient:
///
/// ```text
/// v ← β2·v + (1 − β2)·d²·g²                      (factored: row and column averages)
/// u = d·g / (sqrt(v) + d·eps)                     (Adam-atan2: atan2(d·g, sqrt(v)) / atan(1))
/// u ← u / sqrt(max(1, rms(u)))                    (StableAdamW, per tensor)
/// on every 11th coordinate ĝ, ẑ, with x̂_0 and ŝ in bfloat16:
///   r += d²/sqrt(d0) · ⟨ĝ, x̂_0 − ẑ⟩,   ŝ ← β3·ŝ + d²/sqrt(d0) · ĝ,   Σ += ‖ŝ‖₁
/// c = dlr² / Σ_{i ≤ k} dlr_i²   (· (1 − β1) · schedulefree_c, capped at 1, when set)
/// u ← u + weight_decay · y                        (weight_decay_by_lr)
/// y ← lerp(y, z, c) − dlr · (1 − β1 (1 − c)) · u,   z ← z − dlr · u
/// ```
///
/// and after every tensor, per group: `R ← β3 R + r` (`r` added only once positive or once
/// `d > d0`), `d̂ = R / Σ`, limited to `2^(1/4) d` with `d_limiter`, and `d ← max(d, d_coef · d̂)`.
/// The average `x` is not stored: [`Optimizer::prepare_eval`] puts
/// `x = lerp(y, z, 1 − 1/β1)` into the parameters, [`Optimizer::prepare_train`] the
/// training point `y` back. The effective learning rate is `dlr` (with `split_groups`, the
/// groups' `dlr` averaged by parameter count). Options: `cautious` and `grams` replace the
/// `y` update by a masked or sign-aligned one (the reference's Schedule-Free forms); `adopt`
/// takes the denominator before the current gradient and only initialises `v` at the first
/// step.
///
/// Hidden details of the reference reproduced here: `d` is estimated from every 11th
/// coordinate of each tensor, with `x_0` and `s` held in **bfloat16** and each tensor's
/// `‖ŝ‖₁` rounded to bfloat16; the StableAdamW factor is `1/sqrt(rms)`, not `1/rms`; the
/// factored mean runs over axis `dc − 1` when `dc > dr`; the statistics use the raw gradient
/// (no weight decay); the weight decay joins the update after the StableAdamW scaling; a Python
/// scalar multiplying a bfloat16 tensor is itself rounded to bfloat16 (PyTorch 1.13), so `s`
/// decays by `bf16(β3)`. One consequence worth knowing: at the first step `z = x_0`, so the
/// progress term is `⟨ĝ, bf16(x̂_0) − x̂_0⟩`, pure rounding noise; when it comes out positive,
/// `d` grows at once (by the limiter's `2^(1/4)` in the fixture's `defaults` case; 25× without
/// the limiter on another batch order), where Prodigy keeps `d0` for its first step.
///
/// **`d` keeps growing over long runs** (Prodigy's known failure, the reason for the
/// reference's `d_limiter` and `prodigy_steps`). `lrctl train --task logreg/breast-cancer
/// --method prodigy-sf --steps 20000` (28× the task's budget): the effective learning rate
/// climbs 0.73 (step 2,000) → 4.3 (6,000) → 13.8 (12,000) → 19.5 (20,000), and the validation
/// loss at the averaged point with it, 0.07 → 0.20 → 1.06 → 0.91, while the mini-batch
/// training loss stays below 0.21. Plain Prodigy on the same run: 0.11 → 0.31, validation 0.04–0.09. With
/// `prodigy_steps` `d` stops adapting at a chosen step.
///
/// Deviations: the reference drifts by a rounding at every `eval()`/`train()` pair (it
/// recomputes `y` from `x`); lrctl keeps `y` and restores it exactly, so evaluating never
/// changes training. A negative or non-finite `lr` counts as 0 (the reference rejects
/// `lr ≤ 0` at construction). Not implemented: `use_schedulefree = False` (a modified Prodigy;
/// lrctl has Prodigy), SPEED, OrthoGrad, FOCUS, bfloat16 parameters and stochastic rounding.
/// The tensors are those of the model ([`Optimizer::set_param_shapes`]); without them the
/// whole vector is one tensor (one slice, not factored).
#[derive(Debug, Clone)]
pub struct ProdigyScheduleFree {
    config: ProdigyScheduleFreeConfig,
    stableadamw: bool,
    n_params: usize,
    tensors: Vec<TensorState>,
    groups: Vec<Group>,
    /// The step about to be taken, 1-based (the reference's `k`).
    k: u64,
    started: bool,
    z: Vec<f32>,
    /// `x_0` on the sampled coordinates, bfloat16 values.
    p0: Vec<f32>,
    /// Prodigy's `s` on the sampled coordinates, bfloat16 values.
    s: Vec<f32>,
    /// The training point `y` while the parameters hold `x`.
    eval: EvalSwitch,
    scratch: Vec<f32>,
    mask: Vec<f32>,
}

impl ProdigyScheduleFree {
    /// The current estimate `d` of each group (one unless `split_groups`).
    pub fn d(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.d).collect()
    }

    fn set_layout(&mut self, shapes: &[Vec<usize>]) {
        let total: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
        assert_eq!(
            total, self.n_params,
            "parameter shapes do not cover the vector"
        );
        let new_group = |d0: f64| Group {
            d: d0,
            d_numerator: 0.0,
            shared_d: None,
            weight_sum: 0.0,
            running_numerator: 0.0,
            running_denominator: 0.0,
            stepped: false,
        };
        let (mut start, mut slice_start) = (0, 0);
        self.tensors.clear();
        for (i, shape) in shapes.iter().enumerate() {
            let len: usize = shape.iter().product();
            if len == 0 {
                continue;
            }
            let factored = if self.config.factored {
                Factored::new(shape)
            } else {
                None
            };
            self.tensors.push(TensorState {
                start,
                len,
                slice_start,
                group: if self.config.split_groups { i } else { 0 },
                moment: match factored {
                    Some(f) => SecondMoment::Factored(f),
                    None => SecondMoment::Full(vec![0.0; len]),
                },
            });
            start += len;
            slice_start += len.div_ceil(SLICE);
        }
        // Groups are numbered by tensor index; empty tensors leave unused groups behind.
        let n_groups = if self.config.split_groups {
            shapes.len().max(1)
        } else {
            1
        };
        self.groups = vec![new_group(self.config.d0); n_groups];
        self.p0 = vec![0.0; slice_start];
        self.s = vec![0.0; slice_start];
    }

    fn switch_to_train(&mut self, params: &mut [f32]) {
        self.eval.enter_train(params);
    }

    /// The step of one tensor (everything but the end-of-step `d` update).
    #[allow(clippy::too_many_arguments)]
    fn step_tensor(
        &mut self,
        t: usize,
        y: &mut [f32],
        grads: &[f32],
        beta2: f64,
        dlr: f64,
        rho_t: f64,
        ckp1: f64,
    ) {
        let cfg = &self.config;
        let [beta1, _] = cfg.betas;
        let beta3 = cfg.beta3.unwrap_or_else(|| cfg.betas[1].sqrt());
        let tensor = &mut self.tensors[t];
        let (start, len) = (tensor.start, tensor.len);
        let group = &mut self.groups[tensor.group];
        let d = group.d;
        let g = &grads[start..start + len];
        let z = &mut self.z[start..start + len];
        let u = &mut self.scratch[..len];
        let w2 = (1.0 - beta2) * d * d;

        // The second moment and the denominator (into `u`).
        if cfg.adopt && self.k == 1 {
            // ADOPT's first step only initialises the second moment (with β2 = 0).
            match &mut tensor.moment {
                SecondMoment::Full(v) => {
                    let w = (d * d) as f32;
                    for (v, &g) in v.iter_mut().zip(g) {
                        *v = *v * 0.0 + (w * g) * g;
                    }
                }
                SecondMoment::Factored(f) => f.update(g, 0.0, d * d),
            }
            return;
        }
        match &mut tensor.moment {
            SecondMoment::Full(v) => {
                let (b2, w2) = (beta2 as f32, w2 as f32);
                for ((u, v), &g) in u.iter_mut().zip(v.iter_mut()).zip(g) {
                    let before = v.sqrt();
                    *v = *v * b2 + (w2 * g) * g;
                    *u = if cfg.adopt { before } else { v.sqrt() };
                }
            }
            SecondMoment::Factored(f) => {
                if cfg.adopt {
                    f.denominator(u);
                    f.update(g, beta2, w2);
                } else {
                    f.update(g, beta2, w2);
                    f.denominator(u);
                }
            }
        }
        // The update.
        if cfg.bias_correction && rho_t <= 4.0 {
            u.copy_from_slice(g);
        } else {
            let df = d as f32;
            if cfg.adam_atan2 {
                for (u, &g) in u.iter_mut().zip(g) {
                    *u = (g * df).atan2(*u) * ATAN2_SCALE;
                }
            } else {
                let deps = (d * cfg.eps) as f32;
                for (u, &g) in u.iter_mut().zip(g) {
                    *u = (g * df) / (*u + deps);
                }
            }
        }
        if self.stableadamw {
            let sq: f64 = u.iter().map(|&u| f64::from(u) * f64::from(u)).sum();
            let rms = ((sq.sqrt() as f32) / ((len as f64).sqrt() as f32)).max(1.0);
            let factor = 1.0 / rms.sqrt();
            for u in u.iter_mut() {
                *u *= factor;
            }
        }
        // Prodigy's statistics, on the sampled coordinates of the raw gradient and `z`.
        if cfg.prodigy_steps == 0 || self.k < cfg.prodigy_steps {
            let d_update = d * d / cfg.d0.sqrt();
            // PyTorch 1.13 rounds a Python scalar multiplying a bfloat16 tensor to bfloat16.
            let (b3, du) = (bf16(beta3 as f32), d_update as f32);
            let slice = tensor.slice_start..tensor.slice_start + len.div_ceil(SLICE);
            let (p0, s) = (&self.p0[slice.clone()], &mut self.s[slice]);
            let (mut dot, mut s_l1) = (0.0f64, 0.0f64);
            for (j, (&p0, s)) in p0.iter().zip(s.iter_mut()).enumerate() {
                let (gi, zi) = (g[j * SLICE], z[j * SLICE]);
                dot += f64::from(gi) * f64::from(p0 - zi);
                *s = bf16(bf16(*s * b3) + du * gi);
                s_l1 += f64::from(s.abs());
            }
            group.running_numerator += du * dot as f32;
            group.running_denominator += bf16(s_l1 as f32);
        }
        // Schedule-Free's interpolation and the steps of `y` and `z`.
        group.stepped = true;
        let decay = cfg.weight_decay;
        let xy_step = 1.0 - beta1 * (1.0 - ckp1);
        if decay != 0.0 && cfg.weight_decay_by_lr {
            let wd = decay as f32;
            for (u, &y) in u.iter_mut().zip(y.iter()) {
                *u += wd * y;
            }
        }
        let decay_at_y = decay != 0.0 && !cfg.weight_decay_by_lr;
        if decay_at_y {
            self.mask.clear();
            self.mask.extend_from_slice(y);
        }
        let (c, step_z, step_y) = (ckp1 as f32, dlr as f32, (dlr * xy_step) as f32);
        if cfg.cautious || cfg.grams {
            let mask = &mut self.mask;
            if decay_at_y {
                // `mask` holds the decay's copy of `y`; the cautious mask needs its own.
                mask.resize(2 * len, 0.0);
            } else {
                mask.resize(len, 0.0);
            }
            let (y_wd, m) = mask.split_at_mut(if decay_at_y { len } else { 0 });
            let m = &mut m[..len];
            // `m` = (y − z)·c + dlr·xy_step·u, from `z` before its step.
            for (((m, &y), z), &u) in m.iter_mut().zip(y.iter()).zip(z.iter_mut()).zip(&*u) {
                *m = (y - *z) * c + step_y * u;
                *z -= step_z * u;
            }
            if cfg.cautious {
                let mut aligned = 0.0f64;
                for (&m, u) in m.iter().zip(u.iter_mut()) {
                    *u = if u.is_nan() || m.is_nan() {
                        f32::NAN
                    } else if *u * m > 0.0 {
                        1.0
                    } else {
                        0.0
                    };
                    aligned += f64::from(*u);
                }
                let mean = ((aligned / len as f64) as f32).max(1e-3);
                for (m, &u) in m.iter_mut().zip(u.iter()) {
                    *m *= u / mean;
                }
            } else {
                for (m, &u) in m.iter_mut().zip(u.iter()) {
                    *m = m.abs() * sign(u);
                }
            }
            for (y, &m) in y.iter_mut().zip(m.iter()) {
                *y -= m;
            }
            if decay_at_y {
                apply_decay_at_y(y, z, y_wd, decay, xy_step);
            }
        } else {
            for ((y, z), &u) in y.iter_mut().zip(z.iter_mut()).zip(&*u) {
                *y = lerp(*y, *z, c);
                *z -= step_z * u;
                *y -= step_y * u;
            }
            if decay_at_y {
                apply_decay_at_y(y, z, &self.mask[..len], decay, xy_step);
            }
        }
    }
}

/// `torch.sign` in `f32`: ±1, 0 at 0, NaN for NaN.
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// Weight decay not scaled by the step size: `z ← z − wd·y_old`, `y ← y − wd·xy_step·y_old`.
fn apply_decay_at_y(y: &mut [f32], z: &mut [f32], y_old: &[f32], decay: f64, xy_step: f64) {
    let (wz, wy) = (decay as f32, (decay * xy_step) as f32);
    for ((y, z), &yo) in y.iter_mut().zip(z.iter_mut()).zip(y_old) {
        *z -= wz * yo;
        *y -= wy * yo;
    }
}

/// RAdam's rectification at step `k`: `(rect, β2 debiased, ρ_k)`, as the reference's
/// `get_bias_correction`.
fn rectification(beta2: f64, k: u64) -> (f64, f64, f64) {
    let r = Rectification::new(beta2, k);
    (r.rect, 1.0 - (1.0 - beta2) / r.bias_correction2, r.rho_t)
}

/// Python's `statistics.harmonic_mean` of positive values.
fn harmonic_mean(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count() as f64;
    n / values.map(|v| 1.0 / v).sum::<f64>()
}

impl Optimizer for ProdigyScheduleFree {
    name_and_snapshot!(ProdigyScheduleFreeConfig);

    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        // The layout is fixed once the state exists.
        if !self.started {
            self.set_layout(shapes);
        }
    }

    fn prepare_eval(&mut self, params: &mut [f32]) {
        if !self.started {
            return;
        }
        let (z, beta1) = (&self.z, self.config.betas[0]);
        self.eval
            .enter_eval(params, |y| average_from_y(y, z, beta1));
    }

    fn prepare_train(&mut self, params: &mut [f32]) {
        self.switch_to_train(params);
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        assert_eq!(
            params.len(),
            self.n_params,
            "parameter vector length changed"
        );
        assert_eq!(
            grads.len(),
            params.len(),
            "gradient length != parameter length"
        );
        self.switch_to_train(params);
        if !self.started {
            self.z = params.to_vec();
            for t in &self.tensors {
                let p = &params[t.start..t.start + t.len];
                for (j, p0) in self.p0[t.slice_start..t.slice_start + t.len.div_ceil(SLICE)]
                    .iter_mut()
                    .enumerate()
                {
                    *p0 = bf16(p[j * SLICE]);
                }
            }
            let longest = self.tensors.iter().map(|t| t.len).max().unwrap_or(0);
            self.scratch = vec![0.0; longest];
            self.started = true;
        }
        let lr = usable_lr(lr);
        let cfg = self.config.clone();
        let [beta1, beta2] = cfg.betas;
        // Per group: dlr, the (possibly debiased) β2, ρ_k and the averaging weight.
        let per_group: Vec<(f64, f64, f64, f64)> = self
            .groups
            .iter()
            .map(|g| {
                let d = match g.shared_d {
                    Some(shared) if cfg.split_groups_mean => shared,
                    _ => g.d,
                };
                let mut dlr = d * lr;
                let (mut b2, mut rho_t) = (beta2, f64::INFINITY);
                if cfg.bias_correction {
                    let (rect, debiased, rho) = rectification(beta2, self.k);
                    dlr *= rect;
                    (b2, rho_t) = (debiased, rho);
                }
                let weight = dlr * dlr;
                let weight_sum = g.weight_sum + weight;
                let mut ckp1 = averaging_coefficient(weight, weight_sum);
                if cfg.schedulefree_c > 0.0 {
                    ckp1 = (ckp1 * (1.0 - beta1) * cfg.schedulefree_c).min(1.0);
                }
                (dlr, b2, rho_t, ckp1)
            })
            .collect();
        for t in 0..self.tensors.len() {
            let (start, len, group) = {
                let t = &self.tensors[t];
                (t.start, t.len, t.group)
            };
            let (dlr, b2, rho_t, ckp1) = per_group[group];
            self.step_tensor(
                t,
                &mut params[start..start + len],
                grads,
                b2,
                dlr,
                rho_t,
                ckp1,
            );
        }
        // The end of the step: each group's `d` for the next one.
        let beta3 = cfg.beta3.unwrap_or_else(|| beta2.sqrt());
        let adapting = cfg.prodigy_steps == 0 || self.k < cfg.prodigy_steps;
        for (group, &(dlr, ..)) in self.groups.iter_mut().zip(&per_group) {
            if adapting {
                let running = f64::from(group.running_numerator);
                let mut numerator = group.d_numerator * beta3;
                // The reference keeps early negative progress out of the numerator.
                if group.d > cfg.d0 || running > 0.0 {
                    numerator += running;
                }
                group.d_numerator = numerator;
                let denominator = f64::from(group.running_denominator);
                if denominator > 0.0 {
                    let mut d_hat = numerator / denominator;
                    if cfg.d_limiter {
                        d_hat = d_hat.min(group.d * 2f64.powf(0.25));
                    }
                    group.d = group.d.max(d_hat * cfg.d_coef);
                }
                group.running_numerator = 0.0;
                group.running_denominator = 0.0;
            }
            if group.stepped {
                group.weight_sum += dlr * dlr;
                group.stepped = false;
            }
        }
        if cfg.split_groups && cfg.split_groups_mean {
            let used: Vec<usize> = self.tensors.iter().map(|t| t.group).collect();
            let mean = harmonic_mean(used.iter().map(|&g| self.groups[g].d));
            for &g in &used {
                self.groups[g].shared_d = Some(mean);
            }
        }
        let skipped = cfg.adopt && self.k == 1;
        self.k += 1;
        if skipped {
            // ADOPT's first step only initialised the second moment.
            return StepInfo { effective_lr: 0.0 };
        }
        // The effective learning rate: dlr, averaged over the groups by parameter count.
        let weighted: f64 = self
            .tensors
            .iter()
            .map(|t| per_group[t.group].0 * t.len as f64)
            .sum();
        StepInfo {
            effective_lr: weighted / self.n_params.max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factored_axes_follow_the_reference() {
        // [3, 40]: dr = 1 (40), dc = 0 (3); rows average over the 40 columns.
        let f = Factored::new(&[3, 40]).unwrap();
        assert_eq!(
            (f.dr, f.dc, f.reduce_dc, f.row.len(), f.col.len()),
            (1, 0, 0, 3, 40)
        );
        // [40, 3]: dr = 0, dc = 1 > dr, so the mean runs over axis 0 of a [1, 3] row: itself.
        let f = Factored::new(&[40, 3]).unwrap();
        assert_eq!((f.dr, f.dc, f.reduce_dc), (0, 1, 0));
        assert!(Factored::new(&[31, 31]).is_none());
        assert!(Factored::new(&[64]).is_none());
    }

    #[test]
    fn factored_denominator_is_exact_for_a_rank_one_square() {
        // g² = a_i b_j is rank one: the factored estimate reproduces it.
        let (a, b) = ([1.0f32, 4.0], [1.0f32; 32]);
        let mut f = Factored::new(&[2, 32]).unwrap();
        let g: Vec<f32> = (0..64).map(|i| (a[i / 32] * b[i % 32]).sqrt()).collect();
        f.update(&g, 0.0, 1.0);
        let mut out = vec![0.0; 64];
        f.denominator(&mut out);
        for (o, &g) in out.iter().zip(&g) {
            assert!((o - g.abs()).abs() < 1e-6, "{o} vs {g}");
        }
    }

    #[test]
    fn evaluation_point_round_trips_exactly() {
        let mut opt = ProdigyScheduleFreeConfig::default().build(4).unwrap();
        let mut y = vec![1.0f32, -2.0, 0.5, 3.0];
        for t in 0..5 {
            let g: Vec<f32> = y.iter().map(|&v| v - 0.1 * t as f32).collect();
            opt.step(&mut y, &g, 1.0);
        }
        let before = y.clone();
        opt.prepare_eval(&mut y);
        assert_ne!(y, before, "x differs from y once d has moved z");
        opt.prepare_eval(&mut y);
        opt.prepare_train(&mut y);
        assert_eq!(y, before);
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: ProdigyScheduleFreeConfig| c.validate().unwrap_err().to_string();
        let d = ProdigyScheduleFreeConfig::default();
        assert!(
            err(ProdigyScheduleFreeConfig {
                betas: [0.0, 0.99],
                ..d.clone()
            })
            .contains("`betas[0]`")
        );
        assert!(
            err(ProdigyScheduleFreeConfig {
                cautious: true,
                grams: true,
                ..d.clone()
            })
            .contains("`grams`")
        );
        assert!(
            err(ProdigyScheduleFreeConfig {
                split_groups_mean: true,
                ..d.clone()
            })
            .contains("`split_groups_mean`")
        );
        assert!(
            err(ProdigyScheduleFreeConfig {
                adam_atan2: true,
                stableadamw: Some(true),
                ..d.clone()
            })
            .contains("`stableadamw`")
        );
        assert!(err(ProdigyScheduleFreeConfig { d0: 0.0, ..d }).contains("`d0`"));
    }
}
