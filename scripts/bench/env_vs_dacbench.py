#!/usr/bin/env python3
"""Env.step throughput: lrctl.Env against DACBench 0.5.6's SGDEnv, side by side in one run.

    OPENBLAS_NUM_THREADS=1 python scripts/bench/env_vs_dacbench.py [--steps 200] [--rounds 3]

Both environments train the same model on the same data with the same optimizer, one optimizer
step per action, on one thread:

* model: MLP 784-256-256-10 with ReLU (lrctl's ``mlp/mnist``; for SGDEnv the same layers in
  torch, ending in LogSoftmax because SGDEnv's loss is NLLLoss — together cross-entropy);
* data: MNIST from the same IDX files (``$LRCTL_DATA_DIR/mnist``), pixels scaled to [0, 1]
  without normalisation (lrctl's preprocessing; SGDEnv gets ``ToTensor()`` only), 10 % of the
  training file held out for validation, batch 128;
* optimizer: AdamW, betas (0.9, 0.99), eps 1e-8, no weight decay, learning rate 1e-3 (the
  action of every step);
* threads: ``torch.set_num_threads(1)`` and ``OPENBLAS_NUM_THREADS=1``; lrctl ``threads=1``.

What differs is validation, which is most of SGDEnv's cost: SGDEnv evaluates about 10 % of
its validation split (5 batches of 128) after *every* step. lrctl.Env is timed twice: as
shipped (the task's periodic evaluations: 10 over the episode, 2048 examples each) and with the
same per-step work (``validation_examples=640``). Step times exclude each episode's first and
last step (the last one also evaluates the full test set in both).

SGDEnv needs torchvision's MNIST layout: the script decompresses the mirror's IDX files into a
temporary ``MNIST/raw`` directory so that nothing is downloaded.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import lrctl  # noqa: E402

FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def torchvision_root(data_dir: Path) -> Path:
    """A temporary root with MNIST/raw/<IDX files> decompressed from the mirror."""
    root = Path(tempfile.mkdtemp(prefix="lrctl-sgdenv-"))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in FILES:
        with gzip.open(data_dir / "mnist" / f"{f}.gz", "rb") as src, open(raw / f, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def dacbench_env(root: Path, steps: int):
    import torch
    from dacbench.benchmarks import SGDBenchmark
    from dacbench.envs import SGDEnv, SGDInstance
    from torch import nn
    from torchvision import transforms

    torch.set_num_threads(1)

    def mlp():
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
            nn.LogSoftmax(dim=1),
        )

    cfg = SGDBenchmark().config
    cfg["instance_set"] = {
        0: SGDInstance(
            model=mlp,
            optimizer_type="AdamW",
            optimizer_params={"betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.0},
            dataset_path=str(root),
            dataset_name="MNIST",
            batch_size=128,
            fraction_of_dataset=1.0,
            train_validation_ratio=0.9,
            seed=0,
        )
    }
    tt = transforms.ToTensor()
    cfg["dataset_config"] = {"MNIST": {"train_transform": tt, "test_transform": tt}}
    cfg["epoch_mode"] = False
    cfg["cutoff"] = steps
    return SGDEnv(cfg)


def lrctl_env(steps: int, validation_examples: int | None, data_dir: Path):
    return lrctl.Env(
        ["mlp/mnist"],
        "adam-fixed",
        interval=1,
        steps=steps,
        action="absolute",
        lr_bounds=(0.0, 0.05),
        validation_examples=validation_examples,
        threads=1,
        data_dir=data_dir,
    )


def episode(env, seed: int) -> tuple[float, list[float]]:
    """Reset time and the step times of one episode at lr 1e-3."""
    t = time.perf_counter()
    env.reset(seed=seed)
    reset = time.perf_counter() - t
    times = []
    while True:
        t = time.perf_counter()
        _, _, term, trunc, _ = env.step(np.array([1e-3], dtype=np.float32))
        times.append(time.perf_counter() - t)
        if term or trunc:
            break
    return reset, times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200, help="optimizer steps per episode")
    p.add_argument("--rounds", type=int, default=3, help="episodes per environment, interleaved")
    p.add_argument("--data-dir", type=Path, default=os.environ.get("LRCTL_DATA_DIR"))
    args = p.parse_args()
    if args.data_dir is None or not (args.data_dir / "mnist").is_dir():
        p.error("the data mirror (with mnist/) is needed: --data-dir or LRCTL_DATA_DIR")
    warnings.filterwarnings("ignore")
    root = torchvision_root(args.data_dir)
    try:
        envs = {
            "DACBench SGDEnv (validates 640 examples every step)": dacbench_env(root, args.steps),
            "lrctl.Env as shipped (task's periodic validation)": lrctl_env(
                args.steps, None, args.data_dir
            ),
            "lrctl.Env, matched validation (640 examples every step)": lrctl_env(
                args.steps, 640, args.data_dir
            ),
        }
        # Warm-up: data loading and first-touch costs are not what is measured.
        for env in envs.values():
            env.reset(seed=0)
            env.step(np.array([1e-3], dtype=np.float32))
        steps: dict[str, list[float]] = {k: [] for k in envs}
        resets: dict[str, list[float]] = {k: [] for k in envs}
        for r in range(args.rounds):
            for name, env in envs.items():
                reset, times = episode(env, seed=r)
                resets[name].append(reset)
                steps[name].extend(times[1:-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    import torch

    print(
        f"{args.rounds} episodes x {args.steps} steps each, MLP 784-256-256-10 on MNIST, batch "
        f"128, AdamW; one thread; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, lrctl {lrctl.__version__}"
    )
    base = statistics.median(steps[next(iter(envs))])
    print()
    print("| environment | step, median | steps/s | vs SGDEnv | reset, median |")
    print("|---|---|---|---|---|")
    for name in envs:
        med = statistics.median(steps[name])
        print(
            f"| {name} | {med * 1e3:.2f} ms | {1 / med:,.0f} | {base / med:.1f}× | "
            f"{statistics.median(resets[name]) * 1e3:.0f} ms |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
