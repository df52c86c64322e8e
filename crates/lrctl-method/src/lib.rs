//! Methods: named configurations of an optimizer and a controller.
//!
//! A method is data, not a code path. The built-in ones are TOML files in `methods/` compiled
//! into the binary ([`BUILTIN_FILES`]); a user's own method is a TOML file with the same fields:
//!
//! ```toml
//! name = "cawr-default"
//! description = "AdamW + cosine annealing with warm restarts per step (T0 10, T_mult 2)"
//! paradigm = "schedule"
//!
//! [optimizer]
//! kind = "adamw"
//! betas = [0.9, 0.99]
//!
//! [controller]
//! kind = "cosine-warm-restarts"
//! lr = 0.005
//! t0 = 10
//! t_mult = 2
//! ```
//!
//! A method file may also hold a `[tune]` table (a *tuned method*: a tuner finds its
//! hyperparameters per task) or a `[select]` table (a *selection method*: it chooses another
//! method per task). Those wrap other methods and are read by `lrctl-wrap`; this crate reads
//! the plain ones ([`MethodSpec`]) and refuses a wrapped one with [`MethodError::Wrapped`].

mod params;

pub use params::{
    DEFAULT_ETA_MIN_RANGE, DEFAULT_LR_RANGE, DEFAULT_T_MULT_RANGE, DEFAULT_T0_RANGE, ParamsError,
    check_space, default_space, space_from_toml, tunable_paths, with_params,
};

use std::path::Path;

use lrctl_control::{Controller, ControllerSpec};
use lrctl_optim::{Optimizer, OptimizerSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The families of learning-rate control the paper compares (plus online controllers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Paradigm {
    /// A constant learning rate.
    Fixed,
    /// A fixed schedule.
    Schedule,
    /// A hyperparameter-free optimizer.
    Free,
    /// An online controller reading observations.
    Online,
    /// Tuned by multi-fidelity HPO.
    Tuned,
    /// Chosen per task by a selector.
    Selected,
}

impl Paradigm {
    /// The name stored and printed.
    pub fn as_str(&self) -> &'static str {
        match self {
            Paradigm::Fixed => "fixed",
            Paradigm::Schedule => "schedule",
            Paradigm::Free => "free",
            Paradigm::Online => "online",
            Paradigm::Tuned => "tuned",
            Paradigm::Selected => "selected",
        }
    }
}

/// A built method: its optimizer and its controller, fresh for one run.
pub type Built = (Box<dyn Optimizer>, Box<dyn Controller>);

/// A named optimizer + controller configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSpec {
    /// Registry name, e.g. `cawr-default`.
    pub name: String,
    /// One line for `lrctl methods`.
    #[serde(default)]
    pub description: String,
    /// Which family of learning-rate control it belongs to.
    pub paradigm: Paradigm,
    /// Whether `lrctl run` includes it by default.
    #[serde(default)]
    pub default: bool,
    /// The update rule.
    pub optimizer: OptimizerSpec,
    /// The learning-rate controller.
    pub controller: ControllerSpec,
}

/// Why a method could not be found, read or built.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    /// No method of that name.
    #[error("unknown method `{name}`{}; `lrctl methods` lists them all", did_you_mean(.suggestions))]
    Unknown {
        /// The name asked for.
        name: String,
        /// Closest known names.
        suggestions: Vec<String>,
    },
    /// A method file that is not valid TOML or has wrong fields.
    #[error("{file}: {message}")]
    Parse {
        /// The file (or `built-in <name>`).
        file: String,
        /// The TOML error with line and column.
        message: String,
    },
    /// A file that could not be read.
    #[error("cannot read method file {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Out-of-range optimizer hyperparameters.
    #[error("method `{method}`: {source}")]
    Optimizer {
        /// Method name.
        method: String,
        /// What is wrong.
        #[source]
        source: lrctl_optim::OptimError,
    },
    /// Out-of-range controller hyperparameters.
    #[error("method `{method}`: {source}")]
    Controller {
        /// Method name.
        method: String,
        /// What is wrong.
        #[source]
        source: lrctl_control::ControlError,
    },
    /// A method that wraps other methods (it has a `[tune]` or `[select]` table) where only a
    /// plain optimizer + controller method can go.
    #[error(
        "{file}: method `{name}` has a [{table}] table: it wraps other methods, and only a plain \
         optimizer + controller method can be used here"
    )]
    Wrapped {
        /// The file (or `built-in <name>`).
        file: String,
        /// The method's name.
        name: String,
        /// `tune`, `select` or `learn`.
        table: &'static str,
    },
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
        format!("; did you mean {}?", names.join(" or "))
    }
}

/// The built-in method files, compiled in: `(name, TOML text)`, in registry order. Plain and
/// wrapped ones alike; [`builtin`] parses the plain ones, `lrctl-wrap` all of them.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("adam-fixed", include_str!("../methods/adam-fixed.toml")),
    ("cawr-default", include_str!("../methods/cawr-default.toml")),
    ("adamw-cosine", include_str!("../methods/adamw-cosine.toml")),
    ("adamw-wsd", include_str!("../methods/adamw-wsd.toml")),
    (
        "plateau-adamw",
        include_str!("../methods/plateau-adamw.toml"),
    ),
    ("hd-adam", include_str!("../methods/hd-adam.toml")),
    ("hd-sgd", include_str!("../methods/hd-sgd.toml")),
    ("sps", include_str!("../methods/sps.toml")),
    ("smac-fixed", include_str!("../methods/smac-fixed.toml")),
    ("bohb-fixed", include_str!("../methods/bohb-fixed.toml")),
    ("cawr-tuned", include_str!("../methods/cawr-tuned.toml")),
    (
        "smac-fixed-w1",
        include_str!("../methods/smac-fixed-w1.toml"),
    ),
    (
        "cawr-tuned-w1",
        include_str!("../methods/cawr-tuned-w1.toml"),
    ),
    ("race", include_str!("../methods/race.toml")),
    ("race-restart", include_str!("../methods/race-restart.toml")),
    ("auto", include_str!("../methods/auto.toml")),
    ("learned-loto", include_str!("../methods/learned-loto.toml")),
    (
        "learned-loto-prodigy",
        include_str!("../methods/learned-loto-prodigy.toml"),
    ),
    (
        "learned-4fold-prodigy",
        include_str!("../methods/learned-4fold-prodigy.toml"),
    ),
    ("dadapt-adam", include_str!("../methods/dadapt-adam.toml")),
    ("prodigy", include_str!("../methods/prodigy.toml")),
    ("cocob", include_str!("../methods/cocob.toml")),
    ("dowg", include_str!("../methods/dowg.toml")),
    ("dog", include_str!("../methods/dog.toml")),
    (
        "schedulefree-adamw",
        include_str!("../methods/schedulefree-adamw.toml"),
    ),
    (
        "schedulefree-sgd",
        include_str!("../methods/schedulefree-sgd.toml"),
    ),
    (
        "mechanic-adamw",
        include_str!("../methods/mechanic-adamw.toml"),
    ),
    ("prodigy-sf", include_str!("../methods/prodigy-sf.toml")),
    (
        "schedulefree-radam",
        include_str!("../methods/schedulefree-radam.toml"),
    ),
    (
        "schedulefree-wrap-prodigy",
        include_str!("../methods/schedulefree-wrap-prodigy.toml"),
    ),
    ("adamg", include_str!("../methods/adamg.toml")),
    ("kate", include_str!("../methods/kate.toml")),
    ("momo", include_str!("../methods/momo.toml")),
    ("momo-adam", include_str!("../methods/momo-adam.toml")),
    ("ldog", include_str!("../methods/ldog.toml")),
];

/// The tables of a method file that make it wrap other methods.
pub const WRAPPER_TABLES: [&str; 3] = ["tune", "select", "learn"];

/// The wrapper table (`tune`, `select` or `learn`) a method file's TOML text has, if any; `None` also
/// when the text does not parse (the parse then reports it).
pub fn wrapper_table(text: &str) -> Option<&'static str> {
    let table: toml::Table = toml::from_str(text).ok()?;
    WRAPPER_TABLES.into_iter().find(|t| table.contains_key(*t))
}

impl MethodSpec {
    /// Parses a plain method from TOML text; `origin` names the file in errors. A method with a
    /// `[tune]` or `[select]` table is refused with [`MethodError::Wrapped`].
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, MethodError> {
        let spec: Self = toml::from_str(text).map_err(|e| {
            match (wrapper_table(text), toml::from_str::<toml::Table>(text)) {
                (Some(table), Ok(t)) => MethodError::Wrapped {
                    file: origin.to_string(),
                    name: t
                        .get("name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("?")
                        .to_string(),
                    table,
                },
                _ => MethodError::Parse {
                    file: origin.to_string(),
                    message: e.to_string(),
                },
            }
        })?;
        Ok(spec)
    }

    /// Reads a method file.
    pub fn from_file(path: &Path) -> Result<Self, MethodError> {
        let text = read_file(path)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Builds a fresh optimizer and controller for a model with `n_params` parameters.
    pub fn build(&self, n_params: usize) -> Result<Built, MethodError> {
        let opt = self
            .optimizer
            .build(n_params)
            .map_err(|source| MethodError::Optimizer {
                method: self.name.clone(),
                source,
            })?;
        let ctl = self
            .controller
            .build()
            .map_err(|source| MethodError::Controller {
                method: self.name.clone(),
                source,
            })?;
        Ok((opt, ctl))
    }

    /// Checks that the method builds, without keeping the result.
    pub fn validate(&self) -> Result<(), MethodError> {
        self.build(1).map(|_| ())
    }

    /// SHA-256 (hex) of the canonical JSON of the resolved configuration: changing any
    /// hyperparameter changes the hash.
    pub fn config_hash(&self) -> String {
        let json = serde_json::to_string(self).expect("method serialises");
        hex(&Sha256::digest(json.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The text of a method file, or an error naming it.
pub fn read_file(path: &Path) -> Result<String, MethodError> {
    std::fs::read_to_string(path).map_err(|source| MethodError::Io {
        file: path.display().to_string(),
        source,
    })
}

/// Every plain built-in method (no `[tune]` or `[select]` table), in registry order.
pub fn builtin() -> Vec<MethodSpec> {
    BUILTIN_FILES
        .iter()
        .filter(|(_, text)| wrapper_table(text).is_none())
        .map(|(name, text)| {
            MethodSpec::from_toml(text, &builtin_origin(name))
                .expect("built-in method files are valid (tested)")
        })
        .collect()
}

/// How errors name a built-in method file.
pub fn builtin_origin(name: &str) -> String {
    format!("built-in method {name}")
}

/// Looks a plain built-in method up by name, or reads a plain method from a `.toml` path. A
/// wrapped one (`smac-fixed`, `race`, …) is refused with [`MethodError::Wrapped`].
pub fn find(name: &str) -> Result<MethodSpec, MethodError> {
    if name.ends_with(".toml") {
        return MethodSpec::from_file(Path::new(name));
    }
    match BUILTIN_FILES.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => MethodSpec::from_toml(text, &builtin_origin(n)),
        None => Err(unknown(name)),
    }
}

/// The error for a method name that is neither built in nor a file, with the closest
/// built-in names.
pub fn unknown(name: &str) -> MethodError {
    MethodError::Unknown {
        name: name.to_string(),
        suggestions: suggest(name, BUILTIN_FILES.iter().map(|(n, _)| *n)),
    }
}

fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(s, _)| *s > 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plain_builtin_parses_validates_and_matches_its_file_name() {
        let mut plain = 0;
        for (file, text) in BUILTIN_FILES {
            match MethodSpec::from_toml(text, file) {
                Ok(m) => {
                    assert_eq!(&m.name, file);
                    m.validate().unwrap();
                    plain += 1;
                }
                Err(MethodError::Wrapped { name, .. }) => assert_eq!(&name, file),
                Err(e) => panic!("{file}: {e}"),
            }
        }
        assert_eq!(plain, builtin().len());
        assert!(plain > 10);
    }

    #[test]
    fn a_wrapped_method_is_refused_by_name() {
        let msg = find("smac-fixed").unwrap_err().to_string();
        assert!(
            msg.contains("[tune]") && msg.contains("smac-fixed"),
            "{msg}"
        );
        let msg = find("race").unwrap_err().to_string();
        assert!(msg.contains("[select]"), "{msg}");
    }

    #[test]
    fn unknown_method_suggests() {
        let msg = find("cawr-defualt").unwrap_err().to_string();
        assert!(msg.contains("cawr-default"), "{msg}");
    }

    #[test]
    fn hash_changes_with_a_hyperparameter() {
        let a = find("adam-fixed").unwrap();
        let mut text = include_str!("../methods/adam-fixed.toml").to_string();
        text = text.replace("0.001", "0.002");
        let b = MethodSpec::from_toml(&text, "edited").unwrap();
        assert_ne!(a.config_hash(), b.config_hash());
        assert_eq!(a.config_hash(), find("adam-fixed").unwrap().config_hash());
    }

    #[test]
    fn malformed_file_names_file_and_line() {
        let err = MethodSpec::from_toml("name = \"x\"\ndescription = 3\n", "my.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("my.toml") && msg.contains("line 2"), "{msg}");
    }
}
