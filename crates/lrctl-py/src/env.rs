//! The core of `lrctl.Env`: episodes of one task's training run, steered an interval at a time.
//!
//! [`EnvState`] is the environment without Python: `reset(task, seed)` builds the seeded model
//! and a fresh run of the base method; `step(action)` sets the learning rate of the next
//! `interval` optimizer steps ([`Steering`]: absolute, or a log-multiplier of the base method's
//! rate), advances the run by them and returns the observation vector
//! ([`lrctl_control::observe`]), the reward and whether the episode ended.
//!
//! [`EnvCore`] (the `#[pyclass]`) runs one `EnvState` on its own thread (an *actor*): the
//! model (`Workload`) is not `Send`, so it never leaves that thread; every call sends a command
//! and waits for the reply without the GIL. Several cores step at once (`lrctl.VecEnv`) by
//! sending to all of them before waiting for any, so N environments train on N cores.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pythonize::pythonize;
use serde::Serialize;

use lrctl_control::online::{ActionMap, ActionMode, Steering};
use lrctl_control::{Controller, EvalObservation, OBSERVATION_LEN, Observation};
use lrctl_engine::{Outcome, Run, RunOptions};
use lrctl_method::MethodSpec;
use lrctl_optim::Optimizer;
use lrctl_tasks::{Split, Task, Workload};

use crate::Error;

/// How rewards are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reward {
    /// DACBench's SGD benchmark: 0 until the end, then minus the test loss (mean cross-entropy
    /// over the test split); the crash penalty on divergence.
    Dacbench,
    /// Dense: each interval, the decrease of the log training loss, `ln L_prev − ln L`, with
    /// `L` the mean mini-batch loss of the interval's steps (`L_prev` of the interval before;
    /// the first step's loss for the first interval); the crash penalty on divergence.
    Dense,
}

/// Which conventions an episode's end follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// lrctl's: the end of the budget and divergence both *terminate* the episode (the
    /// observation holds the progress, so the budget's end is a true terminal state).
    Lrctl,
    /// DACBench's `SGDEnv`: the end of the budget and divergence *truncate* it.
    DacbenchCompat,
}

/// How an environment is configured (everything but the task and seed of an episode).
#[derive(Debug, Clone)]
pub struct EnvConfig {
    /// The base method: its optimizer trains, its controller is the base a log-multiplier
    /// scales.
    pub method: MethodSpec,
    /// Optimizer steps per action.
    pub interval: u64,
    /// How an action becomes a learning rate.
    pub map: ActionMap,
    /// How rewards are given.
    pub reward: Reward,
    /// The reward of a diverged episode.
    pub crash_penalty: f64,
    /// Which conventions the end of an episode follows.
    pub mode: Mode,
    /// Optimizer steps per episode (default: the task's budget).
    pub steps: Option<u64>,
    /// Validate on this many examples after every interval (DACBench's SGD environment
    /// validates every step); `None`: only the task's periodic evaluations.
    pub validation_examples: Option<usize>,
    /// Cap every evaluation (periodic and the final test) at this many examples.
    pub eval_examples: Option<usize>,
    /// Kernel threads of the environment's run.
    pub threads: usize,
    /// Where data files are looked for.
    pub dirs: lrctl_data::DataDirs,
}

impl EnvConfig {
    /// Checks what can be checked before any data is loaded.
    pub fn validate(&self) -> Result<(), Error> {
        self.method.validate()?;
        if self.interval == 0 {
            return Err(Error::Value("interval must be at least 1".into()));
        }
        if self.steps == Some(0) {
            return Err(Error::Value("steps must be at least 1".into()));
        }
        if self.threads == 0 {
            return Err(Error::Value("threads must be at least 1".into()));
        }
        if !self.crash_penalty.is_finite() {
            return Err(Error::Value(format!(
                "crash_penalty must be a finite number, got {}",
                self.crash_penalty
            )));
        }
        if self.validation_examples == Some(0) || self.eval_examples == Some(0) {
            return Err(Error::Value(
                "validation_examples and eval_examples must be at least 1".into(),
            ));
        }
        let m = &self.map;
        if !(m.lr_min.is_finite() && m.lr_min >= 0.0 && !m.lr_max.is_nan() && m.lr_max >= m.lr_min)
        {
            return Err(Error::Value(format!(
                "lr_bounds must be (low, high) with 0 <= low <= high, got ({}, {})",
                m.lr_min, m.lr_max
            )));
        }
        if m.mode == ActionMode::LogMultiplier && !(m.max_factor.is_finite() && m.max_factor > 1.0)
        {
            return Err(Error::Value(format!(
                "max_factor must be a finite number > 1, got {}",
                m.max_factor
            )));
        }
        Ok(())
    }
}

/// The base controller steered, with what the environment reads from each step.
struct Tracked {
    steering: Steering,
    sum: f64,
    count: u64,
    first_loss: Option<f64>,
    last_lr: f64,
    validation: Option<(f64, Option<f64>)>,
}

impl Controller for Tracked {
    fn lr(&mut self, obs: &Observation) -> f64 {
        self.sum += obs.loss;
        self.count += 1;
        self.first_loss.get_or_insert(obs.loss);
        if let Some(e) = &obs.eval {
            self.validation = Some((e.loss, e.metric));
        }
        self.last_lr = self.steering.lr(obs);
        self.last_lr
    }

    fn needs_history(&self) -> bool {
        true
    }
}

/// One episode: a run of one task and seed.
struct Episode {
    task: String,
    seed: u64,
    workload: Box<dyn Workload>,
    run: Run,
    optimizer: Box<dyn Optimizer>,
    ctl: Tracked,
    actions: u64,
    prev_loss: Option<f64>,
    done: bool,
}

/// What `reset` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ResetOut {
    /// The observation vector (nothing trained yet).
    pub vector: [f64; OBSERVATION_LEN],
    /// The episode.
    pub info: ResetInfo,
}

/// The `info` of `reset`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResetInfo {
    /// Task of the episode.
    pub task: String,
    /// Seed of its run (initialisation and data order).
    pub seed: u64,
    /// Optimizer steps in the episode.
    pub total_steps: u64,
    /// Actions the episode takes (`ceil(total_steps / interval)`).
    pub total_actions: u64,
    /// The task's primary held-out metric: `accuracy` or `bits_per_byte`.
    pub metric: &'static str,
}

/// What `step` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOut {
    /// The observation vector after the interval.
    pub vector: [f64; OBSERVATION_LEN],
    /// The reward of the interval.
    pub reward: f64,
    /// Whether the episode reached a terminal state.
    pub terminated: bool,
    /// Whether it was cut off.
    pub truncated: bool,
    /// What happened.
    pub info: StepInfo,
}

/// The `info` of `step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepInfo {
    /// Task of the episode.
    pub task: String,
    /// Seed of its run.
    pub seed: u64,
    /// Actions taken so far.
    pub env_step: u64,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Optimizer steps in the episode.
    pub total_steps: u64,
    /// The learning rate of the last step (what the action became).
    pub lr: f64,
    /// The last mini-batch loss.
    pub loss: f64,
    /// The mean mini-batch loss of the interval.
    pub train_loss: f64,
    /// The newest validation loss (periodic, or after this interval with
    /// `validation_examples`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f64>,
    /// The task's primary metric at that validation (accuracy, bits per byte).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_metric: Option<f64>,
    /// At the end: `finished` or `diverged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Why it diverged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// At the end of a finished episode: the test loss (what DACBench's reward negates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    /// And the task's primary metric on the test split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_metric: Option<f64>,
}

/// Tasks prepared once per process (their data is shared by every environment using them, and
/// freed when none does).
fn prepared(
    spec: &lrctl_tasks::TaskSpec,
    dirs: &lrctl_data::DataDirs,
) -> Result<Arc<dyn Task>, Error> {
    type Cache = Mutex<HashMap<String, Weak<dyn Task>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = format!(
        "{}\u{0}{:?}\u{0}{:?}",
        serde_json::to_string(spec).expect("a task serialises"),
        dirs.data_dir,
        dirs.cache_dir
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Some(task) = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .and_then(Weak::upgrade)
    {
        return Ok(task);
    }
    // Loaded outside the lock: another environment may load another task meanwhile.
    let task = lrctl_tasks::prepare(spec, dirs)?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, Arc::downgrade(&task));
    Ok(task)
}

/// The environment without Python (see the module docs).
pub struct EnvState {
    config: EnvConfig,
    tasks: HashMap<String, Arc<dyn Task>>,
    episode: Option<Episode>,
}

impl EnvState {
    /// An environment with no episode yet.
    pub fn new(config: EnvConfig) -> EnvState {
        EnvState {
            config,
            tasks: HashMap::new(),
            episode: None,
        }
    }

    fn options(&self, seed: u64) -> RunOptions<'static> {
        RunOptions {
            seed,
            steps: self.config.steps,
            progress: None,
            cancel: None,
            eval_limit: self.config.eval_examples,
        }
    }

    /// Starts an episode of `task` with `seed`: the seeded model, a fresh run of the base
    /// method, nothing trained yet. The same task and seed always give the same episode.
    pub fn reset(&mut self, task: &str, seed: u64) -> Result<ResetOut, Error> {
        self.episode = None;
        let task = match self.tasks.get(task) {
            Some(t) => Arc::clone(t),
            None => {
                let spec = crate::train::task_spec(task, None)?;
                let t = prepared(&spec, &self.config.dirs)?;
                self.tasks.insert(task.to_string(), Arc::clone(&t));
                t
            }
        };
        let options = self.options(seed);
        let workload = task.instantiate(seed, &lrctl_tasks::default_device())?;
        let (optimizer, base) = self.config.method.build(workload.n_params())?;
        let run = Run::new(workload.as_ref(), task.spec(), &options);
        let horizon = run.horizon();
        let action = self.config.map.neutral().unwrap_or(0.0);
        let ctl = Tracked {
            steering: Steering::new(Some(base), self.config.map, action),
            sum: 0.0,
            count: 0,
            first_loss: None,
            last_lr: f64::NAN,
            validation: None,
        };
        let vector = ctl.steering.vector(0, horizon);
        let name = task.spec().name.clone();
        self.episode = Some(Episode {
            task: name.clone(),
            seed,
            workload,
            run,
            optimizer,
            ctl,
            actions: 0,
            prev_loss: None,
            done: false,
        });
        Ok(ResetOut {
            vector,
            info: ResetInfo {
                task: name,
                seed,
                total_steps: horizon,
                total_actions: horizon.div_ceil(self.config.interval),
                metric: task.spec().primary_metric().0,
            },
        })
    }

    /// Applies `action` for the next `interval` optimizer steps (fewer at the end of the
    /// budget). Never fails mid-episode: an action that is NaN, or training that diverges, ends
    /// the episode with the crash penalty. `Err` only when there is no episode to step.
    pub fn step(&mut self, action: f64) -> Result<StepOut, Error> {
        let cfg = &self.config;
        let Some(ep) = self.episode.as_mut().filter(|e| !e.done) else {
            return Err(Error::Runtime(
                "no episode is running (it has ended, or reset() was never called): call \
                 reset() first"
                    .into(),
            ));
        };
        ep.ctl.steering.set_action(action);
        ep.ctl.sum = 0.0;
        ep.ctl.count = 0;
        let horizon = ep.run.horizon();
        let until = (ep.run.steps() + cfg.interval).min(horizon);
        let options = RunOptions {
            seed: ep.seed,
            steps: cfg.steps,
            progress: None,
            cancel: None,
            eval_limit: cfg.eval_examples,
        };
        // Without a cancel flag an advance cannot be cancelled.
        let _ = ep.run.advance_to(
            ep.workload.as_mut(),
            ep.optimizer.as_mut(),
            &mut ep.ctl,
            until,
            &options,
        );
        ep.actions += 1;
        let mean = if ep.ctl.count > 0 {
            ep.ctl.sum / ep.ctl.count as f64
        } else {
            f64::NAN
        };
        let outcome = ep.run.outcome();
        let mut info = StepInfo {
            task: ep.task.clone(),
            seed: ep.seed,
            env_step: ep.actions,
            step: ep.run.steps(),
            total_steps: horizon,
            lr: ep.ctl.last_lr,
            loss: ep.run.last_loss(),
            train_loss: mean,
            validation_loss: None,
            validation_metric: None,
            outcome: None,
            reason: None,
            test_loss: None,
            test_metric: None,
        };
        let end = |mode: Mode| match mode {
            Mode::Lrctl => (true, false),
            Mode::DacbenchCompat => (false, true),
        };
        if outcome != Outcome::Finished {
            ep.done = true;
            info.outcome = Some(outcome.as_str());
            info.reason = ep.run.reason().map(str::to_string);
            if let Some((l, m)) = ep.ctl.validation {
                info.validation_loss = Some(l);
                info.validation_metric = m;
            }
            let (terminated, truncated) = end(cfg.mode);
            return Ok(StepOut {
                vector: ep.ctl.steering.vector(ep.run.steps(), horizon),
                reward: cfg.crash_penalty,
                terminated,
                truncated,
                info,
            });
        }
        // What the last interval's evaluations said: the environment's own, else the task's
        // periodic one that ran after its last step (the controller sees that one with the
        // next step; it is past information already).
        let step = ep.run.steps();
        let fresh = match cfg.validation_examples {
            Some(n) => ep
                .run
                .evaluate(
                    ep.workload.as_mut(),
                    ep.optimizer.as_mut(),
                    Split::Validation,
                    Some(n),
                )
                .map(|m| EvalObservation {
                    step,
                    loss: m.loss,
                    metric: lrctl_engine::task_metric(&m),
                }),
            None => ep.run.pending_eval(),
        };
        if let Some(e) = fresh {
            ep.ctl.steering.observe_eval(&e);
            ep.ctl.validation = Some((e.loss, e.metric));
        }
        if let Some((l, m)) = ep.ctl.validation {
            info.validation_loss = Some(l);
            info.validation_metric = m;
        }
        let prev = ep.prev_loss.or(ep.ctl.first_loss).unwrap_or(mean);
        let dense = prev.ln() - mean.ln();
        ep.prev_loss = Some(mean);
        let last = step >= horizon;
        let mut reward = match cfg.reward {
            Reward::Dense => dense,
            Reward::Dacbench => 0.0,
        };
        if last {
            ep.done = true;
            info.outcome = Some(Outcome::Finished.as_str());
            let test = ep.run.evaluate(
                ep.workload.as_mut(),
                ep.optimizer.as_mut(),
                Split::Test,
                cfg.eval_examples,
            );
            info.test_loss = test.map(|m| m.loss);
            info.test_metric = test.as_ref().and_then(lrctl_engine::task_metric);
            if cfg.reward == Reward::Dacbench {
                // A task without a test split falls back to its validation loss.
                reward = -info.test_loss.or(info.validation_loss).unwrap_or(0.0);
            }
        }
        if !reward.is_finite() {
            reward = cfg.crash_penalty;
        }
        let (terminated, truncated) = if last { end(cfg.mode) } else { (false, false) };
        Ok(StepOut {
            vector: ep.ctl.steering.vector(step, horizon),
            reward,
            terminated,
            truncated,
            info,
        })
    }

    /// The curve of the current episode so far (for tests and `info`).
    pub fn curve(&self) -> Option<&[lrctl_engine::CurvePoint]> {
        self.episode.as_ref().map(|e| e.run.curve())
    }

    fn handle(&mut self, cmd: Cmd) -> Result<Out, Error> {
        match cmd {
            Cmd::Reset { task, seed } => self.reset(&task, seed).map(Out::Reset),
            Cmd::Step { action } => self.step(action).map(Out::Step),
        }
    }
}

enum Cmd {
    Reset { task: String, seed: u64 },
    Step { action: f64 },
}

enum Out {
    Reset(ResetOut),
    Step(StepOut),
}

type Reply = Result<Out, Error>;

/// The native core of `lrctl.Env`: an [`EnvState`] on its own thread. Use `lrctl.Env`.
#[pyclass(frozen, module = "lrctl._lrctl")]
pub struct EnvCore {
    tx: Mutex<Option<Sender<Cmd>>>,
    rx: Mutex<Receiver<Reply>>,
    pending: AtomicUsize,
    handle: Mutex<Option<JoinHandle<()>>>,
    total_actions_hint: u64,
}

fn parse_reward(s: &str) -> Result<Reward, Error> {
    match s {
        "dacbench" => Ok(Reward::Dacbench),
        "dense" => Ok(Reward::Dense),
        _ => Err(Error::Value(format!(
            "reward must be \"dacbench\" or \"dense\", got {s:?}"
        ))),
    }
}

fn parse_action(s: &str) -> Result<ActionMode, Error> {
    match s {
        "absolute" => Ok(ActionMode::Absolute),
        "log-multiplier" => Ok(ActionMode::LogMultiplier),
        _ => Err(Error::Value(format!(
            "action must be \"absolute\" or \"log-multiplier\", got {s:?}"
        ))),
    }
}

fn vector_array<'py>(py: Python<'py>, v: &[f64; OBSERVATION_LEN]) -> Bound<'py, PyArray1<f32>> {
    PyArray1::from_vec(py, v.iter().map(|&x| x as f32).collect())
}

impl EnvCore {
    fn send(&self, cmd: Cmd) -> PyResult<()> {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = tx.as_ref() else {
            return Err(Error::Runtime("the environment is closed".into()).into());
        };
        if self.pending.load(Ordering::SeqCst) > 0 {
            return Err(Error::Runtime(
                "the environment is still busy with the previous command: call recv() first".into(),
            )
            .into());
        }
        tx.send(cmd)
            .map_err(|_| Error::Runtime("the environment's thread has stopped".into()))?;
        self.pending.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[pymethods]
impl EnvCore {
    /// Starts the environment's thread. Checks the configuration (a bad method or setting
    /// raises here); data is loaded at the first reset of each task.
    #[new]
    #[pyo3(signature = (method, *, interval, action, max_factor, lr_min, lr_max, reward, crash_penalty, dacbench_compat, steps=None, validation_examples=None, eval_examples=None, threads=1, data_dir=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        method: &Bound<'_, PyAny>,
        interval: u64,
        action: &str,
        max_factor: f64,
        lr_min: f64,
        lr_max: f64,
        reward: &str,
        crash_penalty: f64,
        dacbench_compat: bool,
        steps: Option<u64>,
        validation_examples: Option<usize>,
        eval_examples: Option<usize>,
        threads: usize,
        data_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let method = crate::registry::plain(crate::registry::method(method, "method")?)?;
        let config = EnvConfig {
            method,
            interval,
            map: ActionMap {
                mode: parse_action(action)?,
                max_factor,
                lr_min,
                lr_max,
            },
            reward: parse_reward(reward)?,
            crash_penalty,
            mode: if dacbench_compat {
                Mode::DacbenchCompat
            } else {
                Mode::Lrctl
            },
            steps,
            validation_examples,
            eval_examples,
            threads,
            dirs: lrctl_data::DataDirs::new(data_dir),
        };
        config.validate()?;
        let (tx, cmd_rx) = std::sync::mpsc::channel::<Cmd>();
        let (reply_tx, rx) = std::sync::mpsc::channel::<Reply>();
        let threads = config.threads;
        let handle = std::thread::Builder::new()
            .name("lrctl-env".into())
            .spawn(move || {
                lrctl_engine::with_threads(threads, move || {
                    let mut state = EnvState::new(config);
                    while let Ok(cmd) = cmd_rx.recv() {
                        let out = catch_unwind(AssertUnwindSafe(|| state.handle(cmd)));
                        let out = out.unwrap_or_else(|p| {
                            // Whatever the episode was in the middle of is not trustworthy.
                            state.episode = None;
                            Err(Error::panic(&*p))
                        });
                        if reply_tx.send(out).is_err() {
                            break;
                        }
                    }
                })
            })
            .map_err(|e| Error::Runtime(format!("cannot start the environment's thread: {e}")))?;
        Ok(EnvCore {
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(rx),
            pending: AtomicUsize::new(0),
            handle: Mutex::new(Some(handle)),
            total_actions_hint: steps.map_or(0, |s| s.div_ceil(interval.max(1))),
        })
    }

    /// Actions per episode when `steps` was given (0: it depends on the task's budget).
    #[getter]
    fn total_actions_hint(&self) -> u64 {
        self.total_actions_hint
    }

    /// Sends a reset; `recv()` returns `(observation, info)`.
    fn send_reset(&self, task: String, seed: u64) -> PyResult<()> {
        self.send(Cmd::Reset { task, seed })
    }

    /// Sends a step; `recv()` returns `(observation, reward, terminated, truncated, info)`.
    fn send_step(&self, action: f64) -> PyResult<()> {
        self.send(Cmd::Step { action })
    }

    /// Waits (without the GIL) for the reply to the command sent last.
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        if self.pending.load(Ordering::SeqCst) == 0 {
            return Err(Error::Runtime("nothing was sent to the environment".into()).into());
        }
        let reply = py.detach(|| {
            let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        });
        self.pending.fetch_sub(1, Ordering::SeqCst);
        let out =
            reply.map_err(|_| Error::Runtime("the environment's thread has stopped".into()))??;
        match out {
            Out::Reset(r) => {
                let info = pythonize(py, &r.info)?;
                PyTuple::new(
                    py,
                    [vector_array(py, &r.vector).into_any(), info.into_any()],
                )
            }
            Out::Step(s) => {
                let info = pythonize(py, &s.info)?;
                PyTuple::new(
                    py,
                    [
                        vector_array(py, &s.vector).into_any(),
                        s.reward.into_pyobject(py)?.into_any(),
                        pyo3::types::PyBool::new(py, s.terminated)
                            .to_owned()
                            .into_any(),
                        pyo3::types::PyBool::new(py, s.truncated)
                            .to_owned()
                            .into_any(),
                        info.into_any(),
                    ],
                )
            }
        }
    }

    /// `send_reset` then `recv`.
    fn reset<'py>(
        &self,
        py: Python<'py>,
        task: String,
        seed: u64,
    ) -> PyResult<Bound<'py, PyTuple>> {
        self.send_reset(task, seed)?;
        self.recv(py)
    }

    /// `send_step` then `recv`.
    fn step<'py>(&self, py: Python<'py>, action: f64) -> PyResult<Bound<'py, PyTuple>> {
        self.send_step(action)?;
        self.recv(py)
    }

    /// Stops the environment's thread (after the command in flight); idempotent.
    fn close(&self, py: Python<'_>) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            py.detach(|| {
                let _ = h.join();
            });
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EnvCore>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(method: &str, interval: u64) -> EnvConfig {
        EnvConfig {
            method: lrctl_method::find(method).unwrap(),
            interval,
            map: ActionMap {
                mode: ActionMode::LogMultiplier,
                max_factor: 10.0,
                lr_min: 0.0,
                lr_max: f64::INFINITY,
            },
            reward: Reward::Dense,
            crash_penalty: -100.0,
            mode: Mode::Lrctl,
            steps: None,
            validation_examples: None,
            eval_examples: None,
            threads: 1,
            dirs: lrctl_data::DataDirs::default(),
        }
    }

    fn strip(c: &[lrctl_engine::CurvePoint]) -> Vec<lrctl_engine::CurvePoint> {
        c.iter()
            .cloned()
            .map(|mut p| {
                p.wall_seconds = 0.0;
                p
            })
            .collect()
    }

    #[test]
    fn neutral_actions_reproduce_the_base_method_bit_for_bit() {
        for method in ["adam-fixed", "adamw-cosine", "plateau-adamw"] {
            let mut env = EnvState::new(config(method, 7));
            let r = env.reset("logreg/iris", 3).unwrap();
            assert_eq!(r.info.total_actions, r.info.total_steps.div_ceil(7));
            let mut n = 0;
            loop {
                let s = env.step(0.0).unwrap();
                n += 1;
                assert!(!s.truncated);
                if s.terminated {
                    assert_eq!(s.info.outcome, Some("finished"));
                    assert!(s.info.test_loss.is_some());
                    break;
                }
            }
            assert_eq!(n, r.info.total_actions);
            let task = lrctl_tasks::prepare(
                &lrctl_tasks::registry::find("logreg/iris").unwrap(),
                &Default::default(),
            )
            .unwrap();
            let plain = lrctl_engine::train_method(
                task.as_ref(),
                &lrctl_method::find(method).unwrap(),
                &RunOptions {
                    seed: 3,
                    ..Default::default()
                },
            )
            .unwrap()
            .unwrap();
            assert_eq!(strip(env.curve().unwrap()), strip(&plain.curve), "{method}");
        }
    }

    #[test]
    fn same_seed_same_episode_and_actions_steer_the_rate() {
        let run = |actions: &[f64]| {
            let mut env = EnvState::new(config("adam-fixed", 5));
            let r = env.reset("logreg/iris", 1).unwrap();
            let mut out = vec![r.vector.to_vec()];
            for &a in actions {
                let s = env.step(a).unwrap();
                out.push(s.vector.to_vec());
                out.push(vec![s.reward, s.info.lr]);
            }
            out
        };
        let a = run(&[0.0, 1.0, -1.0, 0.5]);
        assert_eq!(a, run(&[0.0, 1.0, -1.0, 0.5]));
        // The rates: base 1e-3 scaled by 10^a.
        let lrs: Vec<f64> = a.iter().skip(2).step_by(2).map(|v| v[1]).collect();
        for (lr, want) in lrs.iter().zip([1e-3, 1e-2, 1e-4, 1e-3 * 10f64.sqrt()]) {
            assert!((lr - want).abs() < 1e-12 * want, "{lr} vs {want}");
        }
        assert_ne!(a, run(&[0.0, 0.0, 0.0, 0.0]));
    }

    #[test]
    fn divergence_and_nan_end_the_episode_with_the_crash_penalty() {
        for (mode, action) in [
            (Mode::Lrctl, f64::NAN),
            (Mode::DacbenchCompat, f64::NAN),
            (Mode::Lrctl, 1e9),
        ] {
            let mut cfg = config("adam-fixed", 20);
            cfg.mode = mode;
            cfg.map = ActionMap {
                mode: ActionMode::Absolute,
                max_factor: 10.0,
                lr_min: 0.0,
                lr_max: 1e9,
            };
            let mut env = EnvState::new(cfg);
            env.reset("mlp/digits", 0).unwrap();
            let mut s = env.step(action).unwrap();
            while !(s.terminated || s.truncated) {
                s = env.step(action).unwrap();
            }
            assert_eq!(s.reward, -100.0);
            assert_eq!(s.info.outcome, Some("diverged"), "{:?}", s.info);
            assert_eq!(
                (s.terminated, s.truncated),
                (mode == Mode::Lrctl, mode == Mode::DacbenchCompat)
            );
            assert!(s.vector.iter().all(|x| x.is_finite()));
            let e = env.step(0.0).unwrap_err();
            assert!(e.to_string().contains("reset()"), "{e}");
        }
    }

    #[test]
    fn rewards_and_validation_per_interval() {
        let mut cfg = config("adam-fixed", 10);
        cfg.reward = Reward::Dacbench;
        cfg.validation_examples = Some(8);
        cfg.steps = Some(30);
        let mut env = EnvState::new(cfg);
        env.reset("logreg/iris", 0).unwrap();
        let s1 = env.step(0.0).unwrap();
        assert_eq!(s1.reward, 0.0);
        assert!(s1.info.validation_loss.is_some());
        let i = lrctl_control::OBSERVATION_NAMES
            .iter()
            .position(|n| *n == "val_age")
            .unwrap();
        assert_eq!(s1.vector[i], 0.0, "validated just now");
        env.step(0.0).unwrap();
        let s3 = env.step(0.0).unwrap();
        assert!(s3.terminated);
        assert_eq!(s3.reward, -s3.info.test_loss.unwrap());
        // Dense rewards add up to the drop of the log loss from the first step.
        let mut cfg = config("adam-fixed", 10);
        cfg.steps = Some(30);
        let mut env = EnvState::new(cfg);
        env.reset("logreg/iris", 0).unwrap();
        let rewards: Vec<StepOut> = (0..3).map(|_| env.step(0.0).unwrap()).collect();
        let sum: f64 = rewards.iter().map(|s| s.reward).sum();
        assert!(sum > 0.0, "the loss fell: {sum}");
        let last_mean = rewards[2].info.train_loss;
        assert!(
            (rewards[2].reward - (rewards[1].info.train_loss.ln() - last_mean.ln())).abs() < 1e-12
        );
    }
}
