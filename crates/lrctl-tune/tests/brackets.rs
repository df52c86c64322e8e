//! Bracket arithmetic of successive halving and Hyperband, and what the schedulers issue.

use std::collections::BTreeMap;

use lrctl_tune::{
    Ask, BracketLayout, Fidelity, Hyperband, Param, SearchSpace, Tuner, hyperband_brackets,
};

fn space() -> SearchSpace {
    SearchSpace::new(vec![Param::float("x", 0.0, 1.0, false)]).unwrap()
}

/// `(n_i, r_i)` per rung.
fn table(layout: &BracketLayout) -> Vec<(usize, u64)> {
    layout.rungs.iter().map(|r| (r.n, r.budget)).collect()
}

#[test]
fn hyperband_table_for_r81_eta3_matches_the_paper() {
    // Li et al. 2018, Table 1: R = 81, eta = 3.
    let fidelity = Fidelity::new(1, 81, 3.0).unwrap();
    assert_eq!(fidelity.s_max(), 4);
    let brackets = hyperband_brackets(&fidelity);
    let expected: [(usize, &[(usize, u64)]); 5] = [
        (4, &[(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]),
        (3, &[(34, 3), (11, 9), (3, 27), (1, 81)]),
        (2, &[(15, 9), (5, 27), (1, 81)]),
        (1, &[(8, 27), (2, 81)]),
        (0, &[(5, 81)]),
    ];
    assert_eq!(brackets.len(), expected.len());
    for (layout, (s, rungs)) in brackets.iter().zip(expected) {
        assert_eq!(layout.s, s);
        assert_eq!(table(layout), rungs, "bracket s = {s}");
    }
}

#[test]
fn budgets_scale_with_min_budget_and_round_when_not_a_power_of_eta() {
    // Budgets in steps: 100 .. 8100 is R = 81 again.
    let fidelity = Fidelity::new(100, 8100, 3.0).unwrap();
    let top = &hyperband_brackets(&fidelity)[0];
    assert_eq!(
        table(top),
        [(81, 100), (27, 300), (9, 900), (3, 2700), (1, 8100)]
    );
    // max/min = 5 is not a power of 3: one aggressive bracket, bottom rung above min_budget.
    let fidelity = Fidelity::new(20, 100, 3.0).unwrap();
    assert_eq!(fidelity.s_max(), 1);
    let brackets = hyperband_brackets(&fidelity);
    assert_eq!(table(&brackets[0]), [(3, 33), (1, 100)]);
    assert_eq!(table(&brackets[1]), [(2, 100)]);
    // min == max: plain random search at the full budget.
    let fidelity = Fidelity::new(50, 50, 3.0).unwrap();
    assert_eq!(table(&hyperband_brackets(&fidelity)[0]), [(1, 50)]);
}

#[test]
fn successive_halving_rung_sizes() {
    let fidelity = Fidelity::new(1, 81, 3.0).unwrap();
    let layout = BracketLayout::successive_halving(&fidelity, 4, 81);
    assert_eq!(table(&layout), [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]);
    assert_eq!(layout.cost(), 5 * 81);
    let layout = BracketLayout::successive_halving(&fidelity, 2, 20);
    assert_eq!(table(&layout), [(20, 9), (6, 27), (2, 81)]);
}

/// Runs `tuner` synchronously for `trials` trials with score = x and returns the requests.
fn drive(tuner: &mut dyn Tuner, trials: usize) -> Vec<lrctl_tune::TrialRequest> {
    let mut out = Vec::new();
    for _ in 0..trials {
        let Ask::Trial(request) = tuner.ask() else {
            panic!("synchronous scheduler must issue a trial");
        };
        tuner.tell(request.id, request.config["x"]).unwrap();
        out.push(request);
    }
    out
}

#[test]
fn successive_halving_issues_the_rungs_and_promotes_the_best_third() {
    let fidelity = Fidelity::new(1, 81, 3.0).unwrap();
    let mut sh = Hyperband::successive_halving(space(), fidelity, 7).unwrap();
    let trials = drive(&mut sh, 81 + 27 + 9 + 3 + 1);
    let mut per_rung: BTreeMap<(usize, usize), (usize, u64)> = BTreeMap::new();
    for t in &trials {
        let e = per_rung.entry((t.bracket, t.rung)).or_insert((0, t.budget));
        e.0 += 1;
        assert_eq!(e.1, t.budget);
    }
    let sizes: Vec<(usize, u64)> = per_rung.values().copied().collect();
    assert_eq!(sizes, [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]);
    // Every promotion continues the best-scoring trials of the rung below, best first.
    for rung in 1..5 {
        let below: Vec<_> = trials.iter().filter(|t| t.rung == rung - 1).collect();
        let mut ranked: Vec<_> = below.iter().map(|t| (t.config["x"], t.id)).collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        let promoted: Vec<_> = trials.iter().filter(|t| t.rung == rung).collect();
        for (p, (_, best_id)) in promoted.iter().zip(&ranked) {
            assert_eq!(p.parent, Some(*best_id));
            assert_eq!(p.config, trials[*best_id as usize].config);
        }
    }
    // The next bracket starts over at the bottom.
    let Ask::Trial(next) = sh.ask() else { panic!() };
    assert_eq!(
        (next.bracket, next.rung, next.budget, next.parent),
        (1, 0, 1, None)
    );
    // The incumbent is the single trial at the full budget.
    let inc = sh.incumbent().unwrap();
    assert_eq!(inc.budget, 81);
    assert_eq!(inc.id, trials.last().unwrap().id);
}

#[test]
fn hyperband_cycles_through_the_published_brackets() {
    let fidelity = Fidelity::new(1, 81, 3.0).unwrap();
    let mut hb = Hyperband::new(space(), fidelity, 3).unwrap();
    let total: usize = hyperband_brackets(&fidelity)
        .iter()
        .map(|b| b.rungs.iter().map(|r| r.n).sum::<usize>())
        .sum();
    let trials = drive(&mut hb, total);
    let mut per_rung: BTreeMap<(usize, usize), (usize, u64)> = BTreeMap::new();
    for t in &trials {
        per_rung
            .entry((t.bracket, t.rung))
            .or_insert((0, t.budget))
            .0 += 1;
    }
    for (b, layout) in hyperband_brackets(&fidelity).iter().enumerate() {
        let got: Vec<(usize, u64)> = (0..layout.rungs.len()).map(|r| per_rung[&(b, r)]).collect();
        assert_eq!(got, table(layout), "bracket {b}");
    }
    // Then the cycle restarts with s = s_max.
    let Ask::Trial(next) = hb.ask() else { panic!() };
    assert_eq!((next.bracket, next.budget), (5, 1));
}

#[test]
fn hyperband_opens_new_brackets_instead_of_waiting_and_caps_trials() {
    let fidelity = Fidelity::new(1, 9, 3.0).unwrap();
    // Brackets: s=2 (9@1, 3@3, 1@9), s=1 (5@3, 1@9), s=0 (3@9), then again.
    let mut hb = Hyperband::new(space(), fidelity, 0).unwrap().max_trials(12);
    let asked: Vec<_> = (0..12)
        .map(|_| match hb.ask() {
            Ask::Trial(t) => t,
            other => panic!("expected a trial, got {other:?}"),
        })
        .collect();
    // With nothing told, rung 0 of bracket 0 (9 trials) and then bracket 1's rung 0 run.
    let brackets: Vec<usize> = asked.iter().map(|t| t.bracket).collect();
    assert_eq!(brackets, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    assert_eq!(hb.ask(), Ask::Wait);
    for t in &asked {
        hb.tell(t.id, t.config["x"]).unwrap();
    }
    assert_eq!(hb.ask(), Ask::Done);
    assert!(hb.tell(3, 0.0).is_err(), "a second tell is an error");
    assert!(hb.tell(99, 0.0).is_err(), "an unknown id is an error");
}
