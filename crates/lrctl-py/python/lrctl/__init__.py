"""lrctl from Python: learning-rate control with a Rust engine.

* :func:`tasks`, :func:`methods`, :func:`suites` — the registries, as lists of dicts;
* :func:`train` — one cell (task × method × seed), its result and learning curve as numpy arrays;
* :class:`Env` / :class:`VecEnv` — a gymnasium environment over any lrctl task whose action is
  the learning rate (needs ``gymnasium``; imported on first use);
* :class:`Study` — a study's cells and curves as pandas DataFrames (or dicts of numpy arrays),
  its progress, and running it — over lrctl's tasks, or over your own training function
  (``Study.run(task=..., fn=...)``, each cell a :class:`Trial`);
* :mod:`lrctl.torch` — lrctl's controllers and methods' optimizers in a PyTorch loop;
* :func:`describe` / :func:`recommend` — your task's meta-features, and a method for it from a
  study's evidence;
* :data:`OBSERVATION_NAMES` — the observation vector that :class:`Env` returns and ``policy``
  methods receive.

The GIL is released while Rust trains. lrctl's errors arrive as ``ValueError``,
``FileNotFoundError`` or :class:`UnknownNameError` (a ``KeyError``) with lrctl's own message; a
Rust panic arrives as ``RuntimeError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from . import _lrctl
from ._errors import UnknownNameError
from ._util import ensure_policy_python, method_arg
from ._select import describe, recommend
from ._user import Trial, TrialStopped
from .study import Study

if TYPE_CHECKING:  # pragma: no cover
    from .env import Env, VecEnv

__all__ = [
    "CELL_COLUMNS",
    "CURVE_COLUMNS",
    "Env",
    "OBSERVATION_NAMES",
    "OBSERVATION_VERSION",
    "RunResult",
    "Study",
    "Trial",
    "TrialStopped",
    "UnknownNameError",
    "VecEnv",
    "__version__",
    "describe",
    "methods",
    "recommend",
    "suites",
    "tasks",
    "train",
]

#: The package version (that of the lrctl workspace it was built from).
__version__: str = _lrctl.__version__

#: The names of the observation vector's components, in order (see the README's table).
OBSERVATION_NAMES: tuple[str, ...] = _lrctl.OBSERVATION_NAMES

#: Version of the observation layout; bumped whenever a component changes.
OBSERVATION_VERSION: int = _lrctl.OBSERVATION_VERSION

#: The columns of ``lrctl export --table cells`` (and of :meth:`Study.cells`).
CELL_COLUMNS: tuple[str, ...] = _lrctl.CELL_COLUMNS

#: The columns of ``lrctl export --table curves`` (and of :meth:`Study.curves`).
CURVE_COLUMNS: tuple[str, ...] = _lrctl.CURVE_COLUMNS

def tasks() -> list[dict[str, Any]]:
    """The built-in tasks, as ``lrctl tasks`` lists them.

    Each dict has ``name``, ``description``, ``source`` (``embedded``: ships with lrctl,
    ``mirror``: the data mirror, ``file``: give a path), ``metric`` (``accuracy`` or
    ``bits_per_byte``) and ``config`` (the task's full configuration).
    """
    return _lrctl.tasks()


def methods() -> list[dict[str, Any]]:
    """The built-in methods, as ``lrctl methods`` lists them.

    Each dict has ``name``, ``description``, ``paradigm`` (fixed, schedule, free, online, tuned,
    selected), ``default`` (in ``lrctl run``'s default set), ``optimizer`` and ``controller``
    (their kinds), ``wraps`` (``tune``, ``select``, ``learn`` or None) and ``config`` (the
    method file's fields, which a method dict may use).
    """
    return _lrctl.methods()


def suites() -> list[dict[str, Any]]:
    """The built-in suites, as ``lrctl suites`` lists them.

    Each dict has ``name``, ``description``, ``tasks``, ``methods``, ``seeds``, ``cells`` and
    ``cpu_seconds`` (one core's estimated time, tuning included; None when unknown).
    """
    return _lrctl.suites()


@dataclass(frozen=True)
class RunResult:
    """The result of one training run (what ``lrctl train --out run.json`` writes).

    ``curve`` holds the learning curve as numpy arrays of equal length: ``step``, ``epoch``,
    ``train_loss`` (mean mini-batch loss since the previous point), ``lr`` (what the controller
    chose), ``effective_lr`` (what the optimizer applied, e.g. d·lr for Prodigy), ``grad_norm``,
    ``wall_seconds``, ``eval_loss`` and ``eval_metric`` (NaN between evaluations).
    """

    #: ``finished``, ``diverged`` or ``failed``.
    outcome: str
    #: Why it diverged or failed.
    reason: str | None
    #: Optimizer steps taken.
    steps: int
    #: The budget in steps.
    total_steps: int
    #: Trainable scalars of the model.
    n_params: int
    #: Loss of the last mini-batch.
    last_batch_loss: float
    #: Mean mini-batch loss over the last curve interval.
    final_train_loss: float | None
    #: Final metrics on the training split (``loss``, ``accuracy`` or ``bits_per_byte``, …).
    train: dict[str, Any] | None
    #: Final metrics on the validation split.
    validation: dict[str, Any] | None
    #: Final metrics on the test split.
    test: dict[str, Any] | None
    #: Wall-clock seconds of the run, evaluations included.
    seconds: float
    #: Of which evaluating.
    eval_seconds: float
    #: The learning curve, column by column.
    curve: dict[str, np.ndarray] = field(repr=False)


def train(
    task: str,
    method: str | os.PathLike[str] | Mapping[str, Any],
    seed: int = 0,
    steps: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    data: str | os.PathLike[str] | None = None,
    threads: int = 1,
    eval_examples: int | None = None,
) -> RunResult:
    """Trains one cell — ``task`` under ``method`` with ``seed`` — and returns its result.

    ``task`` is a registry name (``lrctl.tasks()``), optionally scaled (``mlp/digits@w2``).
    ``method`` is a registry name, a path to a method ``.toml`` file, or a dict with a method
    file's fields (``name``, ``paradigm``, ``optimizer``, ``controller``); tuned and selection
    methods run in studies only. ``steps`` overrides the task's budget; ``data_dir`` is where the
    data mirror is (default ``LRCTL_DATA_DIR``); ``data`` a file for tasks that train on one you
    give (``libsvm/file``, ``mlp/idx``, ``lm/file``); ``eval_examples`` caps every evaluation.

    The same arguments give a bit-identical run, the run that ``lrctl train`` and a study cell
    give. The GIL is released while it trains; Ctrl-C stops it (``KeyboardInterrupt``).
    """
    ensure_policy_python()
    d = _lrctl._train(
        task,
        method_arg(method),
        seed=seed,
        steps=steps,
        data_dir=None if data_dir is None else os.fspath(data_dir),
        data=None if data is None else os.fspath(data),
        threads=threads,
        eval_examples=eval_examples,
    )
    d.setdefault("reason", None)
    return RunResult(**d)


def __getattr__(name: str) -> Any:
    # PEP 562: the environments need gymnasium, which `import lrctl` must not.
    if name in ("Env", "VecEnv"):
        from . import env

        return getattr(env, name)
    raise AttributeError(f"module 'lrctl' has no attribute {name!r}")
