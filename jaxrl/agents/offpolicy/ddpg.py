"""Deep Deterministic Policy Gradient (Lillicrap et al. 2016, arXiv:1509.02971).

:mod:`jaxrl.agents.offpolicy.td3` with one critic, no target-policy smoothing and an actor
update at every gradient step.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from jaxrl.agents.offpolicy import td3
from jaxrl.learner import Learner, trainer


@dataclasses.dataclass(frozen=True)
class DDPGConfig(td3.TD3Config):
    num_critics: int = 1
    """One critic (DDPG)."""
    policy_delay: int = 1
    """Actor update at every gradient step (DDPG)."""


class DDPGHParams(NamedTuple):
    """TD3's hyperparameters with target smoothing off (``target_noise`` 0)."""

    actor_lr: float = 3e-4
    """Adam's learning rate for the actor."""
    critic_lr: float = 3e-4
    """Adam's learning rate for the critic."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Polyak step of the targets per gradient step."""
    exploration_noise: float = 0.1
    """Std of the Gaussian noise on the actor's actions while collecting."""
    target_noise: float = 0.0
    """Std of the smoothing noise on the target action (DDPG: 0, none)."""
    noise_clip: float = 0.5
    """Clip of the target-smoothing noise."""


HPARAM_RANGES = td3.HPARAM_RANGES


def make_learner(config: DDPGConfig, env, env_params) -> Learner:
    """DDPG on ``env``."""
    return td3.build(config, env, env_params, "ddpg", DDPGHParams())


make_train = trainer(make_learner)
CONFIG = DDPGConfig
HPARAMS = DDPGHParams
