"""TD3 (Fujimoto et al. 2018, arXiv:1802.09477) and, as its special case, DDPG.

A deterministic tanh actor with Gaussian exploration noise, and critics with Polyak-averaged
targets. TD3 adds three fixes to DDPG (Lillicrap et al. 2016, arXiv:1509.02971): the minimum
of twin critics in the target, target-policy smoothing (clipped noise on the target action)
and delayed actor updates. :mod:`jaxrl.agents.offpolicy.ddpg` is this module with one critic, no
smoothing and an actor update every step. The loop is :mod:`jaxrl.agents.offpolicy.loop`'s.
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
from jaxrl.learner import Learner, hyperparameters, trainer
from jaxrl.losses import td3_bc_actor_loss
from jaxrl.networks import apply_ensemble, apply_mlp, init_ensemble, init_mlp


@dataclasses.dataclass(frozen=True)
class TD3Config(OffPolicyConfig):
    """Static configuration; see :class:`~jaxrl.agents.offpolicy.OffPolicyConfig`.

    ``num_critics`` 2 takes the minimum of twin critics (TD3), 1 is DDPG's single critic;
    ``policy_delay`` gradient steps pass between actor (and target) updates.
    """

    total_steps: int = 30_000
    learning_starts: int = 1_000
    buffer_size: int = 100_000
    batch_size: int = 256
    hidden: tuple[int, ...] = (256, 256)
    num_critics: int = 2
    """Critics: 2 takes the minimum of twin critics (TD3), 1 is DDPG's single critic."""
    policy_delay: int = 2
    """Gradient steps between actor (and target) updates."""

    def validate(self) -> None:
        super().validate()
        require(
            self.num_critics in (1, 2), "num_critics", f"must be 1 or 2, got {self.num_critics}"
        )
        require(
            isinstance(self.policy_delay, int) and self.policy_delay > 0,
            "policy_delay",
            f"must be a positive int, got {self.policy_delay}",
        )


class TD3TargetHParams(NamedTuple):
    """TD3's learning hyperparameters, without exploration (offline TD3 uses these). Noise
    scales are in units of the action range ``[-1, 1]``."""

    actor_lr: float = 3e-4
    """Adam's learning rate for the actor."""
    critic_lr: float = 3e-4
    """Adam's learning rate for the critics."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Polyak step of the targets per target update."""
    target_noise: float = 0.2
    """Std of the smoothing noise on the target action (0: none)."""
    noise_clip: float = 0.5
    """Clip of the target-smoothing noise."""


TARGET_RANGES = {
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "target_noise": ">= 0",
    "noise_clip": ">= 0",
}


@hyperparameters
class TD3HParams(TD3TargetHParams):
    """Traced hyperparameters (vmappable). Noise scales are in units of the action range
    ``[-1, 1]``."""

    exploration_noise: float = 0.1
    """Std of the Gaussian noise on the actor's actions while collecting."""


HPARAM_RANGES = {**TARGET_RANGES, "exploration_noise": ">= 0"}


def build(config: TD3Config, env, env_params, algo: str, hparams) -> Learner:
    """The shared TD3/DDPG learner; ``algo`` names the algorithm in errors."""
    agent, spec = make_agent(config, env, env_params, algo)
    return loop.make_learner(config, env, env_params, agent, spec, hparams, HPARAM_RANGES)


def make_agent(config: TD3Config, env, env_params, algo: str = "td3", *,
               behavior_cloning: bool = False):  # fmt: skip
    """TD3's (DDPG's) :class:`~jaxrl.agents.offpolicy.loop.OffPolicyAgent` and the env's
    action spec; validates ``config``.

    ``behavior_cloning`` gives TD3+BC's actor loss (Fujimoto & Gu 2021, arXiv:2106.06860,
    eq. 3): ``-lambda Q(s, pi(s)) + (pi(s) - a)^2`` averaged over the batch (and the action
    dimensions), with ``lambda = hp.alpha / mean |Q(s, pi(s))|`` held constant in the
    gradient; the default is TD3's ``-Q(s, pi(s))``.
    """
    config.validate()
    spec = jenvs.require_action_kind(
        algo, env, env_params, discrete=False, instead="dqn or sac_discrete for discrete actions"
    )
    obs_dim = jenvs.observation_size(env, env_params)
    return agent_of_sizes(config, obs_dim, spec.dim, behavior_cloning=behavior_cloning), spec


def agent_of_sizes(config: TD3Config, obs_dim: int, a_dim: int, *,
                   behavior_cloning: bool = False) -> OffPolicyAgent:  # fmt: skip
    """TD3's agent for observations of ``obs_dim`` numbers and actions of ``a_dim`` numbers in
    ``[-1, 1]`` (``config`` already validated): what :func:`make_agent` builds for an env,
    and what a learner whose agents see other inputs than the env's (HIRO's worker and
    manager) builds directly."""
    cfg = config
    actor_sizes = (obs_dim, *cfg.hidden, a_dim)
    critic_sizes = (obs_dim + a_dim, *cfg.hidden, 1)
    _, unravel = ravel_pytree(init_mlp(jax.random.key(0), actor_sizes))

    def policy(flat, obs):
        return jnp.tanh(apply_mlp(unravel(flat), obs, cfg.activation))

    def act(layers, obs, key, greedy):
        return jnp.tanh(apply_mlp(layers, obs, cfg.activation))

    def q_all(critic, obs, action):
        x = jnp.concatenate([obs, action], -1)
        return apply_ensemble(critic, x, cfg.activation)[..., 0]  # [num_critics, B]

    def optimizers(hp):
        return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr)

    def init(key, hp):
        k_actor, k_critic = jax.random.split(key)
        params, _ = ravel_pytree(init_mlp(k_actor, actor_sizes, head_scale=0.01))
        critic = init_ensemble(k_critic, cfg.num_critics, critic_sizes)
        tx_a, tx_c = optimizers(hp)
        learner = {
            "critic": critic,
            "target_critic": critic,
            "target_actor": params,
            "opt_actor": tx_a.init(params),
            "opt_critic": tx_c.init(critic),
        }
        return params, learner

    def explore(params, learner, obs, key, progress, hp):
        a = policy(params, obs)
        return jnp.clip(a + hp.exploration_noise * jax.random.normal(key, a.shape), -1.0, 1.0)

    def critic_loss(critic, learner, batch: NStep, key, hp):
        a_next = policy(learner["target_actor"], batch.next_obs)
        noise = jnp.clip(hp.target_noise * jax.random.normal(key, a_next.shape),
                         -hp.noise_clip, hp.noise_clip)  # fmt: skip
        a_next = jnp.clip(a_next + noise, -1.0, 1.0)
        v_next = q_all(learner["target_critic"], batch.next_obs, a_next).min(axis=0)
        y = jax.lax.stop_gradient(batch.partial_return + batch.bootstrap_discount * v_next)
        q = q_all(critic, batch.obs, batch.action)
        td = q - y
        loss = jnp.sum(loop.td_loss_mean(batch.weights, 0.5 * td**2))  # summed over critics
        return loss, (jnp.abs(td).mean(axis=0), q.mean())

    def actor_loss(params, critic, batch: NStep, hp):
        pi = policy(params, batch.obs)
        q = q_all(jax.tree.map(lambda x: x[:1], critic), batch.obs, pi)
        if not behavior_cloning:
            return -loop.sample_mean(batch.weights, q[0])
        return td3_bc_actor_loss(q[0], pi, batch.action, hp.alpha)  # uniform batches

    def update(params, learner, batch: NStep, key, hp, grad_step, progress):
        tx_a, tx_c = optimizers(hp)
        (c_loss, (td_abs, q_mean)), c_grads = jax.value_and_grad(critic_loss, has_aux=True)(
            learner["critic"], learner, batch, key, hp
        )
        c_updates, opt_critic = tx_c.update(c_grads, learner["opt_critic"])
        critic = optax.apply_updates(learner["critic"], c_updates)

        def actor_step(_):
            a_loss, a_grads = jax.value_and_grad(actor_loss)(params, critic, batch, hp)
            a_updates, opt_actor = tx_a.update(a_grads, learner["opt_actor"])
            new_params = optax.apply_updates(params, a_updates)
            return (
                new_params,
                opt_actor,
                loop.polyak(learner["target_actor"], new_params, hp.tau),
                loop.polyak(learner["target_critic"], critic, hp.tau),
                a_loss,
            )

        def skip(_):
            return (params, learner["opt_actor"], learner["target_actor"],
                    learner["target_critic"], jnp.zeros(()))  # fmt: skip

        if cfg.policy_delay == 1:
            new = actor_step(None)
        else:
            new = jax.lax.cond(grad_step % cfg.policy_delay == 0, actor_step, skip, None)
        params, opt_actor, target_actor, target_critic, a_loss = new
        learner = {
            "critic": critic,
            "target_critic": target_critic,
            "target_actor": target_actor,
            "opt_actor": opt_actor,
            "opt_critic": opt_critic,
        }
        metrics = {"critic_loss": c_loss, "actor_loss": a_loss, "q_mean": q_mean}
        return params, learner, td_abs, metrics

    def value(params, learner, obs):
        """``min_i Q_i(s, pi(s))`` ``[B]``."""
        return q_all(learner["critic"], obs, policy(params, obs)).min(axis=0)

    names = ("critic_loss", "actor_loss", "q_mean")
    return OffPolicyAgent(init, explore, update, act, names, unravel, value)


def make_learner(config: TD3Config, env, env_params) -> Learner:
    """TD3 on ``env``.

    Raises:
      ValueError: invalid config (naming the field) or a discrete-action env.
    """
    return build(config, env, env_params, "td3", TD3HParams())


make_train = trainer(make_learner)


CONFIG = TD3Config
HPARAMS = TD3HParams
