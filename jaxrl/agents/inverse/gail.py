"""GAIL: generative adversarial imitation learning (Ho & Ermon 2016, arXiv:1606.03476) on
jaxrl's PPO.

The discriminator ``D(s, a) = sigmoid(D_net(s, a))`` (the probability that a transition is
the expert's) is trained against the demonstrations; the policy maximises
``-log(1 - D(s, a))`` with PPO. The shared machinery is :mod:`.adversarial`.

    jaxrl train gail --env CartPole-v1 --demos demos.npz --num-demos 10
"""

from __future__ import annotations

from jaxrl.agents.inverse import adversarial
from jaxrl.agents.inverse.adversarial import (
    HPARAM_RANGES,
    AdversarialConfig,
    AdversarialHParams,
)
from jaxrl.learner import Learner, trainer

GAILConfig = AdversarialConfig
GAILHParams = AdversarialHParams


def make_learner(config: GAILConfig, env, env_params) -> Learner:
    """GAIL on ``env`` imitating ``config.demos`` (see :func:`.adversarial.make_learner`)."""
    return adversarial.make_learner(config, env, env_params, kind="gail")


def learned_reward(learner: Learner, gamma: float = 0.99):
    """``reward(saved, obs, action, next_obs, terminated)``: ``-log(1 - D(s, a))`` of a
    trained run, plus the absorbing state's discounted reward on a termination (see
    :func:`.adversarial.learned_reward`)."""
    return adversarial.learned_reward(learner, "gail", gamma)


make_train = trainer(make_learner)
CONFIG = GAILConfig
HPARAMS = GAILHParams
__all__ = ["CONFIG", "HPARAMS", "HPARAM_RANGES", "make_learner", "make_train", "learned_reward"]
