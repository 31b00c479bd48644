"""Trained policies loaded from a results directory: ``jaxrl.load(DIR)``.

A run directory holds ``config.json`` (the algorithm, env and config: the learner is rebuilt
from it through :mod:`jaxrl.registry`) and ``policy.npz`` (each run's saved parameters, one
plain array per leaf of the pytree ``Learner.save`` yields). Loading reads JSON and numeric
arrays only: nothing is unpickled or executed, so a run someone else shared is safe to open.

The loaded policy acts through the learner's own :class:`~jaxrl.learner.Policy`, so its
actions are those the evaluation loop takes (observation statistics of PPO's
``normalize_obs`` are part of the saved parameters and applied by ``act``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.learner import Learner


class LoadedPolicy:
    """One run's trained policy.

    ``act(obs, key, greedy=True)`` takes one observation (the env's shape, or flattened) or
    a batch of them, as NumPy or JAX arrays, and returns the actions the env takes. It is
    jitted, and traceable inside a caller's ``jax.jit``. A recurrent policy keeps memory
    between steps: pass ``carry=policy.init_carry(batch)`` and feed back the carry it
    returns (and, for a return-conditioned one, :meth:`observe` of each reward). A planner
    that searches with the true simulator (``uses_env_state``) also needs the env states
    behind the observations (``env_state``, from :meth:`make_env`).
    """

    def __init__(self, learner: Learner, params, *, algo: str, env_name: str, run: int,
                 runs: int, run_dir: Path, hparams: dict, config_json: dict):  # fmt: skip
        self.learner = learner
        self.params = params
        self.algo = algo
        self.env_name = env_name
        self.run = run
        self.runs = runs
        self.run_dir = run_dir
        self.hparams = hparams
        self.saved = config_json
        self.obs_shape = tuple(int(d) for d in learner.env.observation_space(
            learner.env_params).shape)  # fmt: skip
        self.obs_size = math.prod(self.obs_shape)
        self._act = jax.jit(learner.policy.act, static_argnums=(5,))

    @property
    def config(self) -> Any:
        """The algorithm's config the run was trained with."""
        return self.learner.config

    @property
    def env(self):
        return self.learner.env

    @property
    def env_params(self):
        return self.learner.env_params

    @property
    def recurrent(self) -> bool:
        """Whether the policy carries memory between steps."""
        return bool(jax.tree.leaves(jax.eval_shape(lambda: self.learner.policy.init_carry(1))))

    @property
    def uses_env_state(self) -> bool:
        """Whether ``act`` searches with the true simulator (needs ``env_state``)."""
        return self.learner.policy.uses_env_state

    def init_carry(self, batch: int = 1):
        """The memory of ``batch`` episodes starting (``()`` for a policy without memory)."""
        return self.learner.policy.init_carry(batch)

    def observe(self, carry, reward):
        """The carry after a step that earned ``reward`` (``[B]``): a return-conditioned
        policy (Decision Transformer) counts its target return down with it; the carry
        unchanged for policies that do not read rewards."""
        if self.learner.policy.observe is None:
            return carry
        return self.learner.policy.observe(carry, jnp.reshape(jnp.asarray(reward), (-1,)))

    def make_env(self, num_envs: int = 1):
        """``(venv, env_params)``: the env as training and evaluation step it (flattened
        observations, episode statistics, ``num_envs`` copies); its states are what a
        ``uses_env_state`` policy reads."""
        from jaxrl import envs

        return envs.stack(self.env, self.env_params, num_envs), self.env_params

    def _batch(self, obs):
        """``(obs [B, obs_size], batch shape)`` of one observation or a batch."""
        shape = tuple(obs.shape)
        k = len(self.obs_shape)
        if k and shape[len(shape) - k :] == self.obs_shape:
            batch = shape[: len(shape) - k]
        elif self.obs_shape != (self.obs_size,) and shape and shape[-1] == self.obs_size:
            batch = shape[:-1]  # already flattened
        elif not k:
            batch = shape  # scalar observations
        else:
            raise ValueError(f"act: observations of shape {shape}; this env's are "
                             f"{self.obs_shape} (or a batch of them)")  # fmt: skip
        if len(batch) > 1:
            raise ValueError(f"act: one observation or a batch [B, ...], got shape {shape}")
        n = batch[0] if batch else 1
        return jnp.reshape(obs, (n, self.obs_size)), batch

    def act(self, obs, key=None, *, greedy: bool = True, carry=None, env_state=None):
        """Actions for ``obs`` (one observation or a batch ``[B, ...]``).

        Args:
          obs: NumPy or JAX observations, in the env's shape or flattened.
          key: a PRNG key (``jax.random.key``, or legacy ``PRNGKey`` data); needed to sample
            (``greedy=False``); greedy actions use a fixed key when none is given.
          greedy: the policy's mode (True) or a sample.
          carry: a recurrent policy's memory (required for one: start from
            :meth:`init_carry`); when given, ``(actions, carry)`` is returned.
          env_state: the env states behind ``obs`` (the states of :meth:`make_env`'s env),
            required by a planner that searches with the true simulator.

        Returns:
          actions (without a batch axis for one observation), or ``(actions, carry)``.
        """
        obs = jnp.asarray(obs)
        flat, batch = self._batch(obs)
        if key is None:
            if not greedy:
                raise ValueError("act: greedy=False samples actions and needs a key")
            key = jax.random.key(0)
        key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
        if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.wrap_key_data(key)
        if carry is None and self.recurrent:
            raise ValueError(
                "act: this policy is recurrent; pass carry=policy.init_carry(batch) at an "
                "episode's start and feed back the carry act returns"
            )
        if env_state is None and self.uses_env_state:
            raise ValueError(
                f"act: {self.algo} searches with the true simulator; pass env_state, the "
                "states of policy.make_env()'s env behind these observations"
            )
        c = self.init_carry(flat.shape[0]) if carry is None else carry
        actions, c = self._act(self.params, flat, key, c, env_state, greedy)
        if not batch:
            actions = actions[0]
        return actions if carry is None else (actions, c)

    def __repr__(self) -> str:
        return (f"LoadedPolicy({self.algo} on {self.env_name}, run {self.run} of {self.runs} "
                f"from {self.run_dir})")  # fmt: skip


def _read_json(path: Path) -> dict:
    from jaxrl.run.results import RunDirError

    if not path.exists():
        raise RunDirError(f"{path}: not found (is {path.parent} a jaxrl run directory?)")
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return value


def _pick_run(run_dir: Path, run, runs: int) -> int:
    if run == "best":
        summary = _read_json(run_dir / "summary.json")
        finals = np.asarray(summary.get("final_returns", []), np.float64)
        if finals.size != runs or not np.isfinite(finals).any():
            raise ValueError(f"run: {run_dir}/summary.json has no final return per run to pick "
                             "the best from; give a run index")  # fmt: skip
        return int(np.argmax(np.where(np.isfinite(finals), finals, -np.inf)))
    if isinstance(run, bool) or not isinstance(run, int | np.integer):
        raise ValueError(f"run: an index or 'best', got {run!r}")
    if not 0 <= run < runs:
        raise ValueError(f"run: {run} is out of range; the directory holds runs 0..{runs - 1}")
    return int(run)


def load(run_dir: str | Path, run: int | str = 0) -> LoadedPolicy:
    """The trained policy of run ``run`` (an index, or ``"best"``: the highest final return)
    of a results directory, as :class:`LoadedPolicy`.

    Reads ``config.json`` (JSON) and ``policy.npz`` (numeric arrays only; a file holding
    pickled objects is refused with :class:`~jaxrl.run.results.RunDirError`).
    """
    from jaxrl.registry import learner_from_run
    from jaxrl.run.evaluate import policy_template
    from jaxrl.run.results import RunDirError, load_policy

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    saved = _read_json(run_dir / "config.json")
    learner = learner_from_run(run_dir)
    stacked = load_policy(run_dir / "policy.npz", policy_template(learner))
    runs = int(jax.tree.leaves(stacked)[0].shape[0])
    index = _pick_run(run_dir, run, runs)
    params = jax.tree.map(lambda x: jnp.asarray(x[index]), stacked)
    hparams = dict(saved.get("hparams") or {})
    points, seeds = saved.get("grid"), saved.get("seeds")
    if points and seeds:
        hparams.update(points[index // int(seeds)])
    return LoadedPolicy(learner, params, algo=saved["algo"], env_name=saved["env"], run=index,
                        runs=runs, run_dir=run_dir, hparams=hparams,
                        config_json=saved)  # fmt: skip
