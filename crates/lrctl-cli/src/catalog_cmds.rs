//! What lrctl knows, for people: `lrctl tasks [show NAME]`, `lrctl methods [show NAME]`,
//! `lrctl optimizers`, `lrctl controllers`.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::output;

/// `lrctl tasks` / `lrctl methods`: list, or show one.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(subcommand)]
    show: Option<Show>,
}

#[derive(Debug, Subcommand)]
enum Show {
    /// Everything about one entry.
    Show {
        /// Its name (a method may also be a `.toml` file).
        name: String,
    },
}

/// `lrctl tasks [show NAME]`.
pub fn tasks(args: ListArgs) -> Result<()> {
    match args.show {
        None => output::print_tasks(&lrctl_tasks::registry::builtin()),
        Some(Show::Show { name }) => show_task(&name)?,
    }
    Ok(())
}

/// `lrctl methods [show NAME]`.
pub fn methods(args: ListArgs) -> Result<()> {
    match args.show {
        None => output::print_methods(&lrctl_wrap::builtin()),
        Some(Show::Show { name }) => show_method(&name)?,
    }
    Ok(())
}

fn show_task(name: &str) -> Result<()> {
    let t = lrctl_tasks::registry::find(name)?;
    println!("task          {}", t.name);
    println!("about         {}", t.description);
    let data = match (t.data.path(), t.data.is_embedded(), t.data.needs_path()) {
        (_, true, _) => format!("{} (embedded: no file needed)", t.data.name()),
        (_, _, true) => "your own file, given with --data PATH".to_string(),
        (Some(p), _, _) => format!("{} ({})", t.data.name(), p.display()),
        (None, _, _) => format!(
            "{} (the data mirror: --data-dir or LRCTL_DATA_DIR)",
            t.data.name()
        ),
    };
    println!("data          {data}");
    let shape = t.data_shape();
    if let Some(s) = &shape {
        println!(
            "shape         {} training rows{}, {} features, {} classes{}",
            s.rows,
            s.test_rows.map_or_else(String::new, |n| format!(
                " (+ {n} in the official test file)"
            )),
            s.features,
            s.classes,
            s.image
                .map_or_else(String::new, |[c, h, w]| format!(", images {c}×{h}×{w}"))
        );
    }
    let model = serde_json::to_value(&t.model)?;
    println!(
        "model         {} {}",
        t.model.family(),
        compact(&model, &["kind"])
    );
    println!("scale         width ×{}, depth ×{}", t.width, t.depth);
    if let Some(s) = &shape {
        println!("parameters    {}", t.n_params(s));
        let m = t.memory_estimate(s);
        println!(
            "memory        about {} for one cell",
            lrctl_tasks::size::human_bytes(m.total())
        );
    }
    println!("batch         {}", t.batch_size);
    println!(
        "budget        {}{}",
        serde_json::to_value(t.budget)?
            .as_object()
            .map(|o| o
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        t.planned_steps()
            .map_or_else(String::new, |s| format!(" = {s} optimizer steps"))
    );
    println!(
        "splits        validation {:.0} % of the training file; test {}",
        100.0 * t.holdout.validation,
        if shape.is_some_and(|s| s.test_rows.is_some()) {
            "the official test file".to_string()
        } else {
            format!("{:.0} % of the training file", 100.0 * t.holdout.test)
        }
    );
    println!(
        "evaluation    {} periodic evaluations on at most {} validation examples; final \
         evaluations on whole splits; {} curve points",
        t.evals, t.eval_max_examples, t.curve_points
    );
    println!("metric        {}", t.primary_metric().0);
    println!(
        "normalisation {}",
        serde_json::to_value(t.normalization)?
            .as_str()
            .unwrap_or("?")
    );
    Ok(())
}

fn show_method(name: &str) -> Result<()> {
    let m = lrctl_wrap::find(name)?;
    let text = match lrctl_method::BUILTIN_FILES.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => text.to_string(),
        None => std::fs::read_to_string(name)?,
    };
    println!("# {} — {}", m.name(), m.spec.paradigm.as_str());
    println!("# optimizer `{}`", m.spec.optimizer.kind());
    println!("# controller: {}", m.spec.controller.describe());
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(())
}

/// `lrctl optimizers`: every optimizer kind with its fields and defaults.
pub fn optimizers() -> Result<()> {
    for kind in lrctl_optim::OptimizerSpec::KINDS {
        let (spec, defaults, required) = fields_of(kind, |v| {
            serde_json::from_value::<lrctl_optim::OptimizerSpec>(v)
        });
        let own = spec.map(|s| s.sets_own_step_size());
        println!(
            "{kind}{}",
            if own == Some(true) {
                "  (sets its own step size: `lr` multiplies it)"
            } else {
                ""
            }
        );
        print_fields(defaults.as_ref(), &required);
    }
    println!("\nIn a method file: [optimizer] kind = \"adamw\" plus any of its fields.");
    Ok(())
}

/// `lrctl controllers`: every controller kind with its fields and defaults.
pub fn controllers() -> Result<()> {
    for kind in lrctl_control::ControllerSpec::KINDS {
        let (_, defaults, required) = fields_of(kind, |v| {
            serde_json::from_value::<lrctl_control::ControllerSpec>(v)
        });
        println!("{kind}");
        print_fields(defaults.as_ref(), &required);
    }
    println!("\nIn a method file: [controller] kind = \"cosine\" plus any of its fields.");
    Ok(())
}

/// The fields of a `kind`: the configuration parsed when only the required fields are given
/// (required ones found from the parser's "missing field" errors, given a placeholder), its
/// other fields' defaults as written, and the required fields' names.
fn fields_of<T: serde::Serialize, E: std::fmt::Display>(
    kind: &str,
    parse: impl Fn(Value) -> Result<T, E>,
) -> (Option<T>, Option<Value>, Vec<String>) {
    let mut table = json!({ "kind": kind });
    let mut required: Vec<String> = Vec::new();
    // Placeholders for a required field, tried in turn when the parser rejects one's type.
    let placeholders = [json!(1), json!(1.0), json!([1]), json!("step")];
    let mut tried = 0;
    for _ in 0..32 {
        match parse(table.clone()) {
            Ok(spec) => {
                let mut v = serde_json::to_value(&spec).ok();
                if let Some(Value::Object(o)) = &mut v {
                    o.remove("kind");
                    for r in &required {
                        o.remove(r);
                    }
                }
                return (Some(spec), v, required);
            }
            Err(e) => {
                let msg = e.to_string();
                if let Some(field) = msg
                    .split("missing field `")
                    .nth(1)
                    .and_then(|r| r.split('`').next())
                {
                    required.push(field.to_string());
                    tried = 0;
                    table[field] = placeholders[0].clone();
                } else if let Some(field) = required.last()
                    && tried + 1 < placeholders.len()
                {
                    tried += 1;
                    table[field.as_str()] = placeholders[tried].clone();
                } else {
                    return (None, None, required);
                }
            }
        }
    }
    (None, None, required)
}

fn print_fields(defaults: Option<&Value>, required: &[String]) {
    if !required.is_empty() {
        println!("    required: {}", required.join(", "));
    }
    match defaults {
        Some(Value::Object(o)) if !o.is_empty() => {
            for (k, v) in o {
                println!("    {k} = {v}");
            }
        }
        Some(_) => {}
        None if required.is_empty() => println!("    (no fields)"),
        None => println!("    (see the method files that use it: `lrctl methods`)"),
    }
}

/// A JSON object as `k = v, …` without the named keys.
fn compact(v: &Value, skip: &[&str]) -> String {
    match v {
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}
