//! The controller a user's own loop steps (`lrctl_control::Stepper`, behind the Python
//! `lrctl.torch.Scheduler`) gives, on the observations lrctl's engine hands a controller,
//! exactly the engine's learning rates: for every plain built-in method's controller.

use std::sync::{Arc, Mutex};

use lrctl_control::{Controller, Inputs, Observation, Stepper};
use lrctl_data::DataDirs;
use lrctl_engine::RunOptions;
use lrctl_tasks::Budget;

/// Passes everything to the controller it wraps and records each observation and rate.
struct Recorder {
    inner: Box<dyn Controller>,
    seen: Arc<Mutex<Vec<(Observation, f64)>>>,
}

impl Controller for Recorder {
    fn lr(&mut self, obs: &Observation) -> f64 {
        let lr = self.inner.lr(obs);
        self.seen.lock().unwrap().push((*obs, lr));
        lr
    }
    fn needs_history(&self) -> bool {
        self.inner.needs_history()
    }
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }
}

#[test]
fn a_stepped_controller_gives_the_engines_rates_for_every_builtin_controller() {
    let mut spec = lrctl_tasks::registry::find("mlp/digits").unwrap();
    spec.budget = Budget::Steps(120);
    spec.evals = 6;
    let task = lrctl_tasks::prepare(&spec, &DataDirs::default()).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (name, _) in lrctl_method::BUILTIN_FILES {
        let Ok(method) = lrctl_method::find(name) else {
            continue; // a wrapped method (tuned, race, auto): not a controller of its own
        };
        if method.controller.kind() == "policy" {
            continue; // needs a Python policy host
        }
        kinds.insert(method.controller.kind());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let options = RunOptions {
            seed: 3,
            ..RunOptions::default()
        };
        let mut workload = task
            .instantiate(options.seed, &lrctl_tasks::default_device())
            .unwrap();
        let (mut opt, ctl) = method.build(workload.n_params()).unwrap();
        let mut recorder = Recorder {
            inner: ctl,
            seen: Arc::clone(&seen),
        };
        lrctl_engine::train(
            workload.as_mut(),
            &spec,
            opt.as_mut(),
            &mut recorder,
            &options,
        )
        .unwrap();
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty());
        let (first, _) = seen[0];
        let mut stepper = Stepper::new(
            &method.controller,
            first.total_steps,
            Some(first.steps_per_epoch),
        )
        .unwrap();
        for (k, (obs, lr)) in seen.iter().enumerate() {
            assert_eq!(obs.step, k as u64);
            let inputs = Inputs {
                loss: Some(obs.loss),
                grad_norm: Some(obs.grad.norm),
                dot_prev_direction: obs.grad.dot_prev_direction,
                cos_prev: obs.grad.cos_prev,
                prev_update_norm: obs.grad.prev_update_norm,
                param_norm: obs.grad.param_norm,
                eval_loss: obs.eval.map(|e| e.loss),
                eval_metric: obs.eval.and_then(|e| e.metric),
            };
            if let Some(e) = obs.eval {
                assert_eq!(
                    e.step, obs.step,
                    "an evaluation arrives at the step after it ran"
                );
            }
            let got = stepper.step(&inputs).unwrap();
            assert_eq!(
                got.to_bits(),
                lr.to_bits(),
                "{name}: step {k}: stepper {got}, engine {lr}"
            );
        }
    }
    // Schedules and the online controllers were all covered.
    for kind in [
        "constant",
        "cosine-warm-restarts",
        "reduce-on-plateau",
        "hypergradient",
        "sps",
    ] {
        assert!(kinds.contains(kind), "{kind} not covered: {kinds:?}");
    }
}
