//! Batched trials: several runs of one task from one seed, trained in lock-step over the same
//! mini-batches as one stacked model ([`train_stacked`]).
//!
//! Each member is an ordinary [`Run`] with its own optimizer and controller — its own
//! learning rate at every step, its own optimizer state, statistics, divergence checks,
//! evaluations and curve — advanced one step at a time in turn. Only its loss and gradient
//! come from elsewhere: the member's workload is a view of slot `k` of a
//! [`StackedWorkload`], which computes every live member's loss and gradient in one pass
//! when the first member asks for the step's mini-batch. Members share the seed, so they draw
//! the same mini-batches; a member whose draw differs anyway is computed alone.
//!
//! A member that diverges or fails stops as it would alone and leaves the lock-step; the
//! others go on (the stacked model keeps members independent). A member's result equals its
//! run on the task's own workload up to the summation order of its loss and gradient (see
//! [`lrctl_tasks::stacked`]).

use std::cell::RefCell;

use lrctl_method::MethodSpec;
use lrctl_tasks::{Metrics, Split, StackedWorkload, Task, Workload};

use crate::{Outcome, Run, RunOptions, RunResult, StartError, parametrize};

/// One run of a batch: its method, how many steps it trains, and the horizon its controller
/// is told ([`Run::set_horizon`]: its own length, or a longer full run cut short).
#[derive(Clone, Copy)]
pub struct Member<'a> {
    /// The method, its hyperparameters set.
    pub method: &'a MethodSpec,
    /// Steps to train.
    pub steps: u64,
    /// The horizon the controller is told (at least `steps`).
    pub horizon: u64,
}

/// A member's outcome: its result, `Ok(None)` when cancelled, or why it could not start.
pub type MemberResult = Result<Option<RunResult>, StartError>;

/// Trains `members` of `task` together as one stacked model, from the model seeded with
/// `options.seed` and over its shuffle (see the module docs); one result per member, in order.
/// `Ok(None)` when the task's model family has no stacked form: the caller trains them one by
/// one. Only `seed`, `cancel` and `eval_limit` of `options` are read. Runs on the calling
/// thread's pool, as [`crate::train_method`] does.
pub fn train_stacked(
    task: &dyn Task,
    members: &[Member<'_>],
    options: &RunOptions<'_>,
) -> Result<Option<Vec<MemberResult>>, StartError> {
    let Some(stacked) = task.instantiate_stacked(options.seed, members.len())? else {
        return Ok(None);
    };
    let n = stacked.n_params();
    let shared = RefCell::new(Shared {
        grads: vec![Vec::with_capacity(n); members.len()],
        losses: vec![f32::NAN; members.len()],
        stacked,
        live: Vec::new(),
        round: 0,
        computed: None,
        batch: Vec::new(),
    });
    let mut views: Vec<View<'_>> = (0..members.len())
        .map(|k| View { shared: &shared, k })
        .collect();
    let mut results: Vec<Option<MemberResult>> = (0..members.len()).map(|_| None).collect();
    let mut runs = Vec::new();
    for (k, m) in members.iter().enumerate() {
        let options = RunOptions {
            seed: options.seed,
            steps: Some(m.steps),
            progress: options.progress,
            cancel: options.cancel,
            eval_limit: options.eval_limit,
        };
        let built = m
            .method
            .build(n)
            .map_err(StartError::from)
            .and_then(|(opt, ctl)| Ok((parametrize(task.spec(), m.method, &views[k], opt)?, ctl)));
        match built {
            Ok((opt, ctl)) => {
                let mut run = Run::new(&views[k], task.spec(), &options);
                run.set_horizon(m.horizon.max(m.steps));
                runs.push((k, run, opt, ctl, options));
            }
            Err(e) => results[k] = Some(Err(e)),
        }
    }
    let longest = members.iter().map(|m| m.steps).max().unwrap_or(0);
    for step in 0..longest {
        let live: Vec<usize> = runs
            .iter()
            .filter(|(k, run, ..)| {
                run.steps() == step
                    && step < members[*k].steps
                    && run.outcome() == Outcome::Finished
            })
            .map(|(k, ..)| *k)
            .collect();
        if live.is_empty() {
            break;
        }
        {
            let mut s = shared.borrow_mut();
            s.round += 1;
            s.live = live;
        }
        for (k, run, opt, ctl, options) in &mut runs {
            if run.steps() != step || step >= members[*k].steps {
                continue;
            }
            let view = &mut views[*k];
            if run
                .advance_to(view, opt.as_mut(), ctl.as_mut(), step + 1, options)
                .is_err()
            {
                // Cancelled: no member is reported.
                return Ok(Some(
                    (0..members.len())
                        .map(|k| results[k].take().unwrap_or(Ok(None)))
                        .collect(),
                ));
            }
        }
    }
    for (k, run, mut opt, _, _) in runs {
        results[k] = Some(Ok(Some(run.finish(&mut views[k], opt.as_mut()))));
    }
    Ok(Some(
        results
            .into_iter()
            .map(|r| r.expect("every member has a result"))
            .collect(),
    ))
}

/// The stacked model and the current step's results.
struct Shared {
    stacked: Box<dyn StackedWorkload>,
    /// Members taking the current step.
    live: Vec<usize>,
    /// The current step's number (1, 2, … as the lock-step goes).
    round: u64,
    /// The round whose losses and gradients are computed, for [`Shared::batch`].
    computed: Option<u64>,
    batch: Vec<usize>,
    losses: Vec<f32>,
    grads: Vec<Vec<f32>>,
}

/// Member `k` of the stacked model, seen as a [`Workload`] by its [`Run`].
struct View<'s> {
    shared: &'s RefCell<Shared>,
    k: usize,
}

impl Workload for View<'_> {
    fn n_params(&self) -> usize {
        self.shared.borrow().stacked.n_params()
    }

    fn param_shapes(&self) -> Vec<Vec<usize>> {
        self.shared.borrow().stacked.param_shapes()
    }

    fn n_train(&self) -> usize {
        self.shared.borrow().stacked.n_train()
    }

    fn params(&self, out: &mut Vec<f32>) {
        self.shared.borrow().stacked.params(self.k, out);
    }

    fn set_params(&mut self, flat: &[f32]) {
        self.shared.borrow_mut().stacked.set_params(self.k, flat);
    }

    fn loss_and_grad(&mut self, batch: &[usize], grad: &mut Vec<f32>) -> f32 {
        let mut s = self.shared.borrow_mut();
        let s = &mut *s;
        if s.computed != Some(s.round) {
            // The first member of the step: every live member at once.
            s.stacked
                .loss_and_grads(batch, &s.live, &mut s.losses, &mut s.grads);
            s.computed = Some(s.round);
            s.batch.clear();
            s.batch.extend_from_slice(batch);
        } else if s.batch != batch {
            s.stacked
                .loss_and_grads(batch, &[self.k], &mut s.losses, &mut s.grads);
        }
        grad.clear();
        grad.extend_from_slice(&s.grads[self.k]);
        s.losses[self.k]
    }

    fn evaluate(&self, split: Split, limit: Option<usize>) -> Option<Metrics> {
        self.shared.borrow().stacked.evaluate(self.k, split, limit)
    }
}
