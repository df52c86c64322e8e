//! Tunable hyperparameters: applying a tuner's configuration to a method ([`with_params`]) and
//! the search space a method is tuned over when the user gives none ([`default_space`]).
//!
//! A hyperparameter is addressed by its dotted path in the method's TOML/JSON form:
//! `controller.lr`, `controller.t0`, `optimizer.weight_decay`, `optimizer.betas.1` (a number
//! indexes an array), `optimizer.base.eps` (Mechanic's wrapped optimizer), ….

use lrctl_control::ControllerSpec;
use lrctl_tune::{Config, Param, ParamKind, SearchSpace, SpaceError};
use serde_json::{Map, Number, Value};

use crate::MethodSpec;

/// Learning-rate range of every default search space: log-uniform over five decades, wide
/// enough for SGD on a linear model (≈1) and Adam on a network (≈1e-4).
pub const DEFAULT_LR_RANGE: (f64, f64) = (1e-5, 1.0);

/// SGDR's first cycle length in steps, `int[1, 50]` (the paper's `cawr-tuned` setup, SPEC.md).
pub const DEFAULT_T0_RANGE: (i64, i64) = (1, 50);

/// SGDR's cycle growth factor, `int[1, 5]` (the paper's `cawr-tuned` setup, SPEC.md).
pub const DEFAULT_T_MULT_RANGE: (i64, i64) = (1, 5);

/// SGDR's floor learning rate, linear `[0, 0.005]` (the paper's `cawr-tuned` setup, SPEC.md).
pub const DEFAULT_ETA_MIN_RANGE: (f64, f64) = (0.0, 0.005);

/// Why a configuration cannot be applied to a method, or why a method has no default space.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// The path names no hyperparameter of the method.
    #[error(
        "method `{method}` has no hyperparameter `{path}` (its numeric hyperparameters: {})",
        known.join(", ")
    )]
    NoSuchPath {
        /// The method.
        method: String,
        /// The dotted path asked for.
        path: String,
        /// Every numeric path the method does have.
        known: Vec<String>,
    },
    /// An integer hyperparameter given a fractional value.
    #[error(
        "method `{method}`: `{path}` is an integer, but the configuration sets {value}; declare \
         it with `type = \"int\"` in the search space"
    )]
    NotInteger {
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The value given.
        value: f64,
    },
    /// A search space declares a real-valued parameter for an integer hyperparameter.
    #[error(
        "method `{method}`: `{path}` is an integer; declare it with `type = \"int\"` in the \
         search space"
    )]
    FloatForInteger {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// A NaN or infinite value.
    #[error("method `{method}`: `{path}` must be a finite number (got {value})")]
    NotFinite {
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The value given.
        value: f64,
    },
    /// The edited configuration is no longer a valid method (a wrong type, say).
    #[error("method `{method}` with {params}: {message}")]
    Invalid {
        /// The method.
        method: String,
        /// The configuration applied, `path = value, …`.
        params: String,
        /// The deserialiser's message.
        message: String,
    },
    /// The method has no learning rate a default space could search.
    #[error(
        "method `{method}` has no learning rate to tune ({why}); pass a search space \
         (`lrctl tune --space FILE`) naming the hyperparameters to tune"
    )]
    NoLearningRate {
        /// The method.
        method: String,
        /// Why not.
        why: String,
    },
    /// A search space file that is not valid TOML or has a bad parameter table.
    #[error("{origin}: {message}")]
    SpaceFile {
        /// The file (or where the text came from).
        origin: String,
        /// What is wrong, with the TOML position or the parameter's name.
        message: String,
    },
    /// A default space that is not valid (cannot happen for the built-in ranges).
    #[error("method `{method}`: default search space: {source}")]
    Space {
        /// The method.
        method: String,
        /// What is wrong.
        #[source]
        source: SpaceError,
    },
}

/// `spec` with every `path = value` of `config` applied to its serialised form; integer fields
/// stay integers (their value must be integral). Fails with [`ParamsError::NoSuchPath`] for a
/// path the method does not have (the message lists the ones it has).
///
/// The result keeps the method's name; hyperparameter ranges are checked when the method is
/// built ([`MethodSpec::build`]), not here, so that a tuner's out-of-range proposal is a
/// failed trial rather than an error of the whole run.
pub fn with_params(spec: &MethodSpec, config: &Config) -> Result<MethodSpec, ParamsError> {
    let mut json = serde_json::to_value(spec).expect("a method serialises to JSON");
    for (path, &value) in config {
        set_path(&mut json, spec, path, value)?;
    }
    serde_json::from_value(json).map_err(|e| ParamsError::Invalid {
        method: spec.name.clone(),
        params: config
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        message: e.to_string(),
    })
}

/// Writes `value` at `path`, keeping an integer leaf an integer.
fn set_path(
    json: &mut Value,
    spec: &MethodSpec,
    path: &str,
    value: f64,
) -> Result<(), ParamsError> {
    let node = leaf(json, spec, path)?;
    let integer = !node.is_f64();
    if !value.is_finite() {
        return Err(ParamsError::NotFinite {
            method: spec.name.clone(),
            path: path.to_string(),
            value,
        });
    }
    *node = if !integer {
        Value::Number(Number::from_f64(value).expect("finite"))
    } else if value.fract() == 0.0 && value.abs() < 2f64.powi(53) {
        Value::from(value as i64)
    } else {
        return Err(ParamsError::NotInteger {
            method: spec.name.clone(),
            path: path.to_string(),
            value,
        });
    };
    Ok(())
}

/// The numeric leaf at `path`, or [`ParamsError::NoSuchPath`].
fn leaf<'a>(
    json: &'a mut Value,
    spec: &MethodSpec,
    path: &str,
) -> Result<&'a mut Value, ParamsError> {
    let no_such = || ParamsError::NoSuchPath {
        method: spec.name.clone(),
        path: path.to_string(),
        known: tunable_paths(spec),
    };
    let mut node = json;
    for segment in path.split('.') {
        node = match node {
            Value::Object(map) => map.get_mut(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(no_such)?;
    }
    // A string (`kind`), a bool or a table is not a numeric hyperparameter.
    if node.is_number() {
        Ok(node)
    } else {
        Err(no_such())
    }
}

/// Every numeric hyperparameter of `spec`, as dotted paths in file order.
pub fn tunable_paths(spec: &MethodSpec) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_string()
            } else {
                format!("{prefix}.{key}")
            }
        };
        match value {
            Value::Number(_) => out.push(prefix.to_string()),
            Value::Object(map) => walk_map(map, &join, out),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(&join(&i.to_string()), item, out);
                }
            }
            _ => {}
        }
    }
    fn walk_map(map: &Map<String, Value>, join: &dyn Fn(&str) -> String, out: &mut Vec<String>) {
        for (key, item) in map {
            walk(&join(key), item, out);
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &serde_json::to_value(spec).expect("a method serialises to JSON"),
        &mut out,
    );
    out
}

/// The search space `spec` is tuned over when the user gives none:
///
/// * `controller.lr`, log-uniform over [`DEFAULT_LR_RANGE`], default the method's own rate
///   (clamped into the range);
/// * for SGDR (`kind = "cosine-warm-restarts"`) also `controller.t0` ([`DEFAULT_T0_RANGE`]),
///   `controller.t_mult` ([`DEFAULT_T_MULT_RANGE`]) and `controller.eta_min`
///   ([`DEFAULT_ETA_MIN_RANGE`]), the four hyperparameters of the paper's `cawr-tuned`. The
///   paper searched the rate linearly over [0, 1]; a log range spends the trials evenly over
///   the orders of magnitude instead of 90 % of them above 0.1.
///
/// Fails with [`ParamsError::NoLearningRate`] for optimizers that set their own step size
/// ([`lrctl_optim::OptimizerSpec::sets_own_step_size`]: Prodigy, D-Adaptation, COCOB, DoG,
/// DoWG, Mechanic, …) and for a controller without `lr`.
pub fn default_space(spec: &MethodSpec) -> Result<SearchSpace, ParamsError> {
    let kind = spec.optimizer.kind();
    let no_lr = |why: String| ParamsError::NoLearningRate {
        method: spec.name.clone(),
        why,
    };
    // Their `controller.lr` is a multiplier (1.0), not a learning rate worth tuning.
    if spec.optimizer.sets_own_step_size() {
        return Err(no_lr(format!(
            "optimizer `{kind}` sets its own step size and `controller.lr` only multiplies it"
        )));
    }
    let lr = spec
        .controller
        .lr()
        .ok_or_else(|| no_lr("its `[controller]` table sets no `lr`".into()))?;
    let (low, high) = DEFAULT_LR_RANGE;
    let mut params =
        vec![Param::float("controller.lr", low, high, true).with_default(lr.clamp(low, high))];
    if let ControllerSpec::CosineWarmRestarts(c) = &spec.controller {
        let int = |name: &str, (low, high): (i64, i64), value: u64| {
            let value = i64::try_from(value).unwrap_or(high).clamp(low, high);
            Param::int(name, low, high, false).with_default(value as f64)
        };
        params.push(int("controller.t0", DEFAULT_T0_RANGE, c.t0));
        params.push(int("controller.t_mult", DEFAULT_T_MULT_RANGE, c.t_mult));
        let (low, high) = DEFAULT_ETA_MIN_RANGE;
        params.push(
            Param::float("controller.eta_min", low, high, false)
                .with_default(c.eta_min.clamp(low, high)),
        );
    }
    SearchSpace::new(params).map_err(|source| ParamsError::Space {
        method: spec.name.clone(),
        source,
    })
}

/// Parses a search space: a TOML document of `[search.<path>]` tables (the form a method file
/// would embed), or of bare `[<path>]` tables when there is no `search` table; see
/// [`SearchSpace`] for the fields. A dotted path may be written nested
/// (`[search.controller.lr]`) or quoted (`[search."controller.lr"]`). `origin` names the file
/// in errors.
pub fn space_from_toml(text: &str, origin: &str) -> Result<SearchSpace, ParamsError> {
    let error = |message: String| ParamsError::SpaceFile {
        origin: origin.to_string(),
        message,
    };
    let mut table: toml::Table = toml::from_str(text).map_err(|e| error(e.to_string()))?;
    let search = match table.remove("search") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => return Err(error("`search` must be a table of parameters".into())),
        None => table,
    };
    let mut flat = toml::Table::new();
    flatten("", search, &mut flat);
    toml::Value::Table(flat)
        .try_into()
        .map_err(|e: toml::de::Error| error(e.message().to_string()))
}

/// Turns nested tables `controller = { lr = { low = .. } }` into `"controller.lr" = { low = .. }`:
/// a parameter table is one with a `low` key.
fn flatten(prefix: &str, table: toml::Table, out: &mut toml::Table) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) if !t.contains_key("low") => flatten(&path, t, out),
            other => {
                out.insert(path, other);
            }
        }
    }
}

/// Checks that every parameter of `space` names a numeric hyperparameter of `spec`, that
/// integer fields are searched as integers, and that the space's default configuration and
/// every parameter's bounds apply: a misspelt path is an error before any training.
pub fn check_space(spec: &MethodSpec, space: &SearchSpace) -> Result<(), ParamsError> {
    let mut json = serde_json::to_value(spec).expect("a method serialises to JSON");
    for p in space.params() {
        let integer = !leaf(&mut json, spec, &p.name)?.is_f64();
        if integer && matches!(p.kind, ParamKind::Float { .. }) {
            return Err(ParamsError::FloatForInteger {
                method: spec.name.clone(),
                path: p.name.clone(),
            });
        }
    }
    with_params(spec, &space.default_config())?;
    for p in space.params() {
        for u in [0.0, 1.0] {
            let config: Config = [(p.name.clone(), p.from_unit(u))].into_iter().collect();
            with_params(spec, &config)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{builtin, find};

    fn config(pairs: &[(&str, f64)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn every_builtin_round_trips_through_json() {
        for m in builtin() {
            assert_eq!(with_params(&m, &Config::new()).unwrap(), m, "{}", m.name);
        }
    }

    #[test]
    fn sets_floats_and_keeps_integers_integers() {
        let m = find("cawr-default").unwrap();
        let tuned = with_params(
            &m,
            &config(&[
                ("controller.lr", 0.02),
                ("controller.t0", 7.0),
                ("controller.t_mult", 3.0),
                ("optimizer.betas.1", 0.95),
            ]),
        )
        .unwrap();
        let ControllerSpec::CosineWarmRestarts(c) = &tuned.controller else {
            panic!("still SGDR");
        };
        assert_eq!((c.lr, c.t0, c.t_mult), (Some(0.02), 7, 3));
        assert!(tuned.config_hash() != m.config_hash());
        tuned.validate().unwrap();
        let json = serde_json::to_string(&tuned).unwrap();
        assert!(json.contains("\"t0\":7,"), "{json}");
        assert!(json.contains("0.95"), "{json}");
    }

    #[test]
    fn unknown_path_and_fractional_integer_are_clear_errors() {
        let m = find("adam-fixed").unwrap();
        let msg = with_params(&m, &config(&[("controller.t0", 5.0)]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`adam-fixed`") && msg.contains("`controller.t0`"),
            "{msg}"
        );
        assert!(
            msg.contains("controller.lr") && msg.contains("optimizer.weight_decay"),
            "{msg}"
        );
        let msg = with_params(&m, &config(&[("controller.kind", 1.0)]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no hyperparameter `controller.kind`"), "{msg}");

        let sgdr = find("cawr-default").unwrap();
        let msg = with_params(&sgdr, &config(&[("controller.t0", 2.5)]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("integer") && msg.contains("type = \"int\""),
            "{msg}"
        );
    }

    #[test]
    fn default_spaces() {
        let fixed = default_space(&find("adam-fixed").unwrap()).unwrap();
        assert_eq!(fixed.dim(), 1);
        assert_eq!(fixed.default_config()["controller.lr"], 0.001);

        let sgdr = default_space(&find("cawr-default").unwrap()).unwrap();
        let names: Vec<&str> = sgdr.params().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "controller.lr",
                "controller.t0",
                "controller.t_mult",
                "controller.eta_min"
            ]
        );
        let d = sgdr.default_config();
        assert_eq!(
            (
                d["controller.lr"],
                d["controller.t0"],
                d["controller.t_mult"]
            ),
            (0.005, 10.0, 2.0)
        );
        check_space(&find("cawr-default").unwrap(), &sgdr).unwrap();

        for name in [
            "prodigy",
            "cocob",
            "dowg",
            "dog",
            "dadapt-adam",
            "mechanic-adamw",
        ] {
            let msg = default_space(&find(name).unwrap()).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("method `{name}` has no learning rate to tune"))
                    && msg.contains("--space FILE"),
                "{msg}"
            );
        }
        // The optimizers say it themselves, wrappers as their base (no list to keep).
        for name in ["prodigy-sf", "adamg", "ldog", "schedulefree-wrap-prodigy"] {
            assert!(default_space(&find(name).unwrap()).is_err(), "{name}");
        }
        for name in ["kate", "momo", "momo-adam", "schedulefree-radam"] {
            let space = default_space(&find(name).unwrap()).unwrap();
            assert_eq!(space.params()[0].name, "controller.lr", "{name}");
        }
        // Every other built-in method has a default space that applies.
        for m in builtin() {
            if let Ok(space) = default_space(&m) {
                check_space(&m, &space).unwrap();
            }
        }
    }

    #[test]
    fn space_files_nested_or_quoted() {
        let nested = "[search.controller.lr]\nlow = 1e-4\nhigh = 1.0\nlog = true\n\
                      [search.controller.t0]\ntype = \"int\"\nlow = 1\nhigh = 50\n";
        let quoted = "[\"controller.lr\"]\nlow = 1e-4\nhigh = 1.0\nlog = true\n\
                      [\"controller.t0\"]\ntype = \"int\"\nlow = 1\nhigh = 50\n";
        let a = space_from_toml(nested, "a.toml").unwrap();
        let b = space_from_toml(quoted, "b.toml").unwrap();
        assert_eq!(a, b);
        let names: Vec<&str> = a.params().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["controller.lr", "controller.t0"]);
        check_space(&find("cawr-default").unwrap(), &a).unwrap();

        let msg = space_from_toml("[search.lr]\nlow = 0.0\nhigh = 1.0\nlog = true\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("s.toml: ") && msg.contains("`lr`") && msg.contains("log"),
            "{msg}"
        );
        let msg = space_from_toml("[search.lr]\nlow = 1\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("high"), "{msg}");
        let msg = space_from_toml("[search.lr\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn check_space_rejects_a_float_search_over_an_integer_field() {
        let m = find("cawr-default").unwrap();
        let space = SearchSpace::new(vec![Param::float("controller.t0", 1.0, 5.0, false)]).unwrap();
        let msg = check_space(&m, &space).unwrap_err().to_string();
        assert!(msg.contains("`controller.t0` is an integer"), "{msg}");
    }
}
