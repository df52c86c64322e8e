//! Tunes a tuned method's hyperparameters on a task as a study cell does (its `[tune]` table,
//! one job) with `BATCH` trials per batch, and prints the trials and the time: the batched-trial
//! measurement of README's performance section.
//!
//! ```sh
//! LRCTL_DATA_DIR=../shared/data cargo run -p lrctl-wrap --example batched_tuning -- \
//!     libsvm/pendigits smac-fixed 4 out.json
//! LRCTL_NO_STACKED_TRIALS=1 cargo run ... (the same trials, trained one by one)
//! ```

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, task, method, batch, out] = &args[..] else {
        eprintln!("usage: batched_tuning TASK METHOD BATCH OUT.json");
        std::process::exit(2);
    };
    let spec = lrctl_tasks::registry::find(task).expect("a built-in task");
    let dirs = lrctl_data::DataDirs::new(std::env::var_os("LRCTL_DATA_DIR").map(Into::into));
    let task = lrctl_tasks::prepare(&spec, &dirs).expect("the task's data");
    let wrapped = lrctl_wrap::find(method).expect("a method");
    let tune = wrapped.tune().expect("a tuned method").clone();
    let fidelity = tune
        .fidelity(lrctl_wrap::tuned::task_steps(task.as_ref()))
        .unwrap();
    let space = tune.space(&wrapped.spec).unwrap();
    let settings = lrctl_wrap::TuneSettings {
        trials: tune.trials,
        seed: tune.seed,
        scoring: tune.scoring,
        jobs: 1,
        batch: batch.parse().expect("a batch size"),
        ..lrctl_wrap::TuneSettings::new(&tune.tuner, fidelity)
    };
    let wall = Instant::now();
    let report = lrctl_wrap::tune(
        task.as_ref(),
        &wrapped.spec,
        &space,
        &settings,
        &Default::default(),
    )
    .unwrap();
    let seconds = wall.elapsed().as_secs_f64();
    let inc = report.incumbent.as_ref().unwrap();
    println!(
        "{} trials, {} steps ({:.1} full runs), {seconds:.1} s wall; incumbent {} {:?} score {}",
        report.cost.trials, report.cost.steps, report.cost.full_runs, inc.id, inc.config, inc.score
    );
    std::fs::write(out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
}
