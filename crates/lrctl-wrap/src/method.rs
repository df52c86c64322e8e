//! Methods as users name them: a plain optimizer + controller ([`MethodSpec`]) or one that
//! wraps others ([`Wrapper`]: tuned, or a selection method), and the registry that finds them
//! by name or file.

use std::path::Path;

use lrctl_control::ControllerSpec;
use lrctl_method::{MethodError, MethodSpec, Paradigm};
use lrctl_optim::OptimizerSpec;
use serde::{Deserialize, Serialize};

use crate::learn::LearnSpec;
use crate::select::SelectSpec;
use crate::tune::TuneSpec;

/// A method as a study names it: a plain method, possibly wrapped.
///
/// It reads and writes the fields of a method file (`name`, `description`, `paradigm`,
/// `default`, `[optimizer]`, `[controller]`, and `[tune]`, `[select]` or `[learn]`), so its JSON is the
/// one a cell's configuration hash is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MethodFile", into = "MethodFile")]
pub struct Method {
    /// The optimizer and controller (for a wrapped method: the configuration it tunes, or the
    /// fallback a selection trains when there is nothing to choose from).
    pub spec: MethodSpec,
    /// How it wraps other methods, if it does.
    pub wrapper: Option<Wrapper>,
}

/// What a wrapped method does before the run it trains.
#[derive(Debug, Clone, PartialEq)]
pub enum Wrapper {
    /// A *tuned method*: its hyperparameters are tuned on each task before the evaluation runs.
    Tune(TuneSpec),
    /// A *selection method* (`race`, `auto`): it chooses, per task, which method to train.
    Select(SelectSpec),
    /// A *learned method*: a policy meta-trained on the study's other tasks steers it
    /// ([`crate::learn`]).
    Learn(LearnSpec),
}

/// The file form of a [`Method`]: every field a method file may have, unknown ones refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodFile {
    name: String,
    #[serde(default)]
    description: String,
    paradigm: Paradigm,
    #[serde(default)]
    default: bool,
    optimizer: OptimizerSpec,
    controller: ControllerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tune: Option<TuneSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    select: Option<SelectSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    learn: Option<LearnSpec>,
}

impl TryFrom<MethodFile> for Method {
    type Error = String;

    fn try_from(f: MethodFile) -> Result<Self, String> {
        let wrapper = match (f.tune, f.select, f.learn) {
            (None, None, None) => None,
            (Some(t), None, None) => Some(Wrapper::Tune(t)),
            (None, Some(s), None) => Some(Wrapper::Select(s)),
            (None, None, Some(l)) => Some(Wrapper::Learn(l)),
            (Some(_), Some(_), _) => {
                return Err(format!(
                    "method `{}` has both a [tune] and a [select] table; a method is either \
                     tuned or a selection method (a selection may choose a tuned method)",
                    f.name
                ));
            }
            _ => {
                return Err(format!(
                    "method `{}` has a [learn] table and a [tune] or [select] table; a learned \
                     method steers its own optimizer and controller, so it has only [learn]",
                    f.name
                ));
            }
        };
        Ok(Method {
            spec: MethodSpec {
                name: f.name,
                description: f.description,
                paradigm: f.paradigm,
                default: f.default,
                optimizer: f.optimizer,
                controller: f.controller,
            },
            wrapper,
        })
    }
}

impl From<Method> for MethodFile {
    fn from(m: Method) -> Self {
        let (tune, select, learn) = match m.wrapper {
            None => (None, None, None),
            Some(Wrapper::Tune(t)) => (Some(t), None, None),
            Some(Wrapper::Select(s)) => (None, Some(s), None),
            Some(Wrapper::Learn(l)) => (None, None, Some(l)),
        };
        MethodFile {
            name: m.spec.name,
            description: m.spec.description,
            paradigm: m.spec.paradigm,
            default: m.spec.default,
            optimizer: m.spec.optimizer,
            controller: m.spec.controller,
            tune,
            select,
            learn,
        }
    }
}

impl From<MethodSpec> for Method {
    fn from(spec: MethodSpec) -> Self {
        Method {
            spec,
            wrapper: None,
        }
    }
}

impl Method {
    /// Its registry name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The tuning table of a tuned method.
    pub fn tune(&self) -> Option<&TuneSpec> {
        match &self.wrapper {
            Some(Wrapper::Tune(t)) => Some(t),
            _ => None,
        }
    }

    /// The selection table of a selection method.
    pub fn select(&self) -> Option<&SelectSpec> {
        match &self.wrapper {
            Some(Wrapper::Select(s)) => Some(s),
            _ => None,
        }
    }

    /// The `[learn]` table of a learned method.
    pub fn learn(&self) -> Option<&LearnSpec> {
        match &self.wrapper {
            Some(Wrapper::Learn(l)) => Some(l),
            _ => None,
        }
    }

    /// Whether it is a selection method (its cells learn from other methods' results).
    pub fn is_selection(&self) -> bool {
        self.select().is_some()
    }

    /// The method with fields overridden by dotted path (`controller.lr`, `optimizer.betas.1`,
    /// `tune.trials`), each value JSON (`3e-4`, `true`, `"cosine"`). The method keeps its
    /// name: its cells are new ones (their configuration hash changes) and replace the earlier
    /// configuration's in a study. A field left at its default is not in the method's written
    /// form (`tune.batch`, `tune.width_from`, `learn.folds`) but can be set all the same; a path
    /// the method does not have is refused with the paths it does have at that level.
    pub fn with_overrides(
        &self,
        overrides: &[(String, serde_json::Value)],
    ) -> Result<Method, crate::WrapError> {
        let no_field = |path: &str, here: &str, known: &[String]| {
            crate::WrapError::Invalid(format!(
                "method `{}` has no field `{path}`{}",
                self.name(),
                if known.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} has: {}",
                        if here.is_empty() { "it" } else { here },
                        known.join(", ")
                    )
                }
            ))
        };
        let mut json = serde_json::to_value(self).expect("a method serialises");
        // Leaves written here that the method's form did not have: a name its tables do not
        // know is refused by their `deny_unknown_fields`, reported like a missing path.
        let mut added = Vec::new();
        for (path, value) in overrides {
            let mut at = &mut json;
            let parts: Vec<&str> = path.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                let here = parts[..i].join(".");
                let known = match &*at {
                    serde_json::Value::Object(o) => o.keys().cloned().collect::<Vec<_>>(),
                    serde_json::Value::Array(a) => (0..a.len()).map(|i| i.to_string()).collect(),
                    _ => Vec::new(),
                };
                if i + 1 == parts.len()
                    && let serde_json::Value::Object(o) = &mut *at
                    && !o.contains_key(*part)
                {
                    added.push((path.clone(), here.clone(), known.clone()));
                    o.insert(part.to_string(), serde_json::Value::Null);
                }
                let next = match at {
                    serde_json::Value::Object(o) => o.get_mut(*part),
                    serde_json::Value::Array(a) => {
                        part.parse::<usize>().ok().and_then(|j| a.get_mut(j))
                    }
                    _ => None,
                };
                at = next.ok_or_else(|| no_field(path, &here, &known))?;
            }
            *at = value.clone();
        }
        let method: Method =
            serde_json::from_value(json.clone()).map_err(|e| match added.first() {
                Some((path, here, known)) if e.to_string().contains("unknown field") => {
                    no_field(path, here, known)
                }
                _ => {
                    crate::WrapError::Invalid(format!("method `{}` after --set: {e}", self.name()))
                }
            })?;
        method.validate()?;
        Ok(method)
    }

    /// Parses a method file's TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, MethodError> {
        toml::from_str(text).map_err(|e| MethodError::Parse {
            file: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Reads a method file.
    pub fn from_file(path: &Path) -> Result<Self, MethodError> {
        let text = lrctl_method::read_file(path)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks everything that can be checked without a task: the optimizer and controller
    /// build, and a wrapper's settings are valid (tuner, search space, race candidates,
    /// selector).
    pub fn validate(&self) -> Result<(), crate::WrapError> {
        self.spec.validate()?;
        match &self.wrapper {
            None => Ok(()),
            Some(Wrapper::Tune(t)) => t.validate(&self.spec),
            Some(Wrapper::Select(s)) => s.validate(&self.spec),
            Some(Wrapper::Learn(l)) => l.validate(&self.spec),
        }
    }
}

/// Every built-in method, plain and wrapped, in registry order.
pub fn builtin() -> Vec<Method> {
    lrctl_method::BUILTIN_FILES
        .iter()
        .map(|(name, text)| {
            Method::from_toml(text, &lrctl_method::builtin_origin(name))
                .expect("built-in method files are valid (tested)")
        })
        .collect()
}

/// Looks a built-in method up by name, or reads it from a `.toml` path.
pub fn find(name: &str) -> Result<Method, MethodError> {
    if name.ends_with(".toml") {
        return Method::from_file(Path::new(name));
    }
    match lrctl_method::BUILTIN_FILES.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => Method::from_toml(text, &lrctl_method::builtin_origin(n)),
        None => Err(lrctl_method::unknown(name)),
    }
}

/// The names of the methods `lrctl run` uses by default.
pub fn default_names() -> Vec<String> {
    builtin()
        .into_iter()
        .filter(|m| m.spec.default)
        .map(|m| m.spec.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_validates_and_matches_its_file_name() {
        for (file, text) in lrctl_method::BUILTIN_FILES {
            let m = Method::from_toml(text, file).unwrap();
            assert_eq!(m.name(), *file);
            m.validate().unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        assert!(find("smac-fixed").unwrap().tune().is_some());
        assert!(find("race").unwrap().is_selection());
        assert!(find("adam-fixed").unwrap().wrapper.is_none());
        assert!(find("learned-loto").unwrap().learn().is_some());
        assert!(!default_names().is_empty());
    }

    #[test]
    fn the_json_of_a_method_is_that_of_its_file() {
        // Cell hashes are computed from this JSON: a plain method's has no wrapper keys, a
        // wrapped one's has its table under the file's key.
        for (file, text) in lrctl_method::BUILTIN_FILES {
            let m = Method::from_toml(text, file).unwrap();
            let json: serde_json::Value = serde_json::to_value(&m).unwrap();
            let table: toml::Table = toml::from_str(text).unwrap();
            for key in table.keys() {
                assert!(json.get(key).is_some(), "{file}: `{key}` lost");
            }
            assert_eq!(json.get("tune").is_some(), m.tune().is_some(), "{file}");
            assert_eq!(json.get("select").is_some(), m.is_selection(), "{file}");
            let back: Method = serde_json::from_value(json).unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn overrides_set_fields_left_at_their_defaults() {
        let t = find("smac-fixed").unwrap();
        let set = |p: &str, v: serde_json::Value| t.with_overrides(&[(p.to_string(), v)]);
        let batched = set("tune.batch", serde_json::json!(4)).unwrap();
        assert_eq!(batched.tune().unwrap().batch, 4);
        let narrow = set("tune.width_from", serde_json::json!(1)).unwrap();
        assert_eq!(narrow.tune().unwrap().width_from, Some(1));
        let msg = set("tune.batches", serde_json::json!(4))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("no field `tune.batches`") && msg.contains("tune has: "),
            "{msg}"
        );
        // A field another controller kind has is refused too (not silently dropped).
        let msg = find("adam-fixed")
            .unwrap()
            .with_overrides(&[("controller.t0".into(), serde_json::json!(3))])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no field `controller.t0`"), "{msg}");
        // Setting a default explicitly is no change, not an error.
        let same = set("tune.batch", serde_json::json!(1)).unwrap();
        assert_eq!(same, t);
    }

    #[test]
    fn overrides_set_fields_by_path_and_refuse_unknown_ones() {
        let m = find("adam-fixed").unwrap();
        let set = |p: &str, v: serde_json::Value| m.with_overrides(&[(p.to_string(), v)]);
        let changed = set("controller.lr", serde_json::json!(3e-4)).unwrap();
        assert_eq!(changed.spec.controller.lr(), Some(3e-4));
        assert_eq!(changed.name(), "adam-fixed");
        let b = set("optimizer.betas.1", serde_json::json!(0.95)).unwrap();
        assert_ne!(b, m);
        let msg = set("controller.rate", serde_json::json!(1))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("controller has: ") && msg.contains("lr"),
            "{msg}"
        );
        let msg = set("controller.lr", serde_json::json!(-1))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("lr"), "{msg}");
        let t = find("smac-fixed").unwrap();
        let fewer = t
            .with_overrides(&[("tune.trials".into(), serde_json::json!(5))])
            .unwrap();
        assert_eq!(fewer.tune().unwrap().trials, Some(5));
    }

    #[test]
    fn a_method_cannot_be_both_tuned_and_a_selection() {
        let text = format!(
            "{}\n[select]\nkind = \"auto\"\n",
            lrctl_method::BUILTIN_FILES
                .iter()
                .find(|(n, _)| *n == "smac-fixed")
                .unwrap()
                .1
        );
        let msg = Method::from_toml(&text, "both.toml")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("both.toml") && msg.contains("both a [tune]"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_fields_and_names_are_refused_with_suggestions() {
        let msg = Method::from_toml("name = \"x\"\nparadigm = \"fixed\"\nfoo = 1\n", "my.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("my.toml") && msg.contains("foo"), "{msg}");
        let msg = find("smac-fixd").unwrap_err().to_string();
        assert!(msg.contains("smac-fixed"), "{msg}");
    }
}
