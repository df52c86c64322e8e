//! `lrctl.torch.Scheduler`'s core: an lrctl controller stepped from the user's own training
//! loop ([`lrctl_control::Stepper`]).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use lrctl_control::{ControllerSpec, Inputs, Stepper};

use crate::Error;

/// A controller from what Python passes: a method (name, `.toml` path or dict with a method
/// file's fields: its controller is taken) or a controller table (a dict with `kind`).
fn controller_spec(obj: &Bound<'_, PyAny>) -> Result<ControllerSpec, Error> {
    if let Ok(d) = obj.cast::<PyDict>()
        && d.contains("kind").unwrap_or(false)
    {
        let table: toml::Table = pythonize::depythonize(d.as_any())
            .map_err(|e| Error::Value(format!("controller: {e}")))?;
        let text = toml::to_string(&table).map_err(|e| Error::Value(format!("controller: {e}")))?;
        let spec: ControllerSpec = toml::from_str(&text)
            .map_err(|e| Error::Value(format!("invalid [controller] table: {}", e.message())))?;
        spec.validate().map_err(|e| Error::Value(e.to_string()))?;
        return Ok(spec);
    }
    let method = crate::registry::plain(crate::registry::method(obj, "method")?)?;
    Ok(method.controller)
}

/// An lrctl controller stepped by hand: `step(...)` once per optimizer step, before it, with
/// what the loop knows; returns the learning rate for that step.
#[pyclass(name = "Controller", module = "lrctl._lrctl")]
pub struct PyController {
    // A controller is Send, not Sync; Python may hand the object to any thread.
    stepper: std::sync::Mutex<Stepper>,
    kind: &'static str,
}

#[pymethods]
impl PyController {
    #[new]
    #[pyo3(signature = (method, total_steps, steps_per_epoch=None))]
    fn new(
        method: &Bound<'_, PyAny>,
        total_steps: u64,
        steps_per_epoch: Option<u64>,
    ) -> PyResult<Self> {
        let spec = controller_spec(method)?;
        let stepper = Stepper::new(&spec, total_steps, steps_per_epoch)
            .map_err(|e| Error::Value(e.to_string()))?;
        Ok(PyController {
            stepper: std::sync::Mutex::new(stepper),
            kind: spec.kind(),
        })
    }

    /// The learning rate for the next optimizer step.
    #[pyo3(signature = (*, loss=None, grad_norm=None, dot_prev_direction=None, cos_prev=None,
        prev_update_norm=None, param_norm=None, eval_loss=None, eval_metric=None))]
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        loss: Option<f64>,
        grad_norm: Option<f64>,
        dot_prev_direction: Option<f64>,
        cos_prev: Option<f64>,
        prev_update_norm: Option<f64>,
        param_norm: Option<f64>,
        eval_loss: Option<f64>,
        eval_metric: Option<f64>,
    ) -> PyResult<f64> {
        let inputs = Inputs {
            loss,
            grad_norm,
            dot_prev_direction,
            cos_prev,
            prev_update_norm,
            param_norm,
            eval_loss,
            eval_metric,
        };
        let mut stepper = self.stepper.lock().unwrap_or_else(|p| p.into_inner());
        let lr = stepper
            .step(&inputs)
            .map_err(|e| Error::Value(e.to_string()))?;
        if let Some(reason) = stepper.failure() {
            return Err(Error::Runtime(reason).into());
        }
        Ok(lr)
    }

    /// The observations the controller reads (keyword names of `step`).
    #[getter]
    fn signals(&self) -> Vec<&'static str> {
        let stepper = self.stepper.lock().unwrap_or_else(|p| p.into_inner());
        stepper.signals().iter().map(|s| s.name()).collect()
    }

    /// Steps taken so far.
    #[getter]
    fn steps(&self) -> u64 {
        self.stepper
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .steps()
    }

    /// The controller's kind.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }
}

/// Registers the class.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyController>()
}
