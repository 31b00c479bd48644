"""Soft Actor-Critic for discrete actions (Christodoulou 2019, arXiv:1910.07207).

Same configuration and hyperparameters as :mod:`jaxrl.agents.offpolicy.sac`; see its
docstring.
"""

from jaxrl.agents.offpolicy.sac import DISCRETE_HPARAM_RANGES as HPARAM_RANGES
from jaxrl.agents.offpolicy.sac import SACConfig, SACDiscreteHParams
from jaxrl.agents.offpolicy.sac import make_learner_discrete as make_learner
from jaxrl.agents.offpolicy.sac import make_train_discrete as make_train

CONFIG = SACConfig
HPARAMS = SACDiscreteHParams

__all__ = ["CONFIG", "HPARAMS", "HPARAM_RANGES", "SACConfig", "SACDiscreteHParams",
           "make_learner", "make_train"]  # fmt: skip
