"""TD3+BC (Fujimoto & Gu 2021, arXiv:2106.06860): TD3 with a behaviour-cloning term.

The actor maximises ``lambda Q(s, pi(s)) - (pi(s) - a)^2`` over the dataset's ``(s, a)``,
with ``lambda = alpha / mean |Q(s, pi(s))|`` so the trade-off does not depend on the scale
of the returns; observations are standardised by the dataset's statistics. Everything else
is TD3's (twin critics, target-policy smoothing, delayed actor updates):
:func:`jaxrl.agents.offpolicy.td3.make_agent` with ``behavior_cloning=True``, trained on the
dataset by :mod:`jaxrl.agents.offline.common`.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from jaxrl._errors import require
from jaxrl.agents.offline import common
from jaxrl.agents.offline.common import OfflineConfig
from jaxrl.agents.offpolicy import td3
from jaxrl.learner import Learner, trainer


@dataclasses.dataclass(frozen=True)
class TD3BCConfig(OfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""

    policy_delay: int = 2
    """Gradient steps between actor (and target) updates."""

    def validate(self) -> None:
        super().validate()
        require(isinstance(self.policy_delay, int) and self.policy_delay > 0, "policy_delay",
                f"must be a positive int, got {self.policy_delay}")  # fmt: skip


class TD3BCHParams(NamedTuple):
    """Traced hyperparameters (vmappable); noise scales in units of the action range
    ``[-1, 1]``. The defaults are the paper's."""

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
    alpha: float = 2.5
    """Weight of the Q term against behaviour cloning (lambda = alpha / mean |Q|)."""


HPARAM_RANGES = {
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "target_noise": ">= 0",
    "noise_clip": ">= 0",
    "alpha": ">= 0",
}


def replay_config(config: OfflineConfig, n: int, **fields) -> td3.TD3Config:
    """The TD3 config an offline learner's agent is built from: its networks and batch, and
    ``log_every`` gradient steps per train phase over a buffer of the dataset's ``n``."""
    return td3.TD3Config(hidden=config.hidden, activation=config.activation,
                         batch_size=config.batch_size, gradient_steps=config.log_every,
                         buffer_size=max(n, config.batch_size),
                         learning_starts=config.batch_size, **fields)  # fmt: skip


def make_learner(config: TD3BCConfig, env, env_params) -> Learner:
    """TD3+BC on ``config.dataset`` (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    config.validate()
    prepared = common.prepare(config, env, env_params, algo="td3_bc", continuous=True)
    replay = replay_config(config, len(prepared.dataset), policy_delay=config.policy_delay)
    agent, _ = td3.make_agent(replay, env, env_params, "td3_bc", behavior_cloning=True)
    return common.replay_learner(config, env, env_params, prepared, agent, replay,
                                 TD3BCHParams(), HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = TD3BCConfig
HPARAMS = TD3BCHParams
