//! Multi-fidelity hyperparameter optimisation for learning-rate control, as pure,
//! training-free algorithms: a tuner proposes (configuration, budget) trials, a driver trains
//! and reports scores. Budgets are in training steps (or epochs); scores are losses.
//!
//! The split mirrors Optuna's: *samplers* propose configurations, *schedulers* (the pruner
//! role) decide budgets and promotions, and the [`History`] plays the study.
//!
//! * **Spaces** — [`SearchSpace`] of float/int, linear/log [`Param`]s with defaults
//!   (deserialisable from a method config's `[search.<name>]` tables), [`Config`] and the
//!   [`Fidelity`] (`min_budget`, `max_budget`, `eta`).
//! * **Interface** — the [`Tuner`] trait: [`ask`](Tuner::ask) → [`Ask`] (`Trial`, `Wait`,
//!   `Done`), [`tell`](Tuner::tell), [`incumbent`](Tuner::incumbent); deterministic given the
//!   seed and the ask/tell sequence, so a killed run resumes by replay.
//! * **Tuners** — [`RandomSearch`], successive halving and [`Hyperband`] (with
//!   [`BracketLayout`] arithmetic), [`Asha`], [`Bohb`] ([`KdeSampler`]), [`SmacHyperband`]
//!   ([`ForestSampler`]), and the one-epoch [`TopK`] baseline; by name with [`tuner`]
//!   ([`TUNER_NAMES`]).
//! * **Objective** — [`Objective`] and [`Scoring`] (worst score for diverged trials).
//! * **Driving** — [`run_trials`], the parallel driver between a tuner and real training runs
//!   (a [`TrialRunner`]): deterministic whatever the timing, with [`FidelitySchedule`]s that
//!   continue promoted trials from their parents' paused runs, and replay of stored trials.
//! * **Evolution strategies** — continuous black-box optimisers over a real vector behind the
//!   ask/tell [`Evolver`] trait, for meta-training learned learning-rate policies: [`Cmaes`]
//!   (CMA-ES, or the diagonal sep-CMA-ES for large dimensions, [`CovarianceModel`]) and the
//!   [`OpenAiEs`] baseline; deterministic and serialisable for resume.
//! * **Testing** — [`MultiFidelity`] versions of Branin and Hartmann ([`TestFunction`]) and the
//!   synchronous driver [`run_sync`].
//!
//! ```
//! use lrctl_tune::{Fidelity, MultiFidelity, TestFunction, TunerSettings, run_sync, tuner};
//!
//! let fidelity = Fidelity::new(1, 27, 3.0).unwrap();
//! let bench = MultiFidelity::new(TestFunction::Branin, fidelity, 0);
//! let settings = TunerSettings { trials: Some(1000), ..TunerSettings::new(bench.space(), fidelity) };
//! let mut hb = tuner("hyperband", &settings).unwrap();
//! let run = run_sync(hb.as_mut(), |trial| bench.evaluate(trial), 20 * 27);
//! assert!(run.spent <= 20 * 27);
//! let best = run.incumbent.unwrap();
//! assert!(bench.regret(&best.config) < 5.0);
//! ```

mod asha;
mod bohb;
mod driver;
mod evolve;
mod hyperband;
mod objective;
mod parallel;
mod random;
mod registry;
mod sampler;
mod smac;
mod space;
mod synthetic;
mod topk;
mod tuner;

pub use asha::Asha;
pub use bohb::{Bohb, KdeSampler, bohb};
pub use driver::{SyncRun, run_sync};
pub use evolve::{
    Cmaes, CmaesSettings, CovarianceModel, EsOptimizer, EsSettings, EvolveError, Evolver,
    FULL_COVARIANCE_MAX_DIM, OpenAiEs, StrategyParams,
};
pub use hyperband::{BracketLayout, BracketSchedule, Hyperband, Rung, hyperband_brackets};
pub use objective::{DEFAULT_WORST_SCORE, Objective, Scoring};
pub use parallel::{
    DriverSettings, FidelitySchedule, MAX_PAUSED_BYTES, MAX_PAUSED_RUNS, Trained, TrialCallback,
    TrialHooks, TrialResult, TrialRunner, Trials, TuneCost, run_trials,
};
pub use random::RandomSearch;
pub use registry::{
    DEFAULT_TRIALS, TUNER_ALIASES, TUNER_NAMES, TunerSettings, canonical_name, tuner,
};
pub use sampler::{RandomSampler, Sampler};
pub use smac::{ForestSampler, RandomForest, SmacHyperband, expected_improvement, smac};
pub use space::{Config, Fidelity, Param, ParamKind, SearchSpace, SpaceError};
pub use synthetic::{MultiFidelity, TestFunction};
pub use topk::TopK;
pub use tuner::{
    Ask, History, Incumbent, TrialRecord, TrialRequest, TuneError, Tuner, compare_trials,
    rank_score,
};
