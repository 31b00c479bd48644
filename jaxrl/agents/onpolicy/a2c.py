"""Advantage Actor-Critic: the synchronous form of A3C (Mnih et al. 2016, arXiv:1602.01783).

``num_envs`` envs step ``num_steps`` times; one gradient step on the whole batch follows,
with n-step (``gae_lambda = 1``) or GAE advantages, the policy-gradient loss
``-log pi(a|s) A``, a squared value loss and an entropy bonus, under RMSProp.

This is the special case of :mod:`jaxrl.agents.ppo` with one epoch, one minibatch and no
value clipping: with a single gradient step taken at the rollout policy the probability ratio
is exactly 1, where the clipped surrogate's gradient is ``A grad log pi``, A2C's. So A2C
reuses PPO's learner (and its tests) instead of repeating it.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from jaxrl.agents.onpolicy import ppo
from jaxrl.learner import Learner, trainer


@dataclasses.dataclass(frozen=True)
class A2CConfig:
    """Static configuration (changing one recompiles)."""

    num_envs: int = 16
    """Environments stepped in lockstep in each run."""
    num_steps: int = 5
    """Steps of every env per rollout (one update uses num_envs * num_steps env steps)."""
    total_steps: int = 500_000
    """Env steps per run (per seed), rounded down to whole updates."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic (separate networks)."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu, gelu or silu."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    normalize_obs: bool = False
    """Normalise observations by running statistics (saved with the policy)."""
    normalize_advantages: bool = False
    """Normalise advantages within each batch."""
    optimizer: str = "rmsprop"
    """rmsprop or adam."""
    implementation: str = "auto"
    """plain (the reference update), cpu (laid out for XLA:CPU) or auto (cpu on a CPU)."""

    def ppo_config(self) -> ppo.PPOConfig:
        return ppo.PPOConfig(
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            total_steps=self.total_steps,
            update_epochs=1,
            num_minibatches=1,
            hidden=self.hidden,
            activation=self.activation,
            anneal_lr=self.anneal_lr,
            normalize_obs=self.normalize_obs,
            normalize_advantages=self.normalize_advantages,
            clip_value=False,
            optimizer=self.optimizer,
            implementation=self.implementation,
        )

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    def validate(self) -> None:
        self.ppo_config().validate()


class A2CHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 7e-4
    """Learning rate (its start, when annealed)."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 1.0
    """GAE's lambda (1: n-step returns over the rollout, as A2C; 0: one-step TD errors)."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    eps: float = 1e-5
    """The optimiser's epsilon."""


HPARAM_RANGES = {
    "lr": "> 0",
    "gamma": "[0, 1]",
    "gae_lambda": "[0, 1]",
    "ent_coef": ">= 0",
    "vf_coef": ">= 0",
    "max_grad_norm": "> 0",
    "eps": "> 0",
}


def to_ppo_hparams(hp: A2CHParams) -> ppo.PPOHParams:
    # clip_eps is inert: with one gradient step the ratio is 1, inside any clip range.
    return ppo.PPOHParams(lr=hp.lr, gamma=hp.gamma, gae_lambda=hp.gae_lambda, clip_eps=0.2,
                          ent_coef=hp.ent_coef, vf_coef=hp.vf_coef,
                          max_grad_norm=hp.max_grad_norm, adam_eps=hp.eps)  # fmt: skip


def make_learner(config: A2CConfig, env, env_params) -> Learner:
    """A2C as PPO's learner with A2C's hyperparameters mapped onto PPO's.

    Raises:
      ValueError: invalid config, naming the field.
    """
    config.validate()
    inner = ppo.make_learner(config.ppo_config(), env, env_params)

    def init(key, hp, env_params, data):
        return inner.init(key, to_ppo_hparams(hp), env_params, data)

    def update(state, hp, env_params, data):
        return inner.update(state, to_ppo_hparams(hp), env_params, data)

    return inner._replace(config=config, hparams=A2CHParams(), init=init, update=update,
                          hparam_ranges=HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = A2CConfig
HPARAMS = A2CHParams
