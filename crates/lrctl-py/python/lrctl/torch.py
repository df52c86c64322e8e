"""lrctl's learning-rate controllers in your own PyTorch training loop.

:class:`Scheduler` drives a ``torch.optim`` optimizer's learning rate with any lrctl controller
— a schedule (cosine, warm restarts, warmup-stable-decay, …) or an online one
(reduce-on-plateau, hypergradient descent, SPS, learned policies) — given as a method (name,
``.toml`` path or dict: its controller is used) or as a controller table (a dict with
``kind``)::

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = lrctl.torch.Scheduler(opt, "cawr-default", total_steps=len(loader) * epochs,
                                  steps_per_epoch=len(loader))
    for x, y in loader:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        sched.step(loss=loss.item(), grad_norm=lrctl.torch.grad_norm(model.parameters()))
        opt.step()

Call :meth:`Scheduler.step` once per optimizer step, after ``backward()`` and before
``optimizer.step()``: lrctl's controllers choose the rate of a step from that step's loss and
gradient (what lrctl's engine hands them), so the rate it sets is the one the coming
``optimizer.step()`` uses. Give the observations the controller reads
(:attr:`Scheduler.signals`); a missing one is a ``ValueError`` naming it. Given the same
observations, the rates are exactly those of lrctl's own engine.

:func:`optimizer` builds the PyTorch optimizer an lrctl method names, with the method's
settings: ``torch.optim`` for SGD / Adam / AdamW, the authors' packages for the
hyperparameter-free ones (the packages and classes lrctl's agreement fixtures were generated
with, ``scripts/fixtures/``). Schedule-Free optimizers evaluate at their averaged point: wrap
evaluations in :func:`evaluating`. MoMo's step needs the mini-batch loss: the one given to
:meth:`Scheduler.step` before it, or ``optimizer.step(loss=loss)``.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Iterable, Iterator

from . import _lrctl
from ._torch_optim import OPTIMIZER_PACKAGES
from ._torch_optim import build as _build
from ._util import method_arg

__all__ = ["OPTIMIZER_PACKAGES", "Scheduler", "evaluating", "grad_norm", "optimizer"]


def optimizer(params: Iterable[Any], method: Any, *, lr: float | None = None) -> Any:
    """The PyTorch optimizer of an lrctl method (name, ``.toml`` path or dict), with its
    settings.

    ``torch.optim.SGD`` / ``Adam`` / ``AdamW`` for lrctl's ``sgd`` / ``adam`` / ``adamw``; the
    authors' packages for the hyperparameter-free optimizers (:data:`OPTIMIZER_PACKAGES`:
    Prodigy, D-Adaptation, COCOB, DoG / L-DoG, DoWG, Mechanic, Schedule-Free, Prodigy +
    Schedule-Free, AdamG, KATE, MoMo / MoMo-Adam), configured as in lrctl's agreement fixtures.
    A missing package raises ``ModuleNotFoundError`` with the pip line. MoMo's ``step()`` takes
    the loss given to :meth:`Scheduler.step` since the previous step, or ``step(loss=loss)``.
    ``lr`` is the initial rate (default: the method's controller's ``lr``, 1.0 for the
    hyperparameter-free methods); a :class:`Scheduler` over the same method sets it every step.

    Schedule-Free optimizers (Prodigy + Schedule-Free too) come in training mode; evaluate
    inside :func:`evaluating`.
    """
    cfg = _lrctl._method_config(method_arg(method))
    name = cfg.get("name", "method")
    if lr is None:
        lr = float(cfg.get("controller", {}).get("lr", 1.0))
    # Some packages print at construction and at mode switches (D-Adaptation's "Using decoupled
    # weight decay", Schedule-Free's reference classes): libraries print nothing here.
    with contextlib.redirect_stdout(io.StringIO()):
        return _build(params, cfg["optimizer"], lr, name)


@contextlib.contextmanager
def evaluating(optimizer: Any, model: Any = None) -> Iterator[None]:
    """Evaluation mode for the block: ``model.eval()`` and, for a Schedule-Free optimizer, its
    parameters at the averaged point (``optimizer.eval()``), where lrctl evaluates too; training
    mode is restored afterwards. Other optimizers are left alone."""
    switch = callable(getattr(optimizer, "eval", None)) and callable(
        getattr(optimizer, "train", None)
    )
    was_training = getattr(model, "training", None)
    if model is not None:
        model.eval()
    if switch:
        with contextlib.redirect_stdout(io.StringIO()):
            optimizer.eval()
    try:
        yield
    finally:
        if switch:
            with contextlib.redirect_stdout(io.StringIO()):
                optimizer.train()
        if model is not None and was_training:
            model.train()


def grad_norm(parameters: Iterable[Any]) -> float:
    """The global L2 norm of the parameters' gradients (those that have one), as lrctl's
    engine computes it for its controllers."""
    import torch  # noqa: PLC0415 (torch is optional for the rest of the package)

    grads = [p.grad.detach() for p in parameters if getattr(p, "grad", None) is not None]
    if not grads:
        return 0.0
    return float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))


class Scheduler:
    """An lrctl controller setting a PyTorch optimizer's learning rate, step by step.

    ``method`` is a method (name, path to a ``.toml`` file, or dict of a method file's
    fields) whose controller is used, or a controller table (a dict with ``kind``).
    ``total_steps`` is the run's length in optimizer steps (schedules need it);
    ``steps_per_epoch`` the steps of one pass over the training data (epoch-based schedules and
    the plateau detector's default window; the whole run when None).

    Every parameter group's ``lr`` is set to the controller's rate, times the group's
    ``lr_scale`` when it has one. For hyperparameter-free optimizers (Prodigy, D-Adaptation,
    …) lrctl's rate is their multiplier, usually 1.0 times a schedule, as in lrctl's methods.
    """

    def __init__(
        self,
        optimizer: Any,
        method: Any,
        total_steps: int,
        steps_per_epoch: int | None = None,
    ) -> None:
        self.optimizer = optimizer
        self._controller = _lrctl.Controller(method_arg(method), total_steps, steps_per_epoch)
        self._last_lr: list[float] = [float(g.get("lr", 1.0)) for g in optimizer.param_groups]

    @property
    def signals(self) -> list[str]:
        """The observations the controller reads: keyword names of :meth:`step`
        (``loss``, ``grad_norm``, ``dot_prev_direction``, ``eval_loss``, ``eval_metric``)."""
        return list(self._controller.signals)

    @property
    def kind(self) -> str:
        """The controller's kind, e.g. ``cosine-warm-restarts``."""
        return self._controller.kind

    @property
    def steps(self) -> int:
        """Steps taken so far."""
        return self._controller.steps

    def step(
        self,
        loss: float | None = None,
        grad_norm: float | None = None,
        *,
        dot_prev_direction: float | None = None,
        cos_prev: float | None = None,
        prev_update_norm: float | None = None,
        param_norm: float | None = None,
        eval_loss: float | None = None,
        eval_metric: float | None = None,
    ) -> float:
        """Chooses the rate of the coming optimizer step and sets it; returns it.

        ``eval_loss`` / ``eval_metric``: the result of an evaluation that ran since the previous
        step (give it once, at the step after it ran). A value the controller reads every step
        (:attr:`signals`) must be given: ``ValueError`` names what is missing. ``loss`` also
        reaches a MoMo optimizer's coming ``step()``.
        """
        lr = self._controller.step(
            loss=_scalar(loss),
            grad_norm=_scalar(grad_norm),
            dot_prev_direction=_scalar(dot_prev_direction),
            cos_prev=_scalar(cos_prev),
            prev_update_norm=_scalar(prev_update_norm),
            param_norm=_scalar(param_norm),
            eval_loss=_scalar(eval_loss),
            eval_metric=_scalar(eval_metric),
        )
        if loss is not None and hasattr(self.optimizer, "_lrctl_loss"):
            self.optimizer._lrctl_loss = loss  # MoMo's step reads it (_loss_optional)
        self._last_lr = []
        for group in self.optimizer.param_groups:
            group["lr"] = lr * float(group.get("lr_scale", 1.0))
            self._last_lr.append(group["lr"])
        return lr

    def get_last_lr(self) -> list[float]:
        """The rate of each parameter group set by the last :meth:`step` (the optimizer's
        initial rates before the first), like ``torch.optim.lr_scheduler``'s."""
        return list(self._last_lr)


def _scalar(x: Any) -> float | None:
    """A float from a Python number, a numpy scalar or a one-element tensor (``.item()``)."""
    if x is None:
        return None
    item = getattr(x, "item", None)
    return float(item() if callable(item) else x)
