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

from jaxrl.agents.offline import td3_offline
from jaxrl.agents.offpolicy import td3
from jaxrl.learner import Learner, hyperparameters, trainer


@dataclasses.dataclass(frozen=True)
class TD3BCConfig(td3_offline.TD3OfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""


@hyperparameters
class TD3BCHParams(td3.TD3TargetHParams):
    """Traced hyperparameters (vmappable); noise scales in units of the action range
    ``[-1, 1]``. The defaults are the paper's."""

    alpha: float = 2.5
    """Weight of the Q term against behaviour cloning (lambda = alpha / mean |Q|)."""


HPARAM_RANGES = {**td3.TARGET_RANGES, "alpha": ">= 0"}


def make_learner(config: TD3BCConfig, env, env_params) -> Learner:
    """TD3+BC on ``config.dataset`` (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    return td3_offline.build(config, env, env_params, "td3_bc", TD3BCHParams(), HPARAM_RANGES,
                             behavior_cloning=True)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = TD3BCConfig
HPARAMS = TD3BCHParams
