"""The training loop shared by replay-based learners (DQN, SAC, TD3, DDPG).

One iteration steps ``num_envs`` envs ``train_every`` times, writes the transitions to a
functional replay buffer and, once ``learning_starts`` env steps are in it, takes
``gradient_steps`` gradient steps on sampled batches. Until then actions are uniformly
random. Everything is inside ``jax.lax.scan``, so a whole run is one jittable function of a
key and vmaps over seeds and hyperparameters.

An algorithm supplies an :class:`OffPolicyAgent` (``init``, ``explore``, ``update``,
``act``); this module supplies the env, the buffer, n-step targets and the bookkeeping.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl._errors import require, require_positive_ints, unknown_name
from jaxrl.losses import n_step_bootstrap
from jaxrl.networks import ACTIVATIONS

STORAGE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
    """Static configuration common to replay-based learners (changing one recompiles).

    ``log_every`` env steps make one reported update (one row of metrics); the total is
    ``total_steps // log_every`` updates.
    """

    num_envs: int = 1
    total_steps: int = 20_000
    learning_starts: int = 1_000
    buffer_size: int = 100_000
    batch_size: int = 256
    train_every: int = 1
    gradient_steps: int = 1
    log_every: int = 1_000
    n_step: int = 1
    prioritized: bool = False
    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    storage_dtype: str = "float32"

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.train_every

    @property
    def iterations_per_update(self) -> int:
        return self.log_every // self.steps_per_iteration

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.log_every

    def validate(self) -> None:
        require_positive_ints(
            self,
            (
                "num_envs",
                "total_steps",
                "buffer_size",
                "batch_size",
                "train_every",
                "gradient_steps",
                "log_every",
                "n_step",
            ),
        )
        require(
            isinstance(self.learning_starts, int) and self.learning_starts >= 0,
            "learning_starts",
            f"must be a non-negative int, got {self.learning_starts}",
        )
        require(
            self.log_every % self.steps_per_iteration == 0,
            "log_every",
            f"{self.log_every} is not a multiple of num_envs*train_every="
            f"{self.steps_per_iteration}",
        )
        require(
            self.total_steps >= self.log_every,
            "total_steps",
            f"{self.total_steps} is less than one update (log_every={self.log_every})",
        )
        require(
            self.buffer_size >= self.batch_size,
            "buffer_size",
            f"{self.buffer_size} is smaller than batch_size={self.batch_size}",
        )
        require(
            self.buffer_size // self.num_envs >= self.n_step,
            "buffer_size",
            f"{self.buffer_size} holds fewer than n_step={self.n_step} steps per env",
        )
        require(
            self.learning_starts >= self.batch_size,
            "learning_starts",
            f"{self.learning_starts} is less than batch_size={self.batch_size}: the first "
            "batches would repeat a handful of transitions",
        )
        require(
            len(self.hidden) > 0 and all(h > 0 for h in self.hidden),
            "hidden",
            f"needs at least one positive layer size, got {self.hidden}",
        )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                "activation: " + unknown_name("activation", self.activation, ACTIVATIONS)
            )
        if self.storage_dtype not in STORAGE_DTYPES:
            raise ValueError(
                "storage_dtype: "
                + unknown_name("storage dtype", self.storage_dtype, STORAGE_DTYPES)
            )


class Transition(NamedTuple):
    """One env step as stored in replay (``next_obs`` is the true next observation, also at
    an episode end)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    next_obs: jax.Array


class NStep(NamedTuple):
    """Sampled sequences reduced to what a one-step update needs, for each of ``B`` samples.

    The TD target is ``partial_return + bootstrap_discount * V(next_obs)``.
    """

    obs: jax.Array  # [B, obs_dim]
    action: jax.Array  # [B, ...]
    partial_return: jax.Array  # [B]
    bootstrap_discount: jax.Array  # [B]
    next_obs: jax.Array  # [B, obs_dim]
    weights: jax.Array  # [B] importance weights (0 for invalid samples)


def n_step_batch(items: Transition, weights: jax.Array, gamma) -> NStep:
    """Reduces sequences ``[B, n, ...]`` to n-step targets (see ``n_step_bootstrap``)."""
    discount = gamma * (1.0 - items.terminated.astype(jnp.float32))
    partial, boot, k = jax.vmap(n_step_bootstrap)(
        items.reward.astype(jnp.float32), discount, items.done
    )
    next_obs = jnp.take_along_axis(items.next_obs, k[:, None, None], axis=1)[:, 0]
    return NStep(items.obs[:, 0], items.action[:, 0], partial, boot, next_obs, weights)


class OffPolicyAgent(NamedTuple):
    """The algorithm-specific pure functions.

    ``init(key, hp) -> (params, learner)``: ``params`` the flat policy vector, ``learner``
    any pytree (critics, targets, optimiser states, temperature).
    ``explore(params, learner, obs [N, D], key, progress, hp) -> actions [N, ...]`` with
    ``progress`` in ``[0, 1]`` the fraction of training done.
    ``update(params, learner, batch: NStep, key, hp, grad_step, progress) -> (params, learner,
    td_abs [B], metrics dict of scalars)``.
    ``act(params, obs [N, D], key, greedy) -> actions [N, ...]`` in the agent's action units.
    ``metric_names``: the keys of ``update``'s metrics.
    """

    init: Callable
    explore: Callable
    update: Callable
    act: Callable
    metric_names: tuple[str, ...]


@struct.dataclass
class OffPolicyState:
    params: jax.Array  # flat policy vector
    learner: Any
    buffer: buffers.BufferState
    env_state: Any
    obs: jax.Array
    key: jax.Array
    env_steps: jax.Array
    grad_steps: jax.Array
    last_return: jax.Array


@struct.dataclass
class TrainResult:
    """Final learner state and metrics per update (each ``[num_updates]``)."""

    state: OffPolicyState
    metrics: dict


class ActionSpec(NamedTuple):
    """How the agent's actions map to the env's: discrete ``n`` actions, or a box that the
    agent sees as ``[-1, 1]^dim`` (rescaled to ``[low, high]`` before stepping)."""

    discrete: bool
    dim: int  # number of discrete actions, or the continuous action size
    low: Any
    high: Any

    def to_env(self, action):
        if self.discrete:
            return action
        action = jnp.clip(action, -1.0, 1.0)
        return self.low + (action + 1.0) * 0.5 * (self.high - self.low)

    def random(self, key, n: int):
        if self.discrete:
            return jax.random.randint(key, (n,), 0, self.dim)
        return jax.random.uniform(key, (n, self.dim), minval=-1.0, maxval=1.0)


def action_spec(env, env_params) -> ActionSpec:
    space = env.action_space(env_params)
    if jenvs.is_discrete(env, env_params):
        return ActionSpec(True, int(space.n), None, None)
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
    return ActionSpec(False, int(math.prod(space.shape)), low.reshape(-1), high.reshape(-1))


def require_action_kind(algo: str, env, env_params, discrete: bool, instead: str) -> None:
    """Refuses an env whose action kind the algorithm cannot handle, naming what can."""
    if jenvs.is_discrete(env, env_params) != discrete:
        kind = "discrete" if discrete else "continuous"
        other = "continuous" if discrete else "discrete"
        raise ValueError(
            f"env: {algo} needs {kind} actions but this env's actions are {other}; use {instead}"
        )


def wrap_env(env, env_params, num_envs: int):
    if len(env.observation_space(env_params).shape) != 1:
        env = jenvs.FlattenObservation(env)
    return jenvs.VecEnv(jenvs.EpisodeStatistics(env), num_envs)


def make_offpolicy_train(
    config: OffPolicyConfig,
    env,
    env_params,
    agent: OffPolicyAgent,
    spec: ActionSpec,
    hparams_type,
    gamma_of: Callable = lambda hp: hp.gamma,
):
    """Builds ``train(key, hparams=None, env_params=None) -> TrainResult`` around ``agent``.

    ``config`` must already be validated. The returned ``train`` has ``init``, ``run``,
    ``num_updates``, ``steps_per_update`` and ``act`` (actions in env units) like PPO's.
    """
    cfg = config
    venv = wrap_env(env, env_params, cfg.num_envs)
    obs_dim = venv.observation_space(env_params).shape[0]
    make_buffer = buffers.make_prioritized if cfg.prioritized else buffers.make_uniform
    buffer = make_buffer(
        cfg.buffer_size,
        cfg.num_envs,
        cfg.batch_size,
        sequence_length=cfg.n_step,
        storage_dtype=STORAGE_DTYPES[cfg.storage_dtype],
    )
    default_env_params = env_params
    total_iterations = cfg.num_updates * cfg.iterations_per_update
    a_shape = () if spec.discrete else (spec.dim,)
    a_dtype = jnp.int32 if spec.discrete else jnp.float32
    example = Transition(
        obs=jnp.zeros((obs_dim,)),
        action=jnp.zeros(a_shape, a_dtype),
        reward=jnp.zeros(()),
        terminated=jnp.zeros((), bool),
        done=jnp.zeros((), bool),
        next_obs=jnp.zeros((obs_dim,)),
    )

    def _as_f32(hparams):
        return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)

    def init(key, hparams, env_params=None) -> OffPolicyState:
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params, learner = agent.init(k_init, hp)
        obs, env_state = venv.reset(k_reset, env_params)
        return OffPolicyState(
            params=params,
            learner=learner,
            buffer=buffer.init(example),
            env_state=env_state,
            obs=obs,
            key=k_run,
            env_steps=jnp.zeros((), jnp.int32),
            grad_steps=jnp.zeros((), jnp.int32),
            last_return=jnp.zeros((), jnp.float32),
        )

    def env_step(state: OffPolicyState, prepared_t, key, hp, env_params):
        """One vector step: act, step, store. Returns the state and episode statistics."""
        k_explore, k_random = jax.random.split(key)
        progress = state.env_steps / cfg.total_steps
        explore = agent.explore(state.params, state.learner, state.obs, k_explore, progress, hp)
        warmup = state.env_steps < cfg.learning_starts
        action = jnp.where(warmup, spec.random(k_random, cfg.num_envs), explore)
        next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
            prepared_t, state.env_state, spec.to_env(action), env_params
        )
        tr = Transition(state.obs, action, reward, terminated, terminated | truncated,
                        info["final_observation"])  # fmt: skip
        state = state.replace(
            buffer=buffer.add(state.buffer, tr),
            env_state=env_state,
            obs=next_obs,
            env_steps=state.env_steps + cfg.num_envs,
        )
        done = info["returned_episode"]
        return state, (jnp.sum(info["episode_return"] * done), jnp.sum(done))

    def train_phase(state: OffPolicyState, key, hp):
        """``gradient_steps`` gradient steps on fresh samples; metrics averaged over them."""
        progress = state.env_steps / cfg.total_steps
        gamma = gamma_of(hp)

        def grad_step(carry, key):
            params, learner, buf, n = carry
            k_sample, k_update = jax.random.split(key)
            beta = 0.4 + 0.6 * progress  # importance-weight exponent annealed towards 1
            sample = buffer.sample(buf, k_sample, beta)
            batch = n_step_batch(sample.items, sample.weights, gamma)
            params, learner, td_abs, metrics = agent.update(
                params, learner, batch, k_update, hp, n, progress
            )
            buf = buffer.update_priorities(buf, sample.indices, td_abs)
            return (params, learner, buf, n + 1), metrics

        carry = (state.params, state.learner, state.buffer, state.grad_steps)
        keys = jax.random.split(key, cfg.gradient_steps)
        (params, learner, buf, n), metrics = jax.lax.scan(grad_step, carry, keys)
        state = state.replace(params=params, learner=learner, buffer=buf, grad_steps=n)
        return state, jax.tree.map(jnp.mean, metrics)

    def no_train(state: OffPolicyState, key, hp):
        return state, {k: jnp.zeros(()) for k in agent.metric_names}

    def iteration(carry, xs):
        state, hp, env_params = carry
        prepared, key = xs
        k_env, k_train = jax.random.split(key)
        env_keys = jax.random.split(k_env, cfg.train_every)

        def one_step(state, xs_t):
            return env_step(state, xs_t[0], xs_t[1], hp, env_params)

        state, (ret_sum, n_done) = jax.lax.scan(one_step, state, (prepared, env_keys))
        learn = state.env_steps >= cfg.learning_starts
        state, metrics = jax.lax.cond(learn, train_phase, no_train, state, k_train, hp)
        metrics = {**metrics, "trained": learn.astype(jnp.float32)}
        return (state, hp, env_params), (ret_sum.sum(), n_done.sum(), metrics)

    def run(state: OffPolicyState, hparams, num_updates: int, env_params=None):
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        n_iter = cfg.iterations_per_update

        def update(state: OffPolicyState, _):
            key, k_prep, k_iter = jax.random.split(state.key, 3)
            prepared = venv.prepare(k_prep, n_iter * cfg.train_every, env_params)
            prepared = jax.tree.map(
                lambda x: x.reshape((n_iter, cfg.train_every) + x.shape[1:]), prepared
            )
            (state, _, _), (ret_sum, n_done, metrics) = jax.lax.scan(
                iteration,
                (state.replace(key=key), hp, env_params),
                (prepared, jax.random.split(k_iter, n_iter)),
            )
            episodes = n_done.sum()
            mean_return = ret_sum.sum() / jnp.maximum(episodes, 1)
            last_return = jnp.where(episodes > 0, mean_return, state.last_return)
            trained = jnp.maximum(metrics.pop("trained").sum(), 1.0)
            out = {k: v.sum() / trained for k, v in metrics.items()}
            out.update(episode_return=last_return, episodes=episodes)
            return state.replace(last_return=last_return), out

        return jax.lax.scan(update, state, None, num_updates)

    def train(key, hparams=None, env_params=None) -> TrainResult:
        hparams = hparams_type() if hparams is None else hparams
        state = init(key, hparams, env_params)
        state, metrics = run(state, hparams, cfg.num_updates, env_params)
        return TrainResult(state=state, metrics=metrics)

    def act(params, obs, key, greedy: bool):
        return spec.to_env(agent.act(params, obs, key, greedy))

    train.init = init
    train.run = run
    train.num_updates = cfg.num_updates
    train.steps_per_update = cfg.log_every
    train.total_iterations = total_iterations
    train.act = act
    train.buffer = buffer
    return train


def polyak(target, online, tau):
    """``tau * online + (1 - tau) * target`` leaf by leaf."""
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)
