//! The study commands: `run`, `status`, `show`, `export`, `suites`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use lrctl_store::{Store, StudyRow};
use lrctl_study::export::{Format, Table};
use lrctl_study::{RunConfig, Study, StudyFile, estimate, summary};

use crate::commands::DataArgs;

/// Default store of every study command.
pub const DEFAULT_STORE: &str = "lrctl.db";

/// Which store to use.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Store: an SQLite file path (default `lrctl.db`) or a PostgreSQL URL
    /// (`postgres://USER@HOST/DB`; the password from the URL, `PGPASSWORD` or `~/.pgpass`);
    /// also `LRCTL_STORE`.
    #[arg(long, env = "LRCTL_STORE", default_value = DEFAULT_STORE, value_name = "PATH|URL", hide_env_values = true)]
    pub store: String,
}

/// Which cells a study has: suites, tasks, methods, seeds, budget, or a study file.
#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Suites to run (`lrctl suites`); with no suite, task or file: `quick`.
    #[arg(long = "suite", value_name = "NAME")]
    suites: Vec<String>,
    /// Tasks to run (`lrctl tasks`), repeatable.
    #[arg(long = "task", value_name = "NAME")]
    tasks: Vec<String>,
    /// Methods (`lrctl methods` names or `.toml` files), repeatable; default: the suites'
    /// methods, else the default set.
    #[arg(long = "method", value_name = "NAME")]
    methods: Vec<String>,
    /// Seeds: a count (`3` = seeds 0, 1, 2) or a list (`0,5,7`).
    #[arg(long, value_name = "N|LIST")]
    seeds: Option<String>,
    /// Override every task's budget with this many optimizer steps.
    #[arg(long)]
    steps: Option<u64>,
    /// A study file (TOML) with suites, tasks, methods, seeds and inline definitions.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Study name in the store (default: the file's stem or the suites joined by `+`).
    #[arg(long)]
    study: Option<String>,
    #[command(flatten)]
    set: crate::commands::SetArgs,
}

/// `lrctl run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    study: StudyArgs,
    /// Cells trained at once, one thread each (default: the number of cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// How to show progress: `bar` (the default), `log` (one line per finished cell) or
    /// `none`.
    #[arg(long, value_enum, default_value = "bar")]
    progress: crate::progress::Display,
    /// No progress bar (`--progress none`).
    #[arg(long)]
    quiet: bool,
    /// Write every event (a cell starts, a result is recorded) as one JSON line to this file,
    /// for scripts and dashboards (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Only add the study's cells to the store and exit; `lrctl worker` processes (on any
    /// machines sharing the store) train them.
    #[arg(long)]
    submit_only: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// `lrctl status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The study (default: every study in the store).
    #[arg(long)]
    study: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `lrctl show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Only this task's table.
    #[arg(long, conflicts_with = "scale")]
    task: Option<String>,
    /// The Scale section's tables instead: per ladder, the HPO advantage and tuning bill per
    /// rung and each method's normalised score, then the families on the complexity axis.
    #[arg(long)]
    scale: bool,
    /// The study (default: the only one, else the most recently changed).
    #[arg(long)]
    study: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON document.
    Json,
    /// An ASlib algorithm-selection scenario (a directory of ARFF files; needs `--out DIR`).
    Aslib,
}

/// Export tables.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TableArg {
    /// One row per cell: task, method, seed, outcome, final metrics, cost.
    Cells,
    /// One row per curve point: step, train loss, lr, effective lr, gradient norm, evaluations.
    Curves,
}

/// `lrctl export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
    /// What to export (JSON `curves` nests each cell's curve in the cell).
    #[arg(long, value_enum, default_value = "cells")]
    table: TableArg,
    /// Write here instead of standard output (a directory for `aslib`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The study (default: the only one, else the most recently changed).
    #[arg(long)]
    study: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `lrctl report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Directory to write `index.html`, `report.md`, `figures/` and `tables/` into.
    #[arg(long, default_value = "report", value_name = "DIR")]
    out: PathBuf,
    /// Smooth learning curves with an exponentially weighted moving average (weight on the
    /// newest point, in (0, 1]).
    #[arg(long, value_name = "ALPHA")]
    smooth: Option<f64>,
    /// Bootstrap resamples for confidence intervals.
    #[arg(long, default_value_t = 2000)]
    reps: usize,
    /// Seed of the bootstrap resampling (the report is deterministic given it).
    #[arg(
        long = "bootstrap-seed",
        alias = "seed",
        default_value_t = 0,
        value_name = "SEED"
    )]
    seed: u64,
    /// The study (default: the only one, else the most recently changed). Give it more than
    /// once to compare studies side by side: methods become `STUDY:method` on the tasks they
    /// share.
    #[arg(long)]
    study: Vec<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `lrctl report`.
pub fn report(args: ReportArgs) -> Result<()> {
    if let Some(a) = args.smooth
        && !(a > 0.0 && a <= 1.0)
    {
        bail!("--smooth {a}: the EWM weight must be in (0, 1]");
    }
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let mut store = lrctl_store::open_read_only(&args.store.store)?;
    let snap = if args.study.len() > 1 {
        let mut snaps = Vec::new();
        for name in &args.study {
            let study = find_study(store.as_mut(), Some(name))?;
            snaps.push(lrctl_study::snapshot::Snapshot::read(
                store.as_mut(),
                study,
            )?);
        }
        lrctl_study::snapshot::Snapshot::side_by_side(snaps)
    } else {
        let study = find_study(store.as_mut(), args.study.first().map(String::as_str))?;
        lrctl_study::snapshot::Snapshot::read(store.as_mut(), study)?
    };
    let opts = lrctl_report::ReportOptions {
        smoothing: args.smooth,
        bootstrap_reps: args.reps,
        seed: args.seed,
    };
    let doc = lrctl_report::build(&snap, &opts);
    crate::output::write_report_dir(&doc, &args.out)
        .with_context(|| format!("cannot write the report into {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} cells{})",
        args.out.join("index.html").display(),
        snap.cells.len(),
        match snap.unfinished() {
            0 => String::new(),
            n => format!(", {n} unfinished"),
        }
    );
    Ok(())
}

fn parse_seeds(s: &str) -> Result<lrctl_study::Seeds> {
    let bad = || {
        anyhow::anyhow!(
            "--seeds {s}: give a count (`3` runs seeds 0, 1, 2) or a comma-separated list (`0,5,7`)"
        )
    };
    if s.contains(',') {
        let v: Result<Vec<u64>, _> = s.split(',').map(|x| x.trim().parse::<u64>()).collect();
        Ok(lrctl_study::Seeds::List(v.map_err(|_| bad())?))
    } else {
        let n: u32 = s.trim().parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(lrctl_study::Seeds::Count(n))
    }
}

/// Combines a study file and flags: flags add to the file's lists and override its scalars.
pub fn study_from(args: &StudyArgs) -> Result<Study> {
    let mut file = match &args.file {
        Some(path) => StudyFile::from_file(path)?,
        None => StudyFile::default(),
    };
    file.suites.extend(args.suites.iter().cloned());
    file.tasks.extend(args.tasks.iter().cloned());
    file.methods.extend(args.methods.iter().cloned());
    if let Some(s) = &args.seeds {
        file.seeds = Some(parse_seeds(s)?);
    }
    if args.steps.is_some() {
        file.steps = args.steps;
    }
    if args.study.is_some() {
        file.name = args.study.clone();
    }
    // The embedded default when nothing at all names tasks; a study file without tasks is an
    // error (`tasks = []` does not mean "the quick suite").
    if args.file.is_none() && file.suites.is_empty() && file.tasks.is_empty() {
        file.suites.push("quick".into());
    }
    for t in &file.tasks {
        let spec = lrctl_tasks::registry::find(t)?;
        if spec.data.needs_path() {
            bail!(
                "task `{t}` trains on a file you provide; declare it in a study file as a \
                 [[task]] with `data.path`, or use `lrctl train --task {t} --data PATH`"
            );
        }
    }
    let mut study = file.resolve()?;
    // `--set` overrides every method of the study (a path one lacks is an error).
    study.methods = study
        .methods
        .into_iter()
        .map(|m| args.set.apply(m))
        .collect::<Result<_>>()?;
    Ok(study)
}

/// `lrctl run`.
pub fn run(args: RunArgs) -> Result<()> {
    let study = study_from(&args.study)?;
    if args.submit_only {
        let mut store = lrctl_store::open_with(&args.store.store, &interactive_create())?;
        let (id, a) = lrctl_study::submit(store.as_mut(), &study)?;
        let p = store.progress(id)?;
        println!(
            "study `{}`: {} cell(s) new, {} already in {}; {} to run: start workers with \
             `lrctl worker --study {}`",
            study.name,
            a.added + a.reinstated,
            a.existing,
            store.location(),
            p.queued + p.running,
            study.name
        );
        return Ok(());
    }
    let mut cfg = RunConfig::new(args.data.dirs());
    if let Some(j) = args.jobs {
        if j == 0 {
            bail!("--jobs must be at least 1");
        }
        cfg.jobs = j;
    }
    let display = if args.quiet {
        crate::progress::Display::Quiet
    } else {
        args.progress
    };
    cfg.observer = Some(crate::progress::observer(display, args.events.as_deref())?);
    install_ctrlc(Arc::clone(&cfg.cancel));

    let n_cells = study.cells().len();
    eprintln!(
        "study `{}`: {} task(s) × {} method(s) × {} seed(s) = {} cells → {} ({} job(s))",
        study.name,
        study.tasks.len(),
        study.methods.len(),
        study.seeds.len(),
        n_cells,
        lrctl_store::redact(&args.store.store),
        cfg.jobs
    );
    // Fail within seconds on an unreachable server (the study's own connections wait).
    drop(lrctl_store::open_with(
        &args.store.store,
        &interactive_create(),
    )?);
    let report = lrctl_study::run_study(&args.store.store, &study, &cfg)?;
    for (task, reason) in &report.skipped {
        eprintln!("warning: task `{task}` skipped (its cells were not added): {reason}");
    }
    let a = &report.added;
    if a.existing > 0 || a.superseded > 0 {
        eprintln!(
            "{} cell(s) new, {} already in the store{}",
            a.added + a.reinstated,
            a.existing,
            if a.superseded > 0 {
                format!(
                    ", {} superseded (their configuration changed; old results kept)",
                    a.superseded
                )
            } else {
                String::new()
            }
        );
    }
    eprintln!("trained {} cell(s) in {:.1} s", report.ran, report.seconds);
    let mut store = lrctl_store::open_read_only(&args.store.store)?;
    let row = find_study(store.as_mut(), Some(&study.name))?;
    print_tables(store.as_mut(), &row, None)?;
    if report.interrupted {
        eprintln!("interrupted: finished cells are stored; run the same command again to resume");
        std::process::exit(130);
    }
    Ok(())
}

/// Opening for a command a person waits on that may create the store.
fn interactive_create() -> lrctl_store::OpenOptions {
    lrctl_store::OpenOptions::interactive(lrctl_store::OpenMode::Create)
}

/// First Ctrl-C: stop after the cells in flight (they are discarded and requeued). Second: quit.
pub fn install_ctrlc(cancel: Arc<AtomicBool>) {
    let presses = AtomicUsize::new(0);
    let _ = ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) == 0 {
            cancel.store(true, Ordering::SeqCst);
            eprintln!(
                "\nstopping: cells in flight are put back in the queue; press Ctrl-C again to quit now"
            );
        } else {
            std::process::exit(130);
        }
    });
}

/// The named study, or the only / most recently changed one.
pub fn find_study(store: &mut dyn Store, name: Option<&str>) -> Result<StudyRow> {
    let studies = store.studies()?;
    if let Some(name) = name {
        let known = names(&studies);
        return studies
            .into_iter()
            .find(|s| s.name == name)
            .with_context(|| {
                format!(
                    "no study `{name}` in {}; the studies there: {known}",
                    store.location(),
                )
            });
    }
    let n = studies.len();
    let chosen = studies
        .into_iter()
        .max_by_key(|s| (s.updated_at, s.id))
        .with_context(|| {
            format!(
                "{} holds no study yet: start one with `lrctl run`",
                store.location()
            )
        })?;
    // Never switch studies silently: say which one this command acts on.
    if n > 1 {
        eprintln!(
            "study `{}` (the most recently changed of {n}; choose another with --study)",
            chosen.name
        );
    } else {
        eprintln!("study `{}`", chosen.name);
    }
    Ok(chosen)
}
fn names(studies: &[StudyRow]) -> String {
    if studies.is_empty() {
        return "(none)".into();
    }
    studies
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the per-task results tables of a study (one task when `only` is given).
fn print_tables(store: &mut dyn Store, study: &StudyRow, only: Option<&str>) -> Result<()> {
    let snap = lrctl_study::snapshot::Snapshot::from_cells(
        study.clone(),
        store.cells(study.id, lrctl_store::CellSet::Current)?,
    );
    if let Some(t) = only
        && !snap.tasks.iter().any(|task| task.name == t)
    {
        let known: Vec<&str> = snap.tasks.iter().map(|t| t.name.as_str()).collect();
        bail!(
            "study `{}` has no task `{t}`; its tasks: {}",
            study.name,
            known.join(", ")
        );
    }
    let summaries: Vec<_> = snap
        .cells
        .iter()
        .filter(|c| only.is_none_or(|t| c.task == t))
        .filter_map(lrctl_study::cell_summary)
        .collect();
    let lookup = |task: &str| snap.tasks.iter().find(|t| t.name == task);
    let tables = summary::tables(&summaries, &snap.methods, |t| {
        lookup(t).is_none_or(|t| t.maximize)
    });
    let pending = snap.unfinished();
    println!();
    for (task, rows) in &tables {
        let metric = lookup(task).map_or("metric", |t| t.metric);
        println!("{}", summary::render(task, metric, rows));
    }
    println!(
        "* best held-out metric of the task (mean ± standard error over finished seeds; a \
         value without ± rests on one seed){}",
        if pending > 0 {
            format!("; {pending} cell(s) not finished yet")
        } else {
            String::new()
        }
    );
    for l in &snap.left_out {
        if only.is_none_or(|t| l.task == t) {
            eprintln!("note: {l}");
        }
    }
    Ok(())
}

/// `lrctl status`.
pub fn status(args: StatusArgs) -> Result<()> {
    let mut store = lrctl_store::open_read_only(&args.store.store)?;
    let studies = match &args.study {
        Some(name) => vec![find_study(store.as_mut(), Some(name))?],
        None => store.studies()?,
    };
    if studies.is_empty() {
        println!(
            "{} holds no study yet: start one with `lrctl run`",
            store.location()
        );
        return Ok(());
    }
    println!(
        "{:24} {:>7} {:>7} {:>7} {:>9} {:>9} {:>7}  updated",
        "study", "cells", "queued", "running", "finished", "diverged", "failed"
    );
    for s in studies {
        let p = store.progress(s.id)?;
        println!(
            "{:24} {:>7} {:>7} {:>7} {:>9} {:>9} {:>7}  {}",
            s.name,
            p.total(),
            p.queued,
            p.running,
            p.finished,
            p.diverged,
            p.failed,
            s.updated_at
        );
    }
    Ok(())
}

/// `lrctl show`.
pub fn show(args: ShowArgs) -> Result<()> {
    let mut store = lrctl_store::open_read_only(&args.store.store)?;
    let study = find_study(store.as_mut(), args.study.as_deref())?;
    println!("study `{}` in {}", study.name, store.location());
    if args.scale {
        return print_scale(store.as_mut(), &study);
    }
    print_tables(store.as_mut(), &study, args.task.as_deref())
}

/// `lrctl show --scale`: the report's Scale tables as Markdown.
fn print_scale(store: &mut dyn Store, study: &StudyRow) -> Result<()> {
    let snap = lrctl_study::snapshot::Snapshot::from_cells(
        study.clone(),
        store.cells(study.id, lrctl_store::CellSet::Current)?,
    );
    let scale = lrctl_report::analyse_scale(&snap, &lrctl_report::ReportOptions::default());
    if let lrctl_report::ScaleAnalysis::NoLadder { reason } = &scale {
        println!("\nThis study has no ladder: {reason}.");
        return Ok(());
    }
    for (_, caption, table) in lrctl_report::scale_tables(&scale) {
        println!("\n{caption}\n\n{}", table.to_markdown());
    }
    Ok(())
}

/// `lrctl export`.
pub fn export(args: ExportArgs) -> Result<()> {
    let mut store = lrctl_store::open_read_only(&args.store.store)?;
    let study = find_study(store.as_mut(), args.study.as_deref())?;
    let table = match args.table {
        TableArg::Cells => Table::Cells,
        TableArg::Curves => Table::Curves,
    };
    let format = match args.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
        FormatArg::Aslib => {
            let Some(dir) = &args.out else {
                bail!("--format aslib writes a directory of files: add `--out DIR`");
            };
            let cells = store.cells(study.id, lrctl_store::CellSet::Current)?;
            lrctl_study::aslib::write_scenario(dir, &study.name, &cells)?;
            eprintln!(
                "wrote the ASlib scenario `{}` to {}",
                study.name,
                dir.display()
            );
            return Ok(());
        }
    };
    match args.out.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            // Killed or failed half-way, the old file stays whole.
            let mut f = lrctl_store::atomic::AtomicFile::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            lrctl_study::export::export(store.as_mut(), &study, table, format, &mut f)?;
            f.commit()?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            lrctl_study::export::export(store.as_mut(), &study, table, format, &mut lock)?;
        }
    }
    Ok(())
}

/// `lrctl suites`.
pub fn suites() -> Result<()> {
    println!(
        "{:8} {:>6} {:>8} {:>6} {:>7} {:>12}  description",
        "suite", "tasks", "methods", "seeds", "cells", "CPU (est.)"
    );
    for s in lrctl_study::suites() {
        let file = StudyFile {
            suites: vec![s.name.to_string()],
            ..StudyFile::default()
        };
        let study = file.resolve()?;
        let cells = study.cells().len();
        // Every seed trains each (task, method) once; tuned methods also tune once per task
        // they tune on.
        let total = estimate::study_seconds(&study);
        println!(
            "{:8} {:>6} {:>8} {:>6} {:>7} {:>12}  {}",
            s.name,
            study.tasks.len(),
            study.methods.len(),
            study.seeds.len(),
            cells,
            total.map_or_else(|| "?".into(), estimate::human),
            s.description
        );
    }
    println!();
    println!(
        "CPU time is one core's, tuning of tuned methods included; `lrctl run --jobs N` divides \
         it by about N. Estimates come from the models' sizes and throughput measured on a \
         2-core machine."
    );
    Ok(())
}
