"""A gymnasium environment whose action is the learning rate of a real training run.

An episode is one training run of an lrctl task under a base method; each step sets the
learning rate of the next ``interval`` optimizer steps and returns the observation vector
(:data:`lrctl.OBSERVATION_NAMES`), a reward and whether the run ended. The training itself
runs in Rust without the GIL, one thread per environment; :class:`VecEnv` steps several at
once on several cores.

``gymnasium.make("lrctl/Env-v0", ...)`` and ``gymnasium.make_vec("lrctl/Env-v0", num_envs=N,
vectorization_mode="vector_entry_point", ...)`` build them too.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence, SupportsFloat

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from . import _lrctl
from ._util import ensure_policy_python, method_arg

__all__ = ["Env", "VecEnv"]

_F32_MAX = float(np.finfo(np.float32).max)

#: The DACBench SGD observation's keys, in order.
DACBENCH_KEYS = ("step", "loss", "validation_loss", "validation_accuracy", "done")


def _task_names(tasks: str | Sequence[str]) -> list[str]:
    """A suite's tasks, or the named task(s), each checked."""
    if isinstance(tasks, str):
        suite = next((s for s in _lrctl.suites() if s["name"] == tasks), None)
        names = list(suite["tasks"]) if suite is not None else [tasks]
    else:
        names = list(tasks)
    if not names:
        raise ValueError("tasks is empty: give a suite name, a task name or a list of task names")
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"task names are strings, got {n!r}")
        info = _lrctl._task_config(n)  # UnknownNameError for an unknown task
        if info["needs_path"]:
            raise ValueError(
                f"task {n!r} trains on a file you provide; an environment needs a task that "
                "brings its data (lrctl.tasks() lists them)"
            )
    return names


class Env(gymnasium.Env):
    """One lrctl training run per episode; the action sets its learning rate.

    Args:
        tasks: a suite name (``"quick"``), a task name, or a list of task names; each
            ``reset`` draws one (or ``options={"task": name}`` picks it).
        method: the base method (name, ``.toml`` path or dict): its optimizer trains, and its
            learning-rate controller is what a log-multiplier scales — AdamW's schedule,
            Prodigy's multiplier of d, ….
        interval: optimizer steps per action.
        action: ``"log-multiplier"`` (default; the action ``a`` in [-1, 1] makes the rate
            ``base · max_factor**a``, so 0 is the base method itself) or ``"absolute"`` (the
            action is the rate; the default with ``dacbench_compat``).
        max_factor: the largest factor of a log-multiplier.
        lr_bounds: ``(low, high)``: every rate is clipped into them (absolute default ``(0,
            1)``, which is also the action space; log-multiplier default ``(0, inf)``).
        reward: ``"dacbench"`` (0 until the end, then minus the test loss) or ``"dense"``
            (each step, the drop of the log training loss over the interval).
        crash_penalty: the reward when training diverges (DACBench's default, -100).
        steps: optimizer steps per episode (default: the task's budget).
        validation_examples: validate on this many examples after every action (DACBench's
            SGD environment validates every step); default: only the task's periodic
            evaluations.
        eval_examples: cap every evaluation (periodic and the final test) at this many.
        dacbench_compat: return DACBench ``SGDEnv``'s observation dict (``step``, ``loss``,
            ``validation_loss``, ``validation_accuracy``, ``done``) and end episodes as it does
            (``truncated=True``), so its agents run unchanged.
        threads: kernel threads of the run (keep 1 and use :class:`VecEnv` for more cores).
        data_dir: where the data mirror is (default ``LRCTL_DATA_DIR``).

    Bad actions never raise mid-episode: out-of-range, negative and infinite actions are
    clipped into the bounds; NaN ends the episode like divergence, with the crash penalty. An
    action of the wrong shape raises ``ValueError`` before anything happens. The same
    ``reset(seed=...)`` gives a bit-identical episode (``seed`` is the run's seed: with
    ``action=0`` throughout an episode is exactly ``lrctl.train(task, method, seed)``).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        tasks: str | Sequence[str] = "quick",
        method: str | os.PathLike[str] | Mapping[str, Any] = "adam-fixed",
        *,
        interval: int = 10,
        action: str | None = None,
        max_factor: float = 10.0,
        lr_bounds: tuple[float, float] | None = None,
        reward: str = "dacbench",
        crash_penalty: float = -100.0,
        steps: int | None = None,
        validation_examples: int | None = None,
        eval_examples: int | None = None,
        dacbench_compat: bool = False,
        threads: int = 1,
        data_dir: str | os.PathLike[str] | None = None,
        render_mode: None = None,
    ):
        super().__init__()
        self._closed = True
        if render_mode is not None:
            raise ValueError("lrctl.Env renders nothing (render_mode must be None)")
        ensure_policy_python()
        self.tasks: list[str] = _task_names(tasks)
        self.dacbench_compat = bool(dacbench_compat)
        self.action_mode = action or ("absolute" if self.dacbench_compat else "log-multiplier")
        if self.action_mode not in ("absolute", "log-multiplier"):
            raise ValueError(f'action must be "absolute" or "log-multiplier", got {action!r}')
        if lr_bounds is None:
            lr_bounds = (0.0, 1.0) if self.action_mode == "absolute" else (0.0, float("inf"))
        try:
            lo, hi = (float(x) for x in lr_bounds)
        except (TypeError, ValueError):
            raise ValueError(f"lr_bounds must be (low, high), got {lr_bounds!r}") from None
        if self.action_mode == "absolute" and not np.isfinite(hi):
            raise ValueError("an absolute action needs finite lr_bounds (its action space)")
        self.lr_bounds = (lo, hi)
        self._core = _lrctl.EnvCore(
            method_arg(method),
            interval=int(interval),
            action=self.action_mode,
            max_factor=float(max_factor),
            lr_min=lo,
            lr_max=hi,
            reward=reward,
            crash_penalty=float(crash_penalty),
            dacbench_compat=self.dacbench_compat,
            steps=steps,
            validation_examples=validation_examples,
            eval_examples=eval_examples,
            threads=int(threads),
            data_dir=None if data_dir is None else os.fspath(data_dir),
        )
        self.interval = int(interval)
        if self.action_mode == "absolute":
            self.action_space = spaces.Box(
                np.full(1, lo, np.float32), np.full(1, hi, np.float32), dtype=np.float32
            )
        else:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        if self.dacbench_compat:
            n = self._core.total_actions_hint or 2**31 - 2
            self.observation_space = spaces.Dict(
                {
                    "step": spaces.Discrete(n + 1),
                    "loss": spaces.Box(0.0, _F32_MAX, shape=(), dtype=np.float32),
                    "validation_loss": spaces.Box(0.0, _F32_MAX, shape=(), dtype=np.float32),
                    "validation_accuracy": spaces.Box(0.0, 1.0, shape=(), dtype=np.float32),
                    "done": spaces.Discrete(2),
                }
            )
        else:
            clip = float(_lrctl.OBSERVATION_CLIP)
            self.observation_space = spaces.Box(
                -clip, clip, shape=(len(_lrctl.OBSERVATION_NAMES),), dtype=np.float32
            )
        #: The names of the observation vector's components.
        self.observation_names: tuple[str, ...] = _lrctl.OBSERVATION_NAMES
        self._metric = "accuracy"
        self._closed = False

    # The pieces of reset and step, shared with VecEnv (which sends to many cores at once).

    def _send_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        super().reset(seed=seed)
        options = dict(options or {})
        task = options.pop("task", None)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; the only one is 'task'")
        if task is None:
            i = int(self.np_random.integers(len(self.tasks))) if len(self.tasks) > 1 else 0
            task = self.tasks[i]
        elif task not in self.tasks:
            _lrctl._task_config(task)
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        run_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        self._core.send_reset(task, run_seed)

    def _finish_reset(self) -> tuple[Any, dict[str, Any]]:
        vector, info = self._core.recv()
        self._metric = info["metric"]
        if self.dacbench_compat:
            obs: Any = {
                "step": 0,
                "loss": np.array(0.0, dtype=np.float32),
                "validation_loss": np.array(0.0, dtype=np.float32),
                "validation_accuracy": np.array(0.0, dtype=np.float32),
                "done": False,
            }
        else:
            obs = vector
        return obs, info

    def _send_step(self, action: Any) -> None:
        a = np.asarray(action, dtype=np.float64)
        if a.shape not in ((), (1,)):
            raise ValueError(
                f"an action is one number or an array of shape (1,), got shape {a.shape}"
            )
        self._core.send_step(float(a.reshape(-1)[0]))

    def _finish_step(self) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        vector, reward, terminated, truncated, info = self._core.recv()
        if self.dacbench_compat:
            obs: Any = self._dacbench_obs(info, terminated or truncated)
        else:
            obs = vector
        return obs, float(reward), bool(terminated), bool(truncated), info

    def _dacbench_obs(self, info: dict[str, Any], done: bool) -> dict[str, Any]:
        def f32(x: float | None, high: float = _F32_MAX) -> np.ndarray:
            x = 0.0 if x is None else float(x)
            x = high if not np.isfinite(x) else min(max(x, 0.0), high)
            return np.array(x, dtype=np.float32)

        accuracy = info.get("validation_metric") if self._metric == "accuracy" else None
        return {
            "step": int(info["env_step"]),
            "loss": f32(info["loss"]),
            "validation_loss": f32(info.get("validation_loss")),
            "validation_accuracy": f32(accuracy, 1.0),
            "done": bool(done),
        }

    # gymnasium.Env

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Starts an episode: a task drawn from ``tasks`` (or ``options={"task": name}``), a
        fresh model and run seeded with ``seed`` (drawn from the environment's generator when
        None). Returns the observation (nothing trained yet) and ``info`` (``task``, ``seed``,
        ``total_steps``, ``total_actions``, ``metric``). The task's data loads on its first
        episode."""
        self._send_reset(seed, options)
        return self._finish_reset()

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Trains the next ``interval`` steps at the rate ``action`` sets.

        Returns ``(observation, reward, terminated, truncated, info)``; ``info`` has ``task``,
        ``seed``, ``env_step`` (actions taken), ``step`` (optimizer steps taken),
        ``total_steps``, ``lr`` (the rate applied), ``loss`` (last mini-batch loss),
        ``train_loss`` (the interval's mean), the newest ``validation_loss`` and
        ``validation_metric``, and at the end ``outcome`` (``finished``/``diverged``),
        ``reason``, ``test_loss``, ``test_metric``.
        """
        self._send_step(action)
        return self._finish_step()

    def close(self) -> None:
        """Stops the environment's thread (idempotent)."""
        if not self._closed:
            self._closed = True
            self._core.close()
        super().close()


class VecEnv(VectorEnv):
    """``num_envs`` :class:`Env` s stepped at once, one core each (the GIL is released while
    they train), with gymnasium's vector API and next-step autoreset.

    ``reset(seed=s)`` seeds sub-environment ``i`` with ``s + i``; each sub-environment is as
    deterministic as an :class:`Env`. Keyword arguments are those of :class:`Env`.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int | None = None,
        tasks: str | Sequence[str] = "quick",
        method: str | os.PathLike[str] | Mapping[str, Any] = "adam-fixed",
        **kwargs: Any,
    ):
        n = (os.cpu_count() or 1) if num_envs is None else int(num_envs)
        if n < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs!r}")
        self.envs = [Env(tasks, method, **kwargs) for _ in range(n)]
        self.num_envs = n
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        self._needs_reset = np.zeros(n, dtype=np.bool_)

    def _batch(self, items: list[Any]) -> Any:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, items, out)

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Resets every sub-environment (in parallel); see :meth:`Env.reset`."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
        for env, s in zip(self.envs, seeds):
            env._send_reset(s, options)
        obs, infos = [], {}
        for i, env in enumerate(self.envs):
            o, info = env._finish_reset()
            obs.append(o)
            infos = self._add_info(infos, info, i)
        self._needs_reset[:] = False
        return self._batch(obs), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every sub-environment (in parallel); one that ended on the previous step is
        reset instead (its action ignored, reward 0)."""
        actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, -1)
        resetting = self._needs_reset.copy()
        for i, env in enumerate(self.envs):
            if resetting[i]:
                env._send_reset(None, None)
            else:
                env._send_step(actions[i])
        obs = []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=np.bool_)
        truncated = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            if resetting[i]:
                o, info = env._finish_reset()
            else:
                o, r, te, tr, info = env._finish_step()
                rewards[i], terminated[i], truncated[i] = r, te, tr
            obs.append(o)
            infos = self._add_info(infos, info, i)
        self._needs_reset = terminated | truncated
        return self._batch(obs), rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


gymnasium.register(
    id="lrctl/Env-v0",
    entry_point="lrctl.env:Env",
    vector_entry_point="lrctl.env:VecEnv",
)
