//! Probe meta-features: a short, cheap run with a reference method describes how a task trains.
//!
//! The probe trains `adam-fixed` (AdamW, constant 1e-3) for a few steps, recording every step,
//! and summarises the log-loss trajectory and the gradient norms. In the spirit of landmarking
//! (Pfahringer et al. 2000) and of learning-curve meta-features for algorithm selection; the
//! cost (steps and seconds) is recorded so selection can be charged for it.

use std::time::Instant;

use lrctl_engine::RunOptions;
use lrctl_tasks::Task;

use crate::WrapError;

/// Names of the probe features, in column order.
pub fn names() -> Vec<&'static str> {
    columns(None).into_iter().map(|(n, _)| n).collect()
}

/// The probe features as (name, value) columns; `None`: every value missing (NaN).
fn columns(values: Option<ProbeValues>) -> [(&'static str, f64); 6] {
    let v = values.unwrap_or(ProbeValues {
        log_loss_slope: f64::NAN,
        log_loss_curvature: f64::NAN,
        relative_loss_drop: f64::NAN,
        loss_noise: f64::NAN,
        log_grad_norm: f64::NAN,
        grad_norm_trend: f64::NAN,
    });
    [
        ("probe_log_loss_slope", v.log_loss_slope),
        ("probe_log_loss_curvature", v.log_loss_curvature),
        ("probe_relative_loss_drop", v.relative_loss_drop),
        ("probe_loss_noise", v.loss_noise),
        ("probe_log_grad_norm", v.log_grad_norm),
        ("probe_grad_norm_trend", v.grad_norm_trend),
    ]
}

/// What a probe measures (see [`features`]).
struct ProbeValues {
    log_loss_slope: f64,
    log_loss_curvature: f64,
    relative_loss_drop: f64,
    loss_noise: f64,
    log_grad_norm: f64,
    grad_norm_trend: f64,
}

/// The reference method of the probe.
pub const PROBE_METHOD: &str = "adam-fixed";

/// A probe's features and what it cost.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Values in [`names`] order (NaN when the probe diverged).
    pub features: Vec<f64>,
    /// Optimizer steps spent.
    pub steps: u64,
    /// Wall seconds spent (model building, training and the small final evaluation).
    pub seconds: f64,
}

/// Least-squares polynomial fit of degree 1 or 2 to (x, y); coefficients low to high.
fn polyfit(x: &[f64], y: &[f64], degree: usize) -> Option<Vec<f64>> {
    let k = degree + 1;
    if x.len() < k {
        return None;
    }
    // Normal equations (k ≤ 3), solved by Gaussian elimination with partial pivoting.
    let mut a = vec![vec![0.0; k + 1]; k];
    for (&xi, &yi) in x.iter().zip(y) {
        let pows: Vec<f64> = (0..k).map(|p| xi.powi(p as i32)).collect();
        for r in 0..k {
            for c in 0..k {
                a[r][c] += pows[r] * pows[c];
            }
            a[r][k] += pows[r] * yi;
        }
    }
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        a.swap(col, pivot);
        if a[col][col].abs() < 1e-12 {
            return None;
        }
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

/// Summarises a per-step trajectory of (loss, gradient norm) into the probe features, in
/// [`names`] order.
pub fn features(losses: &[f64], grad_norms: &[f64]) -> Vec<f64> {
    columns(measure(losses, grad_norms))
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

fn measure(losses: &[f64], grad_norms: &[f64]) -> Option<ProbeValues> {
    let n = losses.len();
    let nan = None;
    if n < 4
        || losses
            .iter()
            .chain(grad_norms)
            .any(|v| !v.is_finite() || *v <= 0.0)
    {
        return nan;
    }
    let t: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
    let log_loss: Vec<f64> = losses.iter().map(|l| l.ln()).collect();
    let log_grad: Vec<f64> = grad_norms.iter().map(|g| g.ln()).collect();
    let (Some(line), Some(quad), Some(grad_line)) = (
        polyfit(&t, &log_loss, 1),
        polyfit(&t, &log_loss, 2),
        polyfit(&t, &log_grad, 1),
    ) else {
        return nan;
    };
    let residual_sd = {
        let ss: f64 = t
            .iter()
            .zip(&log_loss)
            .map(|(&x, &y)| {
                let fit = quad[0] + quad[1] * x + quad[2] * x * x;
                (y - fit) * (y - fit)
            })
            .sum();
        (ss / (n as f64 - 3.0).max(1.0)).sqrt()
    };
    let w = (n / 5).max(1);
    let head = losses[..w].iter().sum::<f64>() / w as f64;
    let tail = losses[n - w..].iter().sum::<f64>() / w as f64;
    Some(ProbeValues {
        log_loss_slope: line[1],
        log_loss_curvature: quad[2],
        relative_loss_drop: 1.0 - tail / head,
        loss_noise: residual_sd,
        log_grad_norm: log_grad.iter().sum::<f64>() / n as f64,
        grad_norm_trend: grad_line[1],
    })
}

/// Runs the probe on a prepared task: `steps` steps of [`PROBE_METHOD`] with seed `seed`.
pub fn probe(task: &dyn Task, steps: u64, seed: u64) -> Result<Probe, WrapError> {
    let start = Instant::now();
    let method = lrctl_method::find(PROBE_METHOD)?;
    let mut spec = task.spec().clone();
    spec.curve_points = steps.max(1) as u32;
    spec.evals = 1;
    let probe_task = ProbeTask { inner: task, spec };
    let options = RunOptions {
        seed,
        steps: Some(steps.max(1)),
        progress: None,
        cancel: None,
        eval_limit: Some(64),
    };
    let result = lrctl_engine::with_threads(1, || {
        lrctl_engine::train_method(&probe_task, &method, &options)
    })?
    .ok_or_else(|| WrapError::Invalid("the probe was cancelled".into()))?;
    let losses: Vec<f64> = result.curve.iter().map(|p| p.train_loss).collect();
    let grads: Vec<f64> = result.curve.iter().map(|p| p.grad_norm).collect();
    Ok(Probe {
        features: features(&losses, &grads),
        steps: result.steps,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// A task with its spec overridden (curve every step, one evaluation) for the probe.
struct ProbeTask<'a> {
    inner: &'a dyn Task,
    spec: lrctl_tasks::TaskSpec,
}

impl Task for ProbeTask<'_> {
    fn spec(&self) -> &lrctl_tasks::TaskSpec {
        &self.spec
    }

    fn summary(&self) -> lrctl_tasks::DataSummary {
        self.inner.summary()
    }

    fn instantiate(
        &self,
        seed: u64,
        device: &lrctl_tasks::Device,
    ) -> Result<Box<dyn lrctl_tasks::Workload>, lrctl_tasks::TaskError> {
        self.inner.instantiate(seed, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polyfit_recovers_a_quadratic() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 1.0 - 2.0 * v + 0.5 * v * v).collect();
        let c = polyfit(&x, &y, 2).unwrap();
        assert!((c[0] - 1.0).abs() < 1e-9 && (c[1] + 2.0).abs() < 1e-9);
        assert!((c[2] - 0.5).abs() < 1e-9);
    }

    #[test]
    fn features_of_an_exponential_decay() {
        // loss = 2 · e^{-3t}: log-slope −3, no curvature, no noise; constant gradient norm.
        let n = 21;
        let losses: Vec<f64> = (0..n)
            .map(|i| 2.0 * (-3.0 * i as f64 / (n - 1) as f64).exp())
            .collect();
        let grads = vec![0.5; n];
        let f = features(&losses, &grads);
        assert!((f[0] + 3.0).abs() < 1e-9, "{f:?}");
        assert!(f[1].abs() < 1e-9 && f[3] < 1e-9);
        assert!(f[2] > 0.8 && f[2] < 1.0);
        assert!((f[4] - 0.5f64.ln()).abs() < 1e-12 && f[5].abs() < 1e-12);
        assert!(features(&[1.0, f64::NAN, 1.0, 1.0], &[1.0; 4])[0].is_nan());
        assert!(features(&[1.0], &[1.0])[0].is_nan());
    }

    #[test]
    fn probing_a_real_task_costs_its_steps() {
        let spec = lrctl_tasks::registry::find("logreg/iris").unwrap();
        let task = lrctl_tasks::prepare(&spec, &lrctl_data::DataDirs::new(None)).unwrap();
        let p = probe(task.as_ref(), 30, 0).unwrap();
        assert_eq!(p.steps, 30);
        assert_eq!(p.features.len(), names().len());
        assert!(p.features.iter().all(|v| v.is_finite()), "{:?}", p.features);
        assert!(p.features[0] < 0.0, "the loss falls: {:?}", p.features);
        assert!(p.seconds > 0.0);
        let again = probe(task.as_ref(), 30, 0).unwrap();
        assert_eq!(p.features, again.features, "deterministic");
    }
}
