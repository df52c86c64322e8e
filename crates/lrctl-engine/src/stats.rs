//! Global gradient statistics, computed in one pass over the flat gradient.

use lrctl_control::GradStats;

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
    let (mut gg, mut gp, mut pp, mut gu, mut uu) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    if prev_grad.len() == grad.len() {
        for ((&g, &p), &u) in grad.iter().zip(prev_grad).zip(prev_update) {
            let (g, p, u) = (f64::from(g), f64::from(p), f64::from(u));
            gg += g * g;
            gp += g * p;
            pp += p * p;
            gu += g * u;
            uu += u * u;
        }
    } else {
        gg = grad.iter().map(|&g| f64::from(g) * f64::from(g)).sum();
    }
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
