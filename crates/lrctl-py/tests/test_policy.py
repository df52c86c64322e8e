"""Python policies inside studies: the `policy` controller's host, failures as data, the CLI
(`lrctl run`, `export`, `report`), and kill -9 and resume."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import lrctl
from conftest import policy_method

TASK = "logreg/iris"


def cli_env(policies) -> dict:
    env = dict(os.environ)
    env["LRCTL_PYTHON"] = sys.executable
    env["PYTHONPATH"] = os.pathsep.join([str(policies), env.get("PYTHONPATH", "")])
    return env


def host_processes(policy: str) -> list[int]:
    """Pids of running policy hosts for `policy` (from /proc)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if b"lrctl._policy_host" in args and policy.encode() in args:
                pids.append(int(d))
    return pids


def test_a_policy_method_trains_in_a_study_next_to_built_in_ones(policies):
    s = lrctl.Study(policies / "s.db", "policy")
    report = s.run(tasks=[TASK], methods=["adam-fixed", policy_method("py-decay",
                   "testpolicies:decay", interval=10)], seeds=2, steps=80, jobs=2)
    assert report["ran"] == 4 and report["study"] == "policy"
    cells = s.cells(as_frame=False)
    assert list(cells) == list(lrctl.CELL_COLUMNS)
    assert set(cells["outcome"]) == {"finished"}
    curves = s.curves(as_frame=False)
    lr = curves["lr"][curves["method"] == "py-decay"]
    # Every 10 steps the policy lowers the factor from 10 towards 0.1 of the base 1e-2.
    assert lr.max() == pytest.approx(0.1)
    assert lr.min() == pytest.approx(1e-2 * 10 ** (1 - 2 * 70 / 80))  # decided at step 70
    # Rerunning trains nothing: the cells are in the store.
    assert s.run(tasks=[TASK], methods=["adam-fixed", policy_method("py-decay",
                 "testpolicies:decay", interval=10)], seeds=2, steps=80)["ran"] == 0


def test_a_raising_policy_fails_its_cell_with_the_traceback_and_nothing_else(policies):
    s = lrctl.Study(policies / "s.db", "raising")
    s.run(tasks=[TASK], methods=["adam-fixed", policy_method("py-raises", "testpolicies:raises"),
                                 policy_method("py-nan", "testpolicies:nan"),
                                 policy_method("py-type", "testpolicies:wrong_type"),
                                 policy_method("py-missing", "testpolicies:no_such_function"),
                                 policy_method("py-chatty", "testpolicies:chatty")],
          seeds=1, steps=60, jobs=2)
    cells = s.cells()
    by = {m: cells[cells.method == m].iloc[0] for m in cells.method}
    assert by["adam-fixed"].outcome == "finished"
    assert by["py-chatty"].outcome == "finished", "prints go to stderr, not into the protocol"
    r = by["py-raises"]
    assert r.outcome == "failed"
    assert "Traceback (most recent call last)" in r.reason
    assert "ZeroDivisionError: policy blew up" in r.reason and "testpolicies.py" in r.reason
    assert 0 < r.steps < 60, "failed where the policy raised; the curve so far is kept"
    assert by["py-nan"].outcome == "diverged" and "NaN" in by["py-nan"].reason
    assert by["py-type"].outcome == "failed" and "expected a number" in by["py-type"].reason
    assert by["py-missing"].outcome == "failed"
    assert "no_such_function" in by["py-missing"].reason


def test_pickled_json_and_file_policies(policies):
    import testpolicies

    with open(policies / "scaled.pkl", "wb") as f:
        pickle.dump(testpolicies.Scaled(-1.0), f)
    (policies / "scaled.json").write_text(
        json.dumps({"factory": "testpolicies:make_scaled", "kwargs": {"factor": 1.0}})
    )
    methods = [
        policy_method("pkl", str(policies / "scaled.pkl")),
        policy_method("json", "scaled.json"),
        policy_method("file", f"{policies / 'testpolicies.py'}:constant"),
    ]
    s = lrctl.Study(policies / "s.db", "files")
    s.run(tasks=[TASK], methods=methods, seeds=1, steps=20, jobs=1)
    cells = s.cells()
    assert set(cells.outcome) == {"finished"}, cells.reason.tolist()
    curves = s.curves()
    lr = {m: curves[curves.method == m].lr.iloc[-1] for m in ("pkl", "json", "file")}
    assert lr == pytest.approx({"pkl": 1e-3, "json": 0.1, "file": 1e-2})


def test_the_host_speaks_the_protocol(policies):
    host = subprocess.Popen(
        [sys.executable, "-m", "lrctl._policy_host", "testpolicies:decay"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=policies,
    )
    hello = {"protocol": 1, "observation_version": lrctl.OBSERVATION_VERSION,
             "observation_names": list(lrctl.OBSERVATION_NAMES)}
    out, _ = host.communicate(
        json.dumps(hello) + "\n"
        + json.dumps({"step": 0, "total_steps": 10, "observation": [0.25] + [0.0] * 12}) + "\n",
        timeout=60,
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"ready": True}, {"action": 0.5}]
    assert host.returncode == 0
    wrong = subprocess.run(
        [sys.executable, "-m", "lrctl._policy_host", "testpolicies:decay"],
        input=json.dumps(dict(hello, observation_version=99)) + "\n",
        capture_output=True, text=True, cwd=policies, timeout=60,
    )
    assert "observation layout 99" in json.loads(wrong.stdout)["error"]


STUDY = textwrap.dedent(
    """
    name = "cli-policy"
    tasks = ["logreg/iris", "logreg/wine-quality"]
    methods = ["adam-fixed", "py-slow"]
    seeds = 3
    steps = {steps}

    [[method]]
    name = "py-slow"
    paradigm = "online"
    optimizer = {{ kind = "adamw" }}
    controller = {{ kind = "policy", policy = "testpolicies:slow", interval = 1, base = {{ kind = "constant", lr = 0.01 }} }}
    """
)


def test_the_cli_runs_exports_and_reports_a_policy_method(policies, lrctl_bin):
    (policies / "study.toml").write_text(STUDY.format(steps=30))
    env = cli_env(policies)
    run = subprocess.run([lrctl_bin, "run", "--quiet", "--file", "study.toml", "--store", "c.db"],
                         env=env, cwd=policies, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    export = subprocess.run([lrctl_bin, "export", "--store", "c.db", "--format", "csv"],
                            env=env, cwd=policies, capture_output=True, text=True, timeout=60)
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    mine = [r for r in rows if r["method"] == "py-slow"]
    assert len(mine) == 6 and {r["outcome"] for r in mine} == {"finished"}
    # The same rows through Python.
    cells = lrctl.Study(policies / "c.db").cells()
    assert sorted(cells.cell_id) == sorted(int(r["cell_id"]) for r in rows)
    report = subprocess.run([lrctl_bin, "report", "--store", "c.db", "--out", "rep"],
                            env=env, cwd=policies, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert "py-slow" in (policies / "rep" / "report.md").read_text()


def test_kill_and_resume_a_study_with_a_policy_method(policies, lrctl_bin):
    (policies / "study.toml").write_text(STUDY.format(steps=300))
    env = cli_env(policies)
    args = [lrctl_bin, "run", "--quiet", "--jobs", "2", "--file", "study.toml", "--store", "k.db"]
    proc = subprocess.Popen(args, env=env, cwd=policies, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    study = None
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            time.sleep(0.2)
            if study is None and (policies / "k.db").exists():
                try:
                    study = lrctl.Study(policies / "k.db", "cli-policy")
                except (ValueError, FileNotFoundError):
                    continue
            if study is not None:
                try:
                    s = study.status()
                except (KeyError, ValueError):
                    continue
                if s["done"] >= 2:
                    break
        else:
            pytest.fail("the study never got going")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = study.cells()
    done_before = set(before[before.state == "done"].cell_id)
    assert 2 <= len(done_before) < 12, "killed half-way"
    # The policy hosts of the killed cells saw their stdin close and are gone (soon: a loaded
    # machine may take a moment to schedule their exit).
    gone_by = time.time() + 20
    while host_processes("testpolicies:slow") and time.time() < gone_by:
        time.sleep(0.2)
    assert host_processes("testpolicies:slow") == []
    again = subprocess.run(args, env=env, cwd=policies, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    after = study.cells()
    assert len(after) == 12 and set(after.outcome) == {"finished"}
    kept = after[after.cell_id.isin(done_before)]
    assert (kept.attempts == 1).all(), "finished cells were not trained again"
    assert (kept.finished_at.values == before.set_index("cell_id").loc[kept.cell_id]
            .finished_at.values).all()


def test_a_policy_method_races_like_any_other(policies):
    (policies / "pol.toml").write_text(
        'name = "py-constant"\nparadigm = "online"\n[optimizer]\nkind = "adamw"\n'
        '[controller]\nkind = "policy"\npolicy = "testpolicies:constant"\ninterval = 5\n'
        'base = { kind = "constant", lr = 0.05 }\n'
    )
    race = {
        "name": "race-py",
        "paradigm": "selected",
        "optimizer": {"kind": "adamw"},
        "controller": {"kind": "constant", "lr": 1e-3},
        "select": {"kind": "race", "candidates": ["adam-fixed", str(policies / "pol.toml")],
                   "fraction": 0.2, "objective": "final-train-loss"},
    }
    s = lrctl.Study(policies / "r.db", "race")
    s.run(tasks=[TASK], methods=[race, str(policies / "pol.toml")], seeds=2, steps=100)
    cells = s.cells()
    assert set(cells.outcome) == {"finished"}, cells.reason.tolist()
    raced = cells[cells.method == "race-py"]
    # The winner's run goes on (100 steps); the loser's 20 race steps are charged.
    assert (raced.cost_steps == 120).all()
