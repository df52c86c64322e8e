"""Shared fixtures: the repository, the `lrctl` binary, a module of policies."""

from __future__ import annotations

import os
import pathlib
import shutil
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def lrctl_bin() -> str:
    """The `lrctl` binary: $LRCTL_BIN, else the workspace's target/{debug,release}/lrctl.

    Missing, the tests that run it skip — unless LRCTL_REQUIRE_CLI=1 (CI), where they fail.
    """
    candidates = [os.environ.get("LRCTL_BIN")] + [
        str(ROOT / "target" / p / "lrctl") for p in ("debug", "release")
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    found = shutil.which("lrctl")
    if found:
        return found
    if os.environ.get("LRCTL_REQUIRE_CLI") == "1":
        pytest.fail("the lrctl binary was not found (set LRCTL_BIN or cargo build)")
    pytest.skip("the lrctl binary was not found (set LRCTL_BIN or cargo build)")


POLICIES = textwrap.dedent(
    '''
    """Policies for the tests: each maps the observation vector to an action."""
    import time

    import numpy as np

    PROGRESS = 0


    def decay(obs):
        """A log-multiplier from x10 at the start down to x0.1 at the end."""
        return 1.0 - 2.0 * float(obs[PROGRESS])


    def constant(obs):
        return np.float32(0.0)


    def slow(obs):
        """Slow enough to kill a study half-way."""
        time.sleep(0.004)
        return 0.0


    def raises(obs):
        if obs[PROGRESS] > 0.3:
            raise ZeroDivisionError("policy blew up")
        return 0.0


    def nan(obs):
        return float("nan")


    def wrong_type(obs):
        return "fast"


    def chatty(obs):
        print("the policy prints", obs[PROGRESS])
        return 0.0


    class Scaled:
        """A stateful, picklable policy."""

        def __init__(self, factor=0.5):
            self.factor = factor
            self.calls = 0

        def __call__(self, obs):
            self.calls += 1
            return self.factor


    def make_scaled(factor):
        return Scaled(factor)
    '''
)


@pytest.fixture
def policies(tmp_path, monkeypatch) -> pathlib.Path:
    """A module `testpolicies` importable by policy hosts (the working directory is tmp_path)."""
    (tmp_path / "testpolicies.py").write_text(POLICIES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def policy_method(name: str, policy: str, interval: int = 5, **extra) -> dict:
    """A method dict whose controller runs `policy` on AdamW at a constant 1e-2."""
    controller = {
        "kind": "policy",
        "policy": policy,
        "interval": interval,
        "base": {"kind": "constant", "lr": 1e-2},
    }
    controller.update(extra)
    return {
        "name": name,
        "paradigm": "online",
        "optimizer": {"kind": "adamw"},
        "controller": controller,
    }
