"""Deep Deterministic Policy Gradient (Lillicrap et al. 2016, arXiv:1509.02971).

:mod:`jaxrl.agents.offpolicy.td3` with one critic, no target-policy smoothing and an actor
update at every gradient step.
"""

from __future__ import annotations

import dataclasses

from jaxrl.agents.offpolicy import td3
from jaxrl.learner import Learner, hyperparameters, trainer


@dataclasses.dataclass(frozen=True)
class DDPGConfig(td3.TD3Config):
    num_critics: int = 1
    """One critic (DDPG)."""
    policy_delay: int = 1
    """Actor update at every gradient step (DDPG)."""


@hyperparameters
class DDPGHParams(td3.TD3HParams):
    """TD3's hyperparameters with target smoothing off (``target_noise`` 0)."""

    target_noise: float = 0.0
    """Std of the smoothing noise on the target action (DDPG: 0, none)."""


HPARAM_RANGES = td3.HPARAM_RANGES


def make_learner(config: DDPGConfig, env, env_params) -> Learner:
    """DDPG on ``env``."""
    return td3.build(config, env, env_params, "ddpg", DDPGHParams())


make_train = trainer(make_learner)
CONFIG = DDPGConfig
HPARAMS = DDPGHParams
