//! Property-based fuzzing of study files through the public parser (`StudyFile::from_file`,
//! then `resolve`): hostile names, unknown or malformed tasks, methods, suites and seeds, and
//! inline tasks with hostile numbers give a study or an error naming what is wrong; never a
//! panic.
//!
//! `PROPTEST_CASES` cases (default 128); for a longer run:
//! `PROPTEST_CASES=20000 cargo test --release -p lrctl-study --test fuzz_toml`.
//! Seed counts stay small here: a huge count (`seeds = 4294967295`) expands into that many
//! cells, which is refused (or not) before this parser's output is used.

use lrctl_study::StudyFile;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    ProptestConfig::with_cases(cases)
}

/// A TOML string literal of `s` (basic string, everything escaped).
fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("s".to_string()),
        Just(String::new()),
        Just("n\ntouch PWNED".to_string()),
        Just(" ".to_string()),
        ".{0,12}",
    ]
}

fn task_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("logreg/iris".to_string()),
        Just("mlp/digits@w2".to_string()),
        Just("logreg/iris@é2".to_string()),
        Just("logreg/iris@".to_string()),
        Just("logreg/iris@w4".to_string()),
        Just("mlp/digits@w99999".to_string()),
        Just("libsvm/file".to_string()),
        Just("nope".to_string()),
        ".{0,10}",
    ]
}

fn method_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("adam-fixed".to_string()),
        Just("cocob".to_string()),
        Just(String::new()),
        Just("a\nb".to_string()),
        Just("missing.toml".to_string()),
        ".{0,10}",
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("0.5".to_string()),
        Just("3".to_string()),
        Just("1e300".to_string()),
        Just("18446744073709551615".to_string()),
        Just("\"x\"".to_string()),
    ]
}

/// An inline task with one field set to a hostile number.
fn inline_task() -> impl Strategy<Value = String> {
    let fields = prop_oneof![
        Just("batch_size"),
        Just("budget.epochs"),
        Just("budget.steps"),
        Just("width"),
        Just("depth"),
        Just("evals"),
        Just("curve_points"),
        Just("eval_max_examples"),
        Just("holdout.validation"),
        Just("model.hidden"),
    ];
    (name(), fields, number()).prop_map(|(name, field, value)| {
        let mut t = std::collections::BTreeMap::from([
            ("batch_size", "16".to_string()),
            ("budget", "{ steps = 2 }".to_string()),
            ("model", "{ kind = \"mlp\", hidden = [4] }".to_string()),
            ("holdout", "{ validation = 0.1, test = 0.2 }".to_string()),
        ]);
        match field.split_once('.') {
            Some(("budget", k)) => {
                t.insert("budget", format!("{{ {k} = {value} }}"));
            }
            Some(("holdout", k)) => {
                t.insert("holdout", format!("{{ {k} = {value}, test = 0.2 }}"));
            }
            Some(("model", _)) => {
                t.insert("model", format!("{{ kind = \"mlp\", hidden = [{value}] }}"));
            }
            _ => {
                t.insert(field, value);
            }
        }
        let mut s = format!(
            "[[task]]\nname = {}\ndescription = \"x\"\ndata = {{ kind = \"embedded\", name = \"digits\" }}\n",
            lit(&name)
        );
        for (k, v) in t {
            s.push_str(&format!("{k} = {v}\n"));
        }
        s
    })
}

fn study_text() -> impl Strategy<Value = String> {
    (
        prop::option::of(name()),
        prop::collection::vec(prop_oneof![Just("quick".to_string()), ".{0,6}"], 0..2),
        prop::collection::vec(task_name(), 0..3),
        prop::collection::vec(method_name(), 0..3),
        prop_oneof![
            Just(None),
            (0i64..4).prop_map(|n| Some(n.to_string())),
            Just(Some("-1".to_string())),
            Just(Some("[0, 0, 2]".to_string())),
            Just(Some("[-3]".to_string())),
            Just(Some("\"3\"".to_string())),
        ],
        prop::option::of(prop_oneof![Just("0"), Just("1"), Just("-5")]),
        prop::collection::vec(inline_task(), 0..2),
    )
        .prop_map(|(name, suites, tasks, methods, seeds, steps, inline)| {
            let list = |v: &[String]| v.iter().map(|s| lit(s)).collect::<Vec<_>>().join(", ");
            let mut s = String::new();
            if let Some(n) = name {
                s.push_str(&format!("name = {}\n", lit(&n)));
            }
            s.push_str(&format!("suites = [{}]\n", list(&suites)));
            s.push_str(&format!("tasks = [{}]\n", list(&tasks)));
            s.push_str(&format!("methods = [{}]\n", list(&methods)));
            if let Some(seeds) = seeds {
                s.push_str(&format!("seeds = {seeds}\n"));
            }
            if let Some(steps) = steps {
                s.push_str(&format!("steps = {steps}\n"));
            }
            for t in inline {
                s.push_str(&t);
            }
            s
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_study_files_resolve_or_fail_without_a_panic(text in study_text()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz-study.toml");
        std::fs::write(&path, &text).unwrap();
        match StudyFile::from_file(&path) {
            Ok(file) => match file.resolve() {
                Ok(study) => {
                    let _ = study.to_json();
                    prop_assert!(study.cells().len() < 100_000);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            },
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains("fuzz-study.toml"), "{}", msg);
            }
        }
    }

    #[test]
    fn arbitrary_text_is_not_a_study(text in "(?s).{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.toml");
        std::fs::write(&path, &text).unwrap();
        if let Ok(file) = StudyFile::from_file(&path) {
            let _ = file.resolve();
        }
    }
}
