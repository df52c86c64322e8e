//! Global gradient statistics, computed in one pass over the flat gradient.

use lrctl_control::GradStats;

/// Global L2 norm of `grad` (accumulated in `f64`).
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
    let [gg, gp, pp, gu, uu] = if prev_grad.len() == grad.len() {
        sums5(grad, prev_grad, prev_update)
    } else {
        [sum_sq(grad), 0.0, 0.0, 0.0, 0.0]
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
    }
}

/// `[Σg², Σg·p, Σp², Σg·u, Σu²]` in one pass, with [`lrctl_optim::reduce::LANES`]
/// independent partial sums per statistic (see `lrctl_optim::reduce` for why).
fn sums5(grad: &[f32], prev: &[f32], update: &[f32]) -> [f64; 5] {
    const L: usize = lrctl_optim::reduce::LANES;
    assert!(grad.len() == prev.len() && grad.len() == update.len());
    let mut acc = [[0.0f64; L]; 5];
    let (cg, cp, cu) = (
        grad.chunks_exact(L),
        prev.chunks_exact(L),
        update.chunks_exact(L),
    );
    let mut tail = [0.0f64; 5];
    for ((&g, &p), &u) in cg
        .remainder()
        .iter()
        .zip(cp.remainder())
        .zip(cu.remainder())
    {
        let (g, p, u) = (f64::from(g), f64::from(p), f64::from(u));
        tail[0] += g * g;
        tail[1] += g * p;
        tail[2] += p * p;
        tail[3] += g * u;
        tail[4] += u * u;
    }
    for ((g, p), u) in cg.zip(cp).zip(cu) {
        for l in 0..L {
            let (g, p, u) = (f64::from(g[l]), f64::from(p[l]), f64::from(u[l]));
            acc[0][l] += g * g;
            acc[1][l] += g * p;
            acc[2][l] += p * p;
            acc[3][l] += g * u;
            acc[4][l] += u * u;
        }
    }
    let mut out = [0.0f64; 5];
    for k in 0..5 {
        out[k] = acc[k].iter().sum::<f64>() + tail[k];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
