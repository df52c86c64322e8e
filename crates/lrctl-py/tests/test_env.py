"""lrctl.Env and lrctl.VecEnv: gymnasium's checks, determinism, the observation layout, rewards,
bad actions, DACBench compatibility."""

from __future__ import annotations

import os
import re
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import lrctl

IRIS = dict(tasks=["logreg/iris"], interval=5, steps=40)


def episode(env, actions, seed):
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    for a in actions:
        step = env.step(a)
        out.append(step)
        if step[2] or step[3]:
            break
    return out


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return a == b


@pytest.mark.parametrize("compat", [False, True])
def test_check_env_passes_with_warnings_as_errors(compat):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = lrctl.Env(**IRIS, dacbench_compat=compat)
        check_env(env, skip_render_check=True)
        env.close()
        env.close()  # idempotent
        made = gymnasium.make("lrctl/Env-v0", **IRIS, dacbench_compat=compat)
        check_env(made.unwrapped)
        made.close()


def test_reset_seed_gives_a_bit_identical_episode():
    env = lrctl.Env(["logreg/iris", "mlp/digits"], "adamw-cosine", interval=7, steps=60,
                    reward="dense")
    actions = [0.5, -0.25, 1.0, 0.0, -1.0, 0.3, 0.7, -0.6, 0.1]
    a = episode(env, actions, seed=11)
    b = episode(env, actions, seed=11)
    assert same(a, b)
    other = lrctl.Env(["logreg/iris", "mlp/digits"], "adamw-cosine", interval=7, steps=60,
                      reward="dense")
    assert same(a, episode(other, actions, seed=11)), "another instance, the same episode"
    c = episode(env, actions, seed=12)
    assert not same(a, c)
    # Unseeded resets after a seeded one continue the environment's generator.
    env.reset(seed=5)
    first = env.reset()
    env.reset(seed=5)
    assert same(first, env.reset())


def test_neutral_actions_are_the_base_method_itself():
    env = lrctl.Env(["logreg/iris"], "adamw-cosine", interval=9, steps=50)
    out = episode(env, [0.0] * 100, seed=4)
    info = out[-1][4]
    assert info["outcome"] == "finished" and info["step"] == 50
    plain = lrctl.train("logreg/iris", "adamw-cosine", seed=4, steps=50)
    assert info["test_loss"] == plain.test["loss"]
    assert out[-1][1] == -plain.test["loss"], "DACBench reward: minus the test loss"


def test_the_observation_layout_is_the_documented_one(root):
    names = lrctl.OBSERVATION_NAMES
    assert len(names) == 13 and len(set(names)) == 13
    assert lrctl.OBSERVATION_VERSION == 1
    env = lrctl.Env(**IRIS)
    assert env.observation_names == names
    assert env.observation_space.shape == (len(names),)
    # README's table lists every component in order (and the Rust docs are tested the same way).
    readme = (root / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| `([a-z_]+)` \|", readme, flags=re.M)
    assert [(int(i), n) for i, n in rows] == list(enumerate(names))
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs[names.index("progress")] == 0.0
    assert obs[names.index("val_age")] == 1.0
    obs, *_ = env.step(0.0)
    assert obs[names.index("progress")] == pytest.approx(5 / 40)
    assert obs[names.index("log_lr")] == pytest.approx(np.log(1e-3))
    assert obs[names.index("log_loss")] == pytest.approx(np.log(1.1), abs=0.5)
    for _ in range(7):
        obs, *_ = env.step(1.0)
    assert obs[names.index("progress")] == 1.0
    assert obs[names.index("log_lr")] == pytest.approx(np.log(1e-2))
    assert np.all(np.abs(obs) <= lrctl._lrctl.OBSERVATION_CLIP)


def test_dense_rewards_and_validation_every_action():
    env = lrctl.Env(**IRIS, reward="dense", validation_examples=8)
    env.reset(seed=1)
    total = 0.0
    while True:
        obs, r, term, trunc, info = env.step(0.5)
        total += r
        assert "validation_loss" in info
        assert obs[lrctl.OBSERVATION_NAMES.index("val_age")] == 0.0
        if term or trunc:
            break
    assert term and not trunc and total > 0


def test_bad_actions_never_raise_mid_episode():
    env = lrctl.Env(**IRIS, action="absolute", lr_bounds=(1e-5, 0.5))
    env.reset(seed=0)
    _, _, _, _, info = env.step(-3.0)
    assert info["lr"] == 1e-5
    _, _, _, _, info = env.step(np.inf)
    assert info["lr"] == 0.5
    _, _, _, _, info = env.step(np.array([1e30], dtype=np.float32))
    assert info["lr"] == 0.5
    # NaN ends the episode as divergence does: the crash penalty, terminated.
    obs, r, term, trunc, info = env.step(np.nan)
    assert (r, term, trunc) == (-100.0, True, False)
    assert info["outcome"] == "diverged" and "NaN" in info["reason"]
    assert np.all(np.isfinite(obs))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0.0)
    # A wrong shape is refused before anything happens; the episode goes on.
    env.reset(seed=0)
    for bad in (np.zeros(2), np.zeros((1, 1, 2)), [0.1, 0.2]):
        with pytest.raises(ValueError, match="shape"):
            env.step(bad)
    assert env.step([0.01])[4]["env_step"] == 1


def test_divergence_is_terminated_here_and_truncated_in_compat_mode():
    for compat in (False, True):
        env = lrctl.Env(["mlp/digits"], "adam-fixed", interval=20, steps=200, action="absolute",
                        lr_bounds=(0.0, 1e9), dacbench_compat=compat, crash_penalty=-7.0)
        env.reset(seed=0)
        while True:
            obs, r, term, trunc, info = env.step(1e9)
            if term or trunc:
                break
        assert info["outcome"] == "diverged"
        assert r == -7.0
        assert (term, trunc) == ((True, False) if not compat else (False, True))
        if compat:
            assert obs["done"] is True
            assert env.observation_space.contains(obs)


def test_bad_configuration_is_refused_at_construction():
    with pytest.raises(lrctl.UnknownNameError, match="logreg/iris"):
        lrctl.Env(["logreg/irsi"])
    with pytest.raises(lrctl.UnknownNameError):
        lrctl.Env(["logreg/iris"], "adam-fixd")
    with pytest.raises(ValueError, match="interval"):
        lrctl.Env(["logreg/iris"], interval=0)
    with pytest.raises(ValueError, match="reward"):
        lrctl.Env(["logreg/iris"], reward="sparse")
    with pytest.raises(ValueError, match="action"):
        lrctl.Env(["logreg/iris"], action="relative")
    with pytest.raises(ValueError, match="lr_bounds"):
        lrctl.Env(["logreg/iris"], action="absolute", lr_bounds=(0.1, 0.01))
    with pytest.raises(ValueError, match="file you provide"):
        lrctl.Env(["libsvm/file"])
    with pytest.raises(ValueError, match="tuned method"):
        lrctl.Env(["logreg/iris"], "smac-fixed")
    with pytest.raises(ValueError, match="empty"):
        lrctl.Env([])


def test_a_suite_name_gives_its_tasks_and_options_pick_one():
    env = lrctl.Env("quick", steps=10, interval=5)
    assert env.tasks == [s for s in lrctl.suites() if s["name"] == "quick"][0]["tasks"]
    seen = {env.reset(seed=s)[1]["task"] for s in range(12)}
    assert len(seen) > 1
    assert env.reset(options={"task": "mlp/digits"})[1]["task"] == "mlp/digits"
    with pytest.raises(ValueError, match="options"):
        env.reset(options={"tsk": "x"})


def test_vec_env_steps_every_env_and_resets_on_the_next_step():
    kw = dict(tasks=["logreg/iris", "mlp/digits"], interval=10, steps=30, reward="dense")
    v = lrctl.VecEnv(2, **kw)
    assert v.observation_space.shape == (2, 13) and v.action_space.shape == (2, 1)
    obs, info = v.reset(seed=3)
    trace = [obs]
    for _ in range(4):
        obs, r, term, trunc, info = v.step(np.zeros((2, 1)))
        trace.append((obs, r, term, trunc))
    # 3 actions end an episode; the 4th step resets (reward 0, not ended).
    assert trace[3][2].all() and not trace[4][2].any() and (trace[4][1] == 0).all()
    assert np.all(trace[4][0][:, 0] == 0.0), "a fresh episode's progress"
    v.close()
    # Sub-environment i is the Env seeded s + i.
    w = lrctl.VecEnv(2, **kw)
    again, _ = w.reset(seed=3)
    assert np.array_equal(again, trace[0])
    first = w.step(np.array([[0.2], [-0.2]]))
    single = lrctl.Env(**kw)
    single.reset(seed=4)
    assert np.array_equal(first[0][1], single.step(-0.2)[0])
    w.close()
    made = gymnasium.make_vec("lrctl/Env-v0", num_envs=2, vectorization_mode="vector_entry_point",
                              **kw)
    assert made.num_envs == 2
    made.close()


def test_a_dacbench_baseline_agent_runs_on_the_compat_env():
    # DACBench (pip install --no-deps dacbench==0.5.6 and its imports, see .ci/run) is required
    # where LRCTL_REQUIRE_DACBENCH=1 (CI); elsewhere its absence skips this test.
    try:
        from dacbench.agents import DynamicRandomAgent, RandomAgent, StaticAgent
        from dacbench.runner import run_benchmark
    except ImportError as e:
        if os.environ.get("LRCTL_REQUIRE_DACBENCH") == "1":
            raise
        pytest.skip(f"DACBench is not importable: {e}")

    def env():
        return lrctl.Env(["mlp/digits"], "adam-fixed", interval=1, steps=30,
                         dacbench_compat=True, lr_bounds=(0.0, 0.05))

    e = env()
    static = run_benchmark(e, StaticAgent(e, 1e-3), 1)
    e = env()
    static_again = run_benchmark(e, StaticAgent(e, 1e-3), 1)
    assert static < 0 and np.isfinite(static)
    e = env()
    rnd = run_benchmark(e, RandomAgent(e), 2)
    e = env()
    dyn = run_benchmark(e, DynamicRandomAgent(e, 5), 1)
    assert np.isfinite(rnd) and np.isfinite(dyn)
    # The observation the agents saw is SGDEnv's.
    e = env()
    obs, _ = e.reset(seed=0)
    assert tuple(obs) == ("step", "loss", "validation_loss", "validation_accuracy", "done")
    obs, *_ = e.step(np.float32(1e-3))
    assert obs["step"] == 1 and obs["loss"].shape == () and obs["loss"] > 0
    assert isinstance(static_again, float)
