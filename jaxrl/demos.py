"""Demonstrations: the file format, and recording a policy's episodes.

A demonstration file is one ``.npz`` (``numpy.savez``, no pickled objects) of transitions,
episodes one after another:

============================  =======================  ==========================================
array                         shape, dtype             what
============================  =======================  ==========================================
``observations``              ``[N, D]`` float32       the observation the expert acted on
``actions``                   ``[N]`` int32 or         the action taken (continuous ones as the
                              ``[N, A]`` float32       env executed them: inside its bounds)
``next_observations``         ``[N, D]`` float32       the observation the step reached (the
                                                       true last one where an episode ended)
``dones``                     ``[N]`` bool             an episode ended with this step
``terminals``                 ``[N]`` bool             ... by termination (no bootstrap), not by
                                                       the time limit
``episode_returns``           ``[E]`` float32          each episode's undiscounted return
``env``                       ``[]`` str               the env's name (for checks and messages)
============================  =======================  ==========================================

Every episode is complete: the last transition of each has ``dones`` set, so the first ``n``
episodes are the transitions up to the ``n``-th done. ``jaxrl demos RUN_DIR --out FILE``
writes one from a trained run (:mod:`jaxrl.run.demos`); :func:`load` reads one as the
:class:`Demos` a learner takes as its ``data``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs as jenvs

ARRAYS = ("observations", "actions", "next_observations", "dones", "terminals")


class Demos(NamedTuple):
    """Expert transitions (leading axis: transitions), as a learner's ``data``."""

    obs: jax.Array  # [N, D]
    action: jax.Array  # [N] or [N, A]
    next_obs: jax.Array  # [N, D]
    done: jax.Array  # [N]
    terminated: jax.Array  # [N]

    @property
    def size(self) -> int:
        return self.obs.shape[0]


class DemoFile(NamedTuple):
    demos: Demos
    episode_returns: np.ndarray  # [E]
    env: str


def save(path: str | Path, demos: Demos, episode_returns, env: str) -> None:
    """Writes ``demos`` (numpy or JAX arrays) and the episodes' returns to ``path``."""
    d = jax.tree.map(np.asarray, demos)
    done = d.done.astype(bool)
    if d.size == 0 or not done[-1]:
        raise ValueError("demos: the last transition must end an episode")
    if int(done.sum()) != len(episode_returns):
        raise ValueError(f"demos: {int(done.sum())} episodes but {len(episode_returns)} returns")
    action = d.action.astype(np.int32 if d.action.ndim == 1 else np.float32)
    with Path(path).open("wb") as f:
        np.savez(
            f,
            observations=d.obs.astype(np.float32),
            actions=action,
            next_observations=d.next_obs.astype(np.float32),
            dones=done,
            terminals=d.terminated.astype(bool),
            episode_returns=np.asarray(episode_returns, np.float32),
            env=np.asarray(env),
        )


def load(path: str | Path, num_episodes: int | None = None) -> DemoFile:
    """Reads a demonstration file (the first ``num_episodes`` episodes, or all).

    Raises:
      ValueError: naming ``demos`` if the file is missing, unreadable, lacks an array or
        holds fewer episodes than asked for.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"demos: {path}: no such file (write one with `jaxrl demos RUN_DIR`)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # a damaged or foreign file
        raise ValueError(f"demos: {path}: cannot be read as demonstrations ({e})") from None
    missing = [k for k in (*ARRAYS, "episode_returns") if k not in arrays]
    if missing:
        raise ValueError(f"demos: {path}: no {', '.join(missing)} (see jaxrl.demos)")
    done = arrays["dones"].astype(bool)
    returns = arrays["episode_returns"].astype(np.float32)
    total = int(done.sum())
    n = total if num_episodes is None else num_episodes
    if not 0 < n <= total:
        raise ValueError(f"demos: {path} holds {total} episodes, cannot take {num_episodes}")
    end = int(np.flatnonzero(done)[n - 1]) + 1
    demos = Demos(
        obs=arrays["observations"][:end].astype(np.float32),
        action=arrays["actions"][:end],
        next_obs=arrays["next_observations"][:end].astype(np.float32),
        done=done[:end],
        terminated=arrays["terminals"][:end].astype(bool),
    )
    env = str(arrays["env"]) if "env" in arrays else ""
    return DemoFile(demos, returns[:n], env)


def record(policy, params, env, env_params, key, episodes: int, max_steps: int,
           greedy: bool = True):  # fmt: skip
    """Plays ``episodes`` episodes of a :class:`~jaxrl.learner.Policy` in parallel and keeps
    each env's first episode. Traceable.

    Returns:
      ``(Demos with [episodes, max_steps] leading axes, valid [episodes, max_steps],
      returns [episodes], finished [episodes])``; ``valid`` marks the steps of each first
      episode, ``finished`` whether it ended within ``max_steps``.
    """
    venv = jenvs.stack(env, env_params, episodes)
    spec = jenvs.action_spec(env, env_params)
    k_reset, k_run = jax.random.split(key)
    obs, state = venv.reset(k_reset, env_params)
    carry0 = policy.init_carry(episodes)

    def body(loop, key):
        obs, state, carry, over = loop
        k_act, k_step = jax.random.split(key)
        action, carry = policy.act(params, obs, k_act, carry, state, greedy)
        if not spec.discrete:
            action = jnp.clip(action, spec.low, spec.high)
        next_obs, state, _, terminated, _, info = venv.step(k_step, state, action,
                                                                    env_params)  # fmt: skip
        ended = info["returned_episode"]
        step = Demos(obs, action, info["final_observation"], ended, terminated)
        out = (step, ~over, info["episode_return"])
        return (next_obs, state, carry, over | ended), out

    init = (obs, state, carry0, jnp.zeros(episodes, bool))
    (_, _, _, over), (steps, valid, ret) = jax.lax.scan(
        body, init, jax.random.split(k_run, max_steps)
    )
    steps = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), steps)
    valid = valid.T
    ret = ret.T
    returns = jnp.sum(jnp.where(valid & steps.done, ret, 0.0), axis=1)
    return steps, valid, returns, over


def flatten(steps: Demos, valid, returns, finished) -> tuple[Demos, np.ndarray]:
    """The finished episodes of :func:`record` as flat transitions and their returns."""
    steps, valid, returns, finished = jax.tree.map(np.asarray, (steps, valid, returns, finished))
    keep = valid & finished[:, None]
    flat = Demos(*(x[keep] for x in steps))
    return flat, returns[finished]
