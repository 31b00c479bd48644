"""Environment wrappers over the gymnax protocol.

Every wrapper keeps the protocol ``reset(key, params) -> (obs, state)`` and
``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)``,
with its own bookkeeping carried in the state pytree. ``info["final_observation"]`` is the
observation reached by the transition before any automatic reset, so a learner can bootstrap
truncated episodes from it.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces


class Wrapper:
    """Base wrapper: forwards everything it does not override to the inner env."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    @property
    def unwrapped(self):
        env = self._env
        while isinstance(env, Wrapper):
            env = env._env
        return env

    def reset(self, key, params=None):
        return self._env.reset(key, params)

    def transition(self, key, state, action, params=None):
        """One step without automatic reset (see :func:`transition`)."""
        return transition(self._env, key, state, action, params)

    def step(self, key, state, action, params=None):
        """One step with gymnax's automatic reset on termination or truncation."""
        return _autoreset_step(self, key, state, action, params)


def transition(env, key, state, action, params=None):
    """Steps ``env`` once *without* resetting a finished episode.

    Returns ``obs, state, reward, terminated, truncated, info`` where ``obs``/``state`` are
    the ones the transition reached. Wrappers and adapters implement ``transition``; a raw
    gymnax env is stepped through ``step_env`` with its time limit applied.
    """
    if hasattr(env, "transition"):
        return env.transition(key, state, action, params)
    params = env.default_params if params is None else params
    obs, state, reward, terminated, info = env.step_env(key, state, action, params)
    truncated = env.is_truncated(state, params)
    return obs, state, reward, terminated, truncated, info


def _select_reset(done, reset, stepped):
    return jax.tree.map(lambda r, s: jnp.where(done, r, s), reset, stepped)


class FlattenObservation(Wrapper):
    """Reshapes each observation (and ``final_observation``) to a vector."""

    def observation_space(self, params):
        space = self._env.observation_space(params)
        size = 1
        for d in space.shape:
            size *= d
        return spaces.Box(
            jnp.reshape(jnp.broadcast_to(space.low, space.shape), (-1,)),
            jnp.reshape(jnp.broadcast_to(space.high, space.shape), (-1,)),
            (size,),
            space.dtype,
        )

    def reset(self, key, params=None):
        obs, state = self._env.reset(key, params)
        return jnp.reshape(obs, (-1,)), state

    def transition(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = transition(
            self._env, key, state, action, params
        )
        return jnp.reshape(obs, (-1,)), state, reward, terminated, truncated, info


class MaskObservation(Wrapper):
    """Shows only the observation components ``keep`` (indices into the flat observation):
    a partially observed task, e.g. CartPole or Pendulum without their velocities."""

    def __init__(self, env, keep: tuple[int, ...]):
        super().__init__(env)
        if not keep or len(set(keep)) != len(keep):
            raise ValueError(f"keep: needs distinct observation indices, got {keep}")
        self.keep = tuple(int(i) for i in keep)

    def _mask(self, obs):
        return jnp.reshape(obs, (-1,))[jnp.array(self.keep)]

    def observation_space(self, params):
        space = self._env.observation_space(params)
        low = jnp.reshape(jnp.broadcast_to(space.low, space.shape), (-1,))
        high = jnp.reshape(jnp.broadcast_to(space.high, space.shape), (-1,))
        idx = jnp.array(self.keep)
        return spaces.Box(low[idx], high[idx], (len(self.keep),), space.dtype)

    def reset(self, key, params=None):
        obs, state = self._env.reset(key, params)
        return self._mask(obs), state

    def transition(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = transition(
            self._env, key, state, action, params
        )
        return self._mask(obs), state, reward, terminated, truncated, info


@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array


class EpisodeStatistics(Wrapper):
    """Tracks the undiscounted return and length of each episode.

    ``info`` gains ``returned_episode`` (an episode ended on this step), and
    ``episode_return`` / ``episode_length`` (its totals; meaningful where
    ``returned_episode`` is true).
    """

    def reset(self, key, params=None):
        obs, env_state = self._env.reset(key, params)
        zero = jnp.zeros((), jnp.float32)
        return obs, EpisodeStatisticsState(env_state, zero, jnp.zeros((), jnp.int32))

    def transition(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = transition(
            self._env, key, state.env_state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        ret = state.episode_return + reward
        length = state.episode_length + 1
        info = {
            **info,
            "returned_episode": done,
            "episode_return": ret,
            "episode_length": length,
        }
        # The counters of a finished episode are zeroed by the reset that follows.
        state = EpisodeStatisticsState(env_state, ret.astype(jnp.float32), length)
        return obs, state, reward, terminated, truncated, info


class ClipAction(Wrapper):
    """Clips continuous actions into the action space's bounds."""

    def transition(self, key, state, action, params=None):
        space = self._env.action_space(params if params is not None else self.default_params)
        action = jnp.clip(action, space.low, space.high)
        return transition(self._env, key, state, action, params)


class RescaleAction(Wrapper):
    """Maps actions from ``[-1, 1]`` onto the action space's ``[low, high]``."""

    def action_space(self, params):
        space = self._env.action_space(params)
        return spaces.Box(-1.0, 1.0, space.shape, space.dtype)

    def transition(self, key, state, action, params=None):
        space = self._env.action_space(params if params is not None else self.default_params)
        action = jnp.clip(action, -1.0, 1.0)
        action = space.low + (action + 1.0) * 0.5 * (space.high - space.low)
        return transition(self._env, key, state, action, params)


class VecEnv(Wrapper):
    """Runs ``num_envs`` copies of an env in lockstep with ``jax.vmap``.

    Keys are split per copy; ``params`` are shared (pass batched params and
    ``batched_params=True`` for per-copy dynamics, i.e. domain randomisation).

    Besides ``step``, a learner's rollout can draw every key and reset state of ``T`` steps in
    one vectorised call (:meth:`prepare`) and step with :meth:`step_prepared`: the same
    automatic-reset semantics with no random-number generation inside the time loop, which
    is most of the cost of stepping small envs on CPU.
    """

    def __init__(self, env, num_envs: int, batched_params: bool = False):
        super().__init__(env)
        if num_envs <= 0:
            raise ValueError(f"num_envs: must be positive, got {num_envs}")
        self.num_envs = num_envs
        self._p_axis = 0 if batched_params else None

    def reset(self, key, params=None):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self._env.reset, in_axes=(0, self._p_axis))(keys, params)

    def transition(self, key, state, action, params=None):
        keys = jax.random.split(key, self.num_envs)
        fn = functools.partial(transition, self._env)
        return jax.vmap(fn, in_axes=(0, 0, 0, self._p_axis))(keys, state, action, params)

    def step(self, key, state, action, params=None):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(_autoreset_step, in_axes=(None, 0, 0, 0, self._p_axis))(
            self._env, keys, state, action, params
        )

    def prepare(self, key, num_steps: int, params=None) -> Prepared:
        """Draws step keys and reset states for ``num_steps`` steps ``[T, num_envs, ...]``."""
        k_step, k_reset = jax.random.split(key)
        shape = (num_steps, self.num_envs)
        return self.prepare_keys(
            jax.random.split(k_step, shape), jax.random.split(k_reset, shape), params
        )

    def prepare_keys(self, step_keys, reset_keys, params=None) -> Prepared:
        """:meth:`prepare` from given keys, ``[T, num_envs]`` each (e.g. drawn together with
        a learner's other random numbers)."""
        reset = jax.vmap(jax.vmap(self._env.reset, in_axes=(0, self._p_axis)), (0, None))
        return Prepared(step_keys, reset(reset_keys, params))

    def step_prepared(self, prepared_t: Prepared, state, action, params=None):
        """``step`` with the keys and reset states of one step of :meth:`prepare`."""
        return jax.vmap(_step_with_reset, in_axes=(None, 0, 0, 0, self._p_axis, 0))(
            self._env, prepared_t.step_keys, state, action, params, prepared_t.reset
        )


class Prepared(NamedTuple):
    step_keys: jax.Array
    reset: Any  # (obs, state)


def _step_with_reset(env, key, state, action, params, reset):
    obs_st, state_st, reward, terminated, truncated, info = transition(
        env, key, state, action, params
    )
    done = jnp.logical_or(terminated, truncated)
    obs, state = _select_reset(done, reset, (obs_st, state_st))
    info = {**info, "final_observation": obs_st}
    return obs, state, reward, terminated, truncated, info


def _autoreset_step(env, key, state, action, params):
    k_step, k_reset = jax.random.split(key)
    reset = env.reset(k_reset, params)
    return _step_with_reset(env, k_step, state, action, params, reset)


@struct.dataclass
class RunningMeanStd:
    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape) -> RunningMeanStd:
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Merges the moments of ``batch`` [B, *shape] (parallel Welford)."""
        b_mean = jnp.mean(batch, axis=0)
        b_var = jnp.var(batch, axis=0)
        b_count = batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(self, x: jax.Array, clip: float = 10.0) -> jax.Array:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + 1e-8), -clip, clip)


@struct.dataclass
class NormalizeObservationState:
    env_state: Any
    obs_stats: RunningMeanStd


class NormalizeObservation(Wrapper):
    """Normalises batched observations by running statistics kept in the state.

    Wraps a :class:`VecEnv`, so the statistics pool every copy's observations.
    """

    def reset(self, key, params=None):
        obs, env_state = self._env.reset(key, params)
        stats = RunningMeanStd.create(obs.shape[1:]).update(obs)
        return stats.normalize(obs), NormalizeObservationState(env_state, stats)

    def _normalized(self, out, state):
        obs, env_state, reward, terminated, truncated, info = out
        stats = state.obs_stats.update(obs)
        info = {**info, "final_observation": stats.normalize(info["final_observation"])}
        state = NormalizeObservationState(env_state, stats)
        return stats.normalize(obs), state, reward, terminated, truncated, info

    def step(self, key, state, action, params=None):
        return self._normalized(self._env.step(key, state.env_state, action, params), state)

    def step_prepared(self, prepared_t, state, action, params=None):
        out = self._env.step_prepared(prepared_t, state.env_state, action, params)
        return self._normalized(out, state)


def stack(env, env_params, num_envs: int, *, normalize_obs: bool = False,
          clip_actions: bool = True, batched_params: bool = False):  # fmt: skip
    """The env as learners and evaluations see it, built the same way everywhere.

    Observations flattened to vectors (if they are not), episode statistics, continuous
    actions clipped into their bounds (``clip_actions``), ``num_envs`` copies in lockstep
    (with one set of env params per copy if ``batched_params``) and, with ``normalize_obs``,
    observations normalised by running statistics kept in the state.
    """
    if len(env.observation_space(env_params).shape) != 1:
        env = FlattenObservation(env)
    env = EpisodeStatistics(env)
    if clip_actions and not hasattr(env.action_space(env_params), "n"):
        env = ClipAction(env)
    env = VecEnv(env, num_envs, batched_params=batched_params)
    if normalize_obs:
        env = NormalizeObservation(env)
    return env


def observation_size(env, env_params) -> int:
    """The length of ``env``'s observations once flattened."""
    size = 1
    for d in env.observation_space(env_params).shape:
        size *= int(d)
    return size
