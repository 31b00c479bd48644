"""The random policy's return, measured on any env (the floor a learner must beat)."""

from __future__ import annotations

import functools

import jax
import numpy as np

from jaxrl import envs as jenvs
from jaxrl.learner import Policy
from jaxrl.run.evaluate import first_episode_returns, max_steps_of

SOLVED_THRESHOLDS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Catch-bsuite": 0.9}


def random_policy(env, params) -> Policy:
    """Uniformly random actions from ``env``'s action space (``params`` unused by ``act``)."""
    space = env.action_space(params)

    def act(_, obs, key, carry, env_state, greedy):
        return jax.vmap(space.sample)(jax.random.split(key, obs.shape[0])), carry

    return Policy(act)


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _random_returns(env, params, episodes: int, max_steps: int, key):
    venv = jenvs.stack(env, params, episodes)
    return first_episode_returns(random_policy(env, params), None, venv, params, key, max_steps)


def random_policy_return(env, params, *, episodes: int = 64, seed: int = 0) -> float:
    """Mean undiscounted return of uniformly random actions over ``episodes`` episodes."""
    returns, done = _random_returns(env, params, episodes, max_steps_of(params),
                                    jax.random.key(seed))  # fmt: skip
    returns, done = np.asarray(returns), np.asarray(done)
    return float(returns[done].mean()) if done.any() else float("nan")
