"""AlphaZero-style planning with the true simulator (Silver et al. 2018, Science 362:1140).

gymnax envs are pure functions, so the search tree's nodes can hold real env states: every
simulation steps the true env (:func:`jaxrl.planning.make_env_recurrent_fn`), and a
prediction network gives the search its priors and leaf values. Self-play acts with the
search (Gumbel MuZero by default, Danihelka et al. 2022; PUCT selectable) in ``num_envs``
envs; the network is trained on the fresh batch, by cross-entropy towards the search's
policy and a categorical (two-hot, ``h``-transformed) value head towards n-step returns
bootstrapped from the search's root values. Only deterministic envs are accepted (a
stochastic env raises ``ValueError``: planning on one sample of each transition would be
silently wrong).

``train.act`` (observations only, as the learner contract has it) acts with the network's
prior alone, the policy distilled from search; ``train.plan(params, env_state, obs, key,
greedy)`` acts with the full search and :func:`evaluate_planner` measures its returns.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_positive_ints
from jaxrl.losses import categorical_to_scalar, scalar_to_categorical
from jaxrl.networks.muzero import apply_prediction, init_prediction
from jaxrl.planning import (
    SearchConfig,
    check_deterministic,
    env_root,
    make_env_recurrent_fn,
    n_step_returns,
    require_discrete,
    root_value,
    run_search,
)
from jaxrl.run.hparams import check_hparams


@dataclasses.dataclass(frozen=True)
class AlphaZeroConfig:
    """Static configuration (a change recompiles).

    ``gamma`` is static here (not a traced hyperparameter) because ``train.plan`` searches
    with it and takes no hyperparameters.
    """

    num_envs: int = 16
    num_steps: int = 16
    total_steps: int = 61_440
    update_epochs: int = 4
    num_minibatches: int = 4
    hidden: tuple[int, ...] = (64, 64)
    num_bins: int = 41
    value_max: float = 100.0
    n_step: int = 20
    gamma: float = 0.99
    search_policy: str = "gumbel"
    num_simulations: int = 32
    max_depth: int | None = None

    @property
    def batch_size(self) -> int:
        """Env steps per update."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    @property
    def search(self) -> SearchConfig:
        return SearchConfig(self.search_policy, self.num_simulations, self.max_depth)

    def validate(self) -> None:
        require_positive_ints(
            self,
            ("num_envs", "num_steps", "total_steps", "update_epochs", "num_minibatches", "n_step"),
        )
        require(self.batch_size % self.num_minibatches == 0, "num_minibatches",
                f"batch num_envs*num_steps={self.batch_size} is not divisible into "
                f"{self.num_minibatches} minibatches")  # fmt: skip
        require(self.total_steps >= self.batch_size, "total_steps",
                f"{self.total_steps} is less than one batch "
                f"(num_envs*num_steps={self.batch_size})")  # fmt: skip
        require(len(self.hidden) > 0 and all(h > 0 for h in self.hidden), "hidden",
                f"needs at least one positive layer size, got {self.hidden}")  # fmt: skip
        require(isinstance(self.num_bins, int) and self.num_bins >= 3, "num_bins",
                f"must be an int >= 3, got {self.num_bins}")  # fmt: skip
        require(self.value_max > 0, "value_max", f"must be positive, got {self.value_max}")
        require(0 <= self.gamma <= 1, "gamma", f"must be in [0, 1], got {self.gamma}")
        self.search.validate(policy_field="search_policy")


class AlphaZeroHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 1e-3
    value_coef: float = 1.0
    max_grad_norm: float = 1.0
    temperature: float = 1.0  # self-play exploration (see ``run_search``)


def validate_hparams(hp: AlphaZeroHParams) -> None:
    """Checks concrete hyperparameter values (arrays are checked elementwise)."""
    checks = {
        "lr": lambda v: v > 0,
        "value_coef": lambda v: v >= 0,
        "max_grad_norm": lambda v: v > 0,
        "temperature": lambda v: v >= 0,
    }
    check_hparams(hp, checks)


@struct.dataclass
class AlphaZeroState:
    params: jax.Array  # flat f32 vector of the prediction network
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    last_return: jax.Array


@struct.dataclass
class TrainResult:
    """Final learner state and metrics per update (each ``[num_updates]``)."""

    state: AlphaZeroState
    metrics: dict


class SelfPlayStep(NamedTuple):
    obs: jax.Array  # [N, obs_dim]
    policy: jax.Array  # [N, A] search policy (the policy target)
    value: jax.Array  # [N] search value of obs
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    episode_return: jax.Array
    returned: jax.Array


class Batch(NamedTuple):
    obs: jax.Array
    policy: jax.Array
    target: jax.Array


def policy_value_loss(logits, value_logits, pi_target, z, value_max: float, num_bins: int):
    """Cross-entropies of one sample: policy ``[A]`` vs search policy, value ``[bins]`` vs z."""
    policy_loss = -jnp.sum(pi_target * jax.nn.log_softmax(logits))
    z_cat = scalar_to_categorical(z, value_max, num_bins)
    value_loss = -jnp.sum(z_cat * jax.nn.log_softmax(value_logits))
    return policy_loss, value_loss


def plan_env(env, env_params):
    """The env the planner steps: the raw env with flat observations."""
    if len(env.observation_space(env_params).shape) != 1:
        return jenvs.FlattenObservation(env)
    return env


class _Net(NamedTuple):
    unravel: Any
    value_max: float
    num_bins: int

    def apply(self, flat_params, obs):
        """``(prior logits [B, A], value [B])``."""
        logits, value_logits = apply_prediction(self.unravel(flat_params), obs)
        return logits, categorical_to_scalar(value_logits, self.value_max, self.num_bins)


def _act(net: _Net, params, obs, key, greedy: bool):
    """The network prior's actions (no search): the mode, or a sample."""
    logits, _ = net.apply(params, obs)
    if greedy:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def _plan(net: _Net, cfg: AlphaZeroConfig, penv, default_params, params, env_state, obs, key,
          greedy: bool, env_params=None, temperature=1.0):  # fmt: skip
    """Search actions ``[B]`` from raw env states (batched) and their observations."""
    env_params = default_params if env_params is None else env_params
    recurrent_fn = make_env_recurrent_fn(penv, env_params, net.apply, cfg.gamma)
    root = env_root(net.apply, params, obs, env_state)
    out = run_search(cfg.search, params, key, root, recurrent_fn, temperature=temperature,
                     greedy=greedy)  # fmt: skip
    return out.action.astype(jnp.int32)


def make_train(config: AlphaZeroConfig, env, env_params):
    """Builds ``train(key, hparams, env_params=None) -> TrainResult``.

    Raises ``ValueError`` (before tracing) for an invalid config, a continuous action space
    or an env with stochastic transitions.
    """
    config.validate()
    num_actions = require_discrete(env, env_params, "alphazero")
    check_deterministic(env, env_params)
    cfg = config
    penv = plan_env(env, env_params)
    venv = jenvs.VecEnv(jenvs.EpisodeStatistics(penv), cfg.num_envs)
    obs_dim = penv.observation_space(env_params).shape[0]

    def init_net(key):
        return init_prediction(key, obs_dim, num_actions, cfg.hidden, cfg.num_bins)

    _, unravel = ravel_pytree(init_net(jax.random.key(0)))
    net = _Net(unravel, cfg.value_max, cfg.num_bins)
    default_env_params = env_params
    loss_one = functools.partial(policy_value_loss, value_max=cfg.value_max,
                                 num_bins=cfg.num_bins)  # fmt: skip

    def _as_f32(hparams):
        return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)

    def make_optimizer(hp):
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(hp.lr))

    def loss_fn(params, mb: Batch, hp):
        logits, value_logits = apply_prediction(unravel(params), mb.obs)
        pl, vl = jax.vmap(loss_one)(logits, value_logits, mb.policy, mb.target)
        total = pl.mean() + hp.value_coef * vl.mean()
        return total, jnp.stack([total, pl.mean(), vl.mean()])

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def self_play(params, env_state, obs, key, hp, env_params):
        k_search, k_env = jax.random.split(key)
        recurrent_fn = make_env_recurrent_fn(penv, env_params, net.apply, cfg.gamma)
        prepared = venv.prepare(k_env, cfg.num_steps, env_params)

        def step(carry, xs):
            env_state, obs = carry
            key_t, prepared_t = xs
            root = env_root(net.apply, params, obs, env_state.env_state)
            out = run_search(cfg.search, params, key_t, root, recurrent_fn,
                             temperature=hp.temperature)  # fmt: skip
            next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
                prepared_t, env_state, out.action, env_params
            )
            rec = SelfPlayStep(obs, out.action_weights, root_value(out), reward, terminated,
                               truncated, info["final_observation"], info["episode_return"],
                               info["returned_episode"])  # fmt: skip
            return (env_state, next_obs), rec

        keys = jax.random.split(k_search, cfg.num_steps)
        (env_state, obs), traj = jax.lax.scan(step, (env_state, obs), (keys, prepared))
        return env_state, obs, traj

    def targets(params, traj: SelfPlayStep, last_obs):
        _, last_value = net.apply(params, last_obs)
        _, final_value = net.apply(params, traj.final_obs)
        next_value = jnp.concatenate([traj.value[1:], last_value[None]], axis=0)
        v_tp1 = jnp.where(traj.truncated, final_value, next_value)
        discount = cfg.gamma * (1.0 - traj.terminated.astype(jnp.float32))
        end = traj.terminated | traj.truncated
        fn = jax.vmap(functools.partial(n_step_returns, n=cfg.n_step), in_axes=1, out_axes=1)
        return fn(traj.reward.astype(jnp.float32), discount, v_tp1, end)

    def update_epochs(params, opt_state, batch: Batch, key, hp, tx):
        perms = jax.vmap(lambda k: jax.random.permutation(k, cfg.batch_size))(
            jax.random.split(key, cfg.update_epochs)
        )
        minibatches = jax.tree.map(
            lambda x: x[perms].reshape(
                (cfg.update_epochs * cfg.num_minibatches, cfg.minibatch_size) + x.shape[1:]
            ),
            batch,
        )

        def sgd_step(carry, mb):
            params, opt_state = carry
            grads, aux = grad_fn(params, mb, hp)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        (params, opt_state), aux = jax.lax.scan(sgd_step, (params, opt_state), minibatches)
        return params, opt_state, aux.mean(axis=0)

    def init(key, hparams, env_params=None):
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params, _ = ravel_pytree(init_net(k_init))
        obs, env_state = venv.reset(k_reset, env_params)
        return AlphaZeroState(
            params=params,
            opt_state=make_optimizer(hp).init(params),
            env_state=env_state,
            obs=obs,
            key=k_run,
            last_return=jnp.zeros((), jnp.float32),
        )

    def run(state: AlphaZeroState, hparams, num_updates: int, env_params=None):
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        tx = make_optimizer(hp)

        def update(state: AlphaZeroState, _):
            key, k_play, k_epochs = jax.random.split(state.key, 3)
            env_state, obs, traj = self_play(state.params, state.env_state, state.obs, k_play,
                                             hp, env_params)  # fmt: skip
            z = targets(state.params, traj, obs)
            flat = jax.tree.map(
                lambda x: x.reshape((cfg.batch_size,) + x.shape[2:]),
                Batch(traj.obs, traj.policy, z),
            )
            params, opt_state, losses = update_epochs(state.params, state.opt_state, flat,
                                                      k_epochs, hp, tx)  # fmt: skip
            episodes = traj.returned.sum()
            mean_return = jnp.sum(traj.episode_return * traj.returned) / jnp.maximum(episodes, 1)
            last_return = jnp.where(episodes > 0, mean_return, state.last_return)
            metrics = {
                "episode_return": last_return,
                "episodes": episodes,
                "loss": losses[0],
                "policy_loss": losses[1],
                "value_loss": losses[2],
                "search_value": traj.value.mean(),
            }
            state = state.replace(params=params, opt_state=opt_state, env_state=env_state,
                                  obs=obs, key=key, last_return=last_return)  # fmt: skip
            return state, metrics

        return jax.lax.scan(update, state, None, num_updates)

    def train(key, hparams=None, env_params=None):
        hparams = AlphaZeroHParams() if hparams is None else hparams
        state = init(key, hparams, env_params)
        state, metrics = run(state, hparams, cfg.num_updates, env_params)
        return TrainResult(state=state, metrics=metrics)

    train.init = init
    train.run = run
    train.num_updates = cfg.num_updates
    train.steps_per_update = cfg.batch_size
    train.act = functools.partial(_act, net)
    train.plan = functools.partial(_plan, net, cfg, penv, default_env_params)
    train.plan_env = penv
    return train


def make_planner_evaluator(train, env_params, *, episodes: int, greedy: bool = True,
                           max_steps: int | None = None):  # fmt: skip
    """A jitted ``evaluate(params [runs, P], key) -> [runs]`` mean returns of ``train.plan``.

    Each run plays ``episodes`` episodes in parallel with the search (the first episode of
    each env counts), for up to ``max_steps`` steps (default: ``max_steps_in_episode``).
    """
    max_steps = int(env_params.max_steps_in_episode) if max_steps is None else max_steps
    venv = jenvs.VecEnv(jenvs.EpisodeStatistics(train.plan_env), episodes)

    def one_run(p, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = venv.reset(k_reset, env_params)

        def body(carry, key):
            obs, state, first, done = carry
            k_act, k_step = jax.random.split(key)
            action = train.plan(p, state.env_state, obs, k_act, greedy, env_params)
            obs, state, _, _, _, info = venv.step(k_step, state, action, env_params)
            ended = info["returned_episode"] & ~done
            first = jnp.where(ended, info["episode_return"], first)
            return (obs, state, first, done | info["returned_episode"]), None

        init = (obs, state, jnp.zeros(episodes), jnp.zeros(episodes, bool))
        (_, _, first, _), _ = jax.lax.scan(body, init, jax.random.split(k_run, max_steps))
        return first.mean()

    @jax.jit
    def evaluate(params, key):
        keys = jax.random.split(key, params.shape[0])
        return jax.vmap(one_run)(params, keys)

    return evaluate


def evaluate_planner(train, env_params, params, *, episodes: int, greedy: bool = True,
                     seed: int = 0, max_steps: int | None = None) -> np.ndarray:  # fmt: skip
    """Mean undiscounted return of the search policy (``train.plan``) for each run.

    Args:
      train: from :func:`make_train`.
      env_params: the env's params.
      params: ``[runs, P]`` flat parameters.
      episodes: episodes per run (run in parallel; the first episode of each env counts).
      greedy: search without exploration noise.
      seed: evaluation seed.
      max_steps: steps to simulate (default: the env's ``max_steps_in_episode``).

    Returns:
      ``[runs]`` mean returns.
    """
    fn = make_planner_evaluator(train, env_params, episodes=episodes, greedy=greedy,
                                max_steps=max_steps)  # fmt: skip
    return np.asarray(fn(jnp.asarray(params), jax.random.key(seed)))


CONFIG = AlphaZeroConfig
HPARAMS = AlphaZeroHParams
