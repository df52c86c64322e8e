//! Global gradient statistics, computed in one pass over the flat gradient.

use lrctl_control::GradStats;

/// Global L2 norm of `grad` (see `sum_sq` for the accumulation); [`grad_stats`] reports the
/// same value.
pub fn grad_norm(grad: &[f32]) -> f64 {
    sum_sq(grad).sqrt()
}

/// `Σ g²`: eight `f32` lanes over blocks of 512 values (vectorised, AVX2 where available),
/// each block's partial sum added in `f64`. The relative error is about 1e-6 at worst, far
/// below what a norm used for control and plotting needs, at a fraction of the cost of
/// converting every value to `f64` (the norm is computed at every step of every run).
fn sum_sq(grad: &[f32]) -> f64 {
    lrctl_optim::moments::simd(|| {
        grad.chunks(512)
            .map(|block| {
                let mut acc = [0.0f32; 8];
                let lanes = block.chunks_exact(8);
                let tail: f32 = lanes.remainder().iter().map(|g| g * g).sum();
                for c in lanes {
                    for l in 0..8 {
                        acc[l] += c[l] * c[l];
                    }
                }
                f64::from(acc.iter().sum::<f32>() + tail)
            })
            .sum()
    })
}

/// Whether every value is finite (one branch-free pass per block, so it vectorises).
pub fn all_finite(x: &[f32]) -> bool {
    lrctl_optim::moments::simd(|| {
        x.chunks(256)
            .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite()))
    })
}

/// Statistics of `grad` relative to the previous gradient and update.
///
/// `prev_grad` is empty at the first step. `prev_update` is `θ_t − θ_{t−1}`; the previous
/// update *direction* is `−prev_update / prev_lr`, which is what hypergradient descent needs.
pub fn grad_stats(
    grad: &[f32],
    prev_grad: &[f32],
    prev_update: &[f32],
    prev_lr: Option<f64>,
) -> GradStats {
    let gg = sum_sq(grad);
    let [gp, pp, gu, uu] = if prev_grad.len() == grad.len() {
        sums4(grad, prev_grad, prev_update)
    } else {
        [0.0; 4]
    };
    let first = prev_grad.len() != grad.len();
    let norm = gg.sqrt();
    GradStats {
        norm,
        cos_prev: (!first && norm > 0.0 && pp > 0.0).then(|| gp / (norm * pp.sqrt())),
        dot_prev_direction: match prev_lr {
            Some(lr) if !first && lr > 0.0 => Some(-gu / lr),
            _ => None,
        },
        prev_update_norm: (!first).then(|| uu.sqrt()),
        // The parameters are not among the inputs; the engine adds their norm.
        param_norm: None,
    }
}

/// `[Σg·p, Σp², Σg·u, Σu²]` in one pass, with [`lrctl_optim::reduce::LANES`] independent
/// partial sums per statistic (see `lrctl_optim::reduce` for why).
fn sums4(grad: &[f32], prev: &[f32], update: &[f32]) -> [f64; 4] {
    const L: usize = lrctl_optim::reduce::LANES;
    assert!(grad.len() == prev.len() && grad.len() == update.len());
    let mut acc = [[0.0f64; L]; 4];
    let (cg, cp, cu) = (
        grad.chunks_exact(L),
        prev.chunks_exact(L),
        update.chunks_exact(L),
    );
    let terms = |g: f32, p: f32, u: f32| {
        let (g, p, u) = (f64::from(g), f64::from(p), f64::from(u));
        [g * p, p * p, g * u, u * u]
    };
    let mut tail = [0.0f64; 4];
    for ((&g, &p), &u) in cg
        .remainder()
        .iter()
        .zip(cp.remainder())
        .zip(cu.remainder())
    {
        for (t, x) in tail.iter_mut().zip(terms(g, p, u)) {
            *t += x;
        }
    }
    for ((g, p), u) in cg.zip(cp).zip(cu) {
        for l in 0..L {
            let x = terms(g[l], p[l], u[l]);
            for k in 0..4 {
                acc[k][l] += x[k];
            }
        }
    }
    std::array::from_fn(|k| acc[k].iter().sum::<f64>() + tail[k])
}

#[cfg(test)]
mod tests {

    #[test]
    fn all_finite_finds_every_kind_of_non_finite_value_anywhere() {
        let n = 1029; // two full blocks, a partial one, and a tail that is not a multiple of 8
        let mut x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 1e3).collect();
        x[5] = f32::MAX;
        x[6] = -f32::MAX;
        x[7] = f32::MIN_POSITIVE / 4.0; // subnormal
        x[8] = -0.0;
        assert!(all_finite(&x));
        assert!(all_finite(&[]));
        for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 7, 511, 512, 1023, 1024, n - 1] {
                let mut y = x.clone();
                y[at] = bad;
                assert!(!all_finite(&y), "{bad} at {at}");
            }
        }
    }

    use super::*;

    #[test]
    fn one_norm_with_and_without_history() {
        let g: Vec<f32> = (0..1037).map(|i| (i as f32 * 0.37).sin()).collect();
        let p: Vec<f32> = (0..1037).map(|i| (i as f32 * 0.11).cos()).collect();
        let s = grad_stats(&g, &p, &p, Some(0.1));
        assert_eq!(s.norm, grad_norm(&g));
        let exact: f64 = g
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        assert!(
            (s.norm - exact).abs() <= 1e-6 * exact,
            "{} vs {exact}",
            s.norm
        );
        let gp: f64 = g
            .iter()
            .zip(&p)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let pp: f64 = p.iter().map(|&b| f64::from(b) * f64::from(b)).sum();
        let cos = gp / (exact * pp.sqrt());
        assert!((s.cos_prev.unwrap() - cos).abs() < 1e-6);
    }

    #[test]
    fn first_step_has_only_the_norm() {
        let s = grad_stats(&[3.0, 4.0], &[], &[0.0, 0.0], None);
        assert_eq!(s.norm, 5.0);
        assert_eq!(s.cos_prev, None);
        assert_eq!(s.dot_prev_direction, None);
        assert_eq!(s.prev_update_norm, None);
    }

    #[test]
    fn cosine_and_direction() {
        // Previous step: SGD with lr 0.5 on gradient (1, 0) moved θ by (-0.5, 0).
        let s = grad_stats(&[0.0, 2.0], &[1.0, 0.0], &[-0.5, 0.0], Some(0.5));
        assert_eq!(s.cos_prev, Some(0.0));
        assert_eq!(s.dot_prev_direction, Some(0.0));
        let s = grad_stats(&[2.0, 0.0], &[1.0, 0.0], &[-0.5, 0.0], Some(0.5));
        assert_eq!(s.cos_prev, Some(1.0));
        // direction = (1, 0), g·d = 2
        assert_eq!(s.dot_prev_direction, Some(2.0));
        assert_eq!(s.prev_update_norm, Some(0.5));
    }
}
