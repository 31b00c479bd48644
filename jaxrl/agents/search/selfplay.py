"""What MuZero and AlphaZero share: self-play with a search, replay and n-step value targets.

Self-play acts in ``num_envs`` envs with a tree search (:func:`jaxrl.planning.run_search`)
and records, per env step, the observation, the action, the reward, how the episode went on,
the search's policy and root value, and the value of the state the step reached
(:class:`Step`). The steps go into a :mod:`jaxrl.buffers` replay (``[rows, num_envs]``,
circular, written in place), and training samples sequences of ``K + n`` consecutive steps
of one env: ``K`` unrolled model steps (0 for AlphaZero) with an ``n``-step value target at
each of the ``K + 1`` positions (:func:`sequence_targets`, from
:func:`jaxrl.losses.n_step_bootstrap`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl._errors import require, require_layers, require_positive_ints
from jaxrl.learner import Learner, Policy, latest_return
from jaxrl.losses import n_step_bootstrap
from jaxrl.planning import SearchConfig, root_value, run_search


class Step(NamedTuple):
    """One self-play step of one env, as replay stores it."""

    obs: jax.Array  # [obs_dim]
    action: jax.Array  # [] int32
    reward: jax.Array  # []
    terminated: jax.Array  # [] bool
    truncated: jax.Array  # [] bool
    policy: jax.Array  # [A] the search's policy (the policy target)
    value: jax.Array  # [] the search's root value of obs
    next_value: jax.Array  # [] value of the state the step reached (see ``next_values``)


class Record(NamedTuple):
    """A self-play step of every env (what :func:`self_play` returns, ``[T, N, ...]``)."""

    step: Step
    final_obs: jax.Array
    episode_return: jax.Array
    returned: jax.Array


@struct.dataclass
class SearchState:
    params: jax.Array  # flat f32 vector of the networks
    opt_state: Any
    env_state: Any
    obs: jax.Array
    buffer: buffers.BufferState
    key: jax.Array
    last_return: jax.Array


def self_play(search, venv, root_fn: Callable, recurrent_fn: Callable, params, env_state, obs,
              key, temperature, env_params, num_steps: int):  # fmt: skip
    """``num_steps`` search-guided steps of every env -> ``(env_state, obs, Record [T, N])``.

    ``root_fn(params, obs, env_state) -> mctx.RootFnOutput`` starts each search (``env_state``
    is the stacked env's state, for planners on the true simulator); ``next_value`` is left
    at zero (see :func:`next_values`).
    """
    k_search, k_env = jax.random.split(key)
    prepared = venv.prepare(k_env, num_steps, env_params)

    def step(carry, xs):
        env_state, obs = carry
        key_t, prepared_t = xs
        out = run_search(search, params, key_t, root_fn(params, obs, env_state), recurrent_fn,
                         temperature=temperature)  # fmt: skip
        next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
            prepared_t, env_state, out.action, env_params
        )
        value = root_value(out)
        rec = Record(
            Step(obs, out.action.astype(jnp.int32), reward.astype(jnp.float32), terminated,
                 truncated, out.action_weights, value, jnp.zeros_like(value)),
            info["final_observation"], info["episode_return"], info["returned_episode"],
        )  # fmt: skip
        return (env_state, next_obs), rec

    keys = jax.random.split(k_search, num_steps)
    (env_state, obs), traj = jax.lax.scan(step, (env_state, obs), (keys, prepared))
    return env_state, obs, traj


def next_values(traj: Record, value_fn: Callable, params, last_obs) -> Step:
    """The trajectory's steps with ``next_value`` filled in ``[T, N]``.

    The value of the state each step reached: the next step's root value, the network's value
    of the observation after the trajectory for its last step, and the network's value of the
    final observation where a time limit cut the episode. (After termination it is never
    used: the target does not bootstrap there.)
    """
    steps = traj.step
    last_value = value_fn(params, last_obs)
    final_value = value_fn(params, traj.final_obs)
    next_value = jnp.concatenate([steps.value[1:], last_value[None]], axis=0)
    return steps._replace(next_value=jnp.where(steps.truncated, final_value, next_value))


def store(buffer: buffers.ReplayBuffer, state: buffers.BufferState, steps: Step):
    """Writes a trajectory ``[T, N]`` into replay, one row of ``N`` envs per step."""
    return jax.lax.scan(lambda s, row: (buffer.add(s, row), None), state, steps)[0]


def sequence_targets(seq: Step, gamma, n: int, unroll: int) -> jax.Array:
    """n-step value targets at positions ``0..unroll`` of one sequence of ``unroll + n``
    steps (unbatched) -> ``[unroll + 1]``.

    From position ``k`` the target is ``r_k + ... + γ^(j-k) v'_j`` with ``j`` the first step
    at or after ``k`` where the episode ended (or ``k + n - 1``) and ``v'_j`` the value of the
    state step ``j`` reached (:func:`jaxrl.losses.n_step_bootstrap`; no bootstrap after a
    termination).
    """
    seq = jax.tree.map(jnp.asarray, seq)
    discount = gamma * (1.0 - seq.terminated.astype(jnp.float32))
    done = seq.terminated | seq.truncated

    def at(k):
        window = [jax.lax.dynamic_slice_in_dim(x, k, n) for x in (seq.reward, discount, done)]
        partial, boot, j = n_step_bootstrap(*window)
        return partial + boot * seq.next_value[k + j]

    return jax.vmap(at)(jnp.arange(unroll + 1))


def sequence_masks(seq: Step, valid, unroll: int):
    """Loss weights of the ``unroll + 1`` positions of one sampled sequence.

    Returns ``(absorbing [K + 1], live [K + 1])``: ``absorbing`` where the episode ended
    strictly before the position (the model is trained towards an absorbing state there:
    value and reward 0, no policy loss), ``live`` where the position carries any loss (the
    sequence is real data and no time limit cut the episode before it).
    """
    terminated, truncated = seq.terminated[: unroll + 1], seq.truncated[: unroll + 1]
    ended = terminated | truncated
    ended_before = jnp.cumsum(ended) - ended > 0
    cut_before = jnp.cumsum(truncated) - truncated > 0
    return ended_before, ~cut_before & valid


@dataclasses.dataclass(frozen=True)
class SearchLearnerConfig:
    """What MuZero's and AlphaZero's configs share (static; a change recompiles).

    ``gamma`` is static (not a traced hyperparameter) because the policy searches with it and
    takes no hyperparameters.
    """

    num_envs: int = 16
    """Environments stepped in lockstep in each run."""
    num_steps: int = 16
    """Search-guided steps of every env per update."""
    total_steps: int = 61_440
    """Env steps per run (per seed), rounded down to whole updates."""
    window: int = 64
    """Replay: the latest steps of every env kept for sampling."""
    sgd_steps: int = 16
    """Adam steps per update."""
    sgd_batch: int = 64
    """Sampled positions per Adam step."""
    n_step: int = 20
    """Steps of rewards in each value target before bootstrapping from a root value."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the networks."""
    num_bins: int = 41
    """Bins of the categorical (two-hot) value head, at least 3."""
    value_max: float = 100.0
    """Largest |value| the value head represents (after the h-transform's inverse)."""
    gamma: float = 0.99
    """Discount (static: the search uses it)."""
    search_policy: str = "gumbel"
    """gumbel (Gumbel MuZero, good with few simulations) or muzero (PUCT)."""
    num_simulations: int = 32
    """Simulations per search (one search per action)."""
    max_depth: int | None = None
    """Deepest node a simulation may expand (None: num_simulations)."""

    @property
    def batch_size(self) -> int:
        """Env steps per update."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    @property
    def search(self) -> SearchConfig:
        return SearchConfig(self.search_policy, self.num_simulations, self.max_depth)

    @property
    def unroll(self) -> int:
        """Model steps unrolled from each sampled position (0: no model)."""
        return 0

    def validate(self) -> None:
        require_positive_ints(self, ("num_envs", "num_steps", "total_steps", "window",
                                     "sgd_steps", "sgd_batch", "n_step"))  # fmt: skip
        require(self.total_steps >= self.batch_size, "total_steps",
                f"{self.total_steps} is less than one update "
                f"(num_envs*num_steps={self.batch_size})")  # fmt: skip
        length = self.unroll + self.n_step
        require(self.window >= length, "window",
                f"must hold a sequence of {length} steps (model unroll + n_step), "
                f"got {self.window}")  # fmt: skip
        require_layers(self.hidden)
        require(isinstance(self.num_bins, int) and self.num_bins >= 3, "num_bins",
                f"must be an int >= 3, got {self.num_bins}")  # fmt: skip
        require(self.value_max > 0, "value_max", f"must be positive, got {self.value_max}")
        require(0 <= self.gamma <= 1, "gamma", f"must be in [0, 1], got {self.gamma}")
        self.search.validate(policy_field="search_policy")


class Networks(NamedTuple):
    """What an algorithm of this family supplies to :func:`make_search_learner`.

    ``init(key) -> pytree``: the networks' parameters.
    ``root(params, obs, env_state) -> mctx.RootFnOutput`` and
    ``recurrent(env_params) -> recurrent_fn``: the search.
    ``value(params, obs) -> [B]``: the network's value of observations.
    ``loss(params, sample: buffers.Sample, hp) -> (total, [losses])``: on a batch of sampled
    sequences; ``loss_names`` name the losses.
    ``uses_env_state``: the search reads env states (a true-simulator planner).
    """

    init: Callable
    root: Callable
    recurrent: Callable
    value: Callable
    loss: Callable
    loss_names: tuple[str, ...]
    uses_env_state: bool = False


def make_optimizer(hp) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(hp.lr))


def make_search_learner(cfg: SearchLearnerConfig, env, env_params, nets: Networks, hparams,
                        hparam_ranges) -> Learner:  # fmt: skip
    """Self-play with search into replay, and ``sgd_steps`` Adam steps per update on sampled
    sequences of ``cfg.unroll + cfg.n_step`` steps (``cfg`` already validated)."""
    venv = jenvs.stack(env, env_params, cfg.num_envs)
    template = nets.init(jax.random.key(0))
    unravel = ravel_pytree(template)[1]
    obs_dim = venv.observation_space(env_params).shape[0]
    num_actions = jenvs.action_spec(env, env_params).dim
    buffer = buffers.make_uniform(cfg.window * cfg.num_envs, cfg.num_envs, cfg.sgd_batch,
                                  sequence_length=cfg.unroll + cfg.n_step)  # fmt: skip
    example = Step(jnp.zeros(obs_dim), jnp.zeros((), jnp.int32), jnp.zeros(()),
                   jnp.zeros((), bool), jnp.zeros((), bool), jnp.zeros(num_actions),
                   jnp.zeros(()), jnp.zeros(()))  # fmt: skip
    grad_fn = jax.grad(lambda p, s, hp: nets.loss(unravel(p), s, hp), has_aux=True)

    def train_steps(params, opt_state, buffer_state, key, hp):
        tx = make_optimizer(hp)

        def sgd_step(carry, key):
            params, opt_state = carry
            grads, losses = grad_fn(params, buffer.sample(buffer_state, key), hp)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), losses

        keys = jax.random.split(key, cfg.sgd_steps)
        (params, opt_state), losses = jax.lax.scan(sgd_step, (params, opt_state), keys)
        return params, opt_state, losses.mean(axis=0)

    def init(key, hp, env_params, data):
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params = ravel_pytree(nets.init(k_init))[0]
        obs, env_state = venv.reset(k_reset, env_params)
        return SearchState(params=params, opt_state=make_optimizer(hp).init(params),
                           env_state=env_state, obs=obs, buffer=buffer.init(example),
                           key=k_run, last_return=jnp.zeros((), jnp.float32))  # fmt: skip

    def update(state: SearchState, hp, env_params, data):
        key, k_play, k_train = jax.random.split(state.key, 3)
        tree = unravel(state.params)
        env_state, obs, traj = self_play(cfg.search, venv, nets.root, nets.recurrent(env_params),
                                         tree, state.env_state, state.obs, k_play,
                                         hp.temperature, env_params, cfg.num_steps)  # fmt: skip
        steps = next_values(traj, nets.value, tree, obs)
        buffer_state = store(buffer, state.buffer, steps)
        params, opt_state, losses = train_steps(state.params, state.opt_state, buffer_state,
                                                k_train, hp)  # fmt: skip
        last_return, episodes = latest_return(state.last_return, traj.episode_return,
                                              traj.returned)  # fmt: skip
        metrics = {"episode_return": last_return, "episodes": episodes,
                   "search_value": steps.value.mean()}  # fmt: skip
        metrics.update(zip(nets.loss_names, losses, strict=True))
        state = state.replace(params=params, opt_state=opt_state, env_state=env_state, obs=obs,
                              buffer=buffer_state, key=key, last_return=last_return)  # fmt: skip
        return state, metrics

    def act(tree, obs, key, carry, env_state, greedy: bool):
        out = run_search(cfg.search, tree, key, nets.root(tree, obs, env_state),
                         nets.recurrent(env_params), greedy=greedy)  # fmt: skip
        return out.action.astype(jnp.int32), carry

    return Learner(config=cfg, hparams=hparams, init=init, update=update,
                   policy=Policy(act, uses_env_state=nets.uses_env_state),
                   save=lambda state: unravel(state.params), num_updates=cfg.num_updates,
                   steps_per_update=cfg.batch_size, env=env, env_params=env_params,
                   hparam_ranges=hparam_ranges)  # fmt: skip
