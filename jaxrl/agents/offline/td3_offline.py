"""Naive offline TD3: TD3 (Fujimoto et al. 2018) trained on a dataset with nothing added.

The control of the offline family. Its actor maximises ``Q(s, pi(s))`` over actions the
dataset may never show, where the critics are only ever fitted by bootstrapping from their
own guesses: extrapolation error (Fujimoto et al. 2019, arXiv:1812.02900) that TD3+BC, IQL
and CQL are built to avoid. The ``q_start`` metric (the critics' value of the policy at the
dataset's first states) set against the returns the policy really gets makes it visible.
"""

from __future__ import annotations

import dataclasses

from jaxrl._errors import require
from jaxrl.agents.offline import common
from jaxrl.agents.offline.common import OfflineConfig
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


TD3OfflineHParams = td3.TD3TargetHParams  # TD3's, without exploration
HPARAM_RANGES = td3.TARGET_RANGES


def replay_config(config: OfflineConfig, n: int, **fields) -> td3.TD3Config:
    """The TD3 config an offline learner's agent is built from: its networks and batch, and
    ``log_every`` gradient steps per train phase over a buffer of the dataset's ``n``."""
    return td3.TD3Config(hidden=config.hidden, activation=config.activation,
                         batch_size=config.batch_size, gradient_steps=config.log_every,
                         buffer_size=max(n, config.batch_size),
                         learning_starts=config.batch_size, **fields)  # fmt: skip


def build(config: TD3OfflineConfig, env, env_params, algo: str, hparams, hparam_ranges, *,
          behavior_cloning: bool = False) -> Learner:  # fmt: skip
    """TD3 (with ``behavior_cloning``: TD3+BC's actor) on ``config.dataset``; ``algo`` names
    the algorithm in errors."""
    config.validate()
    prepared = common.prepare(config, env, env_params, algo=algo, continuous=True)
    replay = replay_config(config, len(prepared.dataset), policy_delay=config.policy_delay)
    agent, _ = td3.make_agent(replay, env, env_params, algo, behavior_cloning=behavior_cloning)
    return common.replay_learner(config, env, env_params, prepared, agent, replay, hparams,
                                 hparam_ranges)  # fmt: skip


def make_learner(config: TD3OfflineConfig, env, env_params) -> Learner:
    """TD3 on ``config.dataset`` alone (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    return build(config, env, env_params, "td3_offline", TD3OfflineHParams(), HPARAM_RANGES)


make_train = trainer(make_learner)
CONFIG = TD3OfflineConfig
HPARAMS = TD3OfflineHParams
