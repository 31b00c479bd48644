"""Naive offline TD3: TD3 (Fujimoto et al. 2018) trained on a dataset with nothing added.

The control of the offline family. Its actor maximises ``Q(s, pi(s))`` over actions the
dataset may never show, where the critics are only ever fitted by bootstrapping from their
own guesses: extrapolation error (Fujimoto et al. 2019, arXiv:1812.02900) that TD3+BC, IQL
and CQL are built to avoid. The ``q_start`` metric (the critics' value of the policy at the
dataset's first states) set against the returns the policy really gets makes it visible.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from jaxrl._errors import require
from jaxrl.agents.offline import common
from jaxrl.agents.offline.common import OfflineConfig
from jaxrl.agents.offline.td3_bc import replay_config
from jaxrl.agents.offpolicy import td3
from jaxrl.learner import Learner, trainer


@dataclasses.dataclass(frozen=True)
class TD3OfflineConfig(OfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""

    policy_delay: int = 2
    """Gradient steps between actor (and target) updates."""

    def validate(self) -> None:
        super().validate()
        require(isinstance(self.policy_delay, int) and self.policy_delay > 0, "policy_delay",
                f"must be a positive int, got {self.policy_delay}")  # fmt: skip


class TD3OfflineHParams(NamedTuple):
    """Traced hyperparameters (vmappable): TD3's, without exploration."""

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


HPARAM_RANGES = {
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "target_noise": ">= 0",
    "noise_clip": ">= 0",
}


def make_learner(config: TD3OfflineConfig, env, env_params) -> Learner:
    """TD3 on ``config.dataset`` alone (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    config.validate()
    prepared = common.prepare(config, env, env_params, algo="td3_offline", continuous=True)
    replay = replay_config(config, len(prepared.dataset), policy_delay=config.policy_delay)
    agent, _ = td3.make_agent(replay, env, env_params, "td3_offline")
    return common.replay_learner(config, env, env_params, prepared, agent, replay,
                                 TD3OfflineHParams(), HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = TD3OfflineConfig
HPARAMS = TD3OfflineHParams
