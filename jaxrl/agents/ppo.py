"""Proximal Policy Optimisation (Schulman et al. 2017, arXiv:1707.06347).

The whole run (rollouts, GAE, minibatch epochs) is one pure function ``train(key, hparams)``
so ``jax.vmap`` trains many seeds and hyperparameter settings in one compile. Discrete
(categorical) and continuous (diagonal Gaussian, state-independent log-std) actions.
Truncated episodes bootstrap from the value of the true final observation; terminated
episodes do not.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_positive_ints, unknown_name
from jaxrl.losses import (
    clipped_surrogate_loss,
    clipped_value_loss,
    generalized_advantage_estimation,
)
from jaxrl.networks import ACTIVATIONS, apply_actor_critic, init_actor_critic
from jaxrl.run.hparams import check_hparams

OPTIMIZERS = {
    "adam": lambda lr, eps: optax.adam(lr, eps=eps),
    "rmsprop": lambda lr, eps: optax.rmsprop(lr, decay=0.99, eps=eps),
}


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Static configuration: shapes, counts and switches (changing one recompiles)."""

    num_envs: int = 4
    num_steps: int = 128
    total_steps: int = 500_000
    update_epochs: int = 4
    num_minibatches: int = 4
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    anneal_lr: bool = True
    normalize_obs: bool = False
    normalize_advantages: bool = True
    clip_value: bool = True
    optimizer: str = "adam"

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def validate(self) -> None:
        require_positive_ints(
            self, ("num_envs", "num_steps", "total_steps", "update_epochs", "num_minibatches")
        )
        require(
            self.batch_size % self.num_minibatches == 0,
            "num_minibatches",
            f"batch num_envs*num_steps={self.batch_size} is not divisible into "
            f"{self.num_minibatches} minibatches",
        )
        require(
            self.total_steps >= self.batch_size,
            "total_steps",
            f"{self.total_steps} is less than one batch (num_envs*num_steps={self.batch_size})",
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
        if self.optimizer not in OPTIMIZERS:
            raise ValueError("optimizer: " + unknown_name("optimizer", self.optimizer, OPTIMIZERS))


class PPOHParams(NamedTuple):
    """Traced hyperparameters: floats that can be vmapped over (a sweep in one compile)."""

    lr: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-5


def validate_hparams(hp: PPOHParams) -> None:
    """Checks concrete hyperparameter values (arrays are checked elementwise)."""
    checks = {
        "lr": lambda v: v > 0,
        "gamma": lambda v: (v >= 0) & (v <= 1),
        "gae_lambda": lambda v: (v >= 0) & (v <= 1),
        "clip_eps": lambda v: v > 0,
        "ent_coef": lambda v: v >= 0,
        "vf_coef": lambda v: v >= 0,
        "max_grad_norm": lambda v: v > 0,
        "adam_eps": lambda v: v > 0,
    }
    check_hparams(hp, checks)


@struct.dataclass
class PPOState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    last_return: jax.Array  # mean return of the latest update with a finished episode


@struct.dataclass
class TrainResult:
    """Final learner state and metrics per update (each ``[num_updates]``)."""

    state: PPOState
    metrics: dict


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    final_obs: jax.Array
    episode_return: jax.Array
    returned: jax.Array


class Batch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


def wrap_env(config: PPOConfig, env, env_params):
    """The training env: flatten, episode statistics, action clipping, vectorise, normalise."""
    if len(env.observation_space(env_params).shape) != 1:
        env = jenvs.FlattenObservation(env)
    env = jenvs.EpisodeStatistics(env)
    if not jenvs.is_discrete(env, env_params):
        env = jenvs.ClipAction(env)
    env = jenvs.VecEnv(env, config.num_envs)
    if config.normalize_obs:
        env = jenvs.NormalizeObservation(env)
    return env


class _Policy(NamedTuple):
    discrete: bool
    num_actions: int
    activation: str
    unravel: Any

    def apply(self, flat_params, obs):
        return apply_actor_critic(self.unravel(flat_params), obs, self.activation)

    def sample(self, params, obs, noise):
        """Samples actions from pre-drawn noise (Gumbel for discrete, N(0,1) otherwise)."""
        out, value = self.apply(params, obs)
        if self.discrete:
            action = jnp.argmax(out + noise, axis=-1).astype(jnp.int32)
        else:
            action = out + jnp.exp(self.unravel(params)["log_std"]) * noise
        log_prob, _ = self.log_prob_entropy(params, out, action)
        return action, log_prob, value

    def log_prob_entropy(self, params, out, action):
        if self.discrete:
            logp_all = jax.nn.log_softmax(out)
            log_prob = jnp.take_along_axis(logp_all, action[..., None], axis=-1)[..., 0]
            entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)
            return log_prob, entropy
        log_std = self.unravel(params)["log_std"]
        z = (action - out) * jnp.exp(-log_std)
        log_prob = jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)
        entropy = jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e)) * jnp.ones(out.shape[:-1])
        return log_prob, entropy


def _act(policy: _Policy, params, obs, key, greedy: bool):
    """Actions for a batch of observations: the mode (greedy) or a sample of the policy."""
    out, _ = policy.apply(params, obs)
    if greedy:
        return jnp.argmax(out, axis=-1).astype(jnp.int32) if policy.discrete else out
    shape = out.shape
    if policy.discrete:
        return jnp.argmax(out + jax.random.gumbel(key, shape), axis=-1).astype(jnp.int32)
    return out + jnp.exp(policy.unravel(params)["log_std"]) * jax.random.normal(key, shape)


def make_train(config: PPOConfig, env, env_params):
    """Builds ``train(key, hparams, env_params=None) -> TrainResult``.

    Validates ``config`` in Python (``ValueError`` naming the field). ``env_params`` given to
    ``train`` override the defaults, so they can be vmapped too (domain randomisation).
    """
    config.validate()
    venv = wrap_env(config, env, env_params)
    discrete = jenvs.is_discrete(env, env_params)
    space = env.action_space(env_params)
    num_actions = space.n if discrete else int(math.prod(space.shape))
    obs_dim = venv.observation_space(env_params).shape[0]
    # Parameters live as one flat vector so the optimiser update is a few fused loops
    # instead of several per layer; the network sees the structured pytree.
    _, unravel = ravel_pytree(
        init_actor_critic(jax.random.key(0), obs_dim, num_actions, config.hidden, not discrete)
    )
    policy = _Policy(discrete, num_actions, config.activation, unravel)
    default_env_params = env_params
    cfg = config

    def _as_f32(hparams):
        return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)

    def make_optimizer(hp: PPOHParams):
        steps_per_update = cfg.update_epochs * cfg.num_minibatches

        def schedule(count):
            if not cfg.anneal_lr:
                return hp.lr
            frac = 1.0 - (count // steps_per_update) / cfg.num_updates
            return hp.lr * frac

        return optax.chain(
            optax.clip_by_global_norm(hp.max_grad_norm),
            OPTIMIZERS[cfg.optimizer](schedule, hp.adam_eps),
        )

    def loss_fn(params, mb: Batch, hp: PPOHParams):
        out, value = policy.apply(params, mb.obs)
        log_prob, entropy = policy.log_prob_entropy(params, out, mb.action)
        log_ratio = log_prob - mb.log_prob
        ratio = jnp.exp(log_ratio)
        adv = mb.advantage
        if cfg.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = clipped_surrogate_loss(ratio, adv, hp.clip_eps).mean()
        if cfg.clip_value:
            value_loss = clipped_value_loss(value, mb.value, mb.target, hp.clip_eps).mean()
        else:
            value_loss = 0.5 * jnp.square(value - mb.target).mean()
        ent = entropy.mean()
        total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * ent
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        return total, jnp.stack([total, policy_loss, value_loss, ent, approx_kl])

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def rollout(params, env_state, obs, key, env_params):
        k_noise, k_env = jax.random.split(key)
        shape = (cfg.num_steps, cfg.num_envs, num_actions)
        noise = jax.random.gumbel(k_noise, shape) if discrete else jax.random.normal(k_noise, shape)
        prepared = venv.prepare(k_env, cfg.num_steps, env_params)

        def env_step(carry, xs):
            env_state, obs = carry
            noise_t, prepared_t = xs
            action, log_prob, value = policy.sample(params, obs, noise_t)
            next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
                prepared_t, env_state, action, env_params
            )
            done = jnp.logical_or(terminated, truncated)
            tr = Transition(
                obs, action, log_prob, value, reward, terminated, done,
                info["final_observation"], info["episode_return"], info["returned_episode"],
            )  # fmt: skip
            return (env_state, next_obs), tr

        (env_state, obs), traj = jax.lax.scan(env_step, (env_state, obs), (noise, prepared))
        return env_state, obs, traj

    def advantages(params, traj: Transition, last_obs, hp: PPOHParams):
        _, last_value = policy.apply(params, last_obs)
        _, final_value = policy.apply(params, traj.final_obs)
        next_value = jnp.concatenate([traj.value[1:], last_value[None]], axis=0)
        v_tp1 = jnp.where(traj.done, final_value, next_value)
        gae = jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)
        adv = gae(traj.reward, traj.value, v_tp1, traj.terminated, traj.done, hp.gamma,
                  hp.gae_lambda)  # fmt: skip
        return adv, adv + traj.value

    def update_epochs(params, opt_state, batch: Batch, key, hp: PPOHParams, tx):
        perms = jax.vmap(lambda k: jax.random.permutation(k, cfg.batch_size))(
            jax.random.split(key, cfg.update_epochs)
        )
        shuffled = jax.tree.map(lambda x: x[perms], batch)  # [E, B, ...]
        minibatches = jax.tree.map(
            lambda x: x.reshape(
                (cfg.update_epochs * cfg.num_minibatches, cfg.minibatch_size) + x.shape[2:]
            ),
            shuffled,
        )

        def sgd_step(carry, mb):
            params, opt_state = carry
            grads, aux = grad_fn(params, mb, hp)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), aux

        (params, opt_state), aux = jax.lax.scan(sgd_step, (params, opt_state), minibatches)
        return params, opt_state, aux.mean(axis=0)

    def init(key: jax.Array, hparams: PPOHParams, env_params=None) -> PPOState:
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params, _ = ravel_pytree(
            init_actor_critic(k_init, obs_dim, num_actions, cfg.hidden, continuous=not discrete)
        )
        obs, env_state = venv.reset(k_reset, env_params)
        return PPOState(
            params=params,
            opt_state=make_optimizer(hp).init(params),
            env_state=env_state,
            obs=obs,
            key=k_run,
            last_return=jnp.zeros((), jnp.float32),
        )

    def run(state: PPOState, hparams: PPOHParams, num_updates: int, env_params=None):
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        tx = make_optimizer(hp)

        def update(state: PPOState, _):
            key, k_roll, k_epochs = jax.random.split(state.key, 3)
            env_state, obs, traj = rollout(
                state.params, state.env_state, state.obs, k_roll, env_params
            )
            adv, target = advantages(state.params, traj, obs, hp)
            flat = jax.tree.map(
                lambda x: x.reshape((cfg.batch_size,) + x.shape[2:]),
                Batch(traj.obs, traj.action, traj.log_prob, traj.value, adv, target),
            )
            params, opt_state, losses = update_epochs(
                state.params, state.opt_state, flat, k_epochs, hp, tx
            )
            episodes = traj.returned.sum()
            mean_return = jnp.sum(traj.episode_return * traj.returned) / jnp.maximum(episodes, 1)
            last_return = jnp.where(episodes > 0, mean_return, state.last_return)
            metrics = {
                "episode_return": last_return,
                "episodes": episodes,
                "loss": losses[0],
                "policy_loss": losses[1],
                "value_loss": losses[2],
                "entropy": losses[3],
                "approx_kl": losses[4],
            }
            state = state.replace(
                params=params,
                opt_state=opt_state,
                env_state=env_state,
                obs=obs,
                key=key,
                last_return=last_return,
            )
            return state, metrics

        return jax.lax.scan(update, state, None, num_updates)

    def train(key: jax.Array, hparams: PPOHParams | None = None, env_params=None):
        hparams = PPOHParams() if hparams is None else hparams
        state = init(key, hparams, env_params)
        state, metrics = run(state, hparams, cfg.num_updates, env_params)
        return TrainResult(state=state, metrics=metrics)

    # The pieces, for running in chunks (progress, checkpoints): ``train`` is
    # ``run(init(key, hp), hp, num_updates)`` and running ``run`` in several chunks gives the
    # same bits as one call.
    train.init = init
    train.run = run
    train.num_updates = cfg.num_updates
    train.steps_per_update = cfg.batch_size
    train.act = functools.partial(_act, policy)
    return train


CONFIG = PPOConfig
HPARAMS = PPOHParams
