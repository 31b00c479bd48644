"""Soft Actor-Critic for discrete actions (Christodoulou 2019, arXiv:1910.07207).

Same configuration and hyperparameters as :mod:`jaxrl.agents.sac`; see its docstring.
"""

from jaxrl.agents.sac import CONFIG, HPARAMS, SACConfig, SACHParams, validate_hparams
from jaxrl.agents.sac import make_train_discrete as make_train

__all__ = ["CONFIG", "HPARAMS", "SACConfig", "SACHParams", "make_train", "validate_hparams"]
