"""lrctl.Study: cells and curves with lrctl export's columns, status, run, bad stores."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lrctl


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "s.db"
    s = lrctl.Study(path, "two")
    s.run(tasks=["logreg/iris", "mlp/digits"], methods=["adam-fixed", "sps"], seeds=[0, 7],
          steps=40, jobs=2)
    return path


def test_cells_and_curves_have_the_columns_of_lrctl_export(store, lrctl_bin):
    s = lrctl.Study(store)
    cells = s.cells()
    assert s.name == "two"
    assert list(cells.columns) == list(lrctl.CELL_COLUMNS)
    assert len(cells) == 8 and set(cells.seed) == {0, 7}
    assert cells.test_metric.dtype == np.float64 and cells.cell_id.dtype == np.int64
    header = subprocess.run([lrctl_bin, "export", "--store", str(store)], capture_output=True,
                            text=True, check=True).stdout.splitlines()[0]
    assert header.split(",") == list(lrctl.CELL_COLUMNS)
    curves = s.curves()
    assert list(curves.columns) == list(lrctl.CURVE_COLUMNS)
    header = subprocess.run([lrctl_bin, "export", "--store", str(store), "--table", "curves"],
                            capture_output=True, text=True, check=True).stdout.splitlines()[0]
    assert header.split(",") == list(lrctl.CURVE_COLUMNS)
    assert (curves.groupby("cell_id").step.max() == 40).all()
    assert curves.eval_loss.isna().any() and curves.eval_loss.notna().any()


def test_without_pandas_tables_are_dicts_of_numpy_arrays(store):
    s = lrctl.Study(store, "two")
    cells = s.cells(as_frame=False)
    assert list(cells) == list(lrctl.CELL_COLUMNS)
    assert all(isinstance(v, np.ndarray) and len(v) == 8 for v in cells.values())
    assert cells["steps"].dtype == np.int64 and cells["task"].dtype == object
    curves = s.curves(as_frame=False)
    assert curves["eval_loss"].dtype == np.float64
    # And when pandas cannot be imported at all.
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import lrctl\n"
        f"c = lrctl.Study({str(store)!r}).cells()\n"
        "assert isinstance(c, dict) and len(c['cell_id']) == 8, type(c)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_status_and_rerun(store):
    s = lrctl.Study(store, "two")
    assert s.status() == {"study": "two", "total": 8, "queued": 0, "running": 0, "done": 8,
                          "finished": 8, "diverged": 0, "failed": 0}
    r = s.run(tasks=["logreg/iris", "mlp/digits"], methods=["adam-fixed", "sps"], seeds=[0, 7],
              steps=40)
    assert (r["ran"], r["existing"], r["added"]) == (0, 8, 0)


def test_a_store_that_is_not_a_store(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n" * 100)
    with pytest.raises(ValueError, match="not an lrctl store"):
        lrctl.Study(junk)
    missing = lrctl.Study(tmp_path / "missing.db")
    with pytest.raises(FileNotFoundError, match="no store there"):
        missing.cells()
    with pytest.raises(ValueError):
        lrctl.Study("mysql://somewhere/db")


def test_bad_study_input(store, tmp_path):
    with pytest.raises(lrctl.UnknownNameError, match="two"):
        lrctl.Study(store, "three").cells()
    s = lrctl.Study(tmp_path / "new.db")
    with pytest.raises(ValueError, match="no tasks"):
        s.run(methods=["adam-fixed"])
    with pytest.raises(lrctl.UnknownNameError, match="quick"):
        s.run(suites=["quik"])
    with pytest.raises(lrctl.UnknownNameError, match="logreg/iris"):
        s.run(tasks=["logreg/irsi"])
    with pytest.raises(lrctl.UnknownNameError, match="prodigy"):
        s.run(tasks=["logreg/iris"], methods=["prodigi"])
    with pytest.raises(ValueError, match="seed"):
        s.run(tasks=["logreg/iris"], seeds=[1, 1])
    with pytest.raises(ValueError, match="seed"):
        s.run(tasks=["logreg/iris"], seeds=[-1])
    with pytest.raises(ValueError, match="bogus"):
        s.run(tasks=["logreg/iris"], methods=[{"name": "x", "paradigm": "fixed", "bogus": 1,
                                               "optimizer": {"kind": "adamw"},
                                               "controller": {"kind": "constant", "lr": 1}}])
    with pytest.raises(TypeError):
        s.run(tasks="logreg/iris")
    with pytest.raises(FileNotFoundError):
        s.run(file=tmp_path / "no-study.toml")
    assert not (tmp_path / "new.db").exists(), "nothing was written"
