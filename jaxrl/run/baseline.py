"""The random policy's return, measured on any env (the floor a learner must beat)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs as jenvs

SOLVED_THRESHOLDS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Catch-bsuite": 0.9}


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _random_returns(env, params, episodes: int, max_steps: int, key):
    venv = jenvs.VecEnv(jenvs.EpisodeStatistics(env), episodes)
    space = env.action_space(params)
    k_reset, k_run = jax.random.split(key)
    obs, state = venv.reset(k_reset, params)

    def body(carry, key):
        state, first, done_once = carry
        k_act, k_step = jax.random.split(key)
        action = jax.vmap(space.sample)(jax.random.split(k_act, episodes))
        _, state, _, _, _, info = venv.step(k_step, state, action, params)
        ended = info["returned_episode"] & ~done_once
        first = jnp.where(ended, info["episode_return"], first)
        return (state, first, done_once | info["returned_episode"]), None

    init = (state, jnp.zeros(episodes), jnp.zeros(episodes, bool))
    (_, first, done), _ = jax.lax.scan(body, init, jax.random.split(k_run, max_steps))
    return first, done


def random_policy_return(env, params, *, episodes: int = 64, seed: int = 0) -> float:
    """Mean undiscounted return of uniformly random actions over ``episodes`` episodes."""
    max_steps = int(getattr(params, "max_steps_in_episode", 1000))
    returns, done = _random_returns(env, params, episodes, max_steps, jax.random.key(seed))
    returns, done = np.asarray(returns), np.asarray(done)
    return float(returns[done].mean()) if done.any() else float("nan")
