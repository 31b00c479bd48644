"""Naive offline SAC: SAC (Haarnoja et al. 2018) trained on a dataset with nothing added.

The control of the offline family, like :mod:`~jaxrl.agents.offline.td3_offline`: the actor
seeks high ``Q(s, a)`` over actions the dataset never shows, where nothing corrects the
critics' guesses (extrapolation error). CQL (:mod:`~jaxrl.agents.offline.cql`) is this
learner plus a regulariser on the critics.
"""

from __future__ import annotations

import dataclasses

from jaxrl.agents.offline import common
from jaxrl.agents.offline.common import OfflineConfig
from jaxrl.agents.offpolicy import sac
from jaxrl.agents.offpolicy.sac import SACHParams
from jaxrl.learner import Learner, trainer


@dataclasses.dataclass(frozen=True)
class SACOfflineConfig(OfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""

    autotune_alpha: bool = True
    """Learn the temperature towards the target entropy (else keep init_alpha)."""


HPARAM_RANGES = sac.HPARAM_RANGES


def replay_config(config: OfflineConfig, n: int, autotune_alpha: bool) -> sac.SACConfig:
    """The SAC config an offline learner's agent is built from (networks, batch, and
    ``log_every`` gradient steps per train phase over a buffer of the dataset's ``n``)."""
    return sac.SACConfig(hidden=config.hidden, activation=config.activation,
                         batch_size=config.batch_size, gradient_steps=config.log_every,
                         buffer_size=max(n, config.batch_size),
                         learning_starts=config.batch_size,
                         autotune_alpha=autotune_alpha)  # fmt: skip


def build(config: SACOfflineConfig, env, env_params, algo: str, hparams, hparam_ranges,
          **agent_options) -> Learner:  # fmt: skip
    """SAC (with ``agent_options`` for :func:`jaxrl.agents.offpolicy.sac.make_agent`: CQL's
    penalty) on ``config.dataset``; ``algo`` names the algorithm in errors."""
    config.validate()
    prepared = common.prepare(config, env, env_params, algo=algo, continuous=True)
    replay = replay_config(config, len(prepared.dataset), config.autotune_alpha)
    agent, _ = sac.make_agent(replay, env, env_params, discrete=False, **agent_options)
    return common.replay_learner(config, env, env_params, prepared, agent, replay, hparams,
                                 hparam_ranges)  # fmt: skip


def make_learner(config: SACOfflineConfig, env, env_params) -> Learner:
    """SAC on ``config.dataset`` alone (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    return build(config, env, env_params, "sac_offline", SACHParams(), HPARAM_RANGES)


make_train = trainer(make_learner)
CONFIG = SACOfflineConfig
HPARAMS = SACHParams
