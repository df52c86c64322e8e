//! A synchronous driver for tests and simple uses.

use crate::tuner::{Ask, Incumbent, TrialRequest, Tuner};

/// Outcome of [`run_sync`].
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRun {
    /// Budget units spent (sum of the budgets of the trials run).
    pub spent: u64,
    /// Trials run.
    pub trials: usize,
    /// The tuner's incumbent at the end.
    pub incumbent: Option<Incumbent>,
}

/// Runs `tuner` synchronously (ask, evaluate with `f`, tell) until it is done or the next
/// trial would take the spend above `total_budget_cap`.
///
/// Every trial is charged its full budget, i.e. as if restarted from scratch even when it
/// names a `parent` to continue from; this is the cost model under which the tuners are
/// compared with random search. The trial that would exceed the cap stays outstanding.
pub fn run_sync<T, F>(tuner: &mut T, mut f: F, total_budget_cap: u64) -> SyncRun
where
    T: Tuner + ?Sized,
    F: FnMut(&TrialRequest) -> f64,
{
    let mut spent = 0u64;
    let mut trials = 0;
    // `Wait` cannot happen with nothing outstanding; treat it like `Done` to be safe.
    while let Ask::Trial(request) = tuner.ask() {
        if spent + request.budget > total_budget_cap {
            break;
        }
        let score = f(&request);
        spent += request.budget;
        trials += 1;
        tuner
            .tell(request.id, score)
            .expect("the trial was just issued");
    }
    SyncRun {
        spent,
        trials,
        incumbent: tuner.incumbent(),
    }
}
