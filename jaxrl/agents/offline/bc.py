"""Behaviour cloning: supervised regression of the dataset's actions on its observations.

Continuous actions: a deterministic tanh policy fitted by the mean squared error in
``[-1, 1]`` units (the behaviour-cloning term of TD3+BC, Fujimoto & Gu 2021); discrete: a
categorical policy fitted by cross-entropy. Rewards are ignored: on expert data it is the
baseline every offline method must match, on mixed data the one they should beat.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl.agents.offline import common
from jaxrl.agents.offline.common import OfflineConfig
from jaxrl.agents.offpolicy import loop
from jaxrl.agents.offpolicy.loop import NStep, OffPolicyAgent, OffPolicyConfig
from jaxrl.learner import Learner, trainer
from jaxrl.networks import apply_mlp, init_mlp


@dataclasses.dataclass(frozen=True)
class BCConfig(OfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""

    total_steps: int = 20_000


class BCHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 1e-3
    """Adam's learning rate."""


HPARAM_RANGES = {"lr": "> 0"}


def make_agent(config: BCConfig, obs_dim: int, spec) -> OffPolicyAgent:
    """BC as an :class:`~jaxrl.agents.offpolicy.loop.OffPolicyAgent` (rewards unused)."""
    cfg = config
    sizes = (obs_dim, *cfg.hidden, spec.dim)

    def forward(layers, obs):
        return apply_mlp(layers, obs, cfg.activation)

    def init(key, hp):
        layers = init_mlp(key, sizes, head_scale=0.01)
        return layers, {"opt": optax.adam(hp.lr).init(layers)}

    def loss_fn(layers, batch: NStep):
        out = forward(layers, batch.obs)
        if spec.discrete:
            logp = jax.nn.log_softmax(out)
            per = -jnp.take_along_axis(logp, batch.action[:, None], axis=-1)[:, 0]
        else:
            per = jnp.mean((jnp.tanh(out) - batch.action) ** 2, axis=-1)
        return loop.sample_mean(batch.weights, per)

    def update(layers, state, batch: NStep, key, hp, grad_step, progress):
        loss, grads = jax.value_and_grad(loss_fn)(layers, batch)
        updates, opt = optax.adam(hp.lr).update(grads, state["opt"])
        layers = optax.apply_updates(layers, updates)
        return layers, {"opt": opt}, jnp.zeros(batch.obs.shape[0]), {"bc_loss": loss}

    def act(layers, obs, key, greedy):
        out = forward(layers, obs)
        if spec.discrete:
            return jnp.argmax(out, -1) if greedy else jax.random.categorical(key, out)
        return jnp.tanh(out)

    def explore(params, state, obs, key, progress, hp):
        return act(params, obs, key, False)

    return OffPolicyAgent(init, explore, update, act, ("bc_loss",))


def make_learner(config: BCConfig, env, env_params) -> Learner:
    """Behaviour cloning of ``config.dataset`` on ``env`` (discrete or continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, or one
        whose spaces are not the env's.
    """
    config.validate()
    prepared = common.prepare(config, env, env_params, algo="bc", continuous=False)
    agent = make_agent(config, prepared.items["obs"].shape[1], prepared.spec)
    replay = OffPolicyConfig(batch_size=config.batch_size, gradient_steps=config.log_every)
    return common.replay_learner(config, env, env_params, prepared, agent, replay, BCHParams(),
                                 HPARAM_RANGES, gamma_of=lambda hp: 0.0)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = BCConfig
HPARAMS = BCHParams
