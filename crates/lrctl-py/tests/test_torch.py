"""lrctl.torch.Scheduler: lrctl's controllers in a user's own PyTorch loop."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import lrctl
import lrctl.torch as ltorch


class _Opt:
    """Just what a scheduler touches of a torch optimizer (for the tests without torch)."""

    def __init__(self, groups: int = 1) -> None:
        self.param_groups = [{"lr": 0.5} for _ in range(groups)]


@pytest.mark.parametrize("method", ["adamw-cosine", "cawr-default", "adamw-wsd"])
def test_a_schedule_gives_the_rates_of_lrctls_own_run(method):
    steps = 240
    run = lrctl.train("logreg/iris", method, seed=0, steps=steps)
    per_epoch = int(round(run.curve["step"][-1] / run.curve["epoch"][-1]))
    sched = ltorch.Scheduler(_Opt(), method, total_steps=steps, steps_per_epoch=per_epoch)
    assert sched.signals == []
    lrs = [sched.step() for _ in range(steps)]
    # A curve point at step s records the rate chosen for the step before it.
    for s, lr in zip(run.curve["step"], run.curve["lr"]):
        assert lrs[int(s) - 1] == lr, (s, lrs[int(s) - 1], lr)


def test_online_controllers_say_what_they_read_and_what_is_missing():
    sps = ltorch.Scheduler(_Opt(), "sps", total_steps=100)
    assert sps.signals == ["loss", "grad_norm"]
    with pytest.raises(ValueError, match="`grad_norm` was not given"):
        sps.step(loss=1.0)
    lr = sps.step(loss=1.0, grad_norm=np.float32(2.0))
    assert lr > 0 and sps.get_last_lr() == [lr] and sps.steps == 1
    plateau = ltorch.Scheduler(_Opt(), "plateau-adamw", total_steps=100)
    assert plateau.signals == ["eval_loss"]
    plateau.step()  # an evaluation result only when one ran
    hd = ltorch.Scheduler(_Opt(), "hd-adam", total_steps=100)
    assert hd.signals == ["dot_prev_direction"]
    hd.step()
    with pytest.raises(ValueError, match="dot_prev_direction"):
        hd.step()


def test_a_controller_table_and_group_scales():
    opt = _Opt(groups=2)
    opt.param_groups[1]["lr_scale"] = 0.1
    sched = ltorch.Scheduler(opt, {"kind": "cosine", "lr": 0.1, "t_max": 10}, total_steps=10)
    assert sched.kind == "cosine"
    first = sched.step()
    assert first == pytest.approx(0.1)
    assert sched.get_last_lr() == pytest.approx([0.1, 0.01])
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.01])
    with pytest.raises(ValueError, match="`total` must be at least 1"):
        ltorch.Scheduler(_Opt(), {"kind": "cosine", "lr": 0.1, "t_max": 0}, total_steps=10)
    with pytest.raises(lrctl.UnknownNameError):
        ltorch.Scheduler(_Opt(), "no-such-method", total_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        ltorch.Scheduler(_Opt(), "adam-fixed", total_steps=0)


def test_a_torch_training_loop_under_an_lrctl_controller():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    steps = 120
    sched = ltorch.Scheduler(opt, "sps", total_steps=steps, steps_per_epoch=8)
    first_loss = None
    for step in range(steps):
        i = (step % 8) * 32
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[i : i + 32]), y[i : i + 32])
        loss.backward()
        lr = sched.step(loss=loss, grad_norm=ltorch.grad_norm(model.parameters()))
        assert opt.param_groups[0]["lr"] == lr and np.isfinite(lr)
        opt.step()
        first_loss = first_loss if first_loss is not None else loss.item()
    assert loss.item() < first_loss
    assert ltorch.grad_norm([torch.zeros(2, requires_grad=True)]) == 0.0


# What each built-in method's optimizer is in PyTorch: (kind, class name). Methods missing here
# have no PyTorch counterpart in lrctl.torch (asserted below).
TORCH_CLASSES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "prodigy": "Prodigy",
    "dadapt-adam": "DAdaptAdam",
    "dadapt-sgd": "DAdaptSGD",
    "cocob": "COCOB",
    "dog": "DoG",
    "ldog": "LDoG",
    "dowg": "ScalarDoWG",
    "mechanic": "MechanizedAdamW",
    "schedulefree-sgd": "SGDScheduleFree",
    "schedulefree-adamw": "AdamWScheduleFree",
    "schedulefree-radam": "RAdamScheduleFree",
    "schedulefree-wrapper": "ScheduleFreeWrapper",
    "prodigy-sf": "ProdigyPlusScheduleFree",
    "adamg": "AdamG",
    "kate": "Kate",
    "momo": "Momo",
    "momo-adam": "MomoAdam",
}


def _require(kind):
    """Skips unless the optimizer package of ``kind`` is installed (found, not imported:
    pytorch-optimizer imports on torch < 2 only through lrctl.torch's shim)."""
    module, pip, version = ltorch.OPTIMIZER_PACKAGES[kind]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"pip install --no-deps {pip}=={version}")


def _builtin(kind_filter=None):
    return [m for m in lrctl.methods() if kind_filter is None or kind_filter(m["optimizer"])]


@pytest.mark.parametrize(
    "method", [m["name"] for m in _builtin(lambda k: k in TORCH_CLASSES)]
)
def test_every_method_with_a_pytorch_counterpart_builds_and_trains(method):
    torch = pytest.importorskip("torch")
    kind = lrctl._lrctl._method_config(method)["optimizer"]["kind"]
    if kind in ltorch.OPTIMIZER_PACKAGES:
        _require(kind)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    opt = ltorch.optimizer(model.parameters(), method)
    assert type(opt).__name__.startswith(TORCH_CLASSES[kind]), type(opt).__name__
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    before = [p.detach().clone() for p in model.parameters()]
    # MoMo reads the loss: handed over by the scheduler (constant in the momo methods).
    sched = ltorch.Scheduler(opt, method, total_steps=5) if kind.startswith("momo") else None
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if sched is not None:
            sched.step(loss=loss)
        opt.step()
    moved = sum(float((p.detach() - b).abs().sum()) for p, b in zip(model.parameters(), before))
    assert np.isfinite(moved) and moved > 0
    with ltorch.evaluating(opt, model):
        assert not model.training
        out = model(x)
    assert model.training and torch.isfinite(out).all()


def test_the_optimizer_takes_the_methods_settings():
    torch = pytest.importorskip("torch")
    params = [torch.nn.Parameter(torch.zeros(3))]
    adamw = ltorch.optimizer(params, "adam-fixed")
    g = adamw.param_groups[0]
    assert (g["lr"], g["betas"], g["eps"], g["weight_decay"]) == (1e-3, (0.9, 0.99), 1e-8, 0.0)
    custom = {
        "name": "sgd-nesterov",
        "paradigm": "fixed",
        "optimizer": {"kind": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
        "controller": {"kind": "constant", "lr": 0.05},
    }
    sgd = ltorch.optimizer(params, custom).param_groups[0]
    assert (sgd["lr"], sgd["momentum"], sgd["nesterov"], sgd["weight_decay"]) == (
        0.05, 0.9, True, 1e-4)
    assert ltorch.optimizer(params, custom, lr=0.5).param_groups[0]["lr"] == 0.5
    pytest.importorskip("prodigyopt")
    prodigy = ltorch.optimizer(params, "prodigy").param_groups[0]
    assert (prodigy["lr"], prodigy["d0"], prodigy["betas"], prodigy["use_bias_correction"]) == (
        1.0, 1e-6, (0.9, 0.99), False)


def test_every_builtin_optimizer_kind_has_a_pytorch_counterpart():
    assert {m["optimizer"] for m in lrctl.methods()} <= set(TORCH_CLASSES)


def test_the_post_paper_optimizers_take_the_methods_settings():
    torch = pytest.importorskip("torch")
    _require("prodigy-sf")
    params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))]
    method = {
        "name": "psf",
        "paradigm": "free",
        "optimizer": {"kind": "prodigy-sf", "adam_atan2": True, "cautious": True,
                      "split_groups": True, "d0": 1e-5, "betas": [0.95, 0.999]},
        "controller": {"kind": "constant", "lr": 1.0},
    }
    opt = ltorch.optimizer(params, method)
    g = opt.param_groups
    assert len(g) == 2  # split_groups: one group (and d) per tensor, as lrctl
    assert (g[0]["eps"], g[0]["use_cautious"], g[0]["d0"], g[0]["betas"]) == (
        None, True, 1e-5, (0.95, 0.999))
    _require("momo")
    momo = ltorch.optimizer(params, "momo-adam")
    assert (momo.param_groups[0]["lr"], momo.param_groups[0]["betas"]) == (0.01, (0.9, 0.999))
    _require("kate")
    kate = ltorch.optimizer(params, "kate").param_groups[0]
    assert (kate["lr"], kate["delta"], kate["weight_decouple"]) == (1e-5, 0.0, True)
    adamg = ltorch.optimizer(params, "adamg").param_groups[0]
    assert adamg["betas"] == (0.95, 0.999, 0.95)


def test_momo_reads_the_loss_from_the_step_or_the_scheduler():
    torch = pytest.importorskip("torch")
    _require("momo")
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = ltorch.optimizer([w], "momo")
    sched = ltorch.Scheduler(opt, "momo", total_steps=10)

    def loss_backward():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    loss = loss_backward()
    with pytest.raises(ValueError, match=r"needs this step's loss: optimizer.step\(loss=loss\)"):
        opt.step()
    assert torch.equal(w.detach(), torch.tensor([1.0, -2.0]))
    sched.step(loss=loss.item())  # a float is fine
    opt.step()
    after_first = w.detach().clone()
    assert not torch.equal(after_first, torch.tensor([1.0, -2.0]))
    loss_backward()
    with pytest.raises(ValueError, match="needs this step's loss"):
        opt.step()  # the scheduler's loss served one step only
    opt.step(loss=(w**2).sum().detach())
    assert (w.detach() ** 2).sum() < (after_first**2).sum()


def test_missing_packages_and_unbuilt_compositions_say_so(monkeypatch):
    torch = pytest.importorskip("torch")
    params = [torch.nn.Parameter(torch.zeros(3))]
    import sys

    monkeypatch.setitem(sys.modules, "dadaptation", None)  # import fails as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps dadaptation==3\.2"):
        ltorch.optimizer(params, "dadapt-adam")
    for module, method, line in [
        ("pytorch_optimizer", "kate", r"pytorch-optimizer==4\.1\.0"),
        ("momo", "momo-adam", r"momo-opt==0\.1\.0"),
        ("prodigyplus", "prodigy-sf", r"prodigy-plus-schedule-free==2\.0\.1"),
    ]:
        monkeypatch.setitem(sys.modules, module, None)
        with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps " + line):
            ltorch.optimizer(params, method)
    monkeypatch.undo()
    _require("momo")
    wrapped_momo = {
        "name": "sf-momo",
        "paradigm": "free",
        "optimizer": {"kind": "schedulefree-wrapper", "base": {"kind": "momo"}},
        "controller": {"kind": "constant", "lr": 1.0},
    }
    with pytest.raises(ValueError, match="wrapper over `momo` is not built"):
        ltorch.optimizer(params, wrapped_momo)
