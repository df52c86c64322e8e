"""Exceptions of lrctl beyond Python's built-in ones."""

from __future__ import annotations

__all__ = ["UnknownNameError"]


class UnknownNameError(KeyError):
    """An unknown task, method, suite or study name.

    A ``KeyError`` (so ``except KeyError`` catches it) whose message reads as lrctl wrote it,
    with the closest known names, instead of ``KeyError``'s quoted repr.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
