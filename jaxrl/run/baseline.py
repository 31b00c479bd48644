"""The random policy's return, measured on any env (the floor a learner must beat)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs as jenvs

SOLVED_THRESHOLDS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Catch-bsuite": 0.9}


def first_episode_returns(venv, act, params, key, max_steps: int):
    """Return of the first episode of each of ``venv``'s copies, and whether it finished.

    ``venv`` is a :class:`~jaxrl.envs.VecEnv` over an env with episode statistics;
    ``act(obs, key) -> actions`` chooses the batch of actions. Traceable.
    """
    n = venv.num_envs
    k_reset, k_run = jax.random.split(key)
    obs, state = venv.reset(k_reset, params)

    def body(carry, key):
        obs, state, first, done = carry
        k_act, k_step = jax.random.split(key)
        obs, state, _, _, _, info = venv.step(k_step, state, act(obs, k_act), params)
        ended = info["returned_episode"] & ~done
        first = jnp.where(ended, info["episode_return"], first)
        return (obs, state, first, done | info["returned_episode"]), None

    init = (obs, state, jnp.zeros(n), jnp.zeros(n, bool))
    (_, _, first, done), _ = jax.lax.scan(body, init, jax.random.split(k_run, max_steps))
    return first, done


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _random_returns(env, params, episodes: int, max_steps: int, key):
    venv = jenvs.VecEnv(jenvs.EpisodeStatistics(env), episodes)
    space = env.action_space(params)

    def act(obs, key):
        return jax.vmap(space.sample)(jax.random.split(key, episodes))

    return first_episode_returns(venv, act, params, key, max_steps)


def random_policy_return(env, params, *, episodes: int = 64, seed: int = 0) -> float:
    """Mean undiscounted return of uniformly random actions over ``episodes`` episodes."""
    max_steps = int(getattr(params, "max_steps_in_episode", 1000))
    returns, done = _random_returns(env, params, episodes, max_steps, jax.random.key(seed))
    returns, done = np.asarray(returns), np.asarray(done)
    return float(returns[done].mean()) if done.any() else float("nan")
