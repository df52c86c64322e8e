"""How lrctl's optimizers are built in PyTorch: ``torch.optim`` for SGD / Adam / AdamW, the
authors' packages for the hyperparameter-free ones, configured as lrctl's agreement fixtures
(``scripts/fixtures/``) ran them.

Pure Python over torch and those packages, with no import of lrctl's compiled module, so that a
plain script can load this file by path (``scripts/bench/pytorch_study.py`` does) without the
package being built; :func:`lrctl.torch.optimizer` is the public entry point.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

#: The package (pip name and the version lrctl's fixtures ran) behind each optimizer kind that
#: ``torch.optim`` lacks: install it with ``pip install --no-deps NAME==VERSION`` (without
#: ``--no-deps`` pip may replace your torch).
OPTIMIZER_PACKAGES: dict[str, tuple[str, str, str]] = {
    # kind: (import name, pip name, version)
    "prodigy": ("prodigyopt", "prodigyopt", "1.1.2"),
    "dadapt-adam": ("dadaptation", "dadaptation", "3.2"),
    "dadapt-sgd": ("dadaptation", "dadaptation", "3.2"),
    "cocob": ("parameterfree", "parameterfree", "0.0.1"),
    "dog": ("dog", "dog-optimizer", "1.0.3"),
    "ldog": ("dog", "dog-optimizer", "1.0.3"),
    "dowg": ("dowg", "dowg", "0.3.1"),
    "mechanic": ("mechanic_pytorch", "mechanic-pytorch", "0.0.1"),
    "schedulefree-sgd": ("schedulefree", "schedulefree", "1.4.1"),
    "schedulefree-adamw": ("schedulefree", "schedulefree", "1.4.1"),
    "schedulefree-radam": ("schedulefree", "schedulefree", "1.4.1"),
    "schedulefree-wrapper": ("schedulefree", "schedulefree", "1.4.1"),
    "prodigy-sf": ("prodigyplus", "prodigy-plus-schedule-free", "2.0.1"),
    "adamg": ("pytorch_optimizer", "pytorch-optimizer", "4.1.0"),
    "kate": ("pytorch_optimizer", "pytorch-optimizer", "4.1.0"),
    "momo": ("momo", "momo-opt", "0.1.0"),
    "momo-adam": ("momo", "momo-opt", "0.1.0"),
}

def _import(kind: str, method: str) -> Any:
    module, pip, version = OPTIMIZER_PACKAGES[kind]
    import importlib  # noqa: PLC0415

    if module == "pytorch_optimizer" and _torch_major() < 2:
        _shim_pytorch_optimizer_imports()
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name != module:  # installed, but something it imports failed: that error
            raise
        raise ModuleNotFoundError(
            f"method `{method}` uses the `{kind}` optimizer, whose PyTorch implementation is the "
            f"authors' package `{pip}`, which is not installed: "
            f"pip install --no-deps {pip}=={version}",
            name=module,
        ) from e


def _torch_major() -> int:
    import torch  # noqa: PLC0415

    return int(torch.__version__.split(".")[0])


def _shim_pytorch_optimizer_imports() -> None:
    """Lets pytorch-optimizer 4.x import on torch 1.x, as lrctl's fixture script does
    (``scripts/fixtures/gen_optimizers_post_paper.py``): its package ``__init__`` imports
    ``torch.optim.lr_scheduler.LRScheduler`` (torch 1.x: ``_LRScheduler``) and
    ``torch.utils._foreach_utils`` (absent; stubbed, used only by the batched ``foreach``
    paths, which lrctl turns off on torch < 2). Nothing of the optimizers' code is changed."""
    import sys  # noqa: PLC0415
    import types  # noqa: PLC0415

    import torch.optim.lr_scheduler as sched  # noqa: PLC0415

    if not hasattr(sched, "LRScheduler"):
        sched.LRScheduler = sched._LRScheduler
    try:
        import torch.utils._foreach_utils  # noqa: F401, PLC0415
    except ModuleNotFoundError:
        stub = types.ModuleType("torch.utils._foreach_utils")

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("pytorch-optimizer's batched foreach path needs torch >= 2")

        stub.__dict__.update(
            _group_tensors_by_device_and_dtype=unavailable,
            _get_foreach_kernels_supported_devices=lambda: ["cuda"],
            _has_foreach_support=lambda *args, **kwargs: False,
        )
        sys.modules["torch.utils._foreach_utils"] = stub


def _torch_kwargs(cfg: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    out = {}
    for n in names:
        if n in cfg and cfg[n] is not None:
            out[n] = tuple(cfg[n]) if n == "betas" else cfg[n]
    return out


def build(params: Any, cfg: dict[str, Any], lr: float, method: str) -> Any:
    """The PyTorch optimizer of one ``[optimizer]`` table (resolved: every field present, as
    lrctl serialises a method's ``optimizer``) at initial rate ``lr``; ``method`` names it in
    errors. Some packages print while constructing: redirect stdout around the call."""
    import torch  # noqa: PLC0415

    kind = cfg["kind"]
    if kind == "sgd":
        kw = _torch_kwargs(cfg, ["momentum", "dampening", "nesterov", "weight_decay"])
        return torch.optim.SGD(params, lr=lr, **kw)
    if kind in ("adam", "adamw"):
        kw = _torch_kwargs(cfg, ["betas", "eps", "weight_decay", "amsgrad"])
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, **kw)
    growth = {"growth_rate": cfg.get("growth_rate") or math.inf}
    if kind == "prodigy":
        m = _import(kind, method)
        kw = _torch_kwargs(cfg, ["betas", "beta3", "eps", "weight_decay", "decouple",
                                 "safeguard_warmup", "d0", "d_coef"])
        return m.Prodigy(params, lr=lr, use_bias_correction=cfg.get("bias_correction", False),
                         **kw, **growth)
    if kind == "dadapt-adam":
        m = _import(kind, method)
        kw = _torch_kwargs(cfg, ["betas", "eps", "weight_decay", "decouple", "d0"])
        return m.DAdaptAdam(params, lr=lr, use_bias_correction=cfg.get("bias_correction", False),
                            **kw, **growth)
    if kind == "dadapt-sgd":
        m = _import(kind, method)
        kw = _torch_kwargs(cfg, ["momentum", "weight_decay", "d0"])
        return m.DAdaptSGD(params, lr=lr, **kw, **growth)
    if kind == "cocob":
        # COCOB-Backprop has no learning rate: lrctl's multiplier (1.0 in its methods) is unused.
        m = _import(kind, method)
        return m.COCOB(params, **_torch_kwargs(cfg, ["alpha", "eps", "weight_decay"]))
    if kind in ("dog", "ldog"):
        m = _import(kind, method)
        kw = _torch_kwargs(cfg, ["eps", "weight_decay", "init_eta"])
        cls = m.DoG if kind == "dog" else m.LDoG
        return cls(params, lr=lr, reps_rel=cfg.get("r_eps", 1e-6), **kw)
    if kind == "dowg":
        m = _import(kind, method)
        # ScalarDoWG(eps=E) starts its squared distance at 1 - E and adds the same 1 - E to
        # sqrt(v) in its denominator; lrctl's fixture maps r_eps^2 = 1 - E (lrctl's own `eps`,
        # 0 in its method, is then ~1e-16). Its step() does nothing without a closure.
        r_eps = float(cfg.get("r_eps", 1e-8))
        opt = m.ScalarDoWG(params, eps=1.0 - r_eps**2, clip=cfg.get("clip") or math.inf)
        _closure_optional(opt)
        return opt
    if kind == "mechanic":
        m = _import(kind, method)
        base = dict(cfg["base"])
        base_kind = base["kind"]
        classes = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
        if base_kind not in classes:
            raise ValueError(f"method `{method}`: mechanic over `{base_kind}` is not built here")
        names = ["momentum", "dampening", "nesterov"] if base_kind == "sgd" else [
            "betas", "eps", "amsgrad"]
        kw = _torch_kwargs(base, names + ["weight_decay"])
        mk = _torch_kwargs(cfg, ["s_decay", "betas", "s_init", "eps", "store_delta"])
        if "betas" in mk:
            mk["betas"] = tuple(mk["betas"])
        return m.mechanize(classes[base_kind], **mk)(params, lr=lr, **kw)
    if kind in ("adamg", "kate"):
        po = _import(kind, method)
        # The per-tensor loop (foreach=False) is what lrctl's fixtures ran; torch < 2 has only
        # that one (see _shim_pytorch_optimizer_imports), torch >= 2 lets the package choose.
        foreach = None if _torch_major() >= 2 else False
        names = ["weight_decay", "weight_decouple", "fixed_decay", "eps"]
        if kind == "adamg":
            return po.AdamG(params, lr=lr, foreach=foreach,
                            **_torch_kwargs(cfg, ["betas", "p", "q"] + names))
        return po.Kate(params, lr=lr, foreach=foreach, **_torch_kwargs(cfg, ["delta"] + names))
    if kind in ("momo", "momo-adam"):
        m = _import(kind, method)
        common = ["weight_decay", "lb", "use_fstar"]
        if kind == "momo":
            opt = m.Momo(params, lr=lr, **_torch_kwargs(cfg, ["beta", "bias_correction"] + common))
        else:
            kw = _torch_kwargs(cfg, ["betas", "eps", "divide"] + common)
            opt = m.MomoAdam(params, lr=lr, **kw)
        _loss_optional(opt, method)
        return opt
    if kind == "prodigy-sf":
        m = _import(kind, method)
        kw = _torch_kwargs(cfg, ["betas", "beta3", "weight_decay", "weight_decay_by_lr", "d0",
                                 "d_coef", "d_limiter", "prodigy_steps", "schedulefree_c", "eps",
                                 "split_groups", "split_groups_mean", "factored"])
        # lrctl's names for the package's switches; Adam-atan2 is the package's eps = None.
        for ours, theirs in [("bias_correction", "use_bias_correction"),
                             ("stableadamw", "use_stableadamw"), ("cautious", "use_cautious"),
                             ("grams", "use_grams"), ("adopt", "use_adopt")]:
            kw.update({theirs: v for v in _torch_kwargs(cfg, [ours]).values()})
        if cfg.get("adam_atan2"):
            kw["eps"] = None
        params = list(params)
        if cfg.get("split_groups") and not any(isinstance(p, dict) for p in params):
            # lrctl's split_groups: each tensor its own group with its own d (as the fixture).
            params = [{"params": [p]} for p in params]
        opt = m.ProdigyPlusScheduleFree(params, lr=lr, **kw)
        opt.log = lambda message: None  # it prints from step() too
        return opt
    if kind.startswith("schedulefree"):
        sf = _import(kind, method)
        # The fast classes need torch._foreach_lerp_ (torch >= 2); the reference classes are the
        # ones lrctl's fixtures ran on torch 1.13.
        fast = hasattr(torch, "_foreach_lerp_")
        if kind == "schedulefree-sgd":
            cls = sf.SGDScheduleFree if fast else sf.SGDScheduleFreeReference
            kw = _torch_kwargs(cfg, ["momentum", "weight_decay", "warmup_steps", "r",
                                     "weight_lr_power"])
            opt = cls(params, lr=lr, **kw)
        elif kind == "schedulefree-adamw":
            cls = sf.AdamWScheduleFree if fast else sf.AdamWScheduleFreeReference
            kw = _torch_kwargs(cfg, ["betas", "eps", "weight_decay", "warmup_steps", "r",
                                     "weight_lr_power"])
            if not fast:
                kw.update(_torch_kwargs(cfg, ["decay_at_z"]))
            opt = cls(params, lr=lr, **kw)
        elif kind == "schedulefree-radam":
            kw = _torch_kwargs(cfg, ["betas", "eps", "weight_decay", "r", "weight_lr_power",
                                     "silent_sgd_phase"])
            opt = sf.RAdamScheduleFree(params, lr=lr, foreach=fast, **kw)
        else:  # schedulefree-wrapper
            base = build(params, cfg["base"], lr, method)
            if hasattr(base, "_lrctl_loss"):
                # The wrapper calls base.step() bare; lrctl's engine hands the base the loss.
                raise ValueError(f"method `{method}`: the Schedule-Free wrapper over "
                                 f"`{cfg['base']['kind']}` is not built here")
            if isinstance(base, torch.optim.AdamW) and not fast:
                _prime_adamw(base)
            kw = _torch_kwargs(cfg, ["momentum", "weight_decay_at_y", "r", "weight_lr_power"])
            opt = sf.ScheduleFreeWrapperReference(base, **kw)
        opt.train()
        return opt
    raise ValueError(f"method `{method}`: no PyTorch optimizer for lrctl's `{kind}`")


def _prime_adamw(base: Any) -> None:
    # torch 1.13's AdamW creates its state only while a parameter's state dict is empty, and the
    # Schedule-Free wrapper keeps z, x and y in that same dict: create AdamW's initial state
    # (step 0, zero moments) as its own first step would (as lrctl's fixture does).
    import torch  # noqa: PLC0415

    for group in base.param_groups:
        for p in group["params"]:
            base.state[p]["step"] = torch.tensor(0.0)
            base.state[p]["exp_avg"] = torch.zeros_like(p)
            base.state[p]["exp_avg_sq"] = torch.zeros_like(p)


def _closure_optional(opt: Any) -> None:
    step = opt.step

    def step_with_closure(closure: Callable[[], Any] | None = None) -> Any:
        return step(closure if closure is not None else (lambda: None))

    opt.step = step_with_closure


def _loss_optional(opt: Any, method: str) -> None:
    """MoMo's step needs the mini-batch loss (``step(loss=...)`` or ``step(closure)``): without
    either it takes the loss given to :meth:`Scheduler.step` since the previous step."""
    import torch  # noqa: PLC0415

    step = opt.step
    opt._lrctl_loss = None  # set by Scheduler.step, used by the next step only

    def step_with_loss(closure: Callable[[], Any] | None = None, loss: Any = None) -> Any:
        pending, opt._lrctl_loss = opt._lrctl_loss, None
        if closure is None and loss is None:
            if pending is None:
                raise ValueError(
                    f"method `{method}`: {type(opt).__name__}'s step needs this step's loss: "
                    "optimizer.step(loss=loss), or lrctl.torch.Scheduler.step(loss=loss) before "
                    "optimizer.step()"
                )
            loss = pending
        if loss is not None and not torch.is_tensor(loss):
            loss = torch.tensor(float(loss))
        return step(closure=closure, loss=loss)

    opt.step = step_with_loss
