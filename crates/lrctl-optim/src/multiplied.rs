//! Per-coordinate learning-rate multipliers over any base optimizer: what µP's per-layer
//! learning rates (Yang et al. 2022, Tensor Programs V, Table 3) need over lrctl's one flat
//! parameter vector.
//!
//! The wrapper lets the base take its step, then scales each coordinate's displacement by its
//! multiplier: `x ← x_before + m ⊙ (x_after − x_before)`. That is the least invasive place (no
//! update rule changes) and it is exact wherever the step is the learning rate times something
//! the learning rate does not change: SGD (with momentum, Nesterov and coupled weight decay:
//! the buffer holds gradients, not steps), Adam and AdamW (decoupled weight decay is scaled by
//! the learning rate too, as in the authors' `MuAdamW`). It is *not* equivalent for optimizers
//! that set their own step size (D-Adaptation, Prodigy, COCOB, DoG, Mechanic, …: their state
//! reads the distance travelled, which the wrapper changes behind their back) nor for
//! Schedule-Free's interpolated iterates; [`Multiplied::new`] is only meant for the first kind
//! and `lrctl_engine::parametrize` refuses the others.

use crate::{Optimizer, StepInfo};

/// A base optimizer whose step is scaled per coordinate.
pub struct Multiplied {
    base: Box<dyn Optimizer>,
    multipliers: Vec<f32>,
    before: Vec<f32>,
}

impl Multiplied {
    /// `base` with one multiplier per coordinate of the parameter vector.
    pub fn new(base: Box<dyn Optimizer>, multipliers: Vec<f32>) -> Multiplied {
        Multiplied {
            before: Vec::with_capacity(multipliers.len()),
            base,
            multipliers,
        }
    }
}

impl Optimizer for Multiplied {
    fn name(&self) -> &'static str {
        self.base.name()
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        assert_eq!(
            params.len(),
            self.multipliers.len(),
            "one multiplier per parameter"
        );
        self.before.clear();
        self.before.extend_from_slice(params);
        let info = self.base.step(params, grads, lr);
        for ((p, &b), &m) in params.iter_mut().zip(&self.before).zip(&self.multipliers) {
            *p = b + m * (*p - b);
        }
        info
    }

    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        self.base.set_param_shapes(shapes);
    }

    fn observe_loss(&mut self, loss: f64) {
        self.base.observe_loss(loss);
    }

    fn snapshot(&self) -> Option<Box<dyn Optimizer>> {
        Some(Box::new(Multiplied {
            base: self.base.snapshot()?,
            multipliers: self.multipliers.clone(),
            before: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OptimizerSpec;

    fn spec(json: &str) -> OptimizerSpec {
        serde_json::from_str(json).unwrap()
    }

    /// With multipliers (1, 0.25), each coordinate moves as the base would at `lr × m`: SGD
    /// with momentum and AdamW with decoupled weight decay, over a few steps.
    #[test]
    fn scaling_the_step_is_a_per_coordinate_learning_rate() {
        for json in [
            r#"{"kind":"sgd","momentum":0.9}"#,
            r#"{"kind":"adamw","weight_decay":0.1}"#,
        ] {
            let s = spec(json);
            let mut wrapped = Multiplied::new(s.build(2).unwrap(), vec![1.0, 0.25]);
            let (mut full, mut quarter) = (s.build(2).unwrap(), s.build(2).unwrap());
            let mut p = vec![1.0f32, -2.0];
            let (mut a, mut b) = (p.clone(), p.clone());
            for k in 0..5 {
                let g = [0.3 + k as f32 * 0.1, -0.7 + k as f32 * 0.2];
                wrapped.step(&mut p, &g, 0.1);
                full.step(&mut a, &g, 0.1);
                quarter.step(&mut b, &g, 0.025);
            }
            assert!((p[0] - a[0]).abs() < 1e-6, "{json}: {p:?} {a:?}");
            assert!((p[1] - b[1]).abs() < 1e-6, "{json}: {p:?} {b:?}");
        }
    }
}
