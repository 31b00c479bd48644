"""Adapters that present brax and MuJoCo Playground envs through the gymnax protocol.

Both libraries expose ``reset(rng) -> State`` and ``step(State, action) -> State`` with
``State.obs``, ``State.reward`` and ``State.done`` (termination). The adapter adds the time
limit (``truncated``), automatic reset with a fresh initial state drawn from the step key, and
``info["final_observation"]``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs import wrappers


@struct.dataclass
class AdapterParams:
    max_steps_in_episode: int = 1000


@struct.dataclass
class AdapterState:
    inner: Any
    time: jax.Array


def _flat_obs(obs) -> jax.Array:
    if isinstance(obs, dict):
        return jnp.concatenate([jnp.ravel(obs[k]) for k in sorted(obs)])
    return jnp.ravel(obs)


class StateEnvAdapter:
    """Wraps an env with brax's ``reset(rng)``/``step(state, action)`` interface."""

    def __init__(self, env, name: str, episode_length: int, action_size: int, obs_size: int):
        self._env = env
        self._name = name
        self._episode_length = int(episode_length)
        self._action_size = int(action_size)
        self._obs_size = int(obs_size)

    @property
    def name(self) -> str:
        return self._name

    @property
    def default_params(self) -> AdapterParams:
        return AdapterParams(max_steps_in_episode=self._episode_length)

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self._action_size,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self._obs_size,), jnp.float32)

    def reset(self, key, params=None):
        inner = self._env.reset(key)
        return _flat_obs(inner.obs), AdapterState(inner, jnp.zeros((), jnp.int32))

    def transition(self, key, state, action, params=None):
        """Steps without automatic reset; the time limit sets ``truncated``."""
        params = self.default_params if params is None else params
        inner = self._env.step(state.inner, action)
        time = state.time + 1
        terminated = jnp.asarray(inner.done) > 0.5
        truncated = jnp.logical_and(time >= params.max_steps_in_episode, ~terminated)
        reward = jnp.asarray(inner.reward, jnp.float32)
        return _flat_obs(inner.obs), AdapterState(inner, time), reward, terminated, truncated, {}

    def step(self, key, state, action, params=None):
        """Steps with automatic reset to a fresh initial state drawn from ``key``."""
        return wrappers._autoreset_step(self, key, state, action, params)


def brax_names() -> list[str]:
    from brax import envs as brax_envs

    return sorted(brax_envs._envs)


def make_brax(name: str, backend: str = "mjx", episode_length: int = 1000, **kwargs):
    from brax import envs as brax_envs

    env = brax_envs.get_environment(name, backend=backend, **kwargs)
    adapter = StateEnvAdapter(
        env, f"brax/{name}", episode_length, env.action_size, env.observation_size
    )
    return adapter, adapter.default_params


def playground_names() -> list[str]:
    from mujoco_playground import registry

    return sorted(registry.dm_control_suite.ALL_ENVS)


def make_playground(name: str, episode_length: int | None = None, **config_overrides):
    from mujoco_playground import registry

    # The JAX implementation; the default Warp backend is far slower on CPU.
    overrides = {"impl": "jax", **config_overrides}
    env = registry.load(name, config_overrides=overrides)
    length = episode_length if episode_length is not None else env._config.episode_length
    obs_size = env.observation_size
    if isinstance(obs_size, dict):
        obs_size = sum(int(jnp.prod(jnp.array(s))) for s in obs_size.values())
    adapter = StateEnvAdapter(env, f"playground/{name}", length, env.action_size, obs_size)
    return adapter, adapter.default_params
