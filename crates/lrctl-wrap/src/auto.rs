//! The `auto` selection method (see [`crate::select`]): a selector fitted on the study's other
//! tasks chooses before anything trains on the cell's task.

use std::time::{Duration, Instant};

use lrctl_tasks::Task;

use crate::error::CellError;
use crate::method::Method;
use crate::select::{AutoSpec, Context, SelectKind, Selected};

/// Waits until every reference result is in (see [`crate::select::References`]), fits the
/// selector on them and predicts the cell's task from its static meta-features.
pub(crate) fn choose(
    task: &dyn Task,
    method: &Method,
    auto: &AutoSpec,
    ctx: &Context<'_>,
) -> Result<Selected, CellError> {
    let me = task.spec().name.clone();
    let failed = |e: &dyn std::fmt::Display| CellError::failed(method.name(), e);
    let mut selector = lrctl_select::selector_with_seed(&auto.selector, 0).ok_or_else(|| {
        failed(&lrctl_select::SelectError::UnknownSelector(
            auto.selector.clone(),
        ))
    })?;
    let refs = loop {
        if ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(CellError::Cancelled);
        }
        match ctx.references.references(&me)? {
            Some(refs) => break refs,
            None => {
                (ctx.beat)();
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let start = Instant::now();
    let table = &refs.table;
    if table.n_tasks() < 2 || table.n_methods() == 0 {
        let why = format!(
            "{} other task(s) with results: a selector needs at least 2",
            table.n_tasks()
        );
        return Ok(Selected::fallback(SelectKind::Auto, method, why));
    }
    let perf = lrctl_select::performance_matrix(table);
    let all: Vec<usize> = (0..table.n_tasks()).collect();
    let standardizer = refs.features.standardizer(&all);
    selector.fit(&refs.features.standardized(&standardizer, &all), &perf);
    let target = crate::features::task_features(task)
        .map_err(|e| failed(&format!("building the model: {e}")))?
        .values();
    let predicted = selector.predict(&standardizer.transform(&target));
    let Some(best) = lrctl_select::argmax(&predicted) else {
        let why = "the selector chose nothing".to_string();
        return Ok(Selected::fallback(SelectKind::Auto, method, why));
    };
    let name = &table.methods[best];
    let chosen = refs.methods.get(name).cloned().ok_or_else(|| {
        failed(&format!(
            "the study has no stored configuration of `{name}`"
        ))
    })?;
    Ok(Selected {
        kind: SelectKind::Auto,
        method: chosen,
        scores: table.methods.iter().cloned().zip(predicted).collect(),
        steps: 0,
        // Measuring the task and fitting the selector; the reference results were paid for by
        // their own cells.
        seconds: start.elapsed().as_secs_f64(),
        reference_tasks: table.tasks.clone(),
        fallback: None,
    })
}
