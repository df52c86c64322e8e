//! The ask/tell interface shared by every tuner ([`Tuner`], [`Ask`], [`TrialRequest`]) and the
//! trial bookkeeping behind it ([`History`]).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::space::{Config, SpaceError};

/// Errors of this crate: an invalid space or setting, an unknown tuner name, or a `tell` that
/// does not match an outstanding trial.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TuneError {
    /// Invalid search space or fidelity.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// A tuner setting is out of range (the message says which).
    #[error("invalid tuner setting: {0}")]
    Setting(String),
    /// No tuner of that name.
    #[error("unknown tuner {name:?} (known: {known})")]
    UnknownTuner {
        /// The requested name.
        name: String,
        /// The accepted names, comma-separated.
        known: String,
    },
    /// `tell` for an id that was never asked.
    #[error("trial {0} was never issued")]
    UnknownTrial(u64),
    /// `tell` for a trial that already has its score.
    #[error("trial {0} already has a score")]
    AlreadyTold(u64),
}

/// What a tuner wants next.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// Run this trial and [`Tuner::tell`] its score.
    Trial(TrialRequest),
    /// Nothing can be issued until an outstanding trial is told (only possible while trials
    /// are outstanding, i.e. with an asynchronous driver).
    Wait,
    /// The tuner is finished: nothing outstanding and nothing left to issue.
    Done,
}

/// One trial to run: train `config` for `budget` units and report the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRequest {
    /// Trial id: 0, 1, 2, … in the order trials are issued.
    pub id: u64,
    /// Hyperparameters.
    pub config: Config,
    /// Total training length of the trial, in budget units (steps or epochs).
    pub budget: u64,
    /// Index of the bracket the trial belongs to, in creation order (always 0 for tuners
    /// without brackets: random search, ASHA, top-k).
    pub bracket: usize,
    /// Rung within the bracket (0 = lowest budget).
    pub rung: usize,
    /// The lower-rung trial of the same configuration this one is promoted from. A driver
    /// may continue training from that trial's checkpoint (spending `budget − parent budget`)
    /// or restart from scratch; the tuner does not care which.
    pub parent: Option<u64>,
}

/// A trial and, once told, its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// What was asked.
    pub request: TrialRequest,
    /// The score told for it (as told, possibly non-finite), `None` while outstanding.
    pub score: Option<f64>,
}

/// The best trial so far; see [`History::incumbent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incumbent {
    /// Trial id.
    pub id: u64,
    /// Its configuration.
    pub config: Config,
    /// Its score.
    pub score: f64,
    /// Its budget: the highest budget any finished trial reached.
    pub budget: u64,
}

/// The score used for ranking: a non-finite score (NaN, ±∞: a diverged run) ranks below every
/// finite one.
pub fn rank_score(score: f64) -> f64 {
    if score.is_finite() {
        score
    } else {
        f64::INFINITY
    }
}

/// Orders two `(score, id)` pairs best first: lower [`rank_score`], then lower id.
pub fn compare_trials(a: (f64, u64), b: (f64, u64)) -> Ordering {
    rank_score(a.0)
        .total_cmp(&rank_score(b.0))
        .then(a.1.cmp(&b.1))
}

/// Every trial a tuner has issued, in id order, with its score once told.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    records: Vec<TrialRecord>,
    pending: usize,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// All trials, in id order (`records()[id]` is trial `id`).
    pub fn records(&self) -> &[TrialRecord] {
        &self.records
    }

    /// Number of issued trials.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no trial was issued yet.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Number of issued trials without a score.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Trial `id`, if issued.
    pub fn get(&self, id: u64) -> Option<&TrialRecord> {
        self.records.get(usize::try_from(id).ok()?)
    }

    /// Score of trial `id`, if issued and told.
    pub fn score(&self, id: u64) -> Option<f64> {
        self.get(id).and_then(|r| r.score)
    }

    /// Issues a promotion: trial `parent`'s configuration again, on `budget` at `rung` of
    /// `bracket`. Panics if `parent` was never issued (a tuner promotes only its own trials).
    pub fn promote(
        &mut self,
        parent: u64,
        budget: u64,
        bracket: usize,
        rung: usize,
    ) -> TrialRequest {
        let config = self.get(parent).expect("issued").request.config.clone();
        self.issue(config, budget, bracket, rung, Some(parent))
    }

    /// Records a new trial under the next id and returns its request.
    pub fn issue(
        &mut self,
        config: Config,
        budget: u64,
        bracket: usize,
        rung: usize,
        parent: Option<u64>,
    ) -> TrialRequest {
        let request = TrialRequest {
            id: self.records.len() as u64,
            config,
            budget,
            bracket,
            rung,
            parent,
        };
        self.records.push(TrialRecord {
            request: request.clone(),
            score: None,
        });
        self.pending += 1;
        request
    }

    /// Records the score of an outstanding trial.
    pub fn tell(&mut self, id: u64, score: f64) -> Result<(), TuneError> {
        let record = usize::try_from(id)
            .ok()
            .and_then(|i| self.records.get_mut(i))
            .ok_or(TuneError::UnknownTrial(id))?;
        if record.score.is_some() {
            return Err(TuneError::AlreadyTold(id));
        }
        record.score = Some(score);
        self.pending -= 1;
        Ok(())
    }

    /// Finished trials, in id order.
    pub fn finished(&self) -> impl Iterator<Item = (&TrialRecord, f64)> {
        self.records.iter().filter_map(|r| r.score.map(|s| (r, s)))
    }

    /// The incumbent: among the finished trials at the highest budget any finished trial
    /// reached, the one with the lowest score (non-finite scores rank last, ties go to the
    /// earlier trial). Lower-budget scores never compete with higher-budget ones, since a short
    /// run's loss is not comparable to a full run's.
    pub fn incumbent(&self) -> Option<Incumbent> {
        let top = self.finished().map(|(r, _)| r.request.budget).max()?;
        let (best, score) = self
            .finished()
            .filter(|(r, _)| r.request.budget == top)
            .min_by(|a, b| compare_trials((a.1, a.0.request.id), (b.1, b.0.request.id)))?;
        Some(Incumbent {
            id: best.request.id,
            config: best.request.config.clone(),
            score,
            budget: top,
        })
    }
}

/// A hyperparameter tuner driven by ask/tell, minimising a score.
///
/// A driver loops: [`ask`](Tuner::ask); on [`Ask::Trial`] it trains the configuration for the
/// requested budget and [`tell`](Tuner::tell)s the score, possibly much later and with other
/// trials outstanding meanwhile (asynchronous use); on [`Ask::Wait`] it first tells an
/// outstanding result; on [`Ask::Done`] it stops. A synchronous driver (ask, run, tell, repeat)
/// never sees `Wait`.
///
/// **Scores**: lower is better. A diverged run should be told as the objective's worst score
/// ([`Scoring::sanitize`](crate::Scoring::sanitize)); a non-finite score that still reaches
/// `tell` ranks below every finite one and is never promoted ahead of one.
///
/// **Determinism**: a tuner is a pure function of its seed and the sequence of asks and tells.
/// A killed tuning run resumes by building the tuner with the same settings and seed and
/// replaying the stored trials in their original ask/tell order (for a synchronous run: ask,
/// and since trial `id`'s result is stored, tell it at once); the tuner then issues exactly
/// the trials the uninterrupted run would have issued next.
pub trait Tuner {
    /// Registry name of the tuner (see [`TUNER_NAMES`](crate::TUNER_NAMES)).
    fn name(&self) -> &str;
    /// The next trial to run, or why there is none.
    fn ask(&mut self) -> Ask;
    /// Reports the score of an outstanding trial.
    fn tell(&mut self, id: u64, score: f64) -> Result<(), TuneError>;
    /// Every trial issued so far.
    fn history(&self) -> &History;
    /// The best trial at the highest budget reached ([`History::incumbent`]).
    fn incumbent(&self) -> Option<Incumbent> {
        self.history().incumbent()
    }
}

/// `Wait` while trials are outstanding, `Done` otherwise: what a tuner answers when it has
/// nothing to issue.
pub(crate) fn wait_or_done(history: &History) -> Ask {
    if history.pending() > 0 {
        Ask::Wait
    } else {
        Ask::Done
    }
}
