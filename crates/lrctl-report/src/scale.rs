//! The Scale section's numbers: does tuning lose its edge as models grow?
//!
//! A study's tasks are grouped into ladders by `lrctl-tasks` ([`lrctl_tasks::ladders`]: one
//! configuration at several widths or depths). On every ladder, each method's normalised score
//! per rung with its stratified-bootstrap interval, the HPO advantage (best tuned method minus
//! best untuned method, [`lrctl_eval::hpo_advantage`]) per rung, the tuning bill per rung, and
//! the advantage's least-squares trend against log parameters and against log FLOPs per step
//! ([`lrctl_eval::advantage_trend`]). Across families, the same advantage on each family's
//! tasks at scale one against the families' place on the complexity axis (logistic
//! regression → MLP → CNN → LM, [`lrctl_tasks::ModelFamily::COMPLEXITY`]).
//!
//! On a width ladder, a tuned method with a width-fidelity copy in the study (the same method
//! with `tune.width_from`, like `smac-fixed` and `smac-fixed-w1`) gets a transfer table: per
//! rung, the score tuned at the rung against the score tuned narrower and transferred, the
//! transfer regret ([`lrctl_eval::transfer_regret`]) and both tuning bills.
//!
//! Scores are min–max normalised per task over every run of the study (1 = the rung's best run,
//! 0 = its worst, diverged runs 0), so the advantage is in units of the rung's spread of
//! results. Selection methods (`race`, `auto`) are on neither side of the advantage.

use serde::Serialize;

use lrctl_eval::{AdvantageRung, BootstrapConfig, CiMethod, Interval, ScoreTable, Trend};
use lrctl_study::snapshot::Snapshot;
use lrctl_tasks::{ScaleAxis, TaskSpec};

use crate::across::CONFIDENCE;
use crate::analysis::ReportOptions;

/// Whether a method tunes itself, is plain, or selects among others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodRole {
    /// It has a `[tune]` table: on the tuned side of the advantage.
    Tuned,
    /// A plain method (fixed, schedule, free, online): on the untuned side.
    Untuned,
    /// A selection method, or one whose configuration is unreadable: on neither side.
    Other,
}

/// The Scale section of a study.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScaleAnalysis {
    /// The study's tasks form no ladder: the section says why instead of drawing anything.
    NoLadder {
        /// One sentence.
        reason: String,
    },
    /// At least one ladder.
    Ladders {
        /// Every method's role, in the study's method order.
        roles: Vec<MethodRole>,
        /// One per ladder, by family, task and axis.
        ladders: Vec<LadderAnalysis>,
        /// The advantage across families on the complexity axis.
        families: FamilyAxis,
    },
}

/// One rung's task and its size.
#[derive(Debug, Clone, Serialize)]
pub struct Rung {
    /// Task name.
    pub task: String,
    /// Its multiplier along the ladder's axis.
    pub multiplier: u32,
    /// Trainable parameters (from the results, else from the configuration and the catalog's
    /// shape); `None` when unknown.
    pub n_params: Option<u64>,
    /// Floating-point operations of one training step: 6 × forward multiply-accumulates per
    /// example × batch size (2 FLOPs per MAC, the backward pass twice the forward, the
    /// convention of Kaplan et al. 2020); `None` when the data's shape is unknown.
    pub flops_per_step: Option<f64>,
    /// The HPO advantage on this rung with its interval; `None` without both tuned and untuned
    /// runs.
    pub advantage: Option<Interval>,
    /// Mean seconds of tuning charged per cell of each tuned method (the cell's cost beyond
    /// its own run), `[method]` in the study's order; `None` for untuned methods and methods
    /// without results here.
    pub tuning_seconds: Vec<Option<f64>>,
    /// Mean seconds of the evaluation run itself per cell, `[method]`.
    pub run_seconds: Vec<Option<f64>>,
}

/// A method's normalised score per rung of a ladder.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScale {
    /// Method name.
    pub method: String,
    /// Its index in the study's methods (its colour and marker).
    pub method_index: usize,
    /// Its role.
    pub role: MethodRole,
    /// Mean normalised score with its interval per rung; `None` where it has no runs.
    pub score: Vec<Option<Interval>>,
}

/// One ladder's analysis.
#[derive(Debug, Clone, Serialize)]
pub struct LadderAnalysis {
    /// The task at scale one.
    pub base: String,
    /// Its family (`mlp`).
    pub family: String,
    /// The axis it climbs.
    pub axis: ScaleAxis,
    /// Its rungs, by increasing scale.
    pub rungs: Vec<Rung>,
    /// Every method with runs on the ladder.
    pub methods: Vec<MethodScale>,
    /// Trend of the advantage against ln(parameters); `Err` says why there is none.
    pub trend_params: Result<Trend, String>,
    /// Trend of the advantage against ln(FLOPs per step).
    pub trend_flops: Result<Trend, String>,
    /// Tuning along width: one per tuned method whose width-fidelity copy also ran on this
    /// ladder (width ladders only).
    pub transfers: Vec<Transfer>,
}

/// A tuned method tuned at every rung of a width ladder against its copy that tunes at a
/// narrower width and transfers what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    /// The method tuned at each rung.
    pub direct: String,
    /// Its width-fidelity copy.
    pub transferred: String,
    /// The width multiplier the copy tunes at.
    pub from_width: u32,
    /// One per rung of the ladder, by increasing width.
    pub rungs: Vec<TransferRung>,
}

/// One rung of a [`Transfer`].
#[derive(Debug, Clone, Serialize)]
pub struct TransferRung {
    /// The rung's width multiplier.
    pub multiplier: u32,
    /// Mean normalised score tuned at the rung, with its interval.
    pub direct: Option<Interval>,
    /// Mean normalised score tuned at `from_width` and transferred.
    pub transferred: Option<Interval>,
    /// `direct − transferred` ([`lrctl_eval::transfer_regret`]); `None` without both.
    pub regret: Option<Interval>,
    /// Mean tuning seconds charged per cell, tuned at the rung.
    pub direct_tuning_seconds: Option<f64>,
    /// Mean tuning seconds charged per cell, transferred (one tuning at `from_width` serves
    /// every rung; each cell is charged all of it).
    pub transferred_tuning_seconds: Option<f64>,
}

/// One family's point on the complexity axis.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyPoint {
    /// Family name.
    pub family: String,
    /// Its [`lrctl_tasks::ModelFamily::COMPLEXITY`].
    pub complexity: u32,
    /// Its tasks at scale one in the study.
    pub tasks: Vec<String>,
    /// The HPO advantage on them (each method's score the mean over these tasks).
    pub advantage: Option<Interval>,
}

/// The advantage across families.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyAxis {
    /// One point per family with tasks at scale one, by complexity.
    pub points: Vec<FamilyPoint>,
    /// Trend against the complexity index; `Err` says why there is none.
    pub trend: Result<Trend, String>,
}

/// The Scale section's numbers for `snap`.
pub fn analyse(snap: &Snapshot, opts: &ReportOptions) -> ScaleAnalysis {
    let specs: Vec<Option<TaskSpec>> = snap.tasks.iter().map(|t| t.spec.clone()).collect();
    let known: Vec<(usize, TaskSpec)> = specs
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.clone().map(|s| (i, s)))
        .collect();
    let just_specs: Vec<TaskSpec> = known.iter().map(|(_, s)| s.clone()).collect();
    let found = lrctl_tasks::ladders(&just_specs);
    if found.is_empty() {
        return ScaleAnalysis::NoLadder {
            reason: "no two tasks of this study are one configuration at two widths or two \
                     depths (logistic regression has no scale axis), so there is no trend \
                     against scale to show; run a ladder suite (`lrctl suites` lists them)"
                .into(),
        };
    }
    let norm = lrctl_eval::normalize_minmax(&snap.score_table());
    let roles = roles(snap);
    let pairs = transfer_pairs(snap);
    let cfg = BootstrapConfig {
        reps: opts.bootstrap_reps,
        confidence: CONFIDENCE,
        seed: opts.seed,
        method: CiMethod::Percentile,
    };
    let ladders = found
        .iter()
        .map(|l| {
            let tasks: Vec<usize> = l.rungs.iter().map(|&(i, _)| known[i].0).collect();
            let mut analysis = ladder(snap, &norm, &roles, &cfg, l, &tasks);
            if l.axis == ScaleAxis::Width {
                analysis.transfers = pairs
                    .iter()
                    .map(|&pair| transfer(snap, &norm, &cfg, &analysis.rungs, &tasks, pair))
                    .filter(|t| {
                        t.rungs.iter().any(|r| r.direct.is_some())
                            && t.rungs.iter().any(|r| r.transferred.is_some())
                    })
                    .collect();
            }
            analysis
        })
        .collect();
    let families = families(snap, &norm, &roles, &cfg);
    ScaleAnalysis::Ladders {
        roles,
        ladders,
        families,
    }
}

/// Each method's stored configuration, `None` when unreadable.
fn configs(snap: &Snapshot) -> Vec<Option<lrctl_wrap::Method>> {
    snap.methods
        .iter()
        .map(|m| {
            let config = snap.cells.iter().find(|c| &c.method == m);
            config.and_then(|c| serde_json::from_str(&c.method_config).ok())
        })
        .collect()
}

/// Each method's role, from its stored configuration.
fn roles(snap: &Snapshot) -> Vec<MethodRole> {
    configs(snap)
        .into_iter()
        .map(|method| match method {
            Some(m) if m.tune().is_some() => MethodRole::Tuned,
            Some(m) if m.wrapper.is_none() => MethodRole::Untuned,
            _ => MethodRole::Other,
        })
        .collect()
}

/// The study's width-fidelity pairs `(direct, transferred, from_width)`, method indices: a
/// method with `tune.width_from` and the method that is the same but for that field (its name
/// and description aside).
fn transfer_pairs(snap: &Snapshot) -> Vec<(usize, usize, u32)> {
    let configs = configs(snap);
    let mut pairs = Vec::new();
    for (t, method) in configs.iter().enumerate() {
        let Some(method) = method else { continue };
        let Some(from) = method.tune().and_then(|s| s.width_from) else {
            continue;
        };
        let mut stripped = method.clone();
        if let Some(lrctl_wrap::Wrapper::Tune(spec)) = &mut stripped.wrapper {
            spec.width_from = None;
        }
        let direct = configs.iter().enumerate().find(|(d, m)| {
            m.as_ref().is_some_and(|m| {
                stripped.spec.name.clone_from(&m.spec.name);
                stripped.spec.description.clone_from(&m.spec.description);
                *d != t && *m == stripped
            })
        });
        if let Some((d, _)) = direct {
            pairs.push((d, t, from));
        }
    }
    pairs
}

/// The advantage rung of `tasks` (indices into the snapshot's tasks) at `x`.
fn advantage_rung(
    norm: &ScoreTable,
    roles: &[MethodRole],
    tasks: &[usize],
    x: f64,
) -> AdvantageRung {
    let side = |role: MethodRole| {
        roles
            .iter()
            .enumerate()
            .filter(|(_, r)| **r == role)
            .map(|(m, _)| tasks.iter().map(|&t| norm.scores[m][t].clone()).collect())
            .collect()
    };
    AdvantageRung {
        x,
        tuned: side(MethodRole::Tuned),
        untuned: side(MethodRole::Untuned),
    }
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn ladder(
    snap: &Snapshot,
    norm: &ScoreTable,
    roles: &[MethodRole],
    cfg: &BootstrapConfig,
    l: &lrctl_tasks::Ladder,
    tasks: &[usize],
) -> LadderAnalysis {
    let rungs: Vec<Rung> = tasks
        .iter()
        .zip(&l.rungs)
        .map(|(&t, &(_, multiplier))| {
            let info = &snap.tasks[t];
            let spec = info.spec.as_ref();
            let shape = spec.and_then(TaskSpec::data_shape);
            let results = || {
                snap.cells
                    .iter()
                    .filter(|c| c.task == info.name)
                    .filter_map(|c| c.result.as_ref())
            };
            let n_params = results()
                .map(|r| r.n_params)
                .find(|&n| n > 0)
                .or_else(|| Some(spec?.n_params(shape.as_ref()?)));
            let flops_per_step = spec
                .zip(shape.as_ref())
                .map(|(s, sh)| 6.0 * s.forward_macs(sh) as f64 * s.batch_size as f64);
            let per_method = |f: &dyn Fn(&lrctl_store::CellResult) -> f64| {
                snap.methods
                    .iter()
                    .map(|m| {
                        mean(
                            snap.cells_of(&info.name, m)
                                .filter_map(|c| c.result.as_ref())
                                .map(f),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            let mut tuning_seconds = per_method(&|r| (r.cost_seconds - r.seconds).max(0.0));
            for (s, role) in tuning_seconds.iter_mut().zip(roles) {
                if *role != MethodRole::Tuned {
                    *s = None;
                }
            }
            let rung = advantage_rung(norm, roles, &[t], 0.0);
            Rung {
                task: info.name.clone(),
                multiplier,
                n_params,
                flops_per_step,
                advantage: lrctl_eval::hpo_advantage(&rung, cfg).ok(),
                tuning_seconds,
                run_seconds: per_method(&|r| r.seconds),
            }
        })
        .collect();
    let methods = snap
        .methods
        .iter()
        .enumerate()
        .filter_map(|(m, name)| {
            let score: Vec<Option<Interval>> = tasks
                .iter()
                .map(|&t| {
                    let runs = vec![norm.scores[m][t].clone()];
                    if lrctl_eval::group_score(&runs).is_nan() {
                        None
                    } else {
                        lrctl_eval::score_ci(&runs, cfg).ok()
                    }
                })
                .collect();
            score.iter().any(Option::is_some).then(|| MethodScale {
                method: name.clone(),
                method_index: m,
                role: roles[m],
                score,
            })
        })
        .collect();
    let trend = |x: &dyn Fn(&Rung) -> Option<f64>| -> Result<Trend, String> {
        let mut advantage_rungs = Vec::new();
        for (r, &t) in rungs.iter().zip(tasks) {
            let Some(x) = x(r).filter(|v| *v > 0.0) else {
                return Err(format!("{}'s size is unknown", r.task));
            };
            if r.advantage.is_some() {
                advantage_rungs.push(advantage_rung(norm, roles, &[t], x.ln()));
            }
        }
        if advantage_rungs.len() < 2 {
            return Err(no_advantage(roles));
        }
        lrctl_eval::advantage_trend(&advantage_rungs, cfg).map_err(|e| e.to_string())
    };
    LadderAnalysis {
        base: l.base.clone(),
        family: l.family.to_string(),
        axis: l.axis,
        trend_params: trend(&|r| r.n_params.map(|n| n as f64)),
        trend_flops: trend(&|r| r.flops_per_step),
        rungs,
        methods,
        transfers: Vec::new(),
    }
}

/// The transfer table of the pair `(direct, transferred, from_width)` on a width ladder's
/// `rungs` (`tasks`: their snapshot indices).
fn transfer(
    snap: &Snapshot,
    norm: &ScoreTable,
    cfg: &BootstrapConfig,
    rungs: &[Rung],
    tasks: &[usize],
    (direct, transferred, from_width): (usize, usize, u32),
) -> Transfer {
    let score = |m: usize, t: usize| {
        let runs = vec![norm.scores[m][t].clone()];
        (!lrctl_eval::group_score(&runs).is_nan())
            .then(|| lrctl_eval::score_ci(&runs, cfg).ok())
            .flatten()
    };
    Transfer {
        direct: snap.methods[direct].clone(),
        transferred: snap.methods[transferred].clone(),
        from_width,
        rungs: rungs
            .iter()
            .zip(tasks)
            .map(|(r, &t)| TransferRung {
                multiplier: r.multiplier,
                direct: score(direct, t),
                transferred: score(transferred, t),
                regret: lrctl_eval::transfer_regret(
                    &[norm.scores[direct][t].clone()],
                    &[norm.scores[transferred][t].clone()],
                    cfg,
                )
                .ok(),
                direct_tuning_seconds: r.tuning_seconds[direct],
                transferred_tuning_seconds: r.tuning_seconds[transferred],
            })
            .collect(),
    }
}

/// The plain sentence of a transfer: on how many rungs wider than the tuning width the
/// transfer lost or gained beyond its interval, and what tuning cost both ways.
pub fn transfer_sentence(t: &Transfer) -> String {
    let wider: Vec<&TransferRung> = t
        .rungs
        .iter()
        .filter(|r| r.multiplier > t.from_width)
        .collect();
    let judged: Vec<&Interval> = wider.iter().filter_map(|r| r.regret.as_ref()).collect();
    if judged.is_empty() {
        return format!(
            "No transfer regret yet: no rung wider than ×{} has runs of both `{}` and `{}`.",
            t.from_width, t.direct, t.transferred
        );
    }
    let lost = judged.iter().filter(|i| i.lo > 0.0).count();
    let gained = judged.iter().filter(|i| i.hi < 0.0).count();
    let direct_bill: f64 = wider.iter().filter_map(|r| r.direct_tuning_seconds).sum();
    let narrow_bill = t
        .rungs
        .iter()
        .find(|r| r.multiplier == t.from_width)
        .or(wider.first().copied())
        .and_then(|r| r.transferred_tuning_seconds.or(r.direct_tuning_seconds));
    let bills = match narrow_bill {
        Some(b) => format!(
            " Tuning each of those rungs cost {direct_bill:.1} s in all; tuning once at ×{} \
             cost {b:.1} s.",
            t.from_width
        ),
        None => String::new(),
    };
    format!(
        "Tuned at ×{} and transferred (`{}`) against tuned at each rung (`{}`): the transfer \
         lost on {lost} and gained on {gained} of {} wider rungs ({:.0} % interval of the \
         regret excluding 0), no clear difference on the rest.{bills}",
        t.from_width,
        t.transferred,
        t.direct,
        judged.len(),
        CONFIDENCE * 100.0
    )
}

/// Why fewer than two rungs have an advantage.
fn no_advantage(roles: &[MethodRole]) -> String {
    if !roles.contains(&MethodRole::Tuned) {
        "the study has no tuned method (one with a [tune] table), so there is no HPO \
         advantage to follow"
            .into()
    } else if !roles.contains(&MethodRole::Untuned) {
        "the study has no untuned method to compare the tuned ones with".into()
    } else {
        "fewer than two rungs have results of both a tuned and an untuned method".into()
    }
}

fn families(
    snap: &Snapshot,
    norm: &ScoreTable,
    roles: &[MethodRole],
    cfg: &BootstrapConfig,
) -> FamilyAxis {
    let mut points: Vec<(FamilyPoint, Vec<usize>)> = Vec::new();
    for (t, info) in snap.tasks.iter().enumerate() {
        let Some(spec) = info.spec.as_ref().filter(|s| s.width == 1 && s.depth == 1) else {
            continue;
        };
        let family = spec.model.family();
        match points.iter_mut().find(|(p, _)| p.family == family) {
            Some((p, ts)) => {
                p.tasks.push(info.name.clone());
                ts.push(t);
            }
            None => points.push((
                FamilyPoint {
                    family: family.to_string(),
                    complexity: spec.model.complexity(),
                    tasks: vec![info.name.clone()],
                    advantage: None,
                },
                vec![t],
            )),
        }
    }
    points.sort_by(|a, b| (a.0.complexity, &a.0.family).cmp(&(b.0.complexity, &b.0.family)));
    let mut rungs = Vec::new();
    for (p, ts) in &mut points {
        let rung = advantage_rung(norm, roles, ts, f64::from(p.complexity));
        p.advantage = lrctl_eval::hpo_advantage(&rung, cfg).ok();
        if p.advantage.is_some() {
            rungs.push(rung);
        }
    }
    let trend = if rungs.len() < 2 {
        Err(if points.len() < 2 {
            "the study has tasks at scale one of fewer than two families".to_string()
        } else {
            no_advantage(roles)
        })
    } else {
        lrctl_eval::advantage_trend(&rungs, cfg).map_err(|e| e.to_string())
    };
    FamilyAxis {
        points: points.into_iter().map(|(p, _)| p).collect(),
        trend,
    }
}

/// The plain sentence of a trend: "The HPO advantage shrinks with scale: −0.031 per e-fold
/// of parameters (95 % interval −0.05 to −0.01)."
pub fn sentence(trend: &Result<Trend, String>, per: &str) -> String {
    match trend {
        Ok(t) => format!(
            "The HPO advantage {} with scale: {:+.3} per {per} ({:.0} % interval {:+.3} to \
             {:+.3}).",
            t.verdict.as_str(),
            t.slope.point,
            CONFIDENCE * 100.0,
            t.slope.lo,
            t.slope.hi
        ),
        Err(why) => format!("No trend: {why}."),
    }
}
