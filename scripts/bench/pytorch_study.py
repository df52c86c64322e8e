#!/usr/bin/env python3
"""PyTorch side of `lrctl bench --study`: every training run of an lrctl study, in a plain loop.

`lrctl bench --study` runs a study's cells of one task with lrctl, then writes into a directory
the task's three splits exactly as lrctl trains and evaluates on them (`train.x.f32`,
`train.y.i64`, `validation.*`, `test.*`) and `plan.json`: the model (as
`pytorch_reference.py`'s `MODELS` builds it), batch size, evaluation cadence, and `runs`, every
run lrctl trained in its order — each tuning trial (the tuner's configuration applied to the
method, its budget) and each cell's final run —, with the optimizer table, the steps lrctl
trained, the horizon, and the learning rate of every step (one number, or a file of `f64`
computed by lrctl's own controller, so schedules are not re-implemented here). The tuner's
decisions are lrctl's: only training speed is compared.

Each run, like a user's loop: seeds torch, builds the model (PyTorch's default
initialisation) and the optimizer (`crates/lrctl-py/python/lrctl/_torch_optim.py`, the
code behind `lrctl.torch.optimizer`: `torch.optim` for AdamW, the authors' packages for
Prodigy, D-Adaptation, COCOB, DoWG, …), trains the planned steps on shuffled mini-batches (a
new permutation every epoch, the last partial batch kept, as lrctl's engine), sets each step's
learning rate, reads each step's loss (`loss.item()`), evaluates on the validation split at the
task's evaluation points, and at the end of a finished run on the training, validation and test
splits (the row caps of lrctl's engine). It prints one JSON line: per run the steps trained and
the seconds taken. Single-threaded (`torch.set_num_threads(1)`), as lrctl's cells.

Run with a Python that sees torch and the authors' packages (Debian's `python3-torch`; the
packages as `.ci/run` installs them).
"""

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from pytorch_reference import blas_library, build

# lrctl's engine: the final evaluation on the training split covers at most this many rows
# (and at most four times the task's periodic cap).
FINAL_TRAIN_EVAL_ROWS = 16_384

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIM = os.path.join(ROOT, "crates", "lrctl-py", "python", "lrctl", "_torch_optim.py")


def load_optimizers():
    """`_torch_optim.py` by path: the package's optimizer construction without building it."""
    spec = importlib.util.spec_from_file_location("lrctl_torch_optim", OPTIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def split(data, name, features):
    x = np.fromfile(os.path.join(data, f"{name}.x.f32"), dtype=np.float32)
    y = np.fromfile(os.path.join(data, f"{name}.y.i64"), dtype=np.int64)
    return torch.from_numpy(x).view(-1, features), torch.from_numpy(y)


def evaluate(model, opt, x, y, limit):
    """Mean cross-entropy and accuracy over the first `limit` rows, at the optimizer's
    evaluation point (Schedule-Free's averaged weights)."""
    n = min(limit, len(y))
    if n == 0:
        return None
    switch = callable(getattr(opt, "eval", None)) and callable(getattr(opt, "train", None))
    if switch:
        opt.eval()
    with torch.no_grad():
        logits = model(x[:n])
        loss = F.cross_entropy(logits, y[:n]).item()
        acc = (logits.argmax(1) == y[:n]).double().mean().item()
    if switch:
        opt.train()
    return loss, acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="directory written by `lrctl bench --study`")
    args = ap.parse_args()
    torch.set_num_threads(1)
    optim = load_optimizers()
    with open(os.path.join(args.data, "plan.json")) as f:
        plan = json.load(f)
    features = plan["features"]
    train_x, train_y = split(args.data, "train", features)
    val_x, val_y = split(args.data, "validation", features)
    test_x, test_y = split(args.data, "test", features)
    n = len(train_y)
    batch = max(1, min(plan["batch"], n))
    evals = plan["evals"]
    periodic = plan["eval_max_examples"]
    train_limit = min(FINAL_TRAIN_EVAL_ROWS, 4 * max(periodic, 1))

    results = []
    for i, run in enumerate(plan["runs"]):
        start = time.perf_counter()
        torch.manual_seed(run["seed"])
        rng = np.random.default_rng([run["seed"], i])
        model = build(plan)
        with contextlib.redirect_stdout(io.StringIO()):
            opt = optim.build(model.parameters(), run["optimizer"], run["lr"], run["method"])
        lrs = None
        if run["lr_file"]:
            lrs = np.fromfile(os.path.join(args.data, run["lr_file"]), dtype=np.float64).tolist()
        horizon = run["horizon"]
        eval_steps = {math.ceil(k * horizon / evals) for k in range(1, evals + 1)}
        takes_loss = hasattr(opt, "_lrctl_loss")  # MoMo's step needs the batch loss
        order = torch.from_numpy(rng.permutation(n))
        cursor = 0
        losses = 0.0
        for step in range(run["steps"]):
            if cursor >= n:
                order = torch.from_numpy(rng.permutation(n))
                cursor = 0
            idx = order[cursor : cursor + batch]
            cursor += batch
            if lrs is not None:
                for group in opt.param_groups:
                    group["lr"] = lrs[step]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
            loss.backward()
            if takes_loss:
                opt.step(loss=loss)
            else:
                opt.step()
            losses += loss.item()
            if step + 1 in eval_steps:
                evaluate(model, opt, val_x, val_y, periodic)
        if run["steps"] == horizon and math.isfinite(losses):
            evaluate(model, opt, train_x, train_y, train_limit)
            evaluate(model, opt, val_x, val_y, len(val_y))
            evaluate(model, opt, test_x, test_y, len(test_y))
        results.append((run["steps"], time.perf_counter() - start))

    print(
        json.dumps(
            {
                "runs": results,
                "version": f"torch {torch.__version__}",
                "threads": torch.get_num_threads(),
                "blas": blas_library(),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
