"""Conservative Q-learning (Kumar et al. 2020, arXiv:2006.04779), CQL(H) on SAC.

Each critic's loss is ``mean (Q - y)^2 + cql_alpha * (log sum_a exp Q(s, a) - Q(s, a_data))``
over the dataset's states, the authors' weighting (their squared TD error has no 1/2, and
their ``cql_alpha`` of 5 is chosen against it; the loss here is half that sum, the same Adam
steps). The log-sum-exp (estimated by importance sampling over uniform actions and the
policy's, :func:`jaxrl.losses.cql_penalty`) pushes Q down wherever the policy would go, the
second term up on the actions the data shows, so the learned Q lower-bounds the policy's
value instead of overestimating it off the data. The rest is SAC
(:func:`jaxrl.agents.offpolicy.sac.make_agent` with ``cql_actions``), without the entropy
bonus in the bootstrapped target (``backup_entropy``), as the authors' code.
"""

from __future__ import annotations

import dataclasses

from jaxrl._errors import require
from jaxrl.agents.offline import sac_offline
from jaxrl.agents.offpolicy import sac
from jaxrl.learner import Learner, hyperparameters, trainer


@dataclasses.dataclass(frozen=True)
class CQLConfig(sac_offline.SACOfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""

    n_actions: int = 10
    """Actions of each kind (uniform, policy at s, policy at s') in the log-sum-exp."""
    backup_entropy: bool = False
    """Keep SAC's entropy bonus in the bootstrapped target."""

    def validate(self) -> None:
        super().validate()
        require(isinstance(self.n_actions, int) and self.n_actions > 0, "n_actions",
                f"must be a positive int, got {self.n_actions}")  # fmt: skip


@hyperparameters
class CQLHParams(sac.SACHParams):
    """Traced hyperparameters (vmappable); the paper's for the Gym locomotion tasks."""

    actor_lr: float = 1e-4
    cql_alpha: float = 5.0
    """Weight of the conservative penalty in each critic's loss."""


HPARAM_RANGES = {**sac.HPARAM_RANGES, "cql_alpha": ">= 0"}


def make_learner(config: CQLConfig, env, env_params) -> Learner:
    """CQL on ``config.dataset`` (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    return sac_offline.build(config, env, env_params, "cql", CQLHParams(), HPARAM_RANGES,
                             cql_actions=config.n_actions,
                             backup_entropy=config.backup_entropy)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = CQLConfig
HPARAMS = CQLHParams
