//! Ladders: the same task at growing scale along one of its family's axes.
//!
//! Two tasks are rungs of one ladder when they are the same configuration except for the
//! width or depth multiplier ([`TaskSpec::unscaled`] agrees) and differ along one axis the
//! family declares ([`crate::ModelFamily::AXES`]); the other multiplier stays at 1. This is
//! the one place that decides it: the suites build ladders with [`crate::registry::scale_suffix`]
//! and the report's Scale section groups a study's tasks with [`ladders`].

use serde::Serialize;

use crate::models::Scale;
use crate::spec::TaskSpec;

/// A scale axis of a model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleAxis {
    /// The width multiplier (`@wN`: hidden units, channels, embedding size).
    Width,
    /// The depth multiplier (`@dN`: hidden layers, blocks).
    Depth,
}

impl ScaleAxis {
    /// "width" or "depth".
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleAxis::Width => "width",
            ScaleAxis::Depth => "depth",
        }
    }

    /// The multiplier of `scale` along this axis.
    pub fn of(self, scale: Scale) -> u32 {
        match self {
            ScaleAxis::Width => scale.width,
            ScaleAxis::Depth => scale.depth,
        }
    }
}

/// One ladder among a list of tasks: indices into that list, in increasing scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ladder {
    /// The task at scale one's name (the ladder's name), e.g. `mlp/fashion-mnist-10k`.
    pub base: String,
    /// The model family (`mlp`).
    pub family: &'static str,
    /// The axis it climbs.
    pub axis: ScaleAxis,
    /// `(index of the task, its multiplier along the axis)`, by increasing multiplier.
    pub rungs: Vec<(usize, u32)>,
}

impl TaskSpec {
    /// The same task at scale one: its width and depth multipliers set to 1 and its name
    /// without the scale suffix. Rungs of one ladder have equal `unscaled()` tasks.
    pub fn unscaled(&self) -> TaskSpec {
        let mut t = self.clone();
        t.width = 1;
        t.depth = 1;
        t.name = base_name(&self.name).to_string();
        t
    }
}

/// A task name without its `@wNdM` scale suffix.
pub fn base_name(name: &str) -> &str {
    name.split_once('@').map_or(name, |(b, _)| b)
}

/// The ladders among `tasks`: per group of tasks that are one configuration at several scales,
/// one ladder per axis the family has along which at least two rungs differ (the other
/// multiplier at 1; a rung scaled on both axes belongs to neither). Sorted by family, base
/// name and axis. A task at scale one starts both a width and a depth ladder when both exist.
pub fn ladders(tasks: &[TaskSpec]) -> Vec<Ladder> {
    let mut groups: Vec<(TaskSpec, Vec<usize>)> = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        let key = t.unscaled();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    let mut out = Vec::new();
    for (key, members) in groups {
        let axes = key.model.axes();
        for (axis, has) in [
            (ScaleAxis::Width, axes.width),
            (ScaleAxis::Depth, axes.depth),
        ] {
            if !has {
                continue;
            }
            let other = match axis {
                ScaleAxis::Width => ScaleAxis::Depth,
                ScaleAxis::Depth => ScaleAxis::Width,
            };
            let mut rungs: Vec<(usize, u32)> = members
                .iter()
                .filter(|&&i| other.of(tasks[i].scale()) == 1)
                .map(|&i| (i, axis.of(tasks[i].scale())))
                .collect();
            rungs.sort_by_key(|&(_, m)| m);
            rungs.dedup_by_key(|r| r.1);
            if rungs.len() >= 2 {
                out.push(Ladder {
                    base: key.name.clone(),
                    family: key.model.family(),
                    axis,
                    rungs,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.family, &a.base, a.axis).cmp(&(b.family, &b.base, b.axis)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::find;

    #[test]
    fn ladders_follow_the_family_axes() {
        let names = [
            "mlp/fashion-mnist-10k",
            "mlp/fashion-mnist-10k@w2",
            "mlp/fashion-mnist-10k@w4",
            "mlp/fashion-mnist-10k@d2",
            "mlp/fashion-mnist-10k@w2d2",
            "cnn/mnist",
            "libsvm/iris",
            "mlp/digits@w2",
        ];
        let tasks: Vec<TaskSpec> = names.iter().map(|n| find(n).unwrap()).collect();
        let l = ladders(&tasks);
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(l[0].base, "mlp/fashion-mnist-10k");
        assert_eq!(l[0].axis, ScaleAxis::Width);
        assert_eq!(l[0].rungs, vec![(0, 1), (1, 2), (2, 4)]);
        assert_eq!(l[1].axis, ScaleAxis::Depth);
        assert_eq!(l[1].rungs, vec![(0, 1), (3, 2)]);
        // One task per family, or logistic regression alone: no ladder.
        assert!(ladders(&tasks[5..7]).is_empty());
        assert_eq!(find("mlp/digits@w2").unwrap().unscaled().name, "mlp/digits");
    }

    #[test]
    fn another_configuration_is_another_ladder() {
        let a = find("mlp/fashion-mnist-10k").unwrap();
        let mut b = find("mlp/fashion-mnist-10k@w2").unwrap();
        b.batch_size *= 2;
        assert!(ladders(&[a, b]).is_empty());
    }
}
