//! ASHA's promotion rule.

use lrctl_tune::{Asha, Ask, Fidelity, Param, SearchSpace, TrialRequest, Tuner};

fn asha() -> Asha {
    let space = SearchSpace::new(vec![Param::float("x", 0.0, 1.0, false)]).unwrap();
    Asha::new(space, Fidelity::new(1, 9, 3.0).unwrap(), 1).unwrap()
}

fn trial(t: &mut Asha) -> TrialRequest {
    match t.ask() {
        Ask::Trial(r) => r,
        other => panic!("ASHA must not wait before max_trials, got {other:?}"),
    }
}

#[test]
fn promotes_top_third_of_finished_rung_results_once() {
    let mut t = asha();
    assert_eq!(
        (t.rung_budget(0), t.rung_budget(1), t.rung_budget(2)),
        (1, 3, 9)
    );
    // Four outstanding bottom-rung trials: nothing finished, so every ask starts a new config.
    let a: Vec<TrialRequest> = (0..4).map(|_| trial(&mut t)).collect();
    assert!(
        a.iter()
            .all(|r| r.rung == 0 && r.budget == 1 && r.parent.is_none())
    );
    // Two finished: floor(2/3) = 0, still no promotion.
    t.tell(a[0].id, 5.0).unwrap();
    t.tell(a[1].id, 2.0).unwrap();
    assert_eq!(t.promotable(0), None);
    let r = trial(&mut t);
    assert_eq!((r.rung, r.parent), (0, None));
    // Three finished: floor(3/3) = 1, the best (a[2], score 1) is promoted to rung 1.
    t.tell(a[2].id, 1.0).unwrap();
    assert_eq!(t.promotable(0), Some(a[2].id));
    let p = trial(&mut t);
    assert_eq!((p.rung, p.budget, p.parent), (1, 3, Some(a[2].id)));
    assert_eq!(p.config, a[2].config);
    // Already promoted, and the second best is not in the top floor(3/3) = 1: new config.
    assert_eq!(t.promotable(0), None);
    let r = trial(&mut t);
    assert_eq!((r.rung, r.parent), (0, None));
    // Six finished (a[3] = 3, r = 4, earlier new one = 6): top 2 = a[2] (promoted) and a[1].
    t.tell(a[3].id, 3.0).unwrap();
    t.tell(r.id, 4.0).unwrap();
    t.tell(a[3].id + 1, 6.0).unwrap();
    assert_eq!(t.promotable(0), Some(a[1].id));
    let p2 = trial(&mut t);
    assert_eq!((p2.rung, p2.parent), (1, Some(a[1].id)));
    // A non-finite score ranks last: it is never in the top third while finite ones exist.
    let n: Vec<TrialRequest> = (0..3).map(|_| trial(&mut t)).collect();
    for x in &n {
        t.tell(x.id, f64::NAN).unwrap();
    }
    assert!(
        t.promotable(0)
            .is_none_or(|id| !n.iter().any(|x| x.id == id))
    );
}

#[test]
fn higher_rungs_are_promoted_first() {
    let mut t = asha();
    // Fill rung 1 with three finished trials, via nine finished bottom-rung trials.
    let mut ones = Vec::new();
    while ones.len() < 3 {
        let r = trial(&mut t);
        let score = if r.rung == 1 {
            10.0 - ones.len() as f64
        } else {
            r.id as f64
        };
        if r.rung == 1 {
            ones.push(r.clone());
        }
        t.tell(r.id, score).unwrap();
    }
    // Rung 1 has 3 finished (best: the last, score 8): promote it to the top rung before
    // any further rung-0 promotion.
    let p = trial(&mut t);
    assert_eq!((p.rung, p.budget, p.parent), (2, 9, Some(ones[2].id)));
}

#[test]
fn waits_only_after_max_trials() {
    let space = SearchSpace::new(vec![Param::float("x", 0.0, 1.0, false)]).unwrap();
    let mut t = Asha::new(space, Fidelity::new(1, 9, 3.0).unwrap(), 1)
        .unwrap()
        .max_trials(5);
    let rs: Vec<TrialRequest> = (0..5).map(|_| trial(&mut t)).collect();
    assert_eq!(t.ask(), Ask::Wait);
    for r in &rs {
        t.tell(r.id, 0.0).unwrap();
    }
    assert_eq!(t.ask(), Ask::Done);
}
