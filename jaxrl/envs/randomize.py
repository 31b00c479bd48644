"""Domain randomisation: every episode draws its own dynamics at reset.

``DomainRandomization(env, {"length": (0.25, 0.75)})`` is the same env, except that each
``reset`` samples the named params (:func:`jaxrl.envs.sample_params`: intervals, unions of
intervals, fields tied to one draw) around the params it is given, keeps them in the state
and steps with them until the episode ends; the automatic reset of a vectorised env draws
fresh ones. Any learner built on the wrapped env trains on the whole range with no special
case (Tobin et al. 2017, arXiv:1703.06907; the "R" training of Packer et al. 2018,
arXiv:1810.12282). To evaluate such a learner on fixed dynamics, evaluate it with the plain
env (``learner._replace(env=plain_env)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import struct

from jaxrl.envs.perturb import intervals, sample_params
from jaxrl.envs.wrappers import Wrapper, transition


@struct.dataclass
class RandomizedState:
    env_state: Any
    params: Any  # the episode's env params, drawn at its reset


class DomainRandomization(Wrapper):
    """Samples env params from ``ranges`` at every reset and steps with them.

    Args:
      env: a gymnax-protocol env.
      ranges: ``{field: (low, high)}``, unions ``{field: ((l1, h1), (l2, h2))}`` and tied
        fields ``{"a+b": (low, high)}``, as :func:`jaxrl.envs.parse_ranges` gives them.
      default_params: checked against ``ranges`` (``ValueError`` naming an unknown or derived
        field); the env's default params if not given.
    """

    def __init__(self, env, ranges: Mapping, default_params=None):
        super().__init__(env)
        if not ranges:
            raise ValueError("randomize: needs at least one NAME=LOW:HIGH range")
        self.ranges = {name: intervals(name, value) for name, value in ranges.items()}
        params = env.default_params if default_params is None else default_params
        sample_params(jax.random.key(0), params, self.ranges)  # validates the names

    def reset(self, key, params=None):
        params = self.default_params if params is None else params
        k_params, k_reset = jax.random.split(key)
        episode = sample_params(k_params, params, self.ranges)
        obs, env_state = self._env.reset(k_reset, episode)
        return obs, RandomizedState(env_state, episode)

    def transition(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = transition(
            self._env, key, state.env_state, action, state.params
        )
        return obs, state.replace(env_state=env_state), reward, terminated, truncated, info
