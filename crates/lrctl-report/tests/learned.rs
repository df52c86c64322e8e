//! The "Learned controllers" section on a small real study: three tasks, two plain methods,
//! `race`, `auto` and a tiny `learned-loto`; and no section for a study without a learned
//! method.

use lrctl_report::{ReportOptions, analyse, render};
use lrctl_study::snapshot::Snapshot;
use lrctl_study::{RunConfig, Seeds, StudyFile};

fn study_snapshot(dir: &std::path::Path) -> Snapshot {
    let file = StudyFile {
        name: Some("learned".into()),
        tasks: ["logreg/iris", "logreg/wine-quality", "logreg/breast-cancer"]
            .map(String::from)
            .to_vec(),
        methods: ["adam-fixed", "prodigy", "race", "auto", "learned-loto"]
            .map(String::from)
            .to_vec(),
        seeds: Some(Seeds::Count(1)),
        steps: Some(20),
        ..StudyFile::default()
    };
    let mut study = file.resolve().unwrap();
    for m in &mut study.methods {
        match m.wrapper.as_mut() {
            Some(lrctl_wrap::Wrapper::Learn(l)) => {
                l.generations = 2;
                l.fidelity = 0.5;
                l.interval = 5;
            }
            Some(lrctl_wrap::Wrapper::Select(lrctl_wrap::SelectSpec::Race(r))) => {
                r.candidates = vec!["adam-fixed".into(), "prodigy".into()];
            }
            _ => {}
        }
    }
    let location = dir.join("s.db").display().to_string();
    let cfg = RunConfig {
        jobs: 2,
        ..RunConfig::new(lrctl_data::DataDirs::new(None))
    };
    lrctl_study::run_study(&location, &study, &cfg).unwrap();
    let mut s = lrctl_store::open(&location).unwrap();
    let row = s.study("learned").unwrap().unwrap();
    Snapshot::read(s.as_mut(), row).unwrap()
}

#[test]
fn the_section_scores_learned_methods_against_the_others_and_draws_their_rates() {
    let dir = tempfile::tempdir().unwrap();
    let snap = study_snapshot(dir.path());
    let a = analyse(&snap, &ReportOptions::default());
    let l = a.learned.as_ref().expect("the study has a learned method");
    let m = &l.section.methods[0];
    let r = &m.realised;
    assert_eq!(r.method, "learned-loto");
    assert_eq!(r.tasks, 3);
    // The single best and the oracle are plain methods; the oracle is at least the single best.
    assert!(
        ["adam-fixed", "prodigy"].contains(&r.sbs.0.as_str()),
        "{m:?}"
    );
    assert!(r.oracle >= r.sbs.1 - 1e-12);
    assert!((0.0..=1.0).contains(&r.score));
    if let Some(g) = r.gap_closed {
        assert!(((r.score - r.sbs.1) / (r.oracle - r.sbs.1) - g).abs() < 1e-12);
    }
    assert_eq!(m.base.as_ref().unwrap().0, "adam-fixed");
    let names: Vec<&str> = m.selections.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["race", "auto"]);
    // Per task: a policy trained on the two others; the fold's cost spread over three tasks.
    assert_eq!(m.per_task.len(), 3);
    for t in &m.per_task {
        assert_eq!(t.trained_on.len(), 2);
        assert!(!t.trained_on.contains(&t.task));
        assert!(t.fold_steps > 0);
    }
    assert_eq!(m.cost.folds, 3);
    assert_eq!(m.cost.amortised_over, 3);
    assert!((m.cost.amortised_steps - m.cost.fold_steps / 3.0).abs() <= 1.0);
    // One picture per task: the learned rates and adam-fixed's (its base) constant 1e-3.
    assert_eq!(l.trajectories.len(), 3);
    for t in &l.trajectories {
        assert_eq!(t.series.len(), 2, "{t:?}");
        assert_eq!(t.series[1].0, "adam-fixed");
        assert!(t.series[1].2.iter().all(|lr| (lr - 1e-3).abs() < 1e-12));
        assert!(!t.series[0].1.is_empty());
    }
    // The numbers serialise, and the document shows them.
    serde_json::to_string(&a).unwrap();
    let md = render(&a).to_markdown();
    assert!(md.contains("## Learned controllers"), "{md}");
    assert!(md.contains(&format!("{:.3}", r.score)), "{md}");
    assert!(md.contains("spread over the study's 3 tasks"), "{md}");
    let doc = render(&a);
    let figures: Vec<&str> = doc
        .figures()
        .map(|f| f.0)
        .filter(|f| f.starts_with("learned-lr-"))
        .collect();
    assert_eq!(figures.len(), 3, "{figures:?}");

    // Without its learned method the study has no such section.
    let cells = snap
        .cells
        .iter()
        .filter(|c| c.method != "learned-loto")
        .cloned()
        .collect();
    let without = Snapshot::from_cells(snap.study.clone(), cells);
    let a = analyse(&without, &ReportOptions::default());
    assert!(a.learned.is_none());
    assert!(!render(&a).to_markdown().contains("Learned controllers"));
}
