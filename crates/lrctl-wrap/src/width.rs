//! Tuning along width (issue 20): tune a method's learning rate on a narrower copy of the task
//! (and, with the usual budget fidelity, for shorter), then train the target width with the
//! learning rate found there.
//!
//! Whether the learning rate transfers depends on the task's parametrisation
//! ([`lrctl_tasks::Parametrization`]): under µP (Yang et al. 2022, Tensor Programs V) the best
//! global learning rate is meant to stay put across width, the per-layer multipliers doing the
//! adjusting; under the standard parametrisation it usually shifts, and the transfer regret
//! (the transferred learning rate's score against tuning at the target width) says by how
//! much. The transfer itself is the same under both: the tuned configuration is used as is.
//!
//! Refused, with the reason: a task whose family has no width axis (logistic regression), a
//! tuning width that is not narrower than the task's, and a method with no learning rate to
//! transfer (an optimizer that sets its own step size, or a search space without
//! `controller.lr`).

use lrctl_method::MethodSpec;
use lrctl_tasks::TaskSpec;
use lrctl_tune::SearchSpace;

/// The hyperparameter whose value is transferred across width.
pub const LR_PATH: &str = "controller.lr";

/// Why tuning along width is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidthFidelityError {
    /// The task's model family has no width multiplier.
    #[error(
        "width fidelity: task `{task}` is a {family} model, which has no width axis to tune \
         a narrower copy of; tune it at its own size (budget fidelity)"
    )]
    NoWidthAxis {
        /// Task name.
        task: String,
        /// Its family.
        family: &'static str,
    },
    /// The tuning width is not below the task's.
    #[error(
        "width fidelity: tuning at width ×{from} is not narrower than task `{task}` (×{target}); \
         pick a smaller tuning width or tune the task itself"
    )]
    NotNarrower {
        /// Task name.
        task: String,
        /// The tuning width.
        from: u32,
        /// The task's width.
        target: u32,
    },
    /// The method has no learning rate to tune and transfer.
    #[error("width fidelity: method `{method}` has no tunable learning rate: {why}")]
    NoTunableLr {
        /// Method name.
        method: String,
        /// Why not.
        why: String,
    },
}

/// Checks that `method` (searched over `space`) has a learning rate to transfer.
pub fn check_method(method: &MethodSpec, space: &SearchSpace) -> Result<(), WidthFidelityError> {
    let refuse = |why: String| WidthFidelityError::NoTunableLr {
        method: method.name.clone(),
        why,
    };
    if method.optimizer.sets_own_step_size() {
        return Err(refuse(format!(
            "its optimizer `{}` sets its own step size (the learning rate only multiplies it)",
            method.optimizer.kind()
        )));
    }
    if !space.params().iter().any(|p| p.name == LR_PATH) {
        return Err(refuse(format!(
            "its search space does not include `{LR_PATH}`"
        )));
    }
    Ok(())
}

/// Checks that `task` can be tuned at width `from` and transferred.
pub fn check_task(task: &TaskSpec, from: u32) -> Result<(), WidthFidelityError> {
    if !task.model.axes().width {
        return Err(WidthFidelityError::NoWidthAxis {
            task: task.name.clone(),
            family: task.model.family(),
        });
    }
    if from == 0 || from >= task.width {
        return Err(WidthFidelityError::NotNarrower {
            task: task.name.clone(),
            from,
            target: task.width,
        });
    }
    Ok(())
}

/// The width a study's tuned method with `tune.width_from = from` tunes `task` at: `Some(from)`
/// on a wider task, `None` (tune the task itself) on a task already at width `from` — the
/// bottom rung of a width ladder, where tuning at ×`from` *is* tuning the task. Refused like
/// [`check_task`] for a task without a width axis or narrower than `from`. (`lrctl tune
/// --fidelity width` uses [`check_task`], which also refuses the equal width: asked for by
/// hand, it would be a no-op.)
pub fn tuning_width(task: &TaskSpec, from: u32) -> Result<Option<u32>, WidthFidelityError> {
    if task.model.axes().width && from == task.width {
        return Ok(None);
    }
    check_task(task, from).map(|()| Some(from))
}

#[cfg(test)]
mod tests {
    use super::*;

    use lrctl_tune::Param;

    fn space(path: &str) -> SearchSpace {
        SearchSpace::new(vec![Param::float(path, 1e-4, 1.0, true)]).unwrap()
    }

    #[test]
    fn refusals_say_why() {
        let logreg = lrctl_tasks::registry::find("logreg/iris").unwrap();
        let e = check_task(&logreg, 1).unwrap_err();
        assert!(matches!(e, WidthFidelityError::NoWidthAxis { .. }));
        assert!(e.to_string().contains("no width axis"), "{e}");
        let wide = lrctl_tasks::registry::find("mlp/digits@w4").unwrap();
        assert!(check_task(&wide, 1).is_ok());
        assert!(matches!(
            check_task(&wide, 4),
            Err(WidthFidelityError::NotNarrower { .. })
        ));
        // In a study: the rung already at the tuning width tunes itself, a wider one at ×1.
        assert_eq!(tuning_width(&wide, 4), Ok(None));
        assert_eq!(tuning_width(&wide, 1), Ok(Some(1)));
        assert!(matches!(
            tuning_width(&wide, 8),
            Err(WidthFidelityError::NotNarrower { .. })
        ));
        assert!(matches!(
            tuning_width(&logreg, 1),
            Err(WidthFidelityError::NoWidthAxis { .. })
        ));
        let adam = lrctl_method::find("adam-fixed").unwrap();
        assert!(check_method(&adam, &space(LR_PATH)).is_ok());
        let prodigy = lrctl_method::find("prodigy").unwrap();
        let e = check_method(&prodigy, &space(LR_PATH))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sets its own step size"), "{e}");
        let e = check_method(&adam, &space("optimizer.weight_decay")).unwrap_err();
        assert!(e.to_string().contains("controller.lr"), "{e}");
    }

    /// `tune.width_from` in a method file: a search space without the learning rate is refused
    /// when the method is validated.
    #[test]
    fn width_from_needs_the_learning_rate_in_the_space() {
        let text = |search: &str| {
            format!(
                "name = \"x\"\nparadigm = \"tuned\"\n[optimizer]\nkind = \"adamw\"\n\
                 [controller]\nkind = \"constant\"\nlr = 0.001\n[tune]\ntuner = \"random\"\n\
                 width_from = 1\n{search}"
            )
        };
        let ok = crate::Method::from_toml(&text(""), "x.toml").unwrap();
        assert_eq!(ok.tune().unwrap().width_from, Some(1));
        ok.validate().unwrap();
        let bad = crate::Method::from_toml(
            &text("[tune.search.\"optimizer.weight_decay\"]\nlow = 0.0\nhigh = 0.1\n"),
            "x.toml",
        )
        .unwrap();
        let e = bad.validate().unwrap_err().to_string();
        assert!(
            e.contains("tune.width_from") && e.contains("controller.lr"),
            "{e}"
        );
    }
}
