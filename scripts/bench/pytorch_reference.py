#!/usr/bin/env python3
"""PyTorch reference for `lrctl bench`: the same model, data, batch size, optimizer and dtype.

`lrctl bench` exports a task's training data and model description into a directory
(`meta.json` plus `x.f32`/`y.i64` or `text.u8`) and runs this script once per repetition,
interleaved with its own runs. The script trains `--steps` AdamW steps after `--warmup`
untimed ones and prints one JSON line: per-step milliseconds and memory.

Models mirror `crates/lrctl-tasks/src/models` exactly: the same layers, shapes and PyTorch's
default initialisation (which lrctl's seeded initialiser reproduces), f32, no dropout. The
transformer is pre-LayerNorm with causal softmax attention written out (torch 1.13 has no
fused attention), exact GELU, learned positions and an untied head, like lrctl's `ByteLm`.
`MODELS` maps each family's `kind` (meta.json's `model`) to its builder; a new family adds
its module and one entry there.

Run with Debian's `/usr/bin/python3` (`apt-get install python3-torch`).
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def rss_mb():
    """Current resident set size in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb():
    """Peak resident set size in MiB (VmHWM, which `clear_refs` resets)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Cnn(nn.Module):
    def __init__(self, image, channels, hidden, classes):
        super().__init__()
        c, h, w = image
        self.image = image
        self.conv1 = nn.Conv2d(c, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.fc = nn.Linear(channels[1] * (h // 4) * (w // 4), hidden)
        self.output = nn.Linear(hidden, classes)

    def forward(self, x):
        x = x.view(x.shape[0], *self.image)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        return self.output(F.relu(self.fc(x.flatten(1))))


def mlp(features, hidden, classes):
    layers, d = [], features
    for w in hidden:
        layers += [nn.Linear(d, w), nn.ReLU()]
        d = w
    layers.append(nn.Linear(d, classes))
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x, mask):
        b, t, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).view(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
        scores = scores.masked_fill(mask, float("-inf"))
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(ctx)
        return x + self.out(F.gelu(self.fc(self.norm2(x))))


class ByteLm(nn.Module):
    def __init__(self, d, layers, heads, context):
        super().__init__()
        self.tokens = nn.Embedding(256, d)
        self.positions = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 256)
        mask = torch.triu(torch.ones(context, context, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.tokens(tokens) + self.positions(torch.arange(t))
        for block in self.blocks:
            x = block(x, self.mask[:t, :t])
        return self.head(self.norm(x))


def blas_library():
    """The BLAS shared library this process loaded (Debian switches it with
    update-alternatives: the reference `libblas3` is ~10x slower than OpenBLAS)."""
    torch.ones(8, 8) @ torch.ones(8, 8)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    real = sorted(os.path.realpath(p) for p in libs)
    return ", ".join(real) or "unknown"


class ResBlock(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, hidden)
        self.out = nn.Linear(hidden, d)

    def forward(self, x):
        return x + self.out(F.relu(self.fc(self.norm(x))))


class ResMlp(nn.Module):
    """Pre-norm residual MLP, like lrctl's `ResMlp` (He et al. 2016; Gorishniy et al. 2021
    with LayerNorm for BatchNorm and no dropout)."""

    def __init__(self, features, dim, hidden, blocks, classes):
        super().__init__()
        self.input = nn.Linear(features, dim)
        self.blocks = nn.Sequential(*(ResBlock(dim, hidden) for _ in range(blocks)))
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, classes)

    def forward(self, x):
        return self.output(F.relu(self.norm(self.blocks(self.input(x)))))


# One builder per model family, keyed by its `kind`; each reads the sizes lrctl's family
# writes (`ModelFamily::reference`) plus `features` and `classes` for row data.
MODELS = {
    "linear": lambda m: nn.Linear(m["features"], m["classes"]),
    "mlp": lambda m: mlp(m["features"], m["hidden"], m["classes"]),
    "cnn": lambda m: Cnn(m["image"], m["channels"], m["hidden"], m["classes"]),
    "lm": lambda m: ByteLm(m["d_model"], m["layers"], m["heads"], m["context"]),
    "resmlp": lambda m: ResMlp(m["features"], m["dim"], m["hidden"], m["blocks"], m["classes"]),
}


def build(meta):
    kind = meta["model"]
    if kind not in MODELS:
        raise SystemExit(f"pytorch_reference.py: unknown model kind {kind!r} in meta.json")
    return MODELS[kind](meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="directory written by `lrctl bench`")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    batch = meta["batch"]
    if meta["data"] == "text":
        text = torch.from_numpy(
            np.fromfile(os.path.join(args.data, "text.u8"), dtype=np.uint8).astype(np.int64)
        )
        t = meta["context"]
        n = len(text) - t - 1
        offsets = torch.arange(t)

        def next_batch():
            starts = torch.from_numpy(rng.integers(0, n, size=batch))
            idx = starts[:, None] + offsets
            return text[idx], text[idx + 1].reshape(-1)
    else:
        f = meta["features"]
        x_all = torch.from_numpy(np.fromfile(os.path.join(args.data, "x.f32"), dtype=np.float32))
        x_all = x_all.view(-1, f)
        y_all = torch.from_numpy(np.fromfile(os.path.join(args.data, "y.i64"), dtype=np.int64))
        n = len(y_all)

        def next_batch():
            idx = torch.from_numpy(rng.integers(0, n, size=batch))
            return x_all[idx], y_all[idx]

    # The data is loaded: reset the peak counter so that training's own peak is measured.
    load_peak = peak_rss_mb()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rss_data = rss_mb()
    model = build(meta)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=meta["lr"],
        betas=tuple(meta["betas"]),
        eps=meta["eps"],
        weight_decay=meta["weight_decay"],
    )
    n_params = sum(p.numel() for p in model.parameters())

    def step():
        x, y = next_batch()
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(
        json.dumps(
            {
                "step_ms": times,
                "n_params": n_params,
                "peak_rss_mb": max(load_peak, peak_rss_mb()),
                "train_peak_rss_mb": peak_rss_mb(),
                "rss_before_model_mb": rss_data,
                "version": f"torch {torch.__version__}",
                "threads": torch.get_num_threads(),
                "blas": blas_library(),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
