//! Command-line interface: argument definitions and dispatch.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lrctl_data::{DataDirs, Network};
use lrctl_engine::{RunOptions, RunResult};
use lrctl_tasks::TaskSpec;

use crate::{cluster_cmds, output, select_cmd, study_cmds};

/// Learning-rate control for deep learning: train, compare and select.
#[derive(Debug, Parser)]
#[command(
    name = "lrctl",
    version,
    about = "Learning-rate control for deep learning: train, compare and select",
    long_about = None
)]
pub struct Cli {
    /// Never download: a mirror dataset missing from the data dir and the user cache is an
    /// error (also `LRCTL_OFFLINE=1`). Without it a missing file is downloaded into the user
    /// cache from its canonical URL (or `LRCTL_DATA_URL`) and checked before use.
    #[arg(long, global = true)]
    offline: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train one cell (task × method × seed) and print its result.
    Train(TrainArgs),
    /// Tune a method's hyperparameters on a task with a multi-fidelity tuner (Hyperband, ASHA,
    /// BOHB, SMAC-style, ...) and print the trials, the incumbent and the cost.
    Tune(crate::tune_cmd::TuneArgs),
    /// Meta-train a learned learning-rate controller (a small policy network steering a base
    /// method) across tasks with CMA-ES or OpenAI-ES; writes the policy and a method file.
    MetaTrain(crate::meta_cmd::MetaTrainArgs),
    /// List the built-in tasks, or `show` one (data, model, parameters, budget, splits).
    Tasks(crate::catalog_cmds::ListArgs),
    /// List the built-in methods, or `show` one (its method file).
    Methods(crate::catalog_cmds::ListArgs),
    /// List the optimizer kinds a method file can use, with their fields and defaults.
    Optimizers,
    /// List the controller kinds a method file can use, with their fields and defaults.
    Controllers,
    /// Run a study (default: the `quick` suite on embedded data, default methods, 3 seeds).
    Run(study_cmds::RunArgs),
    /// Progress of the studies in a store.
    Status(study_cmds::StatusArgs),
    /// A live, read-only web dashboard over a store: progress, workers, interactive curves,
    /// the report's statistics, cells, and comparisons of studies.
    Serve(crate::serve_cmd::ServeArgs),
    /// Results tables of a study (per task: mean ± standard error over seeds).
    Show(study_cmds::ShowArgs),
    /// Export a study's cells or curves as CSV or JSON.
    Export(study_cmds::ExportArgs),
    /// List the suites with their cell counts and estimated CPU time.
    Suites,
    /// Recommend a method for a task, or evaluate selectors by leave-one-task-out.
    Select(select_cmd::SelectArgs),
    /// Write a study's report: HTML with inline SVG figures, Markdown and CSV tables.
    Report(study_cmds::ReportArgs),
    /// Put cells of a study back in the queue, or retire them (e.g. failed ones).
    Cells(crate::cells_cmd::CellsArgs),
    /// Claim cells from a store and train them until none is left (many workers, many
    /// machines, one store).
    Worker(cluster_cmds::WorkerArgs),
    /// Run a study on a Slurm cluster: `submit` a job array of workers, `status`.
    Slurm(cluster_cmds::SlurmArgs),
    /// Training speed against a PyTorch reference on identical models and data: ratios,
    /// step latency, memory, and the cost of lrctl's own machinery.
    Bench(crate::bench_cmd::BenchArgs),
    /// Print a shell completion script: `lrctl completions bash > ~/.local/share/bash-completion/completions/lrctl`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages: `lrctl man --out DIR` (one page per command), or the main page to
    /// standard output.
    Man {
        /// Directory to write `lrctl.1` and `lrctl-<command>.1` into.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// Where data files are looked for.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Directory holding the dataset mirror (`libsvm/`, `mnist/`, ...); also `LRCTL_DATA_DIR`.
    #[arg(long, env = "LRCTL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The global `--offline`.
    #[arg(from_global)]
    offline: bool,
}

impl DataArgs {
    /// The lookup: `--data-dir` / `LRCTL_DATA_DIR`, the user cache, and downloads into it
    /// unless `--offline` or `LRCTL_OFFLINE=1`, drawn as a progress bar on stderr.
    pub(crate) fn dirs(&self) -> DataDirs {
        let network = if self.offline {
            Network::Offline
        } else {
            Network::from_env(Network::Allowed)
        };
        DataDirs::new(self.data_dir.clone())
            .with_network(network)
            .with_observer(std::sync::Arc::new(crate::progress::DownloadBar::default()))
    }

    /// Whether `--offline` was given (`LRCTL_OFFLINE` is read where the lookup is built).
    pub(crate) fn offline(&self) -> bool {
        self.offline
    }

    /// The directory given with `--data-dir` or `LRCTL_DATA_DIR`, if any.
    pub(crate) fn data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// Task name (`lrctl tasks`), optionally with a scale suffix such as `@w2`.
    #[arg(long)]
    task: String,
    /// Method name (`lrctl methods`) or a method `.toml` file.
    #[arg(long)]
    method: String,
    /// Seed of the cell (initialisation and shuffling).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Override the task's budget in optimizer steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Train on this file (LIBSVM file, IDX directory or text file) instead of the task's own
    /// dataset; `libsvm/file`, `mlp/idx`, `cnn/idx` and `lm/file` require it.
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// Write the result: `.json` (everything, with the curve) or `.csv` (the curve).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Evaluate on at most this many examples (every evaluation, final ones included): a
    /// quick smoke run. By default the final validation and test evaluations use whole splits.
    #[arg(long, value_name = "N")]
    eval_examples: Option<usize>,
    /// Threads for this run (each cell of a study uses one).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[command(flatten)]
    set: SetArgs,
    #[command(flatten)]
    data_args: DataArgs,
}

/// Overrides of a method's fields on the command line.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// Set a field of the method by dotted path, e.g. `--set controller.lr=3e-4` or
    /// `--set optimizer.betas.1=0.95` (repeatable). The value is JSON (a number, `true`,
    /// `"text"`); it is part of the cells' configuration, so their hash changes.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
}

impl SetArgs {
    /// The overrides as (path, value).
    pub fn overrides(&self) -> Result<Vec<(String, serde_json::Value)>> {
        self.set
            .iter()
            .map(|s| {
                let Some((path, value)) = s.split_once('=') else {
                    bail!("--set {s}: write PATH=VALUE, e.g. --set controller.lr=3e-4");
                };
                let path = path.trim();
                if path.is_empty() {
                    bail!("--set {s}: the path is empty");
                }
                // JSON when it parses (numbers, booleans, quoted text), else plain text.
                let value = serde_json::from_str(value.trim())
                    .unwrap_or_else(|_| serde_json::Value::String(value.trim().to_string()));
                Ok((path.to_string(), value))
            })
            .collect()
    }

    /// `method` with the overrides applied (unchanged without any).
    pub fn apply(&self, method: lrctl_wrap::Method) -> Result<lrctl_wrap::Method> {
        let overrides = self.overrides()?;
        if overrides.is_empty() {
            return Ok(method);
        }
        Ok(method.with_overrides(&overrides)?)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train(args),
        Command::Tune(args) => crate::tune_cmd::run(args),
        Command::MetaTrain(args) => crate::meta_cmd::run(args),
        Command::Tasks(args) => crate::catalog_cmds::tasks(args),
        Command::Methods(args) => crate::catalog_cmds::methods(args),
        Command::Optimizers => crate::catalog_cmds::optimizers(),
        Command::Controllers => crate::catalog_cmds::controllers(),
        Command::Run(args) => study_cmds::run(args),
        Command::Status(args) => study_cmds::status(args),
        Command::Serve(args) => crate::serve_cmd::serve(args),
        Command::Show(args) => study_cmds::show(args),
        Command::Export(args) => study_cmds::export(args),
        Command::Suites => study_cmds::suites(),
        Command::Report(args) => study_cmds::report(args),
        Command::Worker(args) => cluster_cmds::worker(args),
        Command::Cells(args) => crate::cells_cmd::cells(args),
        Command::Slurm(args) => cluster_cmds::slurm(args),
        Command::Select(args) => select_cmd::select(args),
        Command::Bench(args) => crate::bench_cmd::bench(args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "lrctl", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { out } => man(out.as_deref()),
    }
}

/// `lrctl man`: the main page to stdout, or every page into a directory.
fn man(out: Option<&std::path::Path>) -> Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match out {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)?;
            eprintln!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(())
}

/// Resolves a task name and an optional `--data` override.
pub fn resolve_task(name: &str, data: Option<&PathBuf>) -> Result<TaskSpec> {
    let mut spec = lrctl_tasks::registry::find(name)?;
    if let Some(path) = data {
        // A named dataset stays that dataset: training another file under its name would
        // file the results under the wrong data.
        if !spec.data.needs_path() {
            bail!(
                "task `{}` trains on the dataset `{}`; to train on your own file use a \
                 bring-your-own-file task (`lrctl tasks` lists them: libsvm/file, mlp/idx, \
                 cnn/idx, lm/file) with --data, or define a task in a study file",
                spec.name,
                spec.data.name()
            );
        }
        spec.data = spec.data.with_path(path.clone());
    } else if spec.data.needs_path() {
        bail!(
            "task `{}` trains on a file you provide: add `--data PATH`",
            spec.name
        );
    }
    Ok(spec)
}

/// A plain method by name or file (with `--set` overrides), or an error that says where a
/// wrapped one can go.
pub fn plain_method(name: &str, set: &SetArgs) -> Result<lrctl_method::MethodSpec> {
    let method = set.apply(lrctl_wrap::find(name)?)?;
    match &method.wrapper {
        None => Ok(method.spec),
        Some(lrctl_wrap::Wrapper::Tune(_)) => bail!(
            "method `{name}` is a tuned method: one run of it is a whole tuning run. Tune it \
             with `lrctl tune --method {name}`, or run it in a study: `lrctl run --task T \
             --method {name} --seeds 1`"
        ),
        Some(lrctl_wrap::Wrapper::Select(_)) => bail!(
            "method `{name}` is a selection method: it chooses among other methods using a \
             study. Run it in a study: `lrctl run --task T --method {name}`"
        ),
        Some(lrctl_wrap::Wrapper::Learn(_)) => bail!(
            "method `{name}` is a learned method: its policy for a task is meta-trained on a \
             study's other tasks. Run it in a study of three or more tasks (`lrctl run --task \
             T1 --task T2 --task T3 --method {name}`), or meta-train a policy with `lrctl \
             meta-train`"
        ),
    }
}

fn train(args: TrainArgs) -> Result<()> {
    if let Some(out) = args.out.as_ref().filter(|o| o.as_os_str() != "-") {
        output::check_out_extension(out)?;
    }
    let spec = resolve_task(&args.task, args.data.as_ref())?;
    let method = plain_method(&args.method, &args.set)?;
    method.validate()?;
    let task = lrctl_tasks::prepare(&spec, &args.data_args.dirs())?;

    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} steps ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!(
        "{} · {} · seed {}",
        spec.name, method.name, args.seed
    ));
    let progress = |done: u64, total: u64| {
        if done == 1 || done.is_multiple_of(16) || done == total {
            bar.set_length(total);
            bar.set_position(done);
        }
    };

    let threads = args.threads.max(1);
    let options = RunOptions {
        seed: args.seed,
        steps: args.steps,
        progress: Some(&progress),
        cancel: None,
        eval_limit: args.eval_examples.map(|n| n.max(1)),
    };
    let result: RunResult = lrctl_engine::with_threads(threads, || {
        lrctl_engine::train_method(task.as_ref(), &method, &options)
    })?
    .expect("not cancelled");
    bar.finish_and_clear();

    match &args.out {
        // `--out -`: the full result as JSON on stdout (for a pipe); the summary to stderr.
        Some(out) if out.as_os_str() == "-" => {
            eprint!(
                "{}",
                output::run_summary(&spec, &method.name, args.seed, &result)
            );
            output::write_run_json(&mut std::io::stdout(), &spec, &method, args.seed, &result)?;
        }
        Some(out) => {
            print!(
                "{}",
                output::run_summary(&spec, &method.name, args.seed, &result)
            );
            output::write_run(out, &spec, &method, args.seed, &result)?;
            eprintln!("wrote {}", out.display());
        }
        None => print!(
            "{}",
            output::run_summary(&spec, &method.name, args.seed, &result)
        ),
    }
    Ok(())
}

/// A tuning or meta-training objective by name, or the list of names.
pub(crate) fn parse_objective(s: &str) -> Result<lrctl_tune::Objective, String> {
    s.parse::<lrctl_tune::Objective>().map_err(|_| {
        let known: Vec<&str> = lrctl_tune::Objective::ALL
            .iter()
            .map(|o| o.name())
            .collect();
        format!("unknown objective; use one of {}", known.join(", "))
    })
}
