"""The one episode loop: a :class:`~jaxrl.learner.Policy` played in a batch of envs.

:func:`first_episode_returns` plays any policy (feed-forward, recurrent, return-conditioned,
a planner that reads env states, the random policy) and returns each env's first episode's
return. Everything that scores a policy uses it: the engine's evaluation
(:mod:`jaxrl.run.evaluate`) and learners that evaluate inside an update (the offline family,
which has no episodes of its own to report). It sits below both, next to the contract.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def first_episode_returns(policy, params, venv, env_params, key, max_steps: int,
                          greedy: bool = True):  # fmt: skip
    """Return of the first episode of each of ``venv``'s copies, and whether it finished.

    ``venv`` is a :func:`jaxrl.envs.stack` of ``N`` copies (``env_params`` batched if the
    stack was built with ``batched_params``). The policy's carry starts from
    ``init_carry(N)``, sees each step's reward through ``policy.observe`` (if it has one) and
    is reset wherever an episode ends. Traceable.

    Returns:
      ``(returns [N], finished [N])``.
    """
    n = venv.num_envs
    k_reset, k_run = jax.random.split(key)
    obs, state = venv.reset(k_reset, env_params)
    carry0 = policy.init_carry(n)
    observe = getattr(policy, "observe", None)

    def body(loop, key):
        obs, state, carry, first, done = loop
        k_act, k_step = jax.random.split(key)
        action, carry = policy.act(params, obs, k_act, carry, state, greedy)
        obs, state, reward, _, _, info = venv.step(k_step, state, action, env_params)
        if observe is not None:
            carry = observe(carry, reward)
        ended = info["returned_episode"]
        first = jnp.where(ended & ~done, info["episode_return"], first)
        carry = jax.tree.map(lambda c0, c: where_rows(ended, c0, c), carry0, carry)
        return (obs, state, carry, first, done | ended), None

    init = (obs, state, carry0, jnp.zeros(n), jnp.zeros(n, bool))
    (_, _, _, first, done), _ = jax.lax.scan(body, init, jax.random.split(k_run, max_steps))
    return first, done


def where_rows(rows: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """``a`` where ``rows [N]`` holds, else ``b`` (both ``[N, ...]``)."""
    return jnp.where(jnp.reshape(rows, rows.shape + (1,) * (jnp.ndim(b) - 1)), a, b)


def max_steps_of(env_params, default: int = 1000) -> int:
    """The env's episode limit (``max_steps_in_episode``), or ``default``."""
    return int(getattr(env_params, "max_steps_in_episode", default))
