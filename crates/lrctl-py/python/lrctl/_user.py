"""Studies over a user's own training function: :class:`Trial` and the loop that trains each cell
(``Study.run(task=..., fn=...)``). The store side (cells, leases, results, curves) is Rust's
(``_lrctl.UserStudy``); this module only trains and records what the function reports."""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
import traceback
from typing import Any, Callable, Iterator, Mapping, Sequence

from . import _lrctl

__all__ = ["Trial", "TrialStopped"]

#: Points in a recorded curve, as lrctl's engine records its own runs (a task's default).
CURVE_POINTS = 100
#: Seconds between lease renewals (the lease is two minutes).
HEARTBEAT_SECONDS = 30.0


class TrialStopped(BaseException):
    """Raised by :meth:`Trial.report` to end the training function: the run diverged, or it
    went past its budget. lrctl catches it; a ``BaseException`` so that a training function's
    ``except Exception`` does not swallow it."""


class _TrialScheduler:
    """:class:`lrctl.torch.Scheduler` that also hands the controller the evaluation the trial
    reported since its previous step (so plateau-type controllers see it without the user's
    help)."""

    def __init__(self, trial: "Trial", inner: Any) -> None:
        self._trial = trial
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def step(self, loss: Any = None, grad_norm: Any = None, **signals: Any) -> float:
        pending = self._trial._pending_eval
        if pending is not None:
            signals.setdefault("eval_loss", pending[0])
            if pending[1] is not None:
                signals.setdefault("eval_metric", pending[1])
            self._trial._pending_eval = None
        return self._inner.step(loss, grad_norm, **signals)


class Trial:
    """One cell of a study over your training function: what to train and where to report.

    Your ``fn(trial)`` builds its model and data, takes its optimizer from
    :meth:`optimizer` and its learning-rate controller from :attr:`scheduler`, trains
    :attr:`budget_steps` optimizer steps and calls :meth:`report` after each (or every few).
    Python's, numpy's and torch's random generators are seeded with :attr:`seed` before it is
    called.
    """

    def __init__(self, study: Any, cell: Mapping[str, Any], task: str, budget_steps: int,
                 steps_per_epoch: int | None, metric: str, horizon: int | None = None,
                 beat: list[float] | None = None) -> None:
        #: The task's name.
        self.task: str = task
        #: The method's name.
        self.method: str = cell["method"]
        #: The cell's seed.
        self.seed: int = int(cell["seed"])
        #: The method's resolved configuration (a method file's fields).
        self.config: dict[str, Any] = cell["method_config"]
        #: Optimizer steps to train.
        self.budget_steps: int = int(budget_steps)
        #: Optimizer steps of one pass over the training data (None: not given).
        self.steps_per_epoch: int | None = steps_per_epoch
        self._study = study
        self._cell = int(cell["cell"])
        self._metric = metric
        self._optimizer: Any = None
        self._scheduler: Any = None
        self._pending_eval: tuple[float, float | None] | None = None
        self._start = time.perf_counter()
        # When the cell's lease was last renewed: shared by the cell's tuning or race runs,
        # which are each shorter than a renewal interval.
        self._beat = beat if beat is not None else [self._start]
        self._curve: list[dict[str, Any]] = []
        self._interval: list[float] = []
        self._last_step = 0
        self._first_loss: float | None = None
        self._last_loss: float | None = None
        self._last_eval: tuple[float, float | None] | None = None
        self._eval_seconds = 0.0
        self._outcome = "finished"
        self._reason: str | None = None
        self._extra: dict[str, Any] = {}
        self._n_params = 0
        self._curve_every = max(self.budget_steps // CURVE_POINTS, 1)
        # The controller's horizon: the budget, or a whole run's for a race's short runs.
        self._horizon = int(horizon or budget_steps)

    def __repr__(self) -> str:
        return f"Trial({self.task!r}, {self.method!r}, seed={self.seed}, budget={self.budget_steps})"

    # ------------------------------------------------------------------ what to train with
    def optimizer(self, params: Any) -> Any:
        """The method's PyTorch optimizer over ``params`` (:func:`lrctl.torch.optimizer`); also
        makes :attr:`scheduler`. Call it once per trial."""
        from . import torch as ltorch  # noqa: PLC0415

        params = list(params)
        self._n_params = int(sum(getattr(p, "numel", lambda: 0)() for p in params))
        self._optimizer = ltorch.optimizer(params, self.config)
        self._scheduler = _TrialScheduler(
            self,
            ltorch.Scheduler(self._optimizer, self.config, total_steps=self._horizon,
                             steps_per_epoch=self.steps_per_epoch),
        )
        return self._optimizer

    @property
    def scheduler(self) -> Any:
        """The method's controller over the optimizer (:class:`lrctl.torch.Scheduler`): call
        ``trial.scheduler.step(loss=..., grad_norm=...)`` after ``backward()`` and before
        ``optimizer.step()``. An evaluation reported with :meth:`report` reaches it by itself."""
        if self._scheduler is None:
            raise RuntimeError("call trial.optimizer(params) first: the scheduler drives it")
        return self._scheduler

    @contextlib.contextmanager
    def evaluating(self, model: Any = None) -> Iterator[None]:
        """Evaluation mode for the block (:func:`lrctl.torch.evaluating`: Schedule-Free
        optimizers evaluate at their averaged point); the time inside counts as evaluation."""
        from . import torch as ltorch  # noqa: PLC0415

        t = time.perf_counter()
        with ltorch.evaluating(self._optimizer, model):
            yield
        self._eval_seconds += time.perf_counter() - t

    # ------------------------------------------------------------------ reporting
    def report(self, step: int, loss: Any, grad_norm: Any = None, eval: Any = None) -> None:
        """Records optimizer step ``step`` (1 after the first step; increasing) with its
        mini-batch ``loss``, optionally its gradient norm and an evaluation: a held-out loss,
        or a dict with ``loss`` and, for ``metric="accuracy"`` tasks, ``accuracy``.

        Ends the training function (raising :class:`TrialStopped`, which lrctl catches) when
        the run diverged — a non-finite loss or gradient norm, or a loss above
        ``DIVERGENCE_FACTOR`` times the first, as lrctl's engine decides — or when ``step``
        goes past the budget (that step is not recorded). A step that does not increase is a
        ``ValueError``.
        """
        step = int(step)
        if step <= self._last_step:
            raise ValueError(
                f"trial.report: step {step} after step {self._last_step}; steps count optimizer "
                "steps done (1 after the first) and must increase"
            )
        if step > self.budget_steps:
            self._extra["past_budget"] = (
                f"the training function went on past its budget of {self.budget_steps} steps "
                f"(reported step {step}); what followed was ignored"
            )
            raise TrialStopped()
        loss = _float(loss)
        gn = math.nan if grad_norm is None else _float(grad_norm)
        self._last_step = step
        self._last_loss = loss
        first = self._first_loss = loss if self._first_loss is None else self._first_loss
        factor = _lrctl.UserStudy.DIVERGENCE_FACTOR
        if not math.isfinite(loss) or (grad_norm is not None and not math.isfinite(gn)):
            self._diverge(f"non-finite {'loss' if not math.isfinite(loss) else 'gradient'} "
                          f"at step {step}")
        if math.isfinite(first) and loss > factor * max(first, 1e-2):
            self._diverge(f"training loss {loss:.4e} at step {step} exceeds {factor:g}× the "
                          f"first loss ({first:.4f})")
        self._interval.append(loss)
        ev = self._eval(eval)
        if ev is not None:
            self._last_eval = ev
            self._pending_eval = ev
        if step % self._curve_every == 0 or step == self.budget_steps or ev is not None:
            self._point(step, gn, ev)
        now = time.perf_counter()
        if now - self._beat[0] >= HEARTBEAT_SECONDS:
            self._beat[0] = now
            self._study.heartbeat(self._cell)

    def _eval(self, eval: Any) -> tuple[float, float | None] | None:
        if eval is None:
            return None
        if isinstance(eval, Mapping):
            if "loss" not in eval:
                raise ValueError("trial.report: an eval dict needs `loss`")
            loss = _float(eval["loss"])
            metric = eval.get(self._metric) if self._metric != "loss" else loss
            return loss, None if metric is None else _float(metric)
        loss = _float(eval)
        return loss, loss if self._metric == "loss" else None

    def _point(self, step: int, grad_norm: float, ev: tuple[float, float | None] | None) -> None:
        lr = effective = math.nan
        if self._optimizer is not None and self._optimizer.param_groups:
            group = self._optimizer.param_groups[0]
            lr = float(self._scheduler.get_last_lr()[0]) if self._scheduler else math.nan
            lr = float(group.get("lr", lr)) if math.isnan(lr) else lr
            # Prodigy and D-Adaptation keep their step-size estimate d in the group.
            effective = lr * float(group["d"]) if "d" in group else lr
        per_epoch = self.steps_per_epoch or self.budget_steps
        self._curve.append({
            "step": step,
            "epoch": step / per_epoch,
            "train_loss": sum(self._interval) / max(len(self._interval), 1),
            "lr": lr,
            "effective_lr": effective,
            "grad_norm": grad_norm,
            "wall_seconds": time.perf_counter() - self._start,
            "eval_loss": None if ev is None else ev[0],
            "eval_metric": None if ev is None else ev[1],
        })
        self._interval = []

    def _diverge(self, reason: str) -> None:
        self._outcome, self._reason = "diverged", reason
        raise TrialStopped()

    def _fail(self, reason: str) -> None:
        self._outcome, self._reason = "failed", reason

    def _result(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if self._interval and self._last_step > 0:
            self._point(self._last_step, math.nan, None)
        if self._outcome == "finished" and self._last_step == 0:
            self._fail("the training function returned without reporting a step: call "
                       "trial.report(step, loss) after every optimizer step (or every few)")
        last_interval = self._curve[-1]["train_loss"] if self._curve else None
        result = {
            "outcome": self._outcome,
            "reason": self._reason,
            "steps": self._last_step,
            "total_steps": self.budget_steps,
            "n_params": self._n_params,
            "final_train_loss": _finite(last_interval),
            "last_batch_loss": _finite(self._last_loss),
            "eval_loss": None if self._last_eval is None else _finite(self._last_eval[0]),
            "eval_metric": None if self._last_eval is None else _finite(self._last_eval[1]),
            "seconds": time.perf_counter() - self._start,
            "eval_seconds": self._eval_seconds,
            "extra": self._extra,
        }
        return result, self._curve


def _mean_train_loss(curve: Sequence[Mapping[str, Any]]) -> float | None:
    """The training loss averaged over the steps the curve covers (each point weighs the steps
    of its interval), as lrctl's tuners' `mean-train-loss` objective takes it."""
    total, prev = 0.0, 0
    for p in curve:
        total += p["train_loss"] * (p["step"] - prev)
        prev = p["step"]
    return total / prev if prev > 0 and math.isfinite(total) else None


def _float(x: Any) -> float:
    item = getattr(x, "item", None)
    return float(item() if callable(item) else x)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _backend() -> str:
    torch = sys.modules.get("torch")
    return f"pytorch {torch.__version__}" if torch is not None else "python"


def run_user(store: str, study: str | None, task: str, fn: Callable[[Trial], Any],
             methods: Sequence[Any], seeds: Sequence[int], budget_steps: int,
             description: Any, metric: str, steps_per_epoch: int | None) -> dict[str, Any]:
    """Trains every cell of ``task`` that has no result (see ``Study.run``)."""
    start = time.perf_counter()
    if description is None:
        description = {"fn": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"}
    desc = json.dumps(description, sort_keys=True, default=str)
    us = _lrctl.UserStudy(store, study or task, task, desc, int(budget_steps), list(methods),
                          [int(s) for s in seeds], steps_per_epoch=steps_per_epoch,
                          metric=metric, backend=_backend())
    report = dict(us.submitted)
    ran = failed = 0
    def train(trial: Trial) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        _seed_everything(trial.seed)
        try:
            fn(trial)
        except TrialStopped:
            pass
        except Exception:  # noqa: BLE001 - the cell fails with the traceback, the study goes on
            trial._fail("the training function raised:\n" + traceback.format_exc())
        return trial._result()

    while (cell := us.claim()) is not None:
        beat = [time.perf_counter()]
        trial = Trial(us, cell, task, budget_steps, steps_per_epoch, metric, beat=beat)
        try:
            if cell.get("tuned") or cell.get("race"):
                # A tuned method: its tuner calls train_fn once per trial, with the trial's
                # configuration and budget, and the cell trains the incumbent. A race: each
                # candidate trains a fraction of the budget, and the cell trains the winner.
                def short_run(config: dict[str, Any], budget: int, seed: int,
                              horizon: int | None = None,
                              cell: Mapping[str, Any] = cell,
                              beat: list[float] = beat) -> dict[str, Any]:
                    t = Trial(us, {**cell, "method_config": config, "seed": seed}, task,
                              budget, steps_per_epoch, metric, horizon=horizon, beat=beat)
                    result, curve = train(t)
                    result["mean_train_loss"] = _mean_train_loss(curve)
                    return result

                try:
                    if cell.get("tuned"):
                        tuned = us.tune(trial._cell, short_run)
                    else:
                        tuned = us.race(trial._cell, trial.seed, short_run)
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # noqa: BLE001
                    what = "tuning" if cell.get("tuned") else "the race"
                    trial._fail(f"{what} failed: {e}")
                    result, curve = trial._result()
                    us.finish(trial._cell, result, curve)
                    ran += 1
                    failed += 1
                    continue
                trial = Trial(us, {**cell, "method_config": tuned}, task, budget_steps,
                              steps_per_epoch, metric, beat=beat)
            result, curve = train(trial)
        except KeyboardInterrupt:
            us.release(trial._cell)
            raise
        us.finish(trial._cell, result, curve)
        ran += 1
        failed += result["outcome"] == "failed"
    report.update(ran=ran, failed=failed, interrupted=False,
                  seconds=time.perf_counter() - start, skipped=[])
    return report
