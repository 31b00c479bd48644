"""The one episode loop: a :class:`~jaxrl.learner.Policy` played in a batch of envs.

:func:`play` plays any policy (feed-forward, recurrent, return-conditioned, a planner that
reads env states, the random policy) and records each step; :func:`first_episode_returns`
gives each env's first episode's return from it. Everything that scores a policy uses them:
the engine's evaluation (:mod:`jaxrl.run.evaluate`, which re-exports them) and learners that
evaluate inside an update (the offline family, which has no episodes of its own to report).
It sits below both, next to the contract.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Steps(NamedTuple):
    """What :func:`play` records at each step ``[T, N, ...]``."""

    action: jax.Array
    reward: jax.Array
    ended: jax.Array  # an episode ended on this step
    episode_return: jax.Array  # its return, where ``ended``
    first: jax.Array  # the step belongs to each copy's first episode


def play(policy, params, venv, env_params, key, max_steps: int, greedy: bool = True) -> Steps:
    """``max_steps`` steps of ``venv``'s copies under ``policy``: the one evaluation loop.

    ``venv`` is a :func:`jaxrl.envs.stack` of ``N`` copies (``env_params`` batched if the
    stack was built with ``batched_params``). The policy's carry starts from
    ``init_carry(N)``, sees each step's reward through ``policy.observe`` (if it has one) and
    is reset wherever an episode ends. The copies' first states are
    ``venv.reset(jax.random.split(key)[0], env_params)``. Traceable.

    Returns:
      :class:`Steps`, ``[max_steps, N, ...]`` each.
    """
    n = venv.num_envs
    k_reset, k_run = jax.random.split(key)
    obs, state = venv.reset(k_reset, env_params)
    carry0 = policy.init_carry(n)
    observe = getattr(policy, "observe", None)

    def body(loop, key):
        obs, state, carry, done = loop
        k_act, k_step = jax.random.split(key)
        action, carry = policy.act(params, obs, k_act, carry, state, greedy)
        obs, state, reward, _, _, info = venv.step(k_step, state, action, env_params)
        if observe is not None:
            carry = observe(carry, reward)
        ended = info["returned_episode"]
        carry = jax.tree.map(lambda c0, c: where_rows(ended, c0, c), carry0, carry)
        record = Steps(action, reward, ended, info["episode_return"], ~done)
        return (obs, state, carry, done | ended), record

    init = (obs, state, carry0, jnp.zeros(n, bool))
    _, steps = jax.lax.scan(body, init, jax.random.split(k_run, max_steps))
    return steps


def first_episode_returns(policy, params, venv, env_params, key, max_steps: int,
                          greedy: bool = True):  # fmt: skip
    """Return of the first episode of each of ``venv``'s copies, and whether it finished
    (:func:`play`'s steps). Traceable.

    Returns:
      ``(returns [N], finished [N])``.
    """
    steps = play(policy, params, venv, env_params, key, max_steps, greedy)
    first_end = steps.ended & steps.first
    returns = jnp.sum(jnp.where(first_end, steps.episode_return, 0.0), axis=0)
    return returns, jnp.any(first_end, axis=0)


def where_rows(rows: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """``a`` where ``rows [N]`` holds, else ``b`` (both ``[N, ...]``)."""
    return jnp.where(jnp.reshape(rows, rows.shape + (1,) * (jnp.ndim(b) - 1)), a, b)


def max_steps_of(env_params, default: int = 1000) -> int:
    """The env's episode limit (``max_steps_in_episode``), or ``default``."""
    return int(getattr(env_params, "max_steps_in_episode", default))
