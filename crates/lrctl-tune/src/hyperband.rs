//! Successive halving and Hyperband: bracket arithmetic ([`BracketLayout`]) and the bracket
//! scheduler ([`Hyperband`]), which BOHB and SMAC-style Hyperband reuse with a model-based
//! [`Sampler`].

use std::collections::VecDeque;

use crate::sampler::{RandomSampler, Sampler};
use crate::space::{Config, Fidelity, SearchSpace};
use crate::tuner::{Ask, History, TuneError, Tuner, compare_trials, wait_or_done};

/// One rung of a bracket: `n` trials at `budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Number of trials.
    pub n: usize,
    /// Budget of each trial.
    pub budget: u64,
}

/// A successive-halving bracket: rung sizes and budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BracketLayout {
    /// Hyperband's bracket index `s` (`s + 1` rungs; larger is more aggressive).
    pub s: usize,
    /// Rungs from the lowest budget up; the last is at `max_budget`.
    pub rungs: Vec<Rung>,
}

impl BracketLayout {
    /// Hyperband bracket `s` (Li et al. 2018, Algorithm 1): with `s_max` from
    /// [`Fidelity::s_max`], start `n_0 = ceil((s_max + 1) / (s + 1) · eta^s)` configurations
    /// at `r_0 = max_budget · eta^-s`; rung `i` keeps `n_i = floor(n_0 · eta^-i)` at
    /// `r_i = r_0 · eta^i` ([`Fidelity::rung_budget`]). `s` is clamped to `s_max`.
    pub fn hyperband(fidelity: &Fidelity, s: usize) -> BracketLayout {
        let s_max = fidelity.s_max();
        let s = s.min(s_max);
        let eta = fidelity.eta;
        // Small tolerances keep exact cases exact (e.g. 5/4 · 27 = 33.75 → 34; 34/27 → 1).
        let n0 = ((s_max + 1) as f64 / (s + 1) as f64 * eta.powi(s as i32) - 1e-9).ceil();
        let rungs = (0..=s)
            .map(|i| Rung {
                n: ((n0 / eta.powi(i as i32) + 1e-9).floor() as usize).max(1),
                budget: fidelity.rung_budget(s, i),
            })
            .collect();
        BracketLayout { s, rungs }
    }

    /// A successive-halving bracket (Jamieson & Talwalkar 2016) with `n` starting
    /// configurations and `s + 1` rungs: rung `i` keeps `floor(n · eta^-i)` (at least one) at
    /// budget `max_budget · eta^(i - s)`.
    pub fn successive_halving(fidelity: &Fidelity, s: usize, n: usize) -> BracketLayout {
        let s = s.min(fidelity.s_max());
        let rungs = (0..=s)
            .map(|i| Rung {
                n: ((n as f64 / fidelity.eta.powi(i as i32) + 1e-9).floor() as usize).max(1),
                budget: fidelity.rung_budget(s, i),
            })
            .collect();
        BracketLayout { s, rungs }
    }

    /// Total budget of the bracket (every trial from scratch).
    pub fn cost(&self) -> u64 {
        self.rungs.iter().map(|r| r.n as u64 * r.budget).sum()
    }
}

/// The `s_max + 1` brackets of one Hyperband iteration, most aggressive (`s = s_max`) first.
pub fn hyperband_brackets(fidelity: &Fidelity) -> Vec<BracketLayout> {
    (0..=fidelity.s_max())
        .rev()
        .map(|s| BracketLayout::hyperband(fidelity, s))
        .collect()
}

/// Which brackets a [`Hyperband`] scheduler runs, in order, repeating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BracketSchedule {
    /// Hyperband: `s = s_max, s_max − 1, …, 0`, then again.
    Hyperband,
    /// Successive halving: always the same bracket.
    Fixed(BracketLayout),
}

/// A bracket in progress.
#[derive(Debug, Clone)]
struct Bracket {
    index: usize,
    layout: BracketLayout,
    /// Rung being issued.
    current: usize,
    /// Ids issued per rung.
    trials: Vec<Vec<u64>>,
    /// Promotions of the current rung not yet issued: configuration and parent id, best first.
    queue: VecDeque<(Config, u64)>,
}

/// What a bracket wants issued next.
enum Next {
    New {
        budget: u64,
    },
    Promote {
        config: Config,
        parent: u64,
        budget: u64,
    },
}

impl Bracket {
    fn new(index: usize, layout: BracketLayout) -> Bracket {
        let trials = vec![Vec::new(); layout.rungs.len()];
        Bracket {
            index,
            layout,
            current: 0,
            trials,
            queue: VecDeque::new(),
        }
    }

    fn rung_done(&self, rung: usize, history: &History) -> bool {
        self.trials[rung].len() == self.layout.rungs[rung].n
            && self.trials[rung]
                .iter()
                .all(|&id| history.score(id).is_some())
    }

    fn finished(&self, history: &History) -> bool {
        self.current + 1 == self.layout.rungs.len() && self.rung_done(self.current, history)
    }

    /// The next trial of this bracket, or `None` while it waits for results (or is done).
    /// A rung is promoted only once all its trials are told (synchronous successive halving).
    fn next(&mut self, history: &History) -> Option<Next> {
        loop {
            let rung = self.layout.rungs[self.current];
            if self.trials[self.current].len() < rung.n {
                return Some(if self.current == 0 {
                    Next::New {
                        budget: rung.budget,
                    }
                } else {
                    let (config, parent) = self.queue.pop_front()?;
                    Next::Promote {
                        config,
                        parent,
                        budget: rung.budget,
                    }
                });
            }
            if self.current + 1 == self.layout.rungs.len() || !self.rung_done(self.current, history)
            {
                return None;
            }
            // Promote the best n_{i+1} of the finished rung, best first.
            let mut ranked: Vec<(f64, u64)> = self.trials[self.current]
                .iter()
                .map(|&id| (history.score(id).expect("rung is done"), id))
                .collect();
            ranked.sort_by(|&a, &b| compare_trials(a, b));
            self.current += 1;
            let keep = self.layout.rungs[self.current].n;
            self.queue = ranked
                .iter()
                .take(keep)
                .map(|&(_, id)| {
                    let config = history.get(id).expect("issued").request.config.clone();
                    (config, id)
                })
                .collect();
        }
    }
}

/// Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar 2018, "Hyperband: a novel
/// bandit-based approach to hyperparameter optimization", JMLR 18) and, with a fixed bracket,
/// successive halving (Jamieson & Talwalkar 2016, "Non-stochastic best arm identification and
/// hyperparameter optimization", AISTATS).
///
/// Brackets come from [`BracketLayout::hyperband`]. Within a bracket, rung 0's configurations
/// come from the [`Sampler`] one at a time as they are issued (so later ones can use earlier
/// results, as in BOHB's implementation); once every trial of rung `i` is told, the best
/// `n_{i+1}` are promoted, each promotion naming its rung-`i` trial as `parent`.
///
/// Deviations from the papers: brackets repeat until `max_trials` trials were issued (or
/// `max_brackets` brackets were started) instead of stopping after one iteration, and with
/// several trials outstanding a new bracket starts whenever the open ones wait for results
/// (as HpBandSter does with idle workers), so the scheduler never idles a worker before its
/// last bracket.
#[derive(Debug, Clone)]
pub struct Hyperband<S: Sampler = RandomSampler> {
    name: &'static str,
    space: SearchSpace,
    fidelity: Fidelity,
    sampler: S,
    schedule: BracketSchedule,
    max_trials: Option<usize>,
    max_brackets: Option<usize>,
    brackets: Vec<Bracket>,
    history: History,
}

impl Hyperband<RandomSampler> {
    /// Hyperband with random sampling ("hyperband").
    pub fn new(
        space: SearchSpace,
        fidelity: Fidelity,
        seed: u64,
    ) -> Result<Hyperband<RandomSampler>, TuneError> {
        Hyperband::with_sampler(
            "hyperband",
            space,
            fidelity,
            BracketSchedule::Hyperband,
            RandomSampler::new(seed),
        )
    }

    /// Successive halving with random sampling ("sh"), repeating the most aggressive
    /// Hyperband bracket (`s = s_max`: `eta^s_max` configurations from `min_budget` up; for
    /// `max/min = 81`, `eta = 3`: 81, 27, 9, 3, 1 trials at 1, 3, 9, 27, 81).
    pub fn successive_halving(
        space: SearchSpace,
        fidelity: Fidelity,
        seed: u64,
    ) -> Result<Hyperband<RandomSampler>, TuneError> {
        fidelity.validate()?;
        let layout = BracketLayout::hyperband(&fidelity, fidelity.s_max());
        Hyperband::with_sampler(
            "sh",
            space,
            fidelity,
            BracketSchedule::Fixed(layout),
            RandomSampler::new(seed),
        )
    }
}

impl<S: Sampler> Hyperband<S> {
    /// A bracket scheduler called `name` running `schedule` with configurations from
    /// `sampler`; validates the space and fidelity.
    pub fn with_sampler(
        name: &'static str,
        space: SearchSpace,
        fidelity: Fidelity,
        schedule: BracketSchedule,
        sampler: S,
    ) -> Result<Hyperband<S>, TuneError> {
        space.validate()?;
        fidelity.validate()?;
        if let BracketSchedule::Fixed(layout) = &schedule
            && (layout.rungs.is_empty() || layout.rungs.iter().any(|r| r.n == 0))
        {
            return Err(TuneError::Setting(
                "a fixed bracket needs at least one rung and one trial per rung".into(),
            ));
        }
        Ok(Hyperband {
            name,
            space,
            fidelity,
            sampler,
            schedule,
            max_trials: None,
            max_brackets: None,
            brackets: Vec::new(),
            history: History::new(),
        })
    }

    /// Stops issuing after `n` trials (all rungs counted); unlimited by default.
    pub fn max_trials(mut self, n: usize) -> Self {
        self.max_trials = Some(n);
        self
    }

    /// Starts at most `n` brackets; unlimited by default.
    pub fn max_brackets(mut self, n: usize) -> Self {
        self.max_brackets = Some(n);
        self
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The fidelity.
    pub fn fidelity(&self) -> &Fidelity {
        &self.fidelity
    }

    /// The sampler.
    pub fn sampler(&self) -> &S {
        &self.sampler
    }

    /// Layout of the `index`-th bracket of the schedule.
    fn layout(&self, index: usize) -> BracketLayout {
        match &self.schedule {
            BracketSchedule::Fixed(layout) => layout.clone(),
            BracketSchedule::Hyperband => {
                let s_max = self.fidelity.s_max();
                BracketLayout::hyperband(&self.fidelity, s_max - index % (s_max + 1))
            }
        }
    }

    fn issue(&mut self, b: usize, next: Next) -> Ask {
        let bracket = self.brackets[b].index;
        let rung = self.brackets[b].current;
        let request = match next {
            Next::New { budget } => {
                let config = self.sampler.propose(&self.space, &self.history);
                self.history.issue(config, budget, bracket, rung, None)
            }
            Next::Promote {
                config,
                parent,
                budget,
            } => self
                .history
                .issue(config, budget, bracket, rung, Some(parent)),
        };
        self.brackets[b].trials[rung].push(request.id);
        Ask::Trial(request)
    }
}

impl<S: Sampler> Tuner for Hyperband<S> {
    fn name(&self) -> &str {
        self.name
    }

    fn ask(&mut self) -> Ask {
        if self.max_trials.is_some_and(|m| self.history.len() >= m) {
            return wait_or_done(&self.history);
        }
        for b in 0..self.brackets.len() {
            if self.brackets[b].finished(&self.history) {
                continue;
            }
            if let Some(next) = self.brackets[b].next(&self.history) {
                return self.issue(b, next);
            }
        }
        if self.max_brackets.is_none_or(|m| self.brackets.len() < m) {
            let index = self.brackets.len();
            let layout = self.layout(index);
            self.brackets.push(Bracket::new(index, layout));
            let b = self.brackets.len() - 1;
            if let Some(next) = self.brackets[b].next(&self.history) {
                return self.issue(b, next);
            }
        }
        wait_or_done(&self.history)
    }

    fn tell(&mut self, id: u64, score: f64) -> Result<(), TuneError> {
        self.history.tell(id, score)
    }

    fn history(&self) -> &History {
        &self.history
    }
}
