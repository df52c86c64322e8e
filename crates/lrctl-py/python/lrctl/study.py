"""Studies as data: a store's cells and curves, its progress, and running a study into it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, Union

import numpy as np

from . import _lrctl
from ._util import columns_to_arrays, ensure_policy_python, method_arg

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["Study"]

#: A table: a pandas DataFrame, or without pandas a dict of numpy arrays.
Table = Union["pandas.DataFrame", dict[str, np.ndarray]]


def _table(columns: dict[str, list[Any]], order: Sequence[str], as_frame: bool | None) -> Table:
    arrays = columns_to_arrays({name: columns[name] for name in order})
    if as_frame is False:
        return arrays
    try:
        import pandas as pd
    except ImportError:
        if as_frame:
            raise
        return arrays
    return pd.DataFrame(arrays, columns=list(order))


class Study:
    """A study in a store (a SQLite file or a ``postgres://`` URL), as ``lrctl`` commands see it.

    ``Study("lrctl.db")`` reads the most recently changed study of the store (as ``lrctl
    show``/``export`` do without ``--study``); ``Study("lrctl.db", "my-study")`` a named one. A
    store that does not exist yet is created by :meth:`run`; a file that is not an lrctl store
    raises ``ValueError`` at once.
    """

    def __init__(self, store: str | os.PathLike[str] = "lrctl.db", name: str | None = None):
        #: The store's location (a path or URL).
        self.store: str = os.fspath(store)
        #: The study's name (None: the store's most recently changed study).
        self.name: str | None = name
        _lrctl._study_check(self.store)

    def __repr__(self) -> str:
        return f"Study({self.store!r}, {self.name!r})"

    def cells(self, *, as_frame: bool | None = None) -> Table:
        """One row per current cell, with the columns of ``lrctl export --table cells``
        (:data:`lrctl.CELL_COLUMNS`): identity (study, cell_id, task, method, seed,
        config_hash), state and outcome, losses and metrics, costs, worker and times.

        A pandas DataFrame when pandas is installed (``as_frame=False``: always a dict of numpy
        arrays; ``as_frame=True``: pandas or ``ImportError``). Empty results are NaN.
        """
        name, cols = _lrctl._study_cells(self.store, self.name)
        self.name = self.name or name
        return _table(cols, _lrctl.CELL_COLUMNS, as_frame)

    def curves(self, *, as_frame: bool | None = None) -> Table:
        """One row per recorded curve point of every current cell, with the columns of
        ``lrctl export --table curves`` (:data:`lrctl.CURVE_COLUMNS`); ``eval_loss`` and
        ``eval_metric`` are NaN between evaluations. Same ``as_frame`` as :meth:`cells`."""
        name, cols = _lrctl._study_curves(self.store, self.name)
        self.name = self.name or name
        return _table(cols, _lrctl.CURVE_COLUMNS, as_frame)

    def status(self) -> dict[str, Any]:
        """Progress, as ``lrctl status`` shows it: ``study``, ``total``, ``queued``,
        ``running``, ``done``, ``finished``, ``diverged``, ``failed``."""
        s = _lrctl._study_status(self.store, self.name)
        self.name = self.name or s["study"]
        return s

    def run(
        self,
        tasks: Iterable[str] = (),
        methods: Iterable[str | os.PathLike[str] | Mapping[str, Any]] | None = None,
        seeds: int | Sequence[int] | None = None,
        jobs: int | None = None,
        *,
        suites: Iterable[str] = (),
        steps: int | None = None,
        file: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        task: str | None = None,
        fn: Callable[..., Any] | None = None,
        budget_steps: int | None = None,
        description: Any = None,
        metric: str = "loss",
        steps_per_epoch: int | None = None,
    ) -> dict[str, Any]:
        """Runs a study into the store, as ``lrctl run`` does: adds its cells (finished ones are
        kept, changed ones superseded) and trains every cell without a result, ``jobs`` at once
        (default: one per core).

        ``tasks`` are registry names; ``suites`` suite names; ``file`` a study file whose lists
        these extend. ``methods`` are names, ``.toml`` paths or dicts with a method file's
        fields (default: the suites' methods, else lrctl's default set) — a ``policy`` method
        runs a Python callable (see the README), in this interpreter unless ``LRCTL_PYTHON``
        names another. ``seeds`` is a count (``3``: seeds 0, 1, 2) or a list. ``steps``
        overrides every task's budget. The study is named ``name`` given to the constructor,
        else after its suites or tasks.

        Returns what happened: ``study``, ``cells``, ``added``, ``existing``, ``superseded``,
        ``ran``, ``interrupted``, ``seconds``, ``skipped`` (tasks whose data is not here).
        The GIL is released while cells train; Ctrl-C puts the cells in flight back in the
        queue and raises ``KeyboardInterrupt`` (run again to resume).

        **Your own model**: ``run(task="my-model", fn=train_fn, methods=[...], seeds=3,
        budget_steps=N)`` trains a task lrctl's engine does not know: ``train_fn(trial)`` is
        called once per cell (task × method × seed without a result) with a
        :class:`lrctl.Trial`; it builds its model and data, uses ``trial.optimizer(params)`` and
        ``trial.scheduler`` and reports with ``trial.report(step, loss, grad_norm=...,
        eval=...)``. Results and curves go to the same store as the engine's cells (``lrctl
        status``, ``show``, ``export`` and ``report`` read them); finished cells are skipped on
        a rerun. The task's identity is its name, ``description`` (any JSON-able value, e.g.
        the model's and data's settings; default: the function's qualified name) and
        ``budget_steps``: change one and the cells are new. ``metric`` is what the evaluations
        report besides the loss (``"loss"`` or ``"accuracy"``: ``eval={"loss": ...,
        "accuracy": ...}``); ``steps_per_epoch`` serves epoch-based controllers. A
        ``train_fn`` that raises fails its cell with the traceback and the study goes on; a
        non-finite loss or one above the engine's divergence factor is a diverged cell; one
        that never reports fails. Cells train one at a time, in this process. Tuned methods
        (``smac-fixed``, ``bohb-fixed``, ``cawr-tuned``, …) call ``train_fn`` once per tuning
        trial with the trial's ``trial.budget_steps`` (trials are stored, shared by the
        method's seeds and replayed on a rerun; their cost is charged to the cells); ``race``
        methods run each candidate through ``train_fn`` for a fraction of the budget and train
        the winner from the start (a Python run cannot be paused: every race step is charged);
        ``auto`` is refused (it needs meta-features of the study's tasks).
        """
        if fn is not None or task is not None:
            return self._run_user(tasks, methods, seeds, jobs, suites, file, task, fn,
                                  budget_steps, description, metric, steps_per_epoch)
        ensure_policy_python()
        if isinstance(tasks, str) or isinstance(suites, str):
            raise TypeError("tasks and suites are lists of names, not a single string")
        if isinstance(methods, (str, os.PathLike, Mapping)):
            raise TypeError("methods is a list (of names, paths or dicts), not a single method")
        report = _lrctl._study_run(
            self.store,
            name=self.name,
            file=None if file is None else os.fspath(file),
            suites=list(suites),
            tasks=list(tasks),
            methods=None if methods is None else [method_arg(m) for m in methods],
            seeds=None if seeds is None else (seeds if isinstance(seeds, int) else [int(s) for s in seeds]),
            steps=steps,
            jobs=jobs,
            data_dir=None if data_dir is None else os.fspath(data_dir),
        )
        self.name = report["study"]
        return report

    def _run_user(self, tasks: Any, methods: Any, seeds: Any, jobs: Any, suites: Any,
                  file: Any, task: str | None, fn: Any, budget_steps: int | None,
                  description: Any, metric: str, steps_per_epoch: int | None) -> dict[str, Any]:
        from ._user import run_user  # noqa: PLC0415

        if task is None or fn is None:
            raise TypeError("a study over your own training function needs both task= and fn=")
        if not callable(fn):
            raise TypeError("fn is the training function, called as fn(trial)")
        if tuple(tasks) or tuple(suites) or file is not None:
            raise TypeError("task=/fn= run one user task: leave tasks, suites and file out")
        if jobs not in (None, 1):
            raise ValueError("cells over a training function run one at a time (jobs=1)")
        if budget_steps is None:
            raise TypeError("budget_steps is required with fn=: the optimizer steps of one run")
        if methods is None or isinstance(methods, (str, os.PathLike, Mapping)):
            raise TypeError("methods is a list (of names, paths or dicts)")
        seed_list = list(range(seeds)) if isinstance(seeds, int) else (
            [0] if seeds is None else [int(s) for s in seeds])
        report = run_user(self.store, self.name, task, fn, [method_arg(m) for m in methods],
                          seed_list, budget_steps, description, metric, steps_per_epoch)
        self.name = report["study"]
        return report
