"""The training loop shared by replay-based learners (DQN, SAC, TD3, DDPG).

One iteration steps ``num_envs`` envs ``train_every`` times, writes the transitions to a
functional replay buffer and, once ``learning_starts`` env steps are in it, takes
``gradient_steps`` gradient steps on sampled batches. Until then actions are uniformly
random. Everything is inside ``jax.lax.scan``, so a whole run is one jittable function of a
key and vmaps over seeds and hyperparameters.

An algorithm supplies an :class:`OffPolicyAgent` (``init``, ``explore``, ``update``,
``act``); this module supplies the env, the buffer, n-step targets and the bookkeeping, as
module-level steps over a static :class:`Loop`: :func:`env_step` (act, step, store) and
:func:`train_phase` (sample, update, reprioritise). An offline learner reuses
:func:`train_phase` over a buffer filled from a dataset.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl._errors import (
    require,
    require_choice,
    require_layers,
    require_nonnegative_int,
    require_positive_ints,
    require_update_schedule,
)
from jaxrl.envs import ActionSpec
from jaxrl.learner import Learner, Policy, ReplaySchedule
from jaxrl.losses import n_step_bootstrap
from jaxrl.networks import ACTIVATIONS

STORAGE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig(ReplaySchedule):
    """Static configuration common to replay-based learners (changing one recompiles).

    ``log_every`` env steps make one reported update (one row of metrics); the total is
    ``total_steps // log_every`` updates.
    """

    num_envs: int = 1
    """Environments stepped in lockstep in each run."""
    total_steps: int = 20_000
    """Env steps per run (per seed), rounded down to whole multiples of log_every."""
    learning_starts: int = 1_000
    """Env steps of uniformly random actions before the first gradient step."""
    buffer_size: int = 100_000
    """Replay capacity in transitions (all envs together)."""
    batch_size: int = 256
    """Transitions (sequences of n_step) per gradient step."""
    train_every: int = 1
    """Steps of every env between two rounds of gradient steps."""
    gradient_steps: int = 1
    """Gradient steps per round (every train_every steps of the envs)."""
    log_every: int = 1_000
    """Env steps per reported update (one row of metrics, one progress tick)."""
    n_step: int = 1
    """Steps summed into each bootstrapped target (1: one-step TD)."""
    prioritized: bool = False
    """Proportional prioritized replay (importance-weight exponent 0.4 -> 1) instead of uniform."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of each network."""
    activation: str = "relu"
    """Hidden activation: relu, tanh, gelu or silu."""
    storage_dtype: str = "float32"
    """Observation storage in replay: float32, bfloat16 or float16."""

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
        require_nonnegative_int(self, "learning_starts")
        require_update_schedule(self, "num_envs*train_every")
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
        require_layers(self.hidden)
        require_choice("activation", self.activation, ACTIVATIONS)
        require_choice("storage_dtype", self.storage_dtype, STORAGE_DTYPES, "storage dtype")


class Transition(NamedTuple):
    """One env step as stored in replay (``next_obs`` is the true next observation, also at
    an episode end)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    next_obs: jax.Array
    extras: Any = ()  # what the agent stores with each transition (OffPolicyAgent.extras)
    features: Any = ()  # OffPolicyAgent.fixed_features of obs, if the agent has them
    next_features: Any = ()  # ... of next_obs


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
    extras: Any = ()  # [B, ...] the agent's extras stored with each sample's first step
    obs_features: Any = ()  # [B, ...] OffPolicyAgent.fixed_features of obs (() without)
    next_features: Any = ()  # [B, ...] ... of next_obs (the bootstrap step's)


def n_step_batch(items: Transition, weights: jax.Array, gamma) -> NStep:
    """Reduces sequences ``[B, n, ...]`` to n-step targets (see ``n_step_bootstrap``).

    The action may be a pytree (an agent that stores more with each action, such as HIRO's
    manager with the worker's steps); each leaf's first step is kept.
    """
    discount = gamma * (1.0 - items.terminated.astype(jnp.float32))
    partial, boot, k = jax.vmap(n_step_bootstrap)(
        items.reward.astype(jnp.float32), discount, items.done
    )
    next_obs = jnp.take_along_axis(items.next_obs, k[:, None, None], axis=1)[:, 0]
    extras = jax.tree.map(lambda x: x[:, 0], items.extras)
    action = jax.tree.map(lambda a: a[:, 0], items.action)
    features = jax.tree.map(lambda x: x[:, 0], items.features)
    next_features = jax.tree.map(
        lambda x: jnp.take_along_axis(x, k.reshape((-1,) + (1,) * (x.ndim - 1)), axis=1)[:, 0],
        items.next_features,
    )  # fmt: skip
    return NStep(items.obs[:, 0], action, partial, boot, next_obs, weights, extras, features,
                 next_features)  # fmt: skip


def td_loss_mean(weights: jax.Array, per_sample: jax.Array) -> jax.Array:
    """The importance-weighted TD loss of a batch: the mean over its ``B`` samples (last
    axis) of ``w_i * l_i``.

    This is prioritized replay's update (Schaul et al. 2016, Algorithm 1): the weights
    ``(N P(i))^-beta`` come max-normalised from the buffer, so they only ever scale an update
    down, and a batch of low-weight samples moves the network less than a uniform one. With
    uniform replay every weight is 1 and this is the plain mean. Samples the buffer could not
    provide have weight 0.
    """
    return jnp.mean(weights * per_sample, axis=-1)


def sample_mean(weights: jax.Array, per_sample: jax.Array) -> jax.Array:
    """The mean over the real samples of a batch (``weights > 0``), not importance-weighted:
    for the actor's and the temperature's losses (importance weights correct the bias of
    prioritized sampling in the TD update; the policy is improved on every sampled state
    alike)."""
    valid = (weights > 0).astype(per_sample.dtype)
    return jnp.sum(valid * per_sample, axis=-1) / jnp.maximum(jnp.sum(valid), 1.0)


class OffPolicyAgent(NamedTuple):
    """The algorithm-specific pure functions.

    ``init(key, hp) -> (params, agent_state)``: ``params`` the policy's parameters (any
    pytree; a flat vector is fine), ``agent_state`` any pytree (critics, targets, optimiser
    states, temperature).
    ``explore(params, agent_state, obs [N, D], key, progress, hp) -> actions [N, ...]`` with
    ``progress`` in ``[0, 1]`` the fraction of training done.
    ``update(params, agent_state, batch: NStep, key, hp, grad_step, progress) -> (params,
    agent_state, td_abs [B], metrics dict of scalars)``.
    ``save(params) -> pytree``: the policy's parameters as stored (e.g. a flat vector
    unravelled into its layers).
    ``act(saved, obs [N, D], key, greedy) -> actions [N, ...]`` in the agent's action units
    (``[-1, 1]`` for continuous actions).
    ``metric_names``: the keys of ``update``'s metrics.
    ``extras`` (optional): ``(key, num_envs) -> pytree [num_envs, ...]`` drawn at every env
    step and stored with its transitions (bootstrapped DQN's bootstrap masks); a sampled
    batch carries each sample's in ``NStep.extras``.
    ``explore_carry`` (optional): ``init_carry(num_envs) -> pytree [num_envs, ...]``, a
    per-env exploration state (a head sampled per episode). With it, ``explore`` takes it
    last and returns ``(actions, carry)``; the loop resets an env's carry to
    ``init_carry``'s where its episode ended. The trained policy keeps it as its carry
    (``Policy(act, init_carry)``, reset by the evaluation loop at episode ends), ``act``
    then taking it last and returning ``(actions, carry)`` too.
    ``fixed_features`` (optional): ``(params, obs [N, D]) -> pytree [N, ...]``, a function of
    an observation that training never changes (a fixed random prior network's outputs). The
    loop computes it once when a transition is stored, for ``obs`` and ``next_obs``, and a
    sampled batch carries them in ``NStep.obs_features`` and ``NStep.next_features``, so that
    ``update`` need not recompute them on every batch. Only with float32 storage (a narrower
    dtype would round them; then the batch's features are ``()`` and ``update`` computes them).
    ``value(params, agent_state, obs [B, D]) -> [B]``, if given: the critics' estimate of the
    greedy policy's value at ``obs`` (``Q(s, mode pi(s))``, the minimum over twin critics),
    for diagnostics (an offline learner reports it at the dataset's first states, to set
    against the return the policy really gets: extrapolation error).
    """

    init: Callable
    explore: Callable
    update: Callable
    act: Callable
    metric_names: tuple[str, ...]
    save: Callable = lambda params: params
    value: Callable | None = None
    extras: Callable | None = None
    explore_carry: Callable | None = None
    fixed_features: Callable | None = None


@struct.dataclass
class OffPolicyState:
    params: Any  # the policy's parameters
    agent: Any  # the agent's other state (critics, targets, optimisers)
    buffer: buffers.BufferState
    env_state: Any
    obs: jax.Array
    key: jax.Array
    env_steps: jax.Array
    grad_steps: jax.Array
    last_return: jax.Array
    explore_carry: Any = ()  # per-env exploration state (OffPolicyAgent.explore_carry)


class Loop(NamedTuple):
    """The static parts of the loop: the config, the agent, the env and the buffer."""

    cfg: OffPolicyConfig
    agent: OffPolicyAgent
    spec: ActionSpec
    venv: Any
    buffer: buffers.ReplayBuffer
    gamma_of: Callable

    @property
    def total_iterations(self) -> int:
        return self.cfg.num_updates * self.cfg.iterations_per_update


def make_buffer(cfg: OffPolicyConfig) -> buffers.ReplayBuffer:
    """The replay buffer of ``cfg``: uniform or prioritized, sequences of ``n_step`` steps."""
    make = buffers.make_prioritized if cfg.prioritized else buffers.make_uniform
    return make(cfg.buffer_size, cfg.num_envs, cfg.batch_size, sequence_length=cfg.n_step,
                storage_dtype=STORAGE_DTYPES[cfg.storage_dtype])  # fmt: skip


def stores_features(cfg: OffPolicyConfig, agent: OffPolicyAgent) -> bool:
    """Whether replay holds ``agent.fixed_features`` (it has them and storage is float32)."""
    return agent.fixed_features is not None and cfg.storage_dtype == "float32"


def example_transition(obs_dim: int, spec: ActionSpec, extras=(), features=()) -> Transition:
    """One unbatched transition of zeros (a buffer's ``init`` reads shapes and dtypes);
    ``extras`` and ``features`` unbatched examples of the agent's extras and fixed features."""
    a_shape = () if spec.discrete else (spec.dim,)
    a_dtype = jnp.int32 if spec.discrete else jnp.float32
    return Transition(
        obs=jnp.zeros((obs_dim,)),
        action=jnp.zeros(a_shape, a_dtype),
        reward=jnp.zeros(()),
        terminated=jnp.zeros((), bool),
        done=jnp.zeros((), bool),
        next_obs=jnp.zeros((obs_dim,)),
        extras=extras,
        features=features,
        next_features=features,
    )


def env_step(loop: Loop, state: OffPolicyState, prepared_t, key, hp, env_params):
    """One vector step: act (uniformly at random before ``learning_starts``), step, store.

    Returns the state and the step's episode statistics ``(sum of returns, episodes)``.
    """
    cfg, spec = loop.cfg, loop.spec
    k_explore, k_random = jax.random.split(key)
    progress = state.env_steps / cfg.total_steps
    agent = loop.agent
    if agent.explore_carry is None:
        explore = agent.explore(state.params, state.agent, state.obs, k_explore, progress, hp)
        carry = state.explore_carry
    else:
        explore, carry = agent.explore(state.params, state.agent, state.obs, k_explore,
                                       progress, hp, state.explore_carry)  # fmt: skip
    warmup = state.env_steps < cfg.learning_starts
    action = jnp.where(warmup, spec.random(k_random, cfg.num_envs), explore)
    next_obs, env_state, reward, terminated, truncated, info = loop.venv.step_prepared(
        prepared_t, state.env_state, spec.to_env(action), env_params
    )
    done = terminated | truncated
    extras = () if agent.extras is None else agent.extras(jax.random.fold_in(key, 1), cfg.num_envs)
    tr = Transition(state.obs, action, reward, terminated, done, info["final_observation"],
                    extras)  # fmt: skip
    if stores_features(cfg, agent):
        tr = tr._replace(features=agent.fixed_features(state.params, tr.obs),
                         next_features=agent.fixed_features(state.params, tr.next_obs))  # fmt: skip
    if agent.explore_carry is not None:
        fresh = agent.explore_carry(cfg.num_envs)
        carry = jax.tree.map(
            lambda f, c: jnp.where(done.reshape(done.shape + (1,) * (c.ndim - 1)), f, c),
            fresh, carry,
        )  # fmt: skip
    state = state.replace(
        explore_carry=carry,
        buffer=loop.buffer.add(state.buffer, tr),
        env_state=env_state,
        obs=next_obs,
        env_steps=state.env_steps + cfg.num_envs,
    )
    done = info["returned_episode"]
    return state, (jnp.sum(info["episode_return"] * done), jnp.sum(done))


def train_phase(loop: Loop, params, agent_state, buffer_state, grad_steps, key, hp, progress):
    """``gradient_steps`` gradient steps on fresh samples of ``buffer_state``.

    Returns ``(params, agent_state, buffer_state, grad_steps, metrics)`` with the metrics
    averaged over the steps. ``progress`` in ``[0, 1]`` anneals the importance-weight
    exponent of prioritized replay (0.4 -> 1) and whatever the agent anneals.
    """
    gamma = loop.gamma_of(hp)

    def grad_step(carry, key):
        params, agent_state, buf, n = carry
        k_sample, k_update = jax.random.split(key)
        beta = 0.4 + 0.6 * progress  # importance-weight exponent annealed towards 1
        sample = loop.buffer.sample(buf, k_sample, beta)
        batch = n_step_batch(sample.items, sample.weights, gamma)
        params, agent_state, td_abs, metrics = loop.agent.update(
            params, agent_state, batch, k_update, hp, n, progress
        )
        buf = loop.buffer.update_priorities(buf, sample.indices, td_abs)
        return (params, agent_state, buf, n + 1), metrics

    carry = (params, agent_state, buffer_state, grad_steps)
    keys = jax.random.split(key, loop.cfg.gradient_steps)
    (params, agent_state, buffer_state, grad_steps), metrics = jax.lax.scan(grad_step, carry, keys)
    return params, agent_state, buffer_state, grad_steps, jax.tree.map(jnp.mean, metrics)


def _train(loop: Loop, state: OffPolicyState, key, hp):
    progress = state.env_steps / loop.cfg.total_steps
    params, agent_state, buf, n, metrics = train_phase(
        loop, state.params, state.agent, state.buffer, state.grad_steps, key, hp, progress
    )
    return state.replace(params=params, agent=agent_state, buffer=buf, grad_steps=n), metrics


def _no_train(loop: Loop, state: OffPolicyState, key, hp):
    return state, {k: jnp.zeros(()) for k in loop.agent.metric_names}


def iteration(loop: Loop, carry, xs):
    """``train_every`` vector steps, then a train phase once ``learning_starts`` steps are
    in the buffer (a ``lax.scan`` body over iterations)."""
    state, hp, env_params = carry
    prepared, key = xs
    k_env, k_train = jax.random.split(key)
    env_keys = jax.random.split(k_env, loop.cfg.train_every)

    def one_step(state, xs_t):
        return env_step(loop, state, xs_t[0], xs_t[1], hp, env_params)

    state, (ret_sum, n_done) = jax.lax.scan(one_step, state, (prepared, env_keys))
    learn = state.env_steps >= loop.cfg.learning_starts
    train = functools.partial(_train, loop)
    state, metrics = jax.lax.cond(learn, train, functools.partial(_no_train, loop), state,
                                  k_train, hp)  # fmt: skip
    metrics = {**metrics, "trained": learn.astype(jnp.float32)}
    return (state, hp, env_params), (ret_sum.sum(), n_done.sum(), metrics)


def update(loop: Loop, state: OffPolicyState, hp, env_params):
    """``log_every`` env steps: one reported update -> ``(state, metrics)``."""
    cfg = loop.cfg
    n_iter = cfg.iterations_per_update
    key, k_prep, k_iter = jax.random.split(state.key, 3)
    prepared = loop.venv.prepare(k_prep, n_iter * cfg.train_every, env_params)
    prepared = jax.tree.map(lambda x: x.reshape((n_iter, cfg.train_every) + x.shape[1:]), prepared)
    (state, _, _), (ret_sum, n_done, metrics) = jax.lax.scan(
        functools.partial(iteration, loop),
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


def make_learner(config: OffPolicyConfig, env, env_params, agent: OffPolicyAgent,
                 spec: ActionSpec, hparams, hparam_ranges,
                 gamma_of: Callable = lambda hp: hp.gamma) -> Learner:  # fmt: skip
    """The replay learner of ``agent`` on ``env`` (``config`` already validated)."""
    cfg = config
    venv = jenvs.stack(env, env_params, cfg.num_envs, clip_actions=False)
    obs_dim = venv.observation_space(env_params).shape[0]
    loop = Loop(cfg, agent, spec, venv, make_buffer(cfg), gamma_of)
    extras = () if agent.extras is None else jax.tree.map(
        lambda x: jnp.zeros(x.shape[1:], x.dtype),
        jax.eval_shape(lambda key: agent.extras(key, cfg.num_envs), jax.random.key(0)),
    )  # fmt: skip
    features = () if not stores_features(cfg, agent) else jax.tree.map(
        lambda x: jnp.zeros(x.shape[1:], x.dtype),
        jax.eval_shape(lambda key: agent.fixed_features(agent.init(key, hparams)[0],
                                                        jnp.zeros((1, obs_dim))),
                       jax.random.key(0)),
    )  # fmt: skip
    example = example_transition(obs_dim, spec, extras, features)
    no_carry = agent.explore_carry is None

    def init(key, hp, env_params, data) -> OffPolicyState:
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params, agent_state = agent.init(k_init, hp)
        obs, env_state = venv.reset(k_reset, env_params)
        zero = jnp.zeros((), jnp.int32)
        return OffPolicyState(params=params, agent=agent_state,
                              buffer=loop.buffer.init(example), env_state=env_state, obs=obs,
                              key=k_run, env_steps=zero, grad_steps=zero,
                              last_return=jnp.zeros((), jnp.float32),
                              explore_carry=() if no_carry else agent.explore_carry(
                                  cfg.num_envs))  # fmt: skip

    if no_carry:

        def act(saved, obs, key, carry, env_state, greedy: bool):
            return spec.to_env(agent.act(saved, obs, key, greedy)), carry

        policy = Policy(act)
    else:  # the policy keeps the exploration carry too: agent.act takes and returns it

        def act(saved, obs, key, carry, env_state, greedy: bool):
            action, carry = agent.act(saved, obs, key, greedy, carry)
            return spec.to_env(action), carry

        policy = Policy(act, agent.explore_carry)

    return Learner(
        config=cfg,
        hparams=hparams,
        init=init,
        update=lambda state, hp, env_params, data: update(loop, state, hp, env_params),
        policy=policy,
        save=lambda state: agent.save(state.params),
        num_updates=cfg.num_updates,
        steps_per_update=cfg.log_every,
        env=env,
        env_params=env_params,
        hparam_ranges=hparam_ranges,
    )


def polyak(target, online, tau):
    """``tau * online + (1 - tau) * target`` leaf by leaf."""
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)
