"""Studies over a user's own PyTorch training function: Study.run(task=..., fn=...)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lrctl
import lrctl.torch as ltorch

torch = pytest.importorskip("torch")

BUDGET = 30

# A small MLP on a fixed synthetic problem: what a user's train_fn looks like.
TRAIN_FN = textwrap.dedent(
    '''
    import torch
    import lrctl.torch as ltorch

    def train_fn(trial):
        g = torch.Generator().manual_seed(1234)          # the data: the same in every cell
        x = torch.randn(512, 10, generator=g)
        y = (x[:, 0] - x[:, 1] > 0).long()
        xv, yv = x[448:], y[448:]
        model = torch.nn.Sequential(                      # initialised from trial.seed
            torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
        opt = trial.optimizer(model.parameters())
        for step in range(1, trial.budget_steps + 1):
            i = ((step - 1) % 14) * 32
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            trial.scheduler.step(loss=loss, grad_norm=ltorch.grad_norm(model.parameters()))
            opt.step()
            ev = None
            if step % 10 == 0:
                with trial.evaluating(model), torch.no_grad():
                    out = model(xv)
                    ev = {"loss": torch.nn.functional.cross_entropy(out, yv).item(),
                          "accuracy": (out.argmax(1) == yv).float().mean().item()}
            trial.report(step, loss, grad_norm=ltorch.grad_norm(model.parameters()), eval=ev)
    '''
)

METHODS = ["adam-fixed", "adamw-cosine", "plateau-adamw"]


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "usermodel.py").write_text(TRAIN_FN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import usermodel

    return importlib.reload(usermodel)


def test_a_study_over_a_torch_mlp_is_killed_and_resumed(tmp_path, user_module):
    store = tmp_path / "s.db"
    # A process that dies (os._exit, like kill -9) while training its fourth cell.
    killed = textwrap.dedent(
        f'''
        import os, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import lrctl, usermodel
        calls = []
        def dies(trial):
            calls.append(trial)
            if len(calls) == 4:
                os._exit(9)
            usermodel.train_fn(trial)
        lrctl.Study({str(store)!r}, "mine").run(task="mlp-mine", fn=dies, methods={METHODS!r},
            seeds=2, budget_steps={BUDGET}, metric="accuracy",
            description={{"model": "mlp 10-32-2"}})
        '''
    )
    r = subprocess.run([sys.executable, "-c", killed], capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    s = lrctl.Study(store, "mine")
    st = s.status()
    assert (st["total"], st["done"], st["running"]) == (6, 3, 1)
    calls = []

    def counted(trial):
        calls.append((trial.method, trial.seed))
        user_module.train_fn(trial)

    rep = s.run(task="mlp-mine", fn=counted, methods=METHODS, seeds=2, budget_steps=BUDGET,
                metric="accuracy", description={"model": "mlp 10-32-2"})
    # The dead process's cell went back to the queue; the three finished ones were kept.
    assert (rep["existing"], rep["added"], rep["ran"]) == (6, 0, 3) and len(calls) == 3
    st = s.status()
    assert (st["done"], st["finished"]) == (6, 6)
    cells = s.cells()
    assert set(cells.method) == set(METHODS) and set(cells.seed) == {0, 1}
    assert (cells.steps == BUDGET).all() and (cells.metric_name == "accuracy").all()
    assert (cells.test_metric > 0.5).all() and cells.final_train_loss.notna().all()
    curves = s.curves()
    assert (curves.groupby("cell_id").step.max() == BUDGET).all()
    assert curves.eval_metric.notna().sum() == 6 * (BUDGET // 10)
    # The learning rates in the store are the controller's: cosine decays, adam-fixed does not.
    cos = curves[(curves.method == "adamw-cosine") & (curves.seed == 0)]
    assert cos.lr.iloc[0] == pytest.approx(1e-3, rel=0.01) and cos.lr.iloc[-1] < 1e-4
    assert (curves[curves.method == "adam-fixed"].lr == 1e-3).all()
    # A rerun trains nothing; a changed description makes new cells.
    assert s.run(task="mlp-mine", fn=counted, methods=METHODS, seeds=2, budget_steps=BUDGET,
                 metric="accuracy", description={"model": "mlp 10-32-2"})["ran"] == 0
    rep = s.run(task="mlp-mine", fn=counted, methods=["adam-fixed"], seeds=1,
                budget_steps=BUDGET, metric="accuracy", description={"model": "other"})
    assert (rep["superseded"], rep["ran"]) == (1, 1)


def test_bad_training_functions_are_recorded_not_raised(tmp_path):
    def bad(trial):
        model = torch.nn.Linear(3, 1)
        trial.optimizer(model.parameters())
        if trial.seed == 0:
            raise ZeroDivisionError("my model blew up")
        if trial.seed == 1:
            return  # never reports
        if trial.seed == 2:
            trial.report(1, 1.0)
            trial.report(2, float("nan"))
        if trial.seed == 3:
            trial.report(2, 1.0)
            trial.report(2, 1.0)  # not increasing
        if trial.seed == 4:
            for step in range(1, 100):
                trial.report(step, 1.0 / step)  # past the budget of 10
        if trial.seed == 5:
            trial.report(1, 1.0)
            trial.report(2, 1e4)  # explodes: above the engine's divergence factor
        if trial.seed == 6:
            try:
                trial.report(1, 1.0)
                trial.report(2, float("inf"))
            except Exception:  # a user's catch-all does not swallow lrctl's stop
                pytest.fail("TrialStopped is not an Exception")

    s = lrctl.Study(tmp_path / "bad.db")
    rep = s.run(task="bad", fn=bad, methods=["sps"], seeds=7, budget_steps=10)
    assert rep["ran"] == 7 and rep["failed"] == 3
    cells = s.cells().sort_values("seed").reset_index(drop=True)
    outcome = list(cells.outcome)
    assert outcome == ["failed", "failed", "diverged", "failed", "finished", "diverged",
                       "diverged"]
    assert "ZeroDivisionError: my model blew up" in cells.reason[0]
    assert "Traceback" in cells.reason[0]
    assert "without reporting a step" in cells.reason[1]
    assert "non-finite loss at step 2" in cells.reason[2]
    assert "step 2 after step 2" in cells.reason[3]
    assert cells.steps[4] == 10 and cells.total_steps[4] == 10
    assert "exceeds 100" in cells.reason[5]


def test_bad_arguments_are_refused_clearly(tmp_path):
    s = lrctl.Study(tmp_path / "args.db")
    fn = lambda trial: None  # noqa: E731
    with pytest.raises(ValueError, match="built-in task"):
        s.run(task="logreg/iris", fn=fn, methods=["adam-fixed"], budget_steps=5)
    with pytest.raises(ValueError, match="`auto` selection method"):
        s.run(task="mine", fn=fn, methods=["auto"], budget_steps=5)
    with pytest.raises(TypeError, match="budget_steps"):
        s.run(task="mine", fn=fn, methods=["adam-fixed"])
    with pytest.raises(ValueError, match="metric"):
        s.run(task="mine", fn=fn, methods=["adam-fixed"], budget_steps=5, metric="f1")
    with pytest.raises(lrctl.UnknownNameError):
        s.run(task="mine", fn=fn, methods=["no-such-method"], budget_steps=5)


def test_report_over_a_store_mixing_rust_and_python_cells(tmp_path, user_module, lrctl_bin):
    store = tmp_path / "mixed.db"
    s = lrctl.Study(store, "mixed")

    def interrupted(trial):
        raise KeyboardInterrupt

    # Python cells left queued (an interrupted run) in the study the engine then runs: its
    # workers leave them to the training function instead of failing them.
    with pytest.raises(KeyboardInterrupt):
        s.run(task="mlp-mine", fn=interrupted, methods=["adam-fixed", "adamw-cosine"],
              seeds=1, budget_steps=BUDGET, metric="accuracy", description="mlp")
    rust = s.run(tasks=["logreg/iris"], methods=["adam-fixed", "adamw-cosine"], seeds=1,
                 steps=BUDGET, jobs=2)
    assert rust["ran"] == 2
    py = s.run(task="mlp-mine", fn=user_module.train_fn, methods=["adam-fixed", "adamw-cosine"],
               seeds=1, budget_steps=BUDGET, metric="accuracy", description="mlp")
    assert py["ran"] == 2 and py["existing"] == 2
    cells = s.cells()
    assert set(cells.task) == {"logreg/iris", "mlp-mine"} and (cells.outcome == "finished").all()
    out = tmp_path / "report"
    subprocess.run([lrctl_bin, "report", "--store", str(store), "--study", "mixed", "--out",
                    str(out), "--reps", "50"], check=True, capture_output=True, text=True)
    md = (out / "report.md").read_text()
    assert "mlp-mine" in md and "logreg/iris" in md
    status = subprocess.run([lrctl_bin, "status", "--store", str(store)], check=True,
                            capture_output=True, text=True).stdout
    assert "4" in status
    np.testing.assert_array_equal(sorted(cells.steps), [BUDGET] * 4)


def test_tuned_methods_call_the_training_function_per_trial(tmp_path, user_module):
    budgets = []

    def counted(trial):
        budgets.append((trial.method, trial.budget_steps, trial.config["controller"]["lr"]))
        user_module.train_fn(trial)

    s = lrctl.Study(tmp_path / "tuned.db")
    small_smac = {
        **lrctl._lrctl._method_config("smac-fixed"),
        "name": "smac-small",
    }
    small_smac["tune"] = {**small_smac["tune"], "trials": 6}
    rep = s.run(task="mlp-tuned", fn=counted, methods=[small_smac, "bohb-fixed"], seeds=2,
                budget_steps=BUDGET, metric="accuracy", description="mlp")
    assert rep["ran"] == 4 and rep["failed"] == 0
    cells = s.cells().sort_values(["method", "seed"]).reset_index(drop=True)
    assert (cells.outcome == "finished").all() and (cells.steps == BUDGET).all()
    # Tuning is charged to every cell of the method, like the engine's tuned cells.
    assert (cells.cost_steps > cells.steps).all()
    smac = [b for b in budgets if b[0] == "smac-small"]
    # 6 trials (low budgets included), then two cells at the full budget; the second seed's
    # cell replays the stored trials instead of training them again.
    assert len(smac) == 6 + 2 and min(b[1] for b in smac) < BUDGET
    assert cells.cost_steps[cells.method == "smac-small"].nunique() == 1
    tuned_lr = {b[2] for b in smac[-2:]}
    assert len(tuned_lr) == 1 and tuned_lr != {1e-3}
    # A rerun trains nothing.
    budgets.clear()
    assert s.run(task="mlp-tuned", fn=counted, methods=[small_smac, "bohb-fixed"], seeds=2,
                 budget_steps=BUDGET, metric="accuracy", description="mlp")["ran"] == 0
    assert budgets == []


def test_race_runs_its_candidates_through_the_training_function(tmp_path, user_module):
    runs = []

    def counted(trial):
        runs.append((trial.config["name"], trial.seed, trial.budget_steps, trial._horizon))
        user_module.train_fn(trial)

    race = {**lrctl._lrctl._method_config("race"), "name": "race3"}
    race["select"] = {**race["select"], "candidates": ["adam-fixed", "adamw-cosine", "sps"],
                      "fraction": 0.3}
    s = lrctl.Study(tmp_path / "race.db")
    rep = s.run(task="mlp-race", fn=counted, methods=[race], seeds=1, budget_steps=BUDGET,
                metric="accuracy", description="mlp")
    assert rep["ran"] == 1 and rep["failed"] == 0
    # Three candidates for 9 steps each, scheduled over the whole budget, on the cell's seed;
    # then the winner from the start.
    assert [r[2:] for r in runs[:3]] == [(9, BUDGET)] * 3
    assert {r[0] for r in runs[:3]} == {"adam-fixed", "adamw-cosine", "sps"}
    assert runs[3][0] in {"adam-fixed", "adamw-cosine", "sps"} and runs[3][2:] == (BUDGET, BUDGET)
    cell = s.cells().iloc[0]
    assert cell.outcome == "finished" and cell.cost_steps == BUDGET + 27


def test_describe_and_recommend_for_a_user_task(tmp_path, lrctl_bin):
    data = torch.utils.data.TensorDataset(torch.randn(256, 12), torch.randint(0, 3, (256,)))
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True)

    def make_model():
        return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(),
                                   torch.nn.Linear(16, 3))

    desc = lrctl.describe(make_model(), loader, budget_steps=BUDGET)
    assert desc == {"train_rows": 256, "n_features": 12, "n_classes": 3,
                    "n_params": 12 * 16 + 16 + 16 * 3 + 3, "batch_size": 32,
                    "budget_steps": BUDGET, "family": "mlp"}
    assert lrctl.describe(torch.nn.Linear(12, 3), loader, 10)["family"] == "linear"

    def train_fn(trial):
        model = make_model()
        opt = trial.optimizer(model.parameters())
        step = 0
        while step < trial.budget_steps:
            for x, y in loader:
                step += 1
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                trial.scheduler.step(loss=loss, grad_norm=ltorch.grad_norm(model.parameters()))
                opt.step()
                trial.report(step, loss, eval=loss.item() if step == trial.budget_steps else None)
                if step == trial.budget_steps:
                    break

    s = lrctl.Study(tmp_path / "sel.db", "sel")
    methods = ["adam-fixed", "sps"]
    s.run(tasks=["logreg/iris", "mlp/digits"], methods=methods, seeds=1, steps=BUDGET)
    s.run(task="mlp-user", fn=train_fn, methods=methods, seeds=1, budget_steps=BUDGET,
          description=desc)
    # For a task of the study: held out of what the selector learns.
    rec = lrctl.recommend(s, "mlp-user")
    assert rec["task"] == "mlp-user" and rec["method"] in methods
    assert [m for m, _ in rec["ranking"]] and {m for m, _ in rec["ranking"]} == set(methods)
    assert rec["study_tasks"] == 2 and rec["little_evidence"]
    assert {n["task"] for n in rec["nearest"]} == {"logreg/iris", "mlp/digits"}
    # For a described task: every study task with meta-features counts, the user's included.
    rec = lrctl.recommend(s, {**desc, "n_params": 10_000})
    assert rec["study_tasks"] == 3 and rec["method"] in methods
    assert rec["nearest"][0]["task"] == "mlp-user"
    with pytest.raises(lrctl.UnknownNameError):
        lrctl.recommend(s, "no-such-task")
    with pytest.raises(ValueError, match="batch_size"):
        lrctl.recommend(s, {"family": "mlp"})
    # lrctl select --task takes the study's user task too.
    out = subprocess.run([lrctl_bin, "select", "--store", str(tmp_path / "sel.db"), "--task",
                          "mlp-user"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"recommended for mlp-user: {lrctl.recommend(s, 'mlp-user')['method']}" in out.stdout


def test_a_torch_model_agrees_with_lrctls_own_cell_of_the_same_task(tmp_path):
    # lrctl's own logreg/iris, trained in PyTorch on lrctl's prepared splits (the same rows,
    # batch size, budget and epoch length) under adamw-cosine, against the engine's cells.
    d = lrctl._lrctl._task_data("logreg/iris")
    x, y = torch.from_numpy(d["train_x"]), torch.from_numpy(d["train_y"])
    xt, yt = torch.from_numpy(d["test_x"]), torch.from_numpy(d["test_y"])
    batch, per_epoch, budget = d["batch_size"], d["steps_per_epoch"], d["budget_steps"]

    def train_fn(trial):
        model = torch.nn.Linear(x.shape[1], d["n_classes"])  # PyTorch's default init, as lrctl
        opt = trial.optimizer(model.parameters())
        g = torch.Generator().manual_seed(trial.seed)
        step = 0
        while step < trial.budget_steps:
            order = torch.randperm(len(x), generator=g)      # a fresh order every epoch
            for i in range(0, len(x), batch):                # the last batch is partial
                idx, step = order[i:i + batch], step + 1
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                trial.scheduler.step(loss=loss, grad_norm=ltorch.grad_norm(model.parameters()))
                opt.step()
                ev = None
                if step == trial.budget_steps:
                    with torch.no_grad():
                        out = model(xt)
                    ev = {"loss": torch.nn.functional.cross_entropy(out, yt).item(),
                          "accuracy": (out.argmax(1) == yt).double().mean().item()}
                trial.report(step, loss, eval=ev)
                if step == trial.budget_steps:
                    break

    s = lrctl.Study(tmp_path / "ref.db", "ref")
    seeds = 6
    s.run(tasks=["logreg/iris"], methods=["adamw-cosine"], seeds=seeds, jobs=2)
    s.run(task="torch/iris", fn=train_fn, methods=["adamw-cosine"], seeds=seeds,
          budget_steps=budget, steps_per_epoch=per_epoch, metric="accuracy",
          description="logreg/iris in PyTorch")
    cells, curves = s.cells(), s.curves()
    rust, py = cells[cells.task == "logreg/iris"], cells[cells.task == "torch/iris"]
    assert (rust.steps == budget).all() and (py.steps == budget).all()
    # The learning rates in the store are identical at every step both recorded.
    for seed in range(seeds):
        r = curves[(curves.task == "logreg/iris") & (curves.seed == seed)].set_index("step")
        p = curves[(curves.task == "torch/iris") & (curves.seed == seed)].set_index("step")
        common = r.index.intersection(p.index)
        assert len(common) >= 90
        np.testing.assert_array_equal(r.lr[common].to_numpy(), p.lr[common].to_numpy())
    # The final test loss is the same within seed noise (initialisation and data order differ).
    for col in ("test_loss", "final_train_loss"):
        a, b = rust[col].to_numpy(), py[col].to_numpy()
        noise = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        assert abs(a.mean() - b.mean()) < 3 * noise + 0.01, (col, a, b)


def test_a_user_study_and_an_engine_study_share_a_store_at_once(tmp_path, user_module):
    import threading
    import time

    store = tmp_path / "both.db"
    errors = []

    def engine():
        try:
            lrctl.Study(store, "engine").run(tasks=["logreg/iris", "mlp/digits"],
                                             methods=["adam-fixed", "sps"], seeds=2, steps=80,
                                             jobs=1)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=engine)
    t.start()
    while not store.exists() and t.is_alive():
        time.sleep(0.01)
    rep = lrctl.Study(store, "mine").run(task="mlp-mine", fn=user_module.train_fn,
                                         methods=METHODS, seeds=2, budget_steps=BUDGET,
                                         metric="accuracy", description="mlp")
    t.join()
    assert not errors and rep["ran"] == 6 and rep["failed"] == 0
    assert lrctl.Study(store, "engine").status()["finished"] == 8
    assert lrctl.Study(store, "mine").status()["finished"] == 6


def test_leases_are_renewed_while_a_cell_trains(tmp_path, user_module, monkeypatch):
    import lrctl._user

    monkeypatch.setattr(lrctl._user, "HEARTBEAT_SECONDS", 0.0)  # renew at every report
    beats = []
    native = lrctl._lrctl.UserStudy

    class Counting:
        DIVERGENCE_FACTOR = native.DIVERGENCE_FACTOR

        def __init__(self, *args, **kwargs):
            self._inner = native(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def heartbeat(self, cell):
            beats.append(cell)
            return self._inner.heartbeat(cell)

    monkeypatch.setattr(lrctl._lrctl, "UserStudy", Counting)
    s = lrctl.Study(tmp_path / "beat.db")
    rep = s.run(task="mlp-beat", fn=user_module.train_fn, methods=["adam-fixed"], seeds=1,
                budget_steps=BUDGET, metric="accuracy")
    assert rep["ran"] == 1 and s.status()["finished"] == 1
    assert len(beats) == BUDGET
