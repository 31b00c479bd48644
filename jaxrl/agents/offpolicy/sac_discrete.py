"""Soft Actor-Critic for discrete actions (Christodoulou 2019, arXiv:1910.07207).

Same configuration and hyperparameters as :mod:`jaxrl.agents.offpolicy.sac`; see its
docstring.
"""

from jaxrl.agents.offpolicy.sac import CONFIG, HPARAMS, SACConfig, SACHParams
from jaxrl.agents.offpolicy.sac import make_learner_discrete as make_learner
from jaxrl.agents.offpolicy.sac import make_train_discrete as make_train

__all__ = ["CONFIG", "HPARAMS", "SACConfig", "SACHParams", "make_learner", "make_train"]
