//! Property-based fuzzing of method files: every built-in method's TOML with values replaced
//! by hostile ones, lines dropped or garbage inserted parses, validates and builds, or fails
//! with an error naming the file; never a panic.
//!
//! `PROPTEST_CASES` cases (default 256); for a longer run:
//! `PROPTEST_CASES=50000 cargo test --release -p lrctl-wrap --test fuzz_toml`.

use lrctl_wrap::Method;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases(cases)
}

/// The built-in method files' text (plain and wrapped ones).
fn builtin_texts() -> Vec<String> {
    lrctl_method::BUILTIN_FILES
        .iter()
        .map(|(_, text)| text.to_string())
        .collect()
}

fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("0".to_string()),
        Just("0.0".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("-1e-320".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("\"\"".to_string()),
        Just("\"x\\ny\"".to_string()),
        Just("[]".to_string()),
        Just("[nan, -1]".to_string()),
        Just("[1.0, 2.0, 3.0]".to_string()),
        Just("true".to_string()),
        Just("{}".to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        any::<i64>().prop_map(|v| v.to_string()),
    ]
}

/// One edit of a method file.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value of the `n`-th `key = value` line.
    Value(usize, String),
    /// Drop the `n`-th line.
    Drop(usize),
    /// Insert a line before the `n`-th.
    Insert(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), hostile_value()).prop_map(|(n, v)| Edit::Value(n, v)),
        1 => any::<usize>().prop_map(Edit::Drop),
        1 => (any::<usize>(), "[ -~]{0,20}").prop_map(|(n, l)| Edit::Insert(n, l)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        match e {
            Edit::Value(n, v) => {
                let keyed: Vec<usize> = (0..lines.len())
                    .filter(|&i| lines[i].contains(" = ") && !lines[i].starts_with('['))
                    .collect();
                if let Some(&i) = keyed.get(n % keyed.len().max(1)) {
                    let key = lines[i].split(" = ").next().unwrap().to_string();
                    lines[i] = format!("{key} = {v}");
                }
            }
            Edit::Drop(n) => {
                let i = n % lines.len();
                lines.remove(i);
            }
            Edit::Insert(n, l) => {
                let i = n % (lines.len() + 1);
                lines.insert(i, l.clone());
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_method_files_are_refused_or_built_without_a_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let texts = builtin_texts();
        let text = apply(which.get::<String>(&texts), &edits);
        match Method::from_toml(&text, "fuzz-method.toml") {
            Ok(m) => {
                let _ = m.spec.config_hash();
                if m.validate().is_ok() {
                    for n in [0, 1, 7] {
                        prop_assert!(m.spec.build(n).is_ok());
                    }
                }
                if let Some(t) = m.tune() {
                    let _ = t.space(&m.spec);
                    let _ = t.fidelity(100);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains("fuzz-method.toml"), "{}", msg);
            }
        }
    }

    #[test]
    fn arbitrary_text_is_not_a_method(text in "(?s).{0,200}") {
        if let Err(e) = Method::from_toml(&text, "junk.toml") {
            prop_assert!(e.to_string().contains("junk.toml"));
        }
    }
}
