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
    policy_delay: int = 1


class DDPGHParams(NamedTuple):
    """TD3's hyperparameters with target smoothing off (``target_noise`` 0)."""

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    exploration_noise: float = 0.1
    target_noise: float = 0.0
    noise_clip: float = 0.5


def make_learner(config: DDPGConfig, env, env_params) -> Learner:
    """DDPG on ``env``."""
    return td3.build(config, env, env_params, "ddpg", DDPGHParams())


make_train = trainer(make_learner)
CONFIG = DDPGConfig
HPARAMS = DDPGHParams
