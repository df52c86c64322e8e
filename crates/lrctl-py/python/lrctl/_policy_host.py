"""The policy host: runs a Python policy for lrctl's ``policy`` controller.

lrctl (the ``lrctl`` binary, or the package's own studies) starts one host per training run::

    $LRCTL_PYTHON -m lrctl._policy_host POLICY

and talks to it in JSON lines over stdin and stdout (protocol version 1):

1. lrctl writes a hello, ``{"protocol": 1, "observation_version": 1, "observation_names":
   [...]}``; the host loads ``POLICY`` and answers ``{"ready": true}`` or ``{"error":
   TRACEBACK}``.
2. For each decision lrctl writes ``{"step": S, "total_steps": T, "observation": [...]}``; the
   host calls the policy with the observation (a float64 numpy array, the layout of
   ``lrctl.OBSERVATION_NAMES``) and answers ``{"action": X}`` (``"nan"``, ``"inf"`` and
   ``"-inf"`` for non-finite actions) or ``{"error": TRACEBACK}`` when the policy raised.
3. lrctl closes stdin when the run ends and the host exits.

``POLICY`` is one of:

* ``module:callable`` — imported by name (the working directory and ``PYTHONPATH`` are searched);
  ``callable`` may be a dotted attribute path, e.g. ``pkg.mod:Agent.act``;
* ``path/to/file.py:callable`` — loaded from that file;
* ``policy.pkl`` / ``policy.pickle`` — a pickled callable (pickle runs code: load only your own
  files);
* ``policy.json`` — ``{"factory": "module:callable", "kwargs": {...}}``: the factory is called
  with the keyword arguments and returns the policy.

Whatever the policy prints goes to stderr (stdout carries only the protocol); lrctl keeps the
end of it for the failure message when the host dies. Ctrl-C is left to lrctl, which stops the
run and closes the host's stdin: the host ignores SIGINT so that an interrupted study puts its
cells back in the queue instead of recording them as failed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import pickle
import signal
import sys
import traceback
from typing import Any, Callable, TextIO

PROTOCOL = 1


def load_callable(spec: str) -> Any:
    """The object ``module:attr`` or ``file.py:attr`` names."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"policy {spec!r}: give 'module:callable', 'path/to/file.py:callable', a .pkl/.pickle "
            "file or a .json file"
        )
    if module_name.endswith(".py") or os.sep in module_name:
        path = os.path.abspath(module_name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"policy {spec!r}: no file {path}")
        name = "lrctl_policy_" + os.path.splitext(os.path.basename(path))[0]
        file_spec = importlib.util.spec_from_file_location(name, path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"policy {spec!r}: cannot load {path} as a module")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[name] = module
        file_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def load(spec: str) -> Callable[[Any], Any]:
    """The policy ``spec`` names (see the module docs)."""
    if spec.endswith((".pkl", ".pickle")):
        with open(spec, "rb") as f:
            obj = pickle.load(f)
    elif spec.endswith(".json"):
        with open(spec, encoding="utf-8") as f:
            conf = json.load(f)
        if not isinstance(conf, dict) or not isinstance(conf.get("factory"), str):
            raise ValueError(
                f"policy file {spec}: expected {{\"factory\": \"module:callable\", "
                f"\"kwargs\": {{...}}}}, got {conf!r}"
            )
        kwargs = conf.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise ValueError(f"policy file {spec}: `kwargs` must be an object, got {kwargs!r}")
        obj = load_callable(conf["factory"])(**kwargs)
    else:
        obj = load_callable(spec)
    if not callable(obj):
        raise TypeError(f"policy {spec!r} is a {type(obj).__name__}, not a callable")
    return obj


def as_action(value: Any) -> float:
    """The policy's answer as one number (a float, a numpy scalar, or an array of one value)."""
    try:
        import numpy as np

        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"the policy returned {value!r} ({type(value).__name__}); expected a number"
        ) from e
    if arr.size != 1:
        raise TypeError(
            f"the policy returned an array of shape {arr.shape}; expected one number"
        )
    return float(arr.reshape(-1)[0])


def encode(x: float) -> float | str:
    """A number for JSON, whose numbers are finite."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def serve(policy_spec: str, inp: TextIO, out: TextIO) -> int:
    """Runs the protocol until ``inp`` ends; the exit status."""

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    hello = json.loads(inp.readline() or "{}")
    if hello.get("protocol") != PROTOCOL:
        send(
            {
                "error": f"this lrctl._policy_host speaks protocol {PROTOCOL}, lrctl sent "
                f"{hello.get('protocol')!r}: install the lrctl package that matches the binary"
            }
        )
        return 2
    from lrctl import OBSERVATION_NAMES, OBSERVATION_VERSION

    if hello.get("observation_version") != OBSERVATION_VERSION:
        send(
            {
                "error": f"observation layout {hello.get('observation_version')!r} from lrctl, "
                f"{OBSERVATION_VERSION} in this Python package ({', '.join(OBSERVATION_NAMES)}): "
                "install the lrctl package that matches the binary"
            }
        )
        return 2
    try:
        policy = load(policy_spec)
    except BaseException:
        send({"error": traceback.format_exc()})
        return 1
    send({"ready": True})
    import numpy as np

    for line in inp:
        request = json.loads(line)
        obs = np.asarray(request["observation"], dtype=np.float64)
        try:
            action = as_action(policy(obs))
        except Exception:
            send({"error": traceback.format_exc()})
            continue
        send({"action": encode(action)})
    return 0


def main(argv: list[str] | None = None) -> int:
    """The host's entry point: ``python -m lrctl._policy_host POLICY``."""
    args = sys.argv[1:] if argv is None else argv
    # The protocol gets its own copy of stdout; file descriptor 1 and sys.stdout then point
    # at stderr, so nothing the policy prints (Python or C) can corrupt the protocol.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if len(args) != 1:
        out.write(json.dumps({"error": "usage: python -m lrctl._policy_host POLICY"}) + "\n")
        out.flush()
        return 2
    return serve(args[0], sys.stdin, out)


if __name__ == "__main__":
    sys.exit(main())
