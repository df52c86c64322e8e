//! `lrctl cells`: put cells of a study back in the queue, or retire them.
//!
//! A failed cell (a bad configuration, a dataset missing where it ran) keeps its reason until
//! a user decides: `requeue` trains it again (its result and curve are deleted), `retire`
//! takes it out of the study (superseded: reports, progress and workers skip it; its result
//! stays in the store, and adding the same cell again reinstates it).

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use lrctl_store::{CellRow, CellSet, CellState, Outcome, Store};

use crate::study_cmds::{StoreArgs, find_study};

/// `lrctl cells`.
#[derive(Debug, Args)]
pub struct CellsArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Put matching cells back in the queue (their results and curves are deleted). Default
    /// selection: the failed ones.
    Requeue(Selection),
    /// Take matching cells out of the study; their results stay in the store. Default
    /// selection: the failed ones.
    Retire(Selection),
}

/// Which cells.
#[derive(Debug, Args)]
struct Selection {
    /// The study.
    #[arg(long)]
    study: String,
    /// Only cells of these tasks (repeatable).
    #[arg(long = "task", value_name = "NAME")]
    tasks: Vec<String>,
    /// Only cells of these methods (repeatable).
    #[arg(long = "method", value_name = "NAME")]
    methods: Vec<String>,
    /// Only cells in these states (repeatable).
    #[arg(long = "state", value_name = "STATE")]
    states: Vec<StateArg>,
    /// Only cells with these outcomes (repeatable; default: failed, unless `--state` or
    /// `--all` is given).
    #[arg(long = "outcome", value_name = "OUTCOME")]
    outcomes: Vec<OutcomeArg>,
    /// Every cell the other filters select, whatever its state and outcome (finished results
    /// included).
    #[arg(long, conflicts_with_all = ["states", "outcomes"])]
    all: bool,
    /// Show what would change without changing anything.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StateArg {
    Queued,
    Running,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutcomeArg {
    Finished,
    Diverged,
    Failed,
}

impl Selection {
    fn matches(&self, c: &CellRow) -> bool {
        let state = match c.state {
            CellState::Queued => StateArg::Queued,
            CellState::Running => StateArg::Running,
            CellState::Done => StateArg::Done,
        };
        let outcome = c.result.as_ref().map(|r| match r.outcome {
            Outcome::Finished => OutcomeArg::Finished,
            Outcome::Diverged => OutcomeArg::Diverged,
            Outcome::Failed => OutcomeArg::Failed,
        });
        let outcomes = if self.outcomes.is_empty() && self.states.is_empty() && !self.all {
            vec![OutcomeArg::Failed]
        } else {
            self.outcomes.clone()
        };
        (self.tasks.is_empty() || self.tasks.contains(&c.task))
            && (self.methods.is_empty() || self.methods.contains(&c.method))
            && (self.states.is_empty() || self.states.contains(&state))
            && (outcomes.is_empty() || outcome.is_some_and(|o| outcomes.contains(&o)))
    }
}

/// Runs `lrctl cells`.
pub fn cells(args: CellsArgs) -> Result<()> {
    let (sel, verb) = match &args.action {
        Action::Requeue(s) => (s, "requeue"),
        Action::Retire(s) => (s, "retire"),
    };
    let mut store = lrctl_store::open_with(
        &sel.store.store,
        &lrctl_store::OpenOptions::interactive(if sel.dry_run {
            lrctl_store::OpenMode::ReadOnly
        } else {
            lrctl_store::OpenMode::Existing
        }),
    )?;
    let study = find_study(store.as_mut(), Some(&sel.study))?;
    let chosen: Vec<CellRow> = store
        .cells(study.id, CellSet::Current)?
        .into_iter()
        .filter(|c| sel.matches(c))
        .collect();
    if chosen.is_empty() {
        bail!(
            "study `{}` has no current cell that matches; `lrctl status --study {}` shows its \
             cells by state",
            study.name,
            study.name
        );
    }
    for c in chosen.iter().take(20) {
        let why = c
            .result
            .as_ref()
            .map(|r| match &r.reason {
                Some(reason) => format!("{}: {reason}", r.outcome),
                None => r.outcome.to_string(),
            })
            .unwrap_or_else(|| c.state.as_str().to_string());
        println!(
            "  cell {} {} · {} · seed {} ({why})",
            c.id, c.task, c.method, c.seed
        );
    }
    if chosen.len() > 20 {
        println!("  … and {} more", chosen.len() - 20);
    }
    if sel.dry_run {
        println!(
            "would {verb} {} cell(s) of study `{}`",
            chosen.len(),
            study.name
        );
        return Ok(());
    }
    let ids: Vec<_> = chosen.iter().map(|c| c.id).collect();
    let n = change(store.as_mut(), &args.action, study.id, &ids)?;
    let held = chosen.len() - n;
    println!(
        "{verb}d {n} cell(s) of study `{}`{}",
        study.name,
        if held > 0 {
            format!(" ({held} left alone: running under a live lease)")
        } else {
            String::new()
        }
    );
    Ok(())
}

fn change(
    store: &mut dyn Store,
    action: &Action,
    study: lrctl_store::StudyId,
    ids: &[lrctl_store::CellId],
) -> Result<usize> {
    Ok(match action {
        Action::Requeue(_) => store.requeue_cells(study, ids)?,
        Action::Retire(_) => store.retire_cells(study, ids)?,
    })
}
