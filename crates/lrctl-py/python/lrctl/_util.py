"""Helpers shared by the package's modules (not public)."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

#: The environment variable naming the interpreter that runs Python policies in studies.
PYTHON_ENV = "LRCTL_PYTHON"


def ensure_policy_python() -> None:
    """Makes policy hosts run in this interpreter unless ``LRCTL_PYTHON`` says otherwise.

    A ``policy`` method runs its callable in a child process, ``$LRCTL_PYTHON -m
    lrctl._policy_host`` (``python3`` when unset). Training driven from Python should use the
    interpreter — and so the virtual environment and packages — it is driven from.
    """
    if not os.environ.get(PYTHON_ENV):
        os.environ[PYTHON_ENV] = sys.executable


def plain(x: Any) -> Any:
    """``x`` with numpy scalars and arrays, tuples and paths made plain Python values (what a
    method dict may hold before it becomes TOML)."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    return x


def method_arg(method: Any) -> Any:
    """A method as the native module takes it: a ``str`` (name or path) or a plain dict."""
    if isinstance(method, os.PathLike):
        return os.fspath(method)
    if isinstance(method, dict):
        return plain(method)
    return method


def columns_to_arrays(columns: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    """Columns of plain values as numpy arrays: numbers as ``int64``/``float64`` (``None`` as
    NaN), everything else as ``object``."""
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            out[name] = np.array(values, dtype=object)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in present) and len(
            present
        ) == len(values):
            out[name] = np.array(values, dtype=np.int64)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            out[name] = np.array(
                [np.nan if v is None else float(v) for v in values], dtype=np.float64
            )
        else:
            out[name] = np.array(values, dtype=object)
    return out
