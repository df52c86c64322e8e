"""Type stubs of lrctl's native module (``crates/lrctl-py/src``). Use the ``lrctl`` package."""

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__version__: str
OBSERVATION_VERSION: int
OBSERVATION_NAMES: tuple[str, ...]
OBSERVATION_CLIP: float
CELL_COLUMNS: tuple[str, ...]
CURVE_COLUMNS: tuple[str, ...]

MethodArg = str | dict[str, Any]

def tasks() -> list[dict[str, Any]]:
    """The built-in tasks (name, description, source, metric, config)."""

def methods() -> list[dict[str, Any]]:
    """The built-in methods (name, description, paradigm, default, optimizer, controller, wraps,
    config)."""

def suites() -> list[dict[str, Any]]:
    """The built-in suites (name, description, tasks, methods, seeds, cells, cpu_seconds)."""

def _method_config(method: MethodArg) -> dict[str, Any]:
    """Parses a method as lrctl.train takes it; its configuration as a dict."""

def _task_config(name: str) -> dict[str, Any]:
    """Resolves a task name: ``{"config": ..., "needs_path": bool, "metric": str}``."""

def _train(
    task: str,
    method: MethodArg,
    seed: int = 0,
    steps: int | None = None,
    data_dir: str | None = None,
    data: str | None = None,
    threads: int = 1,
    eval_examples: int | None = None,
) -> dict[str, Any]:
    """One cell's result as a dict, ``curve`` as a dict of numpy arrays (GIL released)."""

def _task_data(
    task: str, data_dir: str | None = None, data: str | None = None
) -> dict[str, Any]:
    """A classification task's prepared splits as numpy arrays (``train_x``, ``train_y``,
    ``validation_x``, …) with ``n_classes``, ``batch_size``, ``steps_per_epoch`` and
    ``budget_steps``."""

def _debug_panic() -> None:
    """Panics on a worker thread: raises RuntimeError (for the tests)."""

class Controller:
    """An lrctl controller stepped by hand (see :class:`lrctl.torch.Scheduler`)."""

    def __init__(
        self, method: MethodArg, total_steps: int, steps_per_epoch: int | None = None
    ) -> None: ...
    def step(self, **signals: float | None) -> float:
        """The keyword arguments of :meth:`lrctl.torch.Scheduler.step`."""
    @property
    def signals(self) -> list[str]: ...
    @property
    def steps(self) -> int: ...
    @property
    def kind(self) -> str: ...

class EnvCore:
    """The native core of lrctl.Env: an episode runner on its own thread."""

    def __init__(
        self,
        method: MethodArg,
        *,
        interval: int,
        action: Literal["absolute", "log-multiplier"],
        max_factor: float,
        lr_min: float,
        lr_max: float,
        reward: Literal["dacbench", "dense"],
        crash_penalty: float,
        dacbench_compat: bool,
        steps: int | None = None,
        validation_examples: int | None = None,
        eval_examples: int | None = None,
        threads: int = 1,
        data_dir: str | None = None,
    ) -> None: ...
    @property
    def total_actions_hint(self) -> int:
        """Actions per episode when ``steps`` was given, else 0."""
    def send_reset(self, task: str, seed: int) -> None:
        """Sends a reset; ``recv()`` returns ``(observation, info)``."""
    def send_step(self, action: float) -> None:
        """Sends a step; ``recv()`` returns ``(observation, reward, terminated, truncated, info)``."""
    def recv(self) -> tuple[Any, ...]:
        """Waits (without the GIL) for the reply to the last command sent."""
    def reset(self, task: str, seed: int) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """``send_reset`` then ``recv``."""
    def step(
        self, action: float
    ) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """``send_step`` then ``recv``."""
    def close(self) -> None:
        """Stops the thread (idempotent)."""

def _study_check(location: str) -> None:
    """Raises when ``location`` holds something that is not an lrctl store."""

def _study_cells(location: str, name: str | None = None) -> tuple[str, dict[str, list[Any]]]:
    """``(study name, columns)`` of the study's current cells."""

def _study_curves(location: str, name: str | None = None) -> tuple[str, dict[str, list[Any]]]:
    """``(study name, columns)`` of the study's curve points."""

def _study_status(location: str, name: str | None = None) -> dict[str, Any]:
    """The study's progress."""

def _study_run(
    location: str,
    *,
    name: str | None = None,
    file: str | None = None,
    suites: list[str] = ...,
    tasks: list[str] = ...,
    methods: list[MethodArg] | None = None,
    seeds: int | list[int] | None = None,
    steps: int | None = None,
    jobs: int | None = None,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Runs a study into the store (GIL released; Ctrl-C puts cells back)."""

class UserStudy:
    """The store side of a study over a user's training function (see ``lrctl._user``)."""

    #: The engine's divergence factor: a loss above this multiple of the first diverged.
    DIVERGENCE_FACTOR: float

    def __init__(
        self,
        location: str,
        study: str,
        task: str,
        description: str,
        budget_steps: int,
        methods: list[MethodArg],
        seeds: list[int],
        *,
        steps_per_epoch: int | None = None,
        metric: Literal["loss", "accuracy"] = "loss",
        backend: str = "pytorch",
    ) -> None: ...
    @property
    def submitted(self) -> dict[str, Any]:
        """``study``, ``cells``, ``added``, ``existing``, ``superseded``."""
    def claim(self) -> dict[str, Any] | None:
        """The next queued cell of the task (``cell``, ``method``, ``seed``,
        ``method_config``, ``attempt``, ``tuned``, ``race``), leased; None when none is left."""
    def heartbeat(self, cell: int) -> None:
        """Renews a claimed cell's lease."""
    def release(self, cell: int) -> None:
        """Puts a claimed cell back in the queue."""
    def tune(self, cell: int, train_trial: Any) -> dict[str, Any]:
        """Tunes a claimed cell's tuned method, ``train_trial(method_config, budget, seed)``
        training each trial; returns the tuned method's configuration."""
    def race(self, cell: int, seed: int, train_trial: Any) -> dict[str, Any]:
        """Races a claimed cell's race method's candidates, ``train_trial(method_config,
        budget, seed, horizon)`` training each; returns the winner's configuration."""
    def finish(self, cell: int, result: dict[str, Any], curve: list[dict[str, Any]]) -> None:
        """Writes a claimed cell's result and curve."""

def _recommend(
    location: str,
    name: str | None = None,
    *,
    task: str | None = None,
    description: str | None = None,
    selector: str = "regression",
) -> dict[str, Any]:
    """A recommendation for a study task (held out) or a described task (JSON text)."""
