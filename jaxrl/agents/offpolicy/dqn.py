"""Deep Q-Networks (Mnih et al. 2015, doi:10.1038/nature14236) with the usual extensions.

Double Q-learning targets (van Hasselt et al. 2016, arXiv:1509.06461), dueling heads (Wang et
al. 2016, arXiv:1511.06581), n-step targets, prioritized replay, hard or Polyak target
updates and a linear ε-greedy schedule. The loop (env, replay, n-step) is
:mod:`jaxrl.agents.offpolicy.loop`'s.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl._errors import require
from jaxrl.agents.offpolicy import loop
from jaxrl.agents.offpolicy.loop import NStep, OffPolicyAgent, OffPolicyConfig
from jaxrl.learner import Learner, trainer
from jaxrl.losses import double_q_target, huber_loss
from jaxrl.networks import apply_mlp, init_mlp


@dataclasses.dataclass(frozen=True)
class DQNConfig(OffPolicyConfig):
    """Static configuration; see :class:`~jaxrl.agents.offpolicy.OffPolicyConfig`.

    ``target_update_every`` counts gradient steps between target updates (each moves the
    target by ``tau``: 1 is a hard copy).
    """

    total_steps: int = 100_000
    learning_starts: int = 1_000
    buffer_size: int = 100_000
    batch_size: int = 128
    train_every: int = 4
    gradient_steps: int = 2
    n_step: int = 3
    prioritized: bool = True
    hidden: tuple[int, ...] = (64, 64)
    double: bool = True
    """Double Q-learning targets (the online network picks the next action)."""
    dueling: bool = False
    """Dueling heads: a state value plus mean-centred advantages."""
    huber: bool = True
    """Huber loss on the TD error (else squared error)."""
    target_update_every: int = 1
    """Gradient steps between target updates (each moves the target by tau)."""
    anneal_lr: bool = False
    """Anneal the learning rate linearly to 0 over the run's gradient steps."""

    def validate(self) -> None:
        super().validate()
        require(
            isinstance(self.target_update_every, int) and self.target_update_every > 0,
            "target_update_every",
            f"must be a positive int, got {self.target_update_every}",
        )


class DQNHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 2.5e-4
    """Adam's learning rate."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Fraction of the way the target moves to the online network per target update (1: hard copy).
    """
    eps_start: float = 1.0
    """Exploration epsilon at the start."""
    eps_end: float = 0.01
    """Exploration epsilon after the decay."""
    eps_fraction: float = 0.2
    """Fraction of total_steps over which epsilon decays linearly."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip."""


HPARAM_RANGES = {
    "lr": "> 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "eps_start": "[0, 1]",
    "eps_end": "[0, 1]",
    "eps_fraction": "> 0",
    "max_grad_norm": "> 0",
}


def epsilon(hp: DQNHParams, progress):
    """Linear decay from ``eps_start`` to ``eps_end`` over the first ``eps_fraction``."""
    frac = jnp.clip(progress / hp.eps_fraction, 0.0, 1.0)
    return hp.eps_start + frac * (hp.eps_end - hp.eps_start)


def make_learner(config: DQNConfig, env, env_params) -> Learner:
    """DQN on ``env``; see :mod:`jaxrl.agents.offpolicy.loop`.

    Raises:
      ValueError: invalid config (naming the field) or a continuous-action env.
    """
    agent, spec = make_agent(config, env, env_params)
    return loop.make_learner(config, env, env_params, agent, spec, DQNHParams(), HPARAM_RANGES)


def make_agent(config: DQNConfig, env, env_params) -> tuple[OffPolicyAgent, jenvs.ActionSpec]:
    """DQN's :class:`~jaxrl.agents.offpolicy.loop.OffPolicyAgent` for ``env`` (validates)."""
    config.validate()
    spec = jenvs.require_action_kind(
        "dqn", env, env_params, discrete=True, instead="sac, td3 or ddpg for continuous actions"
    )
    cfg = config
    n_act = spec.dim
    obs_dim = jenvs.observation_size(env, env_params)
    out_dim = n_act + 1 if cfg.dueling else n_act
    sizes = (obs_dim, *cfg.hidden, out_dim)
    _, unravel = ravel_pytree(init_mlp(jax.random.key(0), sizes))

    def q_values(flat, obs):
        return q_of(unravel(flat), obs)

    def q_of(layers, obs):
        out = apply_mlp(layers, obs, cfg.activation)
        if not cfg.dueling:
            return out
        value, adv = out[..., :1], out[..., 1:]
        return value + adv - adv.mean(axis=-1, keepdims=True)

    total_grad_steps = max(
        1, (cfg.total_steps - cfg.learning_starts) // cfg.steps_per_iteration * cfg.gradient_steps
    )

    def optimizer(hp):
        lr = hp.lr
        if cfg.anneal_lr:  # linearly to zero over the gradient steps of the run
            lr = lambda count: hp.lr * jnp.maximum(1.0 - count / total_grad_steps, 0.0)
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr))

    def init(key, hp):
        params, _ = ravel_pytree(init_mlp(key, sizes))
        return params, {"target": params, "opt_state": optimizer(hp).init(params)}

    def act(layers, obs, key, greedy):
        greedy_a = jnp.argmax(q_of(layers, obs), axis=-1).astype(jnp.int32)
        if greedy:
            return greedy_a
        # The non-greedy policy is epsilon-greedy with the usual evaluation epsilon 0.05.
        k_coin, k_rand = jax.random.split(key)
        coin = jax.random.uniform(k_coin, greedy_a.shape) < 0.05
        return jnp.where(coin, jax.random.randint(k_rand, greedy_a.shape, 0, n_act), greedy_a)

    def explore(params, learner, obs, key, progress, hp):
        k_coin, k_rand = jax.random.split(key)
        n = obs.shape[0]
        random_a = jax.random.randint(k_rand, (n,), 0, n_act)
        coin = jax.random.uniform(k_coin, (n,)) < epsilon(hp, progress)
        greedy_a = jnp.argmax(q_values(params, obs), axis=-1).astype(jnp.int32)
        return jnp.where(coin, random_a, greedy_a)

    def loss_fn(params, target, batch: NStep):
        q = q_values(params, batch.obs)
        q_sa = jnp.take_along_axis(q, batch.action[:, None], axis=-1)[:, 0]
        q_next_target = q_values(target, batch.next_obs)
        if cfg.double:
            v_next = jax.vmap(double_q_target)(q_values(params, batch.next_obs), q_next_target)
        else:
            v_next = q_next_target.max(axis=-1)
        y = batch.partial_return + batch.bootstrap_discount * jax.lax.stop_gradient(v_next)
        td = q_sa - y
        per_sample = huber_loss(td) if cfg.huber else 0.5 * td**2
        loss = loop.td_loss_mean(batch.weights, per_sample)
        return loss, (td, q_sa.mean())

    def update(params, learner, batch: NStep, key, hp, grad_step, progress):
        (loss, (td, q_mean)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, learner["target"], batch
        )
        updates, opt_state = optimizer(hp).update(grads, learner["opt_state"], params)
        params = optax.apply_updates(params, updates)
        refresh = (grad_step + 1) % cfg.target_update_every == 0
        target = jnp.where(refresh, loop.polyak(learner["target"], params, hp.tau),
                           learner["target"])  # fmt: skip
        metrics = {"loss": loss, "q_mean": q_mean, "epsilon": epsilon(hp, progress)}
        return params, {"target": target, "opt_state": opt_state}, jnp.abs(td), metrics

    return OffPolicyAgent(init, explore, update, act, ("loss", "q_mean", "epsilon"), unravel), spec


make_train = trainer(make_learner)
CONFIG = DQNConfig
HPARAMS = DQNHParams
