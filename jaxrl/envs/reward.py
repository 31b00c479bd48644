"""An env whose reward is a function with parameters: re-optimising a learned reward.

``with_reward(env, fn)`` replaces ``env``'s reward by ``fn(theta, obs, action, next_obs,
terminated)`` (one transition, raw observations; ``terminated``: the step ended the episode
by termination). Its params are :class:`RewardParams`, the inner env's
params and ``theta`` together, so the reward is an argument like the dynamics: ``jax.vmap``
over params trains each run on its own learned reward, and ``set_params`` on the inner
params moves the reward to new dynamics (reward transfer). Episodes, their ends and the
observations are the inner env's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import struct

from jaxrl.envs.wrappers import Wrapper, transition


@struct.dataclass
class RewardParams:
    env: Any  # the inner env's params
    reward: Any  # theta, the reward function's parameters

    @property
    def max_steps_in_episode(self):
        return self.env.max_steps_in_episode


@struct.dataclass
class RewardState:
    env_state: Any
    obs: jax.Array  # the observation the next action is taken on


class LearnedReward(Wrapper):
    """``env`` paying ``fn(params.reward, obs, action, next_obs, terminated)`` (module
    docstring)."""

    def __init__(self, env, fn: Callable):
        super().__init__(env)
        self._fn = fn

    def observation_space(self, params):
        return self._env.observation_space(params.env)

    def action_space(self, params):
        return self._env.action_space(None if params is None else params.env)

    def reset(self, key, params):
        obs, state = self._env.reset(key, params.env)
        return obs, RewardState(state, obs)

    def transition(self, key, state, action, params):
        obs, env_state, _, terminated, truncated, info = transition(
            self._env, key, state.env_state, action, params.env
        )
        reward = self._fn(params.reward, state.obs, action, obs, terminated)
        return obs, RewardState(env_state, obs), reward, terminated, truncated, info


def with_reward(env, fn: Callable) -> LearnedReward:
    """``env`` with its reward replaced by ``fn(theta, obs, action, next_obs, terminated)``;
    give it ``RewardParams(env_params, theta)`` as params."""
    return LearnedReward(env, fn)
