"""Conservative Q-learning (Kumar et al. 2020, arXiv:2006.04779), CQL(H) on SAC.

Each critic's loss gains ``cql_alpha * (log sum_a exp Q(s, a) - Q(s, a_data))`` averaged over
the dataset's states: the log-sum-exp (estimated by importance sampling over uniform actions
and the policy's, :func:`jaxrl.losses.cql_penalty`) pushes Q down wherever the policy would
go, the second term up on the actions the data shows, so the learned Q lower-bounds the
policy's value instead of overestimating it off the data. The rest is SAC
(:func:`jaxrl.agents.offpolicy.sac.make_agent` with ``cql_actions``), without the entropy
bonus in the bootstrapped target (``backup_entropy``), as the authors' code.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from jaxrl._errors import require
from jaxrl.agents.offline import common
from jaxrl.agents.offline.common import OfflineConfig
from jaxrl.agents.offline.sac_offline import replay_config
from jaxrl.agents.offpolicy import sac
from jaxrl.learner import Learner, trainer


@dataclasses.dataclass(frozen=True)
class CQLConfig(OfflineConfig):
    """Static configuration; see :class:`~jaxrl.agents.offline.common.OfflineConfig`."""

    n_actions: int = 10
    """Actions of each kind (uniform, policy at s, policy at s') in the log-sum-exp."""
    backup_entropy: bool = False
    """Keep SAC's entropy bonus in the bootstrapped target."""
    autotune_alpha: bool = True
    """Learn SAC's temperature towards the target entropy (else keep init_alpha)."""

    def validate(self) -> None:
        super().validate()
        require(isinstance(self.n_actions, int) and self.n_actions > 0, "n_actions",
                f"must be a positive int, got {self.n_actions}")  # fmt: skip


class CQLHParams(NamedTuple):
    """Traced hyperparameters (vmappable); the paper's for the Gym locomotion tasks."""

    actor_lr: float = 1e-4
    """Adam's learning rate for the actor."""
    critic_lr: float = 3e-4
    """Adam's learning rate for the critics."""
    alpha_lr: float = 3e-4
    """Adam's learning rate for SAC's log-temperature."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Polyak step of the target critics per gradient step."""
    init_alpha: float = 1.0
    """Initial SAC temperature (the entropy bonus's weight)."""
    target_entropy_scale: float = 1.0
    """Target entropy: -scale * action_dim."""
    cql_alpha: float = 5.0
    """Weight of the conservative penalty in each critic's loss."""


HPARAM_RANGES = {
    "actor_lr": "> 0",
    "critic_lr": "> 0",
    "alpha_lr": ">= 0",
    "gamma": "[0, 1]",
    "tau": "(0, 1]",
    "init_alpha": "> 0",
    "target_entropy_scale": ">= 0",
    "cql_alpha": ">= 0",
}


def make_learner(config: CQLConfig, env, env_params) -> Learner:
    """CQL on ``config.dataset`` (continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, one
        whose spaces are not the env's, or discrete actions.
    """
    config.validate()
    prepared = common.prepare(config, env, env_params, algo="cql", continuous=True)
    replay = replay_config(config, len(prepared.dataset), config.autotune_alpha)
    agent, _ = sac.make_agent(replay, env, env_params, discrete=False,
                              cql_actions=config.n_actions,
                              backup_entropy=config.backup_entropy)  # fmt: skip
    return common.replay_learner(config, env, env_params, prepared, agent, replay, CQLHParams(),
                                 HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = CQLConfig
HPARAMS = CQLHParams
