"""Implicit Q-learning (Kostrikov et al. 2021, arXiv:2110.06169).

IQL never evaluates Q at an action the dataset does not hold. Per gradient step, on a batch
of the dataset's ``(s, a, r, s')``:

1. the value ``V(s)`` regresses on the target critics' ``min_i Q_i(s, a)`` with the
   expectile loss (:func:`jaxrl.losses.expectile_loss`, ``expectile`` 0.7): an upper
   expectile of Q over the behaviour's actions, an in-sample stand-in for ``max_a Q``;
2. the policy is extracted by advantage-weighted regression: maximise
   ``min(exp(temperature * (Q(s, a) - V(s))), 100) * log pi(a | s)`` on the data's actions
   (:func:`jaxrl.losses.awr_weight`), with a Gaussian policy whose mean is squashed by tanh
   and whose log-std is a learned vector; its actor learning rate decays along a cosine;
3. the twin critics regress on ``r + gamma (1 - terminated) V(s')`` (with the new value);
4. the target critics follow by Polyak averaging.

The order (value, actor, critic) and the defaults are the authors' for the locomotion tasks,
including rewards scaled by ``1000 / (max - min episode return)`` of the dataset
(``normalize_rewards``). Trained by :mod:`jaxrl.agents.offline.common`.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.agents.offline import common
from jaxrl.agents.offline.common import OfflineConfig
from jaxrl.agents.offpolicy import loop
from jaxrl.agents.offpolicy.loop import NStep, OffPolicyAgent, OffPolicyConfig
from jaxrl.datasets.storage import Dataset
from jaxrl.distributions import DiagGaussian
from jaxrl.learner import Learner, trainer
from jaxrl.losses import awr_weight, expectile_loss
from jaxrl.networks import apply_ensemble, apply_mlp, init_ensemble, init_mlp

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
MAX_WEIGHT = 100.0


@dataclasses.dataclass(frozen=True)
class IQLConfig(OfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""

    normalize_rewards: bool = True
    """Scale rewards by 1000 / (max - min episode return) of the dataset, as the authors."""
    actor_cosine: bool = True
    """Decay the actor's learning rate to 0 along a cosine over the run."""


class IQLHParams(NamedTuple):
    """Traced hyperparameters (vmappable); the paper's for the locomotion tasks."""

    actor_lr: float = 3e-4
    """Adam's learning rate for the actor (its start, with actor_cosine)."""
    critic_lr: float = 3e-4
    """Adam's learning rate for the twin critics."""
    value_lr: float = 3e-4
    """Adam's learning rate for the value network."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Polyak step of the target critics per gradient step."""
    expectile: float = 0.7
    """The expectile the value regresses to (0.5: the mean; towards 1: the maximum)."""
    temperature: float = 3.0
    """Inverse temperature of the advantage weights exp(temperature * A)."""


HPARAM_RANGES = {
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "value_lr": "> 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "expectile": "(0, 1)",
    "temperature": ">= 0",
}


def reward_scale(dataset: Dataset) -> float:
    """``1000 / (max - min)`` of the dataset's episode returns (1 if they are all equal)."""
    returns = dataset.episode_returns()
    spread = float(np.max(returns) - np.min(returns))
    return 1000.0 / spread if spread > 0 else 1.0


def make_agent(config: IQLConfig, obs_dim: int, action_dim: int) -> OffPolicyAgent:
    """IQL as an :class:`~jaxrl.agents.offpolicy.loop.OffPolicyAgent` (module docstring)."""
    cfg = config
    actor_sizes = (obs_dim, *cfg.hidden, action_dim)
    critic_sizes = (obs_dim + action_dim, *cfg.hidden, 1)
    value_sizes = (obs_dim, *cfg.hidden, 1)
    total = cfg.num_updates * cfg.log_every

    def optimizers(hp):
        if cfg.actor_cosine:
            actor_lr = optax.cosine_decay_schedule(1.0, total)
            actor = optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(actor_lr),
                                optax.scale(-hp.actor_lr))  # fmt: skip
        else:
            actor = optax.adam(hp.actor_lr)
        return actor, optax.adam(hp.critic_lr), optax.adam(hp.value_lr)

    def init(key, hp):
        k_actor, k_critic, k_value = jax.random.split(key, 3)
        actor = {"mlp": init_mlp(k_actor, actor_sizes, head_scale=0.01),
                 "log_std": jnp.zeros((action_dim,))}  # fmt: skip
        critic = init_ensemble(k_critic, 2, critic_sizes)
        value = init_mlp(k_value, value_sizes)
        tx_a, tx_c, tx_v = optimizers(hp)
        state = {"critic": critic, "target": critic, "value": value,
                 "opt_actor": tx_a.init(actor), "opt_critic": tx_c.init(critic),
                 "opt_value": tx_v.init(value)}  # fmt: skip
        return actor, state

    def q_all(critic, obs, action):
        x = jnp.concatenate([obs, action], -1)
        return apply_ensemble(critic, x, cfg.activation)[..., 0]  # [2, B]

    def v_of(value, obs):
        return apply_mlp(value, obs, cfg.activation)[..., 0]

    def policy(actor, obs):
        mean = jnp.tanh(apply_mlp(actor["mlp"], obs, cfg.activation))
        return DiagGaussian(mean, jnp.clip(actor["log_std"], LOG_STD_MIN, LOG_STD_MAX))

    def value_loss(value, target_q, batch: NStep, hp):
        diff = target_q - v_of(value, batch.obs)
        return loop.sample_mean(batch.weights, expectile_loss(diff, hp.expectile))

    def actor_loss(actor, advantage, batch: NStep, hp):
        weight = awr_weight(advantage, hp.temperature, MAX_WEIGHT)
        logp = policy(actor, batch.obs).log_prob(batch.action)
        return loop.sample_mean(batch.weights, -weight * logp)

    def critic_loss(critic, value, batch: NStep):
        v_next = v_of(value, batch.next_obs)
        y = jax.lax.stop_gradient(batch.partial_return + batch.bootstrap_discount * v_next)
        q = q_all(critic, batch.obs, batch.action)
        td = q - y
        return jnp.sum(loop.td_loss_mean(batch.weights, td**2)), (jnp.abs(td).mean(0), q.mean())

    def update(actor, state, batch: NStep, key, hp, grad_step, progress):
        tx_a, tx_c, tx_v = optimizers(hp)
        target_q = q_all(state["target"], batch.obs, batch.action).min(axis=0)

        v_loss, v_grads = jax.value_and_grad(value_loss)(state["value"], target_q, batch, hp)
        v_updates, opt_value = tx_v.update(v_grads, state["opt_value"])
        value = optax.apply_updates(state["value"], v_updates)

        advantage = target_q - v_of(value, batch.obs)
        a_loss, a_grads = jax.value_and_grad(actor_loss)(actor, advantage, batch, hp)
        a_updates, opt_actor = tx_a.update(a_grads, state["opt_actor"], actor)
        actor = optax.apply_updates(actor, a_updates)

        (c_loss, (td_abs, q_mean)), c_grads = jax.value_and_grad(critic_loss, has_aux=True)(
            state["critic"], value, batch
        )
        c_updates, opt_critic = tx_c.update(c_grads, state["opt_critic"])
        critic = optax.apply_updates(state["critic"], c_updates)

        state = {"critic": critic, "target": loop.polyak(state["target"], critic, hp.tau),
                 "value": value, "opt_actor": opt_actor, "opt_critic": opt_critic,
                 "opt_value": opt_value}  # fmt: skip
        metrics = {"value_loss": v_loss, "actor_loss": a_loss, "critic_loss": c_loss,
                   "q_mean": q_mean, "advantage": jnp.mean(advantage)}  # fmt: skip
        return actor, state, td_abs, metrics

    def act(actor, obs, key, greedy):
        dist = policy(actor, obs)
        return jnp.clip(dist.mode() if greedy else dist.sample(key), -1.0, 1.0)

    def explore(actor, state, obs, key, progress, hp):
        return act(actor, obs, key, False)

    def value(actor, state, obs):
        """``min_i Q_i(s, mode pi(s))`` ``[B]``."""
        return q_all(state["critic"], obs, act(actor, obs, None, True)).min(axis=0)

    names = ("value_loss", "actor_loss", "critic_loss", "q_mean", "advantage")
    return OffPolicyAgent(init, explore, update, act, names, value=value)


def make_learner(config: IQLConfig, env, env_params) -> Learner:
    """IQL on ``config.dataset`` (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    config.validate()
    prepared = common.prepare(
        config,
        env,
        env_params,
        algo="iql",
        continuous=True,
        reward_scale=reward_scale if config.normalize_rewards else None,
    )
    agent = make_agent(config, prepared.items["obs"].shape[1], prepared.spec.dim)
    replay = OffPolicyConfig(batch_size=config.batch_size, gradient_steps=config.log_every)
    return common.replay_learner(config, env, env_params, prepared, agent, replay, IQLHParams(),
                                 HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = IQLConfig
HPARAMS = IQLHParams
