"""What a learner needs to know of an env's actions, read once from its action space."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


def is_discrete(env, params) -> bool:
    return hasattr(env.action_space(params), "n")


class ActionSpec(NamedTuple):
    """Discrete ``dim`` actions, or a box of ``dim`` numbers in ``[low, high]``.

    Learners with bounded outputs (tanh) act in ``[-1, 1]^dim`` and map onto the box with
    :meth:`to_env`.
    """

    discrete: bool
    dim: int  # number of discrete actions, or the continuous action size
    low: Any
    high: Any

    def to_env(self, action):
        """Actions in ``[-1, 1]`` (clipped) rescaled onto ``[low, high]``; discrete as is."""
        if self.discrete:
            return action
        action = jnp.clip(action, -1.0, 1.0)
        return self.low + (action + 1.0) * 0.5 * (self.high - self.low)

    def random(self, key, n: int):
        """``n`` uniformly random actions (continuous ones in ``[-1, 1]``)."""
        if self.discrete:
            return jax.random.randint(key, (n,), 0, self.dim)
        return jax.random.uniform(key, (n, self.dim), minval=-1.0, maxval=1.0)

    @property
    def kind(self) -> str:
        return "discrete" if self.discrete else "continuous"


def action_spec(env, env_params) -> ActionSpec:
    space = env.action_space(env_params)
    if is_discrete(env, env_params):
        return ActionSpec(True, int(space.n), None, None)
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
    return ActionSpec(False, int(math.prod(space.shape)), low.reshape(-1), high.reshape(-1))


def require_action_kind(algo: str, env, env_params, discrete: bool, instead: str) -> ActionSpec:
    """The env's :class:`ActionSpec`; ``ValueError`` naming what can handle it if its kind
    is not the algorithm's."""
    spec = action_spec(env, env_params)
    if spec.discrete != discrete:
        kind = "discrete" if discrete else "continuous"
        raise ValueError(
            f"env: {algo} needs {kind} actions but this env's actions are {spec.kind}; "
            f"use {instead}"
        )
    return spec
