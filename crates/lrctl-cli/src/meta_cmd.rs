//! `lrctl meta-train`: meta-train a learned learning-rate controller across tasks and write
//! its policy file and a method file that uses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use lrctl_control::online::{PolicyNet, PolicyWeights};
use lrctl_tune::Objective;
use lrctl_wrap::meta::{EvolverKind, MetaSettings, MetaState};

use crate::commands::{DataArgs, resolve_task};

/// The evolution strategy, as the command line names it.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum EvolverArg {
    /// CMA-ES (diagonal sep-CMA-ES above 200 weights).
    Cma,
    /// OpenAI-ES with mirrored sampling and Adam.
    Es,
}

/// `lrctl meta-train`.
#[derive(Debug, Args)]
pub struct MetaTrainArgs {
    /// Tasks to meta-train on, comma-separated (`lrctl tasks`).
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// The base method the policy steers: a plain method name or `.toml` file.
    #[arg(long, default_value = "adam-fixed")]
    method: String,
    /// Where to write the policy (`FILE.json`); a method file using it is written next to it
    /// (`FILE.toml`) and the resumable state to `FILE.state.json`.
    #[arg(long, value_name = "FILE.json")]
    out: PathBuf,
    /// Hidden layer sizes, comma-separated (none: a linear policy).
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Evolution strategy.
    #[arg(long, value_enum, default_value = "cma")]
    evolver: EvolverArg,
    /// Generations.
    #[arg(long, default_value_t = 20)]
    generations: u64,
    /// The last this many generations train the whole budget.
    #[arg(long, default_value_t = 3)]
    full_generations: u64,
    /// Fraction of each task's budget in the earlier generations.
    #[arg(long, default_value_t = 0.25)]
    fidelity: f64,
    /// Training seeds per task, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Initial search step size over the weights.
    #[arg(long, default_value_t = 0.5)]
    sigma: f64,
    /// Steps between the policy's decisions.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// The largest factor the policy may scale the base rate by.
    #[arg(long, default_value_t = 10.0)]
    max_factor: f64,
    /// What a run is scored on: final-train-loss, mean-train-loss, valid-loss, valid-metric.
    #[arg(long, default_value = "final-train-loss", value_parser = parse_objective)]
    objective: Objective,
    /// Seeds the evolution strategy.
    #[arg(long = "tuning-seed", default_value_t = 0, value_name = "SEED")]
    seed: u64,
    /// Runs trained at once [default: the number of cores].
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Start from this policy (finetuning) instead of the base method (zero weights).
    #[arg(long, value_name = "FILE.json")]
    init: Option<PathBuf>,
    /// Start again even if a saved state exists.
    #[arg(long)]
    fresh: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    set: crate::commands::SetArgs,
    #[command(flatten)]
    data_args: DataArgs,
}

fn parse_objective(s: &str) -> Result<Objective, String> {
    s.parse::<Objective>().map_err(|_| {
        let known: Vec<&str> = Objective::ALL.iter().map(|o| o.name()).collect();
        format!("unknown objective; use one of {}", known.join(", "))
    })
}

/// `FILE.json` → `FILE.<ext>`.
fn beside(out: &Path, ext: &str) -> PathBuf {
    out.with_extension(ext)
}

/// Runs `lrctl meta-train`.
pub fn run(args: MetaTrainArgs) -> Result<()> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("json") {
        bail!(
            "--out {}: name the policy file `FILE.json`",
            args.out.display()
        );
    }
    let init = match &args.init {
        Some(p) => Some(PolicyNet::read(p).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let hidden = match (&init, args.hidden.is_empty()) {
        (Some(net), true) => net.hidden(),
        _ => args.hidden.clone(),
    };
    let settings = MetaSettings {
        hidden,
        evolver: match args.evolver {
            EvolverArg::Cma => EvolverKind::Cma,
            EvolverArg::Es => EvolverKind::Es,
        },
        generations: args.generations,
        full_generations: args.full_generations.min(args.generations),
        fidelity: args.fidelity,
        seeds: args.seeds.clone(),
        sigma: args.sigma,
        interval: args.interval,
        max_factor: args.max_factor,
        objective: args.objective,
        seed: args.seed,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        init,
    };
    settings.validate()?;
    let base = crate::commands::plain_method(&args.method, &args.set)?;
    // Every task's data before any training: a missing file stops the run here, named.
    let mut tasks: Vec<Arc<dyn lrctl_tasks::Task>> = Vec::new();
    for name in &args.tasks {
        let spec = resolve_task(name, None)?;
        let task = lrctl_tasks::prepare(&spec, &args.data_args.dirs())
            .with_context(|| format!("task `{name}`"))?;
        tasks.push(task);
    }

    let state_path = beside(&args.out, "state.json");
    let mut state = match std::fs::read_to_string(&state_path) {
        Ok(text) if !args.fresh => {
            let state: MetaState = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a meta-training state (delete it or pass --fresh)",
                    state_path.display()
                )
            })?;
            if state.settings != settings || state.tasks != args.tasks || state.base != base {
                bail!(
                    "{} was saved by a meta-training run with other settings, tasks or base \
                     method; pass --fresh to start again, or another --out",
                    state_path.display()
                );
            }
            eprintln!(
                "resuming {} after generation {}",
                state_path.display(),
                state.history.len()
            );
            state
        }
        _ => MetaState::new(settings, &tasks, &base)?,
    };
    while !state.done() {
        let g = lrctl_wrap::meta::step(&mut state, &tasks)?;
        lrctl_store::atomic::write(&state_path, serde_json::to_vec(&state)?)
            .with_context(|| format!("writing {}", state_path.display()))?;
        if !args.quiet {
            let (steps, secs) = state.cost();
            eprintln!(
                "generation {:>3}/{} ({:>3.0} % budget): best {:+.4}, median {:+.4}  [{} steps, {:.1} s so far]",
                g.generation + 1,
                state.settings.generations,
                g.fraction * 100.0,
                g.best.unwrap_or(f64::NAN),
                median(&g.fitness),
                steps,
                secs
            );
        }
    }

    let net = state.policy();
    lrctl_store::atomic::write(&args.out, net.to_json())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let name = args
        .out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("learned")
        .to_string();
    let inline = state.method(PolicyWeights::Inline(Box::new(net.clone())), &name);
    let final_score = lrctl_wrap::meta::evaluate(&mut state, &tasks, &inline)?;
    let mut method = state.method(PolicyWeights::File(args.out.display().to_string()), &name);
    if let lrctl_control::ControllerSpec::Learned(c) = &mut method.controller {
        c.version = Some(format!("{:016x}", fnv(net.to_json().as_bytes())));
    }
    let toml_path = beside(&args.out, "toml");
    let text = format!(
        "# Written by `lrctl meta-train` (lrctl {}): {} steered by the policy in {}.\n# Use it \
         with `--method {}` (from this directory).\n\n{}",
        env!("CARGO_PKG_VERSION"),
        base.name,
        args.out.display(),
        toml_path.display(),
        toml::to_string(&method).context("writing the learned method as TOML")?
    );
    lrctl_store::atomic::write(&toml_path, text)
        .with_context(|| format!("writing {}", toml_path.display()))?;
    let (steps, secs) = state.cost();
    println!(
        "meta-trained {} on {} task(s) × {} seed(s): mean log-ratio to {} at the full budget \
         {:+.4} ({:.1} % {} objective); cost {} steps, {:.1} s of training",
        if net.hidden().is_empty() {
            "a linear policy".to_string()
        } else {
            format!("an MLP policy {:?}", net.hidden())
        },
        tasks.len(),
        state.settings.seeds.len(),
        base.name,
        final_score,
        (1.0 - final_score.exp()).abs() * 100.0,
        if final_score <= 0.0 {
            "lower"
        } else {
            "higher"
        },
        steps,
        secs
    );
    println!(
        "wrote {} (policy), {} (method: --method {})",
        args.out.display(),
        toml_path.display(),
        toml_path.display()
    );
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        return f64::NAN;
    }
    f.sort_by(f64::total_cmp);
    f[f.len() / 2]
}

/// FNV-1a: a short tag of the policy's content for the method's `version`.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
