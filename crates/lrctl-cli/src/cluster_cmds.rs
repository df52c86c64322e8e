//! Scale-out commands: `lrctl worker` (claim and train cells from a shared store) and
//! `lrctl slurm submit|status` (place workers with a Slurm job array). No scheduler of our own:
//! the store's leases hand out cells, Slurm places processes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lrctl_store::{OpenMode, OpenOptions};
use lrctl_study::RunConfig;

use crate::commands::DataArgs;
use crate::study_cmds::{StoreArgs, StudyArgs, find_study, install_ctrlc, study_from};

/// `lrctl worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Only cells of this study (default: any study in the store).
    #[arg(long)]
    study: Option<String>,
    /// Cells trained at once, one thread each.
    #[arg(long, short = 'j', default_value_t = 1)]
    jobs: usize,
    /// When the queue is empty, keep polling for new cells instead of exiting.
    #[arg(long)]
    follow: bool,
    /// Seconds between polls with `--follow`.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    poll: f64,
    /// Lease length in seconds; the worker renews it every third of that. A dead worker's
    /// cells return to the queue when it runs out.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    lease: f64,
    /// How to show progress: `log` (the default: one line per finished cell, for batch
    /// logs), `bar` (`--progress` alone) or `none`.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        default_value = "log",
        default_missing_value = "bar"
    )]
    progress: crate::progress::Display,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data: DataArgs,
}

fn seconds(what: &str, s: f64) -> Result<Duration> {
    if !(s.is_finite() && s > 0.0) {
        bail!("{what} must be a positive number of seconds, not {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

/// `lrctl worker`: claims cells until none is left (or forever with `--follow`).
pub fn worker(args: WorkerArgs) -> Result<()> {
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let mut cfg = RunConfig::new(args.data.dirs());
    cfg.jobs = args.jobs;
    cfg.lease = seconds("--lease", args.lease)?;
    cfg.follow = args
        .follow
        .then(|| seconds("--poll", args.poll))
        .transpose()?;
    cfg.observer = Some(crate::progress::observer(args.progress, None)?);
    install_ctrlc(std::sync::Arc::clone(&cfg.cancel));
    let location = &args.store.store;
    // A worker started while the database is down (or restarting) waits for it, and says so;
    // the connections `work` opens below then find it up.
    let options = OpenOptions::worker(
        OpenMode::Existing,
        Some(std::sync::Arc::new(|n: &lrctl_store::Notice| {
            eprintln!("lrctl worker: {n}");
        })),
    );
    let mut store = lrctl_store::open_with(location, &options)?;
    let study = match &args.study {
        Some(name) => {
            let row = find_study(store.as_mut(), Some(name))?;
            lrctl_study::check_submitter(&row.name, &row.spec_json).map_err(anyhow::Error::msg)?;
            Some(row.id)
        }
        None => None,
    };
    drop(store);
    let worker = lrctl_store::worker_id();
    eprintln!(
        "worker {worker}: {} on {} ({} job(s){})",
        args.study
            .as_deref()
            .map_or("all studies".to_string(), |s| format!("study `{s}`")),
        lrctl_store::redact(location),
        cfg.jobs,
        if args.follow { ", following" } else { "" }
    );
    let ran = lrctl_study::work(location, study, &cfg)?;
    eprintln!("worker {worker}: trained {ran} cell(s); nothing left to claim");
    if cfg.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        std::process::exit(130);
    }
    Ok(())
}

/// `lrctl slurm`.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    #[command(subcommand)]
    command: SlurmCommand,
}

#[derive(Debug, Subcommand)]
enum SlurmCommand {
    /// Add a study's cells to the store and submit a job array of N `lrctl worker`s.
    Submit(Box<SubmitArgs>),
    /// The study's progress in the store, with its Slurm jobs' states.
    Status(SlurmStatusArgs),
}

/// Resources asked of Slurm for each worker (passed through as `#SBATCH` lines).
#[derive(Debug, Args)]
struct Resources {
    /// Partition (`#SBATCH --partition`).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per worker, e.g. `02:00:00`.
    #[arg(long)]
    time: Option<String>,
    /// CPUs per worker; the worker trains that many cells at once.
    #[arg(long, default_value_t = 1)]
    cpus_per_task: usize,
    /// Memory per worker, e.g. `4G`.
    #[arg(long)]
    mem: Option<String>,
    /// Generic resources, e.g. `gpu:1`.
    #[arg(long)]
    gres: Option<String>,
    /// Account to charge.
    #[arg(long)]
    account: Option<String>,
}

#[derive(Debug, Args)]
struct SubmitArgs {
    #[command(flatten)]
    study: StudyArgs,
    /// Workers: array tasks of the job, each one `lrctl worker`.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[command(flatten)]
    resources: Resources,
    /// Directory for the job script, `jobs.txt` and the workers' logs (default
    /// `lrctl-slurm/STUDY`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print the job script; submit nothing and leave the store alone.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct SlurmStatusArgs {
    /// The study (default: the only one, else the most recently changed).
    #[arg(long)]
    study: Option<String>,
    /// The directory given to `slurm submit --dir` (default `lrctl-slurm/STUDY`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `lrctl slurm …`.
pub fn slurm(args: SlurmArgs) -> Result<()> {
    match args.command {
        SlurmCommand::Submit(a) => submit(*a),
        SlurmCommand::Status(a) => status(a),
    }
}

fn default_dir(study: &str) -> PathBuf {
    PathBuf::from("lrctl-slurm").join(safe_name(study))
}

/// A study name with anything but letters, digits and `-_.+` replaced by `_`: for file names
/// and the job name (which lands in an `#SBATCH` line).
fn safe_name(study: &str) -> String {
    study
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

/// Quotes a word for bash so that it is one argument, whatever it holds, on one line:
/// `'…'` normally, `$'…'` (with `\n`, `\xHH`, … escapes) when it holds control characters,
/// so that a newline in a study name can never start a command of its own.
fn sh_quote(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return format!("'{}'", s.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Text for a `#` comment line of the script: control characters escaped, so it stays one line.
fn comment_text(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The job name Slurm shows for a study.
fn job_name(study: &str) -> String {
    format!("lrctl-{}", safe_name(study))
}

/// Checks a value that goes into an `#SBATCH --{option}=VALUE` line. Slurm reads those lines
/// itself, not through a shell, so nothing can be quoted there: a value is refused unless it
/// is made only of the characters that `allowed` accepts (never a control character,
/// whitespace, a quote or `#`).
fn header_value(option: &str, value: &str, allowed: fn(char) -> bool, example: &str) -> Result<()> {
    let bad = value
        .chars()
        .find(|&c| c.is_control() || c.is_whitespace() || "\"'`#\\".contains(c) || !allowed(c));
    if value.is_empty() || bad.is_some() {
        bail!(
            "--{option} {:?}: {} not allowed in a Slurm job header; give a value like `{example}`",
            value,
            bad.map_or("an empty value is".to_string(), |c| format!(
                "the character {:?} is",
                c
            ))
        );
    }
    Ok(())
}

/// Checks what `slurm submit` puts into `#SBATCH` lines, naming the option at fault.
fn check_resources(r: &Resources, dir: &Path) -> Result<()> {
    let name = |c: char| c.is_ascii_alphanumeric() || "-_.,".contains(c);
    if let Some(v) = &r.partition {
        header_value("partition", v, name, "cpu")?;
    }
    if let Some(v) = &r.account {
        header_value("account", v, name, "project123")?;
    }
    if let Some(v) = &r.time {
        let ok = |c: char| c.is_ascii_digit() || c == ':' || c == '-';
        if !v.eq_ignore_ascii_case("unlimited") {
            header_value("time", v, ok, "02:00:00 or 1-12:00:00")?;
        }
    }
    if let Some(v) = &r.mem {
        header_value("mem", v, |c| c.is_ascii_alphanumeric() || c == '.', "4G")?;
    }
    if let Some(v) = &r.gres {
        let ok = |c: char| c.is_ascii_alphanumeric() || "-_.,:/".contains(c);
        header_value("gres", v, ok, "gpu:1")?;
    }
    let logs = dir.display().to_string();
    header_value("dir", &logs, |c| c != '%', "/scratch/me/lrctl-slurm/study")
        .context("the workers' log files are named in an #SBATCH --output line")?;
    Ok(())
}

/// The store as workers on other machines must see it: SQLite paths made absolute.
fn store_for_jobs(location: &str) -> Result<String> {
    match lrctl_store::Location::parse(location)? {
        lrctl_store::Location::Sqlite(p) => Ok(absolute(&p)?.display().to_string()),
        lrctl_store::Location::Postgres(url) => Ok(url),
    }
}

struct Script<'a> {
    study: &'a str,
    workers: usize,
    resources: &'a Resources,
    dir: &'a Path,
    exe: &'a Path,
    /// The store, unless it holds a secret (then it travels in `LRCTL_STORE`).
    store_arg: Option<&'a str>,
    store_shown: &'a str,
    data_dir: Option<&'a Path>,
    /// `--offline` given to `submit`: the workers never download either.
    offline: bool,
}

/// The sbatch script: an array of `workers` tasks, each one `lrctl worker` on the study.
fn script(s: &Script<'_>) -> String {
    let mut out = String::from("#!/bin/bash\n");
    // Every value below is either fixed, a number, made safe (`job_name`) or checked by
    // `check_resources`; comments escape what they show.
    let mut sbatch = |k: &str, v: &str| {
        let _ = writeln!(out, "#SBATCH --{k}={v}");
    };
    sbatch("job-name", &job_name(s.study));
    sbatch("array", &format!("0-{}", s.workers - 1));
    sbatch("ntasks", "1");
    sbatch("cpus-per-task", &s.resources.cpus_per_task.to_string());
    sbatch(
        "output",
        &s.dir.join("logs/worker-%A_%a.log").display().to_string(),
    );
    let r = s.resources;
    for (k, v) in [
        ("partition", &r.partition),
        ("time", &r.time),
        ("mem", &r.mem),
        ("gres", &r.gres),
        ("account", &r.account),
    ] {
        if let Some(v) = v {
            sbatch(k, v);
        }
    }
    let _ = writeln!(
        out,
        "# Written by `lrctl slurm submit` for study `{}`; store {}.",
        comment_text(s.study),
        comment_text(s.store_shown)
    );
    if s.store_arg.is_none() {
        out.push_str(
            "# The store URL holds a password: it reaches the job through LRCTL_STORE in the\n\
             # submitting environment (sbatch exports it), never through this file.\n",
        );
    }
    out.push_str(
        "# Each array task is one worker: it claims cells under a lease, trains them and exits\n\
         # when the study has none left. Cells of a killed worker return to the queue.\n\
         set -euo pipefail\n\
         export OPENBLAS_NUM_THREADS=1\n",
    );
    let mut cmd = format!(
        "exec {} worker --study {} --jobs \"${{SLURM_CPUS_PER_TASK:-1}}\"",
        sh_quote(&s.exe.display().to_string()),
        sh_quote(s.study)
    );
    if let Some(store) = s.store_arg {
        let _ = write!(cmd, " --store {}", sh_quote(store));
    }
    if let Some(d) = s.data_dir {
        let _ = write!(cmd, " --data-dir {}", sh_quote(&d.display().to_string()));
    }
    if s.offline {
        cmd.push_str(" --offline");
    }
    out.push_str(&cmd);
    out.push('\n');
    out
}

fn submit(args: SubmitArgs) -> Result<()> {
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    if args.resources.cpus_per_task == 0 {
        bail!("--cpus-per-task must be at least 1");
    }
    let study = study_from(&args.study)?;
    let location = store_for_jobs(&args.store.store)?;
    let shown = lrctl_store::redact(&location);
    let secret = shown != location;
    let dir = absolute(&args.dir.clone().unwrap_or_else(|| default_dir(&study.name)))?;
    check_resources(&args.resources, &dir)?;
    let exe = std::env::current_exe().context("finding the lrctl binary")?;
    let data_dir = args.data.data_dir().map(absolute).transpose()?;
    let text = script(&Script {
        study: &study.name,
        workers: args.workers,
        resources: &args.resources,
        dir: &dir,
        exe: &exe,
        store_arg: (!secret).then_some(location.as_str()),
        store_shown: &shown,
        data_dir: data_dir.as_deref(),
        offline: args.data.offline(),
    });
    if args.dry_run {
        print!("{text}");
        return Ok(());
    }
    let mut store = lrctl_store::open_with(&location, &OpenOptions::interactive(OpenMode::Create))?;
    let (_, added) = lrctl_study::submit(store.as_mut(), &study)?;
    let progress = {
        let row = find_study(store.as_mut(), Some(&study.name))?;
        store.progress(row.id)?
    };
    eprintln!(
        "study `{}`: {} cell(s) new, {} already in {shown}{}; {} to run",
        study.name,
        added.added + added.reinstated,
        added.existing,
        if added.superseded > 0 {
            format!(", {} superseded", added.superseded)
        } else {
            String::new()
        },
        progress.queued + progress.running
    );
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("worker.sbatch");
    lrctl_store::atomic::write(&path, &text)
        .with_context(|| format!("writing {}", path.display()))?;
    if progress.queued + progress.running == 0 {
        eprintln!("nothing to run: every cell has a result; no job submitted");
        return Ok(());
    }
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable").arg(&path);
    if secret {
        cmd.env("LRCTL_STORE", &location);
    }
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!(
            "cannot run sbatch ({e}): is this a Slurm login node? The job script is at {}",
            path.display()
        )
    })?;
    if !out.status.success() {
        bail!(
            "sbatch refused the job ({}): {}; the script is at {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            path.display()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let job = stdout.trim().split(';').next().unwrap_or("").to_string();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed {stdout:?}, not a job id");
    }
    let jobs = dir.join("jobs.txt");
    let mut all = std::fs::read_to_string(&jobs).unwrap_or_default();
    let _ = writeln!(all, "{job}");
    lrctl_store::atomic::write(&jobs, all)
        .with_context(|| format!("writing {}", jobs.display()))?;
    eprintln!(
        "submitted job {job}: {} worker(s); script {}, logs {}",
        args.workers,
        path.display(),
        dir.join("logs").display()
    );
    println!("{job}");
    Ok(())
}

fn status(args: SlurmStatusArgs) -> Result<()> {
    let mut store = lrctl_store::open_read_only(&args.store.store)?;
    let row = find_study(store.as_mut(), args.study.as_deref())?;
    let p = store.progress(row.id)?;
    println!(
        "study `{}` in {}: {} cells: {} done ({} finished, {} diverged, {} failed), {} running, {} queued",
        row.name,
        lrctl_store::redact(store.location()),
        p.total(),
        p.done,
        p.finished,
        p.diverged,
        p.failed,
        p.running,
        p.queued
    );
    for c in store.cells(row.id, lrctl_store::CellSet::Current)? {
        if c.state == lrctl_store::CellState::Running {
            println!(
                "  running: cell {} {} · {} · seed {} on {} (attempt {}, lease until {})",
                c.id,
                c.task,
                c.method,
                c.seed,
                c.worker.as_deref().unwrap_or("?"),
                c.attempts,
                c.lease_expires_at
                    .map_or_else(|| "?".to_string(), |t| t.to_string())
            );
        }
    }
    let dir = absolute(&args.dir.unwrap_or_else(|| default_dir(&row.name)))?;
    let jobs_file = dir.join("jobs.txt");
    let jobs: Vec<String> = std::fs::read_to_string(&jobs_file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if jobs.is_empty() {
        println!("slurm: no job recorded in {}", jobs_file.display());
        return Ok(());
    }
    let out = Command::new("squeue")
        .args(["-h", "-o", "%i|%T|%M|%R", "-j", &jobs.join(",")])
        .output();
    match out {
        Err(e) => println!("slurm: cannot run squeue ({e}); jobs {}", jobs.join(", ")),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut states: std::collections::BTreeMap<String, usize> = Default::default();
            for line in text.lines() {
                if let Some(state) = line.split('|').nth(1) {
                    *states.entry(state.to_string()).or_default() += 1;
                }
            }
            if states.is_empty() {
                println!(
                    "slurm: job(s) {}: no task left in the queue (finished or cancelled; see {})",
                    jobs.join(", "),
                    dir.join("logs").display()
                );
            } else {
                let list: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
                println!("slurm: job(s) {}: {}", jobs.join(", "), list.join(", "));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Resources {
        Resources {
            partition: Some("cpu".into()),
            time: Some("01:00:00".into()),
            cpus_per_task: 2,
            mem: None,
            gres: Some("gpu:1".into()),
            account: None,
        }
    }

    #[test]
    fn script_is_an_array_of_workers_and_never_holds_a_password() {
        let r = resources();
        let url = "postgres://u:hunter2@db/lrctl";
        let shown = lrctl_store::redact(url);
        let text = script(&Script {
            study: "my study",
            workers: 4,
            resources: &r,
            dir: Path::new("/scratch/s"),
            exe: Path::new("/opt/lrctl"),
            store_arg: None,
            store_shown: &shown,
            data_dir: Some(Path::new("/data")),
            offline: true,
        });
        for line in [
            "#SBATCH --array=0-3",
            "#SBATCH --cpus-per-task=2",
            "#SBATCH --partition=cpu",
            "#SBATCH --time=01:00:00",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --output=/scratch/s/logs/worker-%A_%a.log",
            "exec '/opt/lrctl' worker --study 'my study' --jobs \"${SLURM_CPUS_PER_TASK:-1}\" --data-dir '/data' --offline",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("--mem"), "{text}");
        assert!(text.contains("u:***@db"), "{text}");
    }

    /// Runs `text` with bash, its `exec` pointed at a stand-in that records its arguments;
    /// returns them. Nothing else in the script may run a command.
    fn run_script(text: &str, exe: &Path, dir: &Path) -> Vec<String> {
        let record = dir.join("args");
        std::fs::write(
            exe,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{}'\n",
                record.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = dir.join("worker.sbatch");
        std::fs::write(&script, text).unwrap();
        let out = Command::new("bash")
            .arg(&script)
            .current_dir(dir)
            .env_remove("SLURM_CPUS_PER_TASK")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}\n{text}");
        let bytes = std::fs::read(&record).unwrap();
        bytes
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8(a.to_vec()).unwrap())
            .collect()
    }

    /// A study name from a shared study file used to be written raw into `#SBATCH
    /// --job-name=` and a comment, so `bash worker.sbatch` ran its second line.
    #[cfg(unix)]
    #[test]
    fn hostile_names_and_paths_stay_data() {
        let tmp = tempfile::tempdir().unwrap();
        let study = "n\ntouch PWNED\n#SBATCH --uid=0 $(touch PWNED2) 'q' \\ \u{85}é";
        let store = "/d/x\ntouch PWNED3.db";
        let data = Path::new("/data\n; touch PWNED4 'x'");
        let exe = tmp.path().join("fake lrctl");
        let r = resources();
        let text = script(&Script {
            study,
            workers: 3,
            resources: &r,
            dir: Path::new("/scratch/s"),
            exe: &exe,
            store_arg: Some(store),
            store_shown: store,
            data_dir: Some(data),
            offline: false,
        });
        let directives: Vec<&str> = text.lines().filter(|l| l.starts_with("#SBATCH")).collect();
        assert_eq!(
            directives,
            [
                "#SBATCH --job-name=lrctl-n_touch_PWNED__SBATCH_--uid_0___touch_PWNED2___q______",
                "#SBATCH --array=0-2",
                "#SBATCH --ntasks=1",
                "#SBATCH --cpus-per-task=2",
                "#SBATCH --output=/scratch/s/logs/worker-%A_%a.log",
                "#SBATCH --partition=cpu",
                "#SBATCH --time=01:00:00",
                "#SBATCH --gres=gpu:1",
            ]
        );
        for line in text.lines() {
            assert!(
                line.starts_with('#')
                    || line.starts_with("set ")
                    || line.starts_with("export ")
                    || line.starts_with("exec "),
                "unexpected line {line:?} in\n{text}"
            );
        }
        let args = run_script(&text, &exe, tmp.path());
        assert_eq!(
            args,
            [
                "worker",
                "--study",
                study,
                "--jobs",
                "1",
                "--store",
                store,
                "--data-dir",
                data.to_str().unwrap()
            ]
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("PWNED"))
            .collect();
        assert!(
            left.is_empty(),
            "the script ran injected commands: {left:?}"
        );
    }

    #[test]
    fn hostile_header_options_are_refused_naming_them() {
        let dir = Path::new("/scratch/s");
        let with = |f: &dyn Fn(&mut Resources)| {
            let mut r = resources();
            f(&mut r);
            check_resources(&r, dir)
        };
        assert!(with(&|_| {}).is_ok());
        type Edit<'a> = &'a dyn Fn(&mut Resources);
        let cases: [(&str, Edit); 7] = [
            ("--partition", &|r| {
                r.partition = Some("cpu\n#SBATCH --uid=0".into())
            }),
            ("--time", &|r| r.time = Some("01:00:00\ntouch PWNED".into())),
            ("--time", &|r| r.time = Some("1h".into())),
            ("--account", &|r| r.account = Some("a b".into())),
            ("--gres", &|r| r.gres = Some("gpu:1\r".into())),
            ("--mem", &|r| r.mem = Some("4G'".into())),
            ("--partition", &|r| r.partition = Some(String::new())),
        ];
        for (option, f) in cases {
            let e = with(f).unwrap_err().to_string();
            assert!(e.contains(option) && e.contains("Slurm job header"), "{e}");
        }
        for d in ["/scratch/with space", "/scratch/a\nb", "/scratch/%j"] {
            let e = check_resources(&resources(), Path::new(d)).unwrap_err();
            assert!(format!("{e:#}").contains("--dir"), "{e:#}");
        }
        assert!(with(&|r| r.time = Some("UNLIMITED".into())).is_ok());
        assert!(with(&|r| r.time = Some("1-12:00:00".into())).is_ok());
    }

    #[test]
    fn store_without_secret_is_passed_explicitly() {
        let r = resources();
        let text = script(&Script {
            study: "s",
            workers: 1,
            resources: &r,
            dir: Path::new("/d"),
            exe: Path::new("/bin/lrctl"),
            store_arg: Some("/d/it's.db"),
            store_shown: "/d/it's.db",
            data_dir: None,
            offline: false,
        });
        assert!(text.contains(r"--store '/d/it'\''s.db'"), "{text}");
        assert!(text.contains("#SBATCH --array=0-0"), "{text}");
    }
}
