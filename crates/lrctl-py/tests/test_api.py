"""Registries, lrctl.train, method dicts, the GIL and every error class."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import lrctl
from conftest import policy_method


def test_registries_list_what_the_cli_lists():
    tasks = {t["name"]: t for t in lrctl.tasks()}
    assert tasks["logreg/iris"]["source"] == "embedded"
    assert tasks["lm/tinyshakespeare"]["metric"] == "bits_per_byte"
    assert tasks["mlp/mnist"]["source"] == "mirror"
    methods = {m["name"]: m for m in lrctl.methods()}
    assert methods["prodigy"]["paradigm"] == "free"
    assert methods["smac-fixed"]["wraps"] == "tune"
    assert methods["race"]["wraps"] == "select"
    assert methods["learned-loto"]["wraps"] == "learn"
    assert methods["adam-fixed"]["config"]["controller"]["kind"] == "constant"
    assert any(m["default"] for m in methods.values())
    suites = {s["name"]: s for s in lrctl.suites()}
    assert suites["quick"]["cells"] == len(suites["quick"]["tasks"]) * len(
        suites["quick"]["methods"]
    ) * suites["quick"]["seeds"]
    assert "mlp/fashion-mnist-ladder@w16" in suites["ladder"]["tasks"]


def test_train_returns_the_result_and_the_curve_as_arrays():
    r = lrctl.train("logreg/iris", "adam-fixed", seed=2, steps=60)
    assert r.outcome == "finished" and r.reason is None
    assert (r.steps, r.total_steps) == (60, 60)
    assert 0.0 <= r.test["accuracy"] <= 1.0
    c = r.curve
    assert set(c) == set(lrctl.CURVE_COLUMNS[5:])
    n = len(c["step"])
    assert n > 0 and all(len(v) == n for v in c.values())
    assert c["step"].dtype == np.int64 and c["step"][-1] == 60
    assert np.all(c["lr"] == 1e-3)
    # Same arguments, the same run bit for bit (wall-clock times aside).
    again = lrctl.train("logreg/iris", "adam-fixed", seed=2, steps=60)
    assert np.array_equal(again.curve["train_loss"], c["train_loss"])
    other = lrctl.train("logreg/iris", "adam-fixed", seed=3, steps=60)
    assert not np.array_equal(other.curve["train_loss"], c["train_loss"])


def test_a_method_is_a_name_a_file_or_a_dict(tmp_path):
    d = {
        "name": "sgd-cos",
        "paradigm": "schedule",
        "optimizer": {"kind": "sgd", "momentum": np.float32(0.9)},
        "controller": {"kind": "cosine", "lr": np.float64(0.05)},
    }
    a = lrctl.train("logreg/iris", d, steps=30)
    f = tmp_path / "sgd-cos.toml"
    f.write_text(
        'name = "sgd-cos"\nparadigm = "schedule"\n[optimizer]\nkind = "sgd"\nmomentum = 0.9\n'
        '[controller]\nkind = "cosine"\nlr = 0.05\n'
    )
    b = lrctl.train("logreg/iris", f, steps=30)
    c = lrctl.train("logreg/iris", str(f), steps=30)
    assert np.array_equal(a.curve["lr"], b.curve["lr"])
    assert np.array_equal(b.curve["train_loss"], c.curve["train_loss"])
    assert a.curve["lr"][0] > a.curve["lr"][-1]


def test_the_gil_is_released_while_rust_trains():
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = count[0]
        lrctl.train("mlp/digits", "adam-fixed", steps=400)
        during = count[0] - before
    finally:
        stop.set()
        t.join()
    assert during > 10_000, during


def test_unknown_names_are_key_errors_with_suggestions():
    with pytest.raises(KeyError) as e:
        lrctl.train("logreg/irsi", "adam-fixed")
    assert isinstance(e.value, lrctl.UnknownNameError)
    assert "logreg/iris" in str(e.value) and not str(e.value).startswith("'")
    with pytest.raises(lrctl.UnknownNameError, match="prodigy"):
        lrctl.train("logreg/iris", "prodigi")


def test_a_method_dict_with_a_wrong_field_is_a_value_error_naming_it():
    bad = {
        "name": "x",
        "paradigm": "fixed",
        "optimizer": {"kind": "adamw", "betaz": [0.9, 0.99]},
        "controller": {"kind": "constant", "lr": 1e-3},
    }
    with pytest.raises(ValueError, match="betaz"):
        lrctl.train("logreg/iris", bad)
    with pytest.raises(ValueError, match="lr"):
        lrctl.train("logreg/iris", dict(bad, optimizer={"kind": "adamw"},
                                        controller={"kind": "constant", "lr": -1.0}))
    with pytest.raises(ValueError, match="paradigm"):
        lrctl.train("logreg/iris", {"name": "x", "optimizer": {"kind": "adamw"},
                                    "controller": {"kind": "constant", "lr": 1e-3}})
    with pytest.raises(ValueError, match="a method is a name"):
        lrctl.train("logreg/iris", 42)


def test_missing_files_and_wrapped_methods():
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        lrctl.train("logreg/iris", "/no/such/dir/nope.toml")
    with pytest.raises(ValueError, match="tuned method"):
        lrctl.train("logreg/iris", "smac-fixed")
    with pytest.raises(ValueError, match="selection method"):
        lrctl.train("logreg/iris", "race")
    with pytest.raises(ValueError, match="data=PATH"):
        lrctl.train("libsvm/file", "adam-fixed")
    with pytest.raises(FileNotFoundError):
        lrctl.train("libsvm/file", "adam-fixed", data="/no/such/file.svm")
    with pytest.raises(ValueError, match="steps"):
        lrctl.train("logreg/iris", "adam-fixed", steps=0)


def test_a_rust_panic_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="Rust panic"):
        lrctl._lrctl._debug_panic()


def test_a_policy_method_trains_through_lrctl_train(policies):
    r = lrctl.train("logreg/iris", policy_method("p", "testpolicies:decay", interval=10), steps=50)
    assert r.outcome == "finished"
    lr = r.curve["lr"]
    assert lr[0] == pytest.approx(0.1) and lr[-1] < lr[0]


def test_the_readme_examples_run(root):
    readme = (root / "README.md").read_text()
    section = readme[readme.index("\n## Python\n"):]
    section = section[: section.index("\n## ", 1)]
    blocks = section.split("```python\n")[1:]
    code = [b[: b.index("```")] for b in blocks]
    # train and registries; the environment with a hand-written policy.
    for c in code[:2]:
        exec(compile(c, "README.md", "exec"), {})
