"""Selection for your own model: :func:`describe` its task as lrctl's meta-features, and
:func:`recommend` a method for it from a study's evidence."""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from . import _lrctl

__all__ = ["describe", "recommend"]


def _family(model: Any) -> str:
    """lrctl's model family of a PyTorch module: ``cnn`` with a convolution, ``lm`` with an
    embedding or attention, ``linear`` for one linear layer, else ``mlp``."""
    kinds = [type(m).__name__ for m in model.modules()]
    if any(k.startswith("Conv") for k in kinds):
        return "cnn"
    if any(k in ("Embedding", "MultiheadAttention", "TransformerEncoderLayer") for k in kinds):
        return "lm"
    return "linear" if kinds.count("Linear") == 1 else "mlp"


def describe(model: Any, loader: Any, budget_steps: int, *, family: str | None = None,
             n_classes: int | None = None) -> dict[str, Any]:
    """The meta-features lrctl describes a task by (``lrctl select``, ``auto``), for your
    PyTorch model and training ``loader`` (a ``DataLoader``, or any iterable of ``(x, y)``
    batches): ``train_rows`` (the loader's dataset size), ``n_features`` (scalars of one input
    example), ``n_classes`` (the model's output width unless given), ``n_params`` (trainable
    scalars), ``batch_size``, ``budget_steps`` and ``family`` (``linear``, ``mlp``, ``cnn`` or
    ``lm``, guessed from the layers unless given).

    Pass it as ``description=`` to ``Study.run(task=..., fn=...)`` so the study knows the task
    (its selectors then learn from it), and to :func:`recommend`. One batch is drawn from the
    loader and the model runs on two of its examples (without gradients) to read its output
    width.
    """
    import torch  # noqa: PLC0415

    n_params = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    dataset = getattr(loader, "dataset", None)
    rows = len(dataset) if dataset is not None and hasattr(dataset, "__len__") else None
    batch = next(iter(loader))
    x = batch[0] if isinstance(batch, (list, tuple)) else batch
    batch_size = getattr(loader, "batch_size", None) or len(x)
    family = family or _family(model)
    n_features = 0 if family == "lm" else int(x[0].numel())
    if n_classes is None:
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(x[:2].to(device))
        model.train(was_training)
        n_classes = int(out.shape[-1])
    return {
        "train_rows": rows,
        "n_features": n_features,
        "n_classes": int(n_classes),
        "n_params": n_params,
        "batch_size": int(batch_size),
        "budget_steps": int(budget_steps),
        "family": family,
    }


def recommend(study: Any, task: str | Mapping[str, Any], *,
              selector: str = "regression") -> dict[str, Any]:
    """A method for a task from a study's evidence, as ``lrctl select --task`` gives it.

    ``study`` is a :class:`lrctl.Study` (or a store path: its most recent study). ``task`` is
    the name of one of the study's tasks — held out of what the selector learns — or a task's
    description (:func:`describe`'s dict). The selector (``regression``, ``pairwise``, ``knn``
    or ``sbs``) is fitted on the study's other tasks' static meta-features and normalised
    scores.

    Returns a dict: ``method``, ``ranking`` (``[(method, predicted normalised score)]``, best
    first), ``nearest`` (the nearest study tasks, with their distance and best method),
    ``study_tasks``, ``min_seeds``, ``little_evidence`` (fewer than 8 tasks or 3 seeds),
    ``loto`` (the selector's leave-one-task-out record on the study), ``runs``, ``bad_runs``,
    ``bad_tasks`` (the method's diverged or failed runs) and ``configuration``.
    """
    store, name = (study.store, study.name) if hasattr(study, "store") else (
        os.fspath(study), None)
    if isinstance(task, str):
        return _lrctl._recommend(store, name, task=task, selector=selector)
    return _lrctl._recommend(store, name, description=json.dumps(dict(task), default=str),
                             selector=selector)
