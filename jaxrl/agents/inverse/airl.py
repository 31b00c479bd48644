"""AIRL: adversarial inverse reinforcement learning (Fu, Luo & Levine 2018,
arXiv:1710.11248) on jaxrl's PPO.

The discriminator is ``D(s, a, s') = exp f / (exp f + pi(a | s))`` with the disentangled
``f(s, a, s') = g(s) + gamma h(s') - h(s)``: ``g`` is the learned reward (of the state only
by default, the form the paper shows to transfer across dynamics) and ``h`` a shaping
potential. The policy maximises ``log D - log(1 - D) = f - log pi(a | s)`` with PPO. The
shared machinery is :mod:`.adversarial`.

    jaxrl train airl --env Pendulum-v1 --demos demos.npz --num-demos 10
"""

from __future__ import annotations

import dataclasses

from jaxrl.agents.inverse import adversarial
from jaxrl.agents.inverse.adversarial import HPARAM_RANGES, AdversarialConfig, AdversarialHParams
from jaxrl.learner import Learner, trainer


@dataclasses.dataclass(frozen=True)
class AIRLConfig(AdversarialConfig):
    """AIRL's static configuration: GAIL's, with a state-only reward by default and the
    choice of the policy's reward."""

    state_only: bool = True
    """The reward g of the state only (disentangled, transferable), not of the action."""
    entropy_reward: bool = False
    """Reward the policy with f - log pi(a|s) (the paper's) instead of f."""


AIRLHParams = AdversarialHParams


def make_learner(config: AIRLConfig, env, env_params) -> Learner:
    """AIRL on ``env`` imitating ``config.demos`` (see :func:`.adversarial.make_learner`)."""
    return adversarial.make_learner(config, env, env_params, kind="airl")


def learned_reward(learner: Learner, gamma: float = 0.99):
    """``reward(saved, obs, action, next_obs, terminated)``: ``g(s)`` of a trained run, plus
    the absorbing state's discounted reward on a termination (see
    :func:`.adversarial.learned_reward`)."""
    return adversarial.learned_reward(learner, "airl", gamma)


make_train = trainer(make_learner)
CONFIG = AIRLConfig
HPARAMS = AIRLHParams
__all__ = ["CONFIG", "HPARAMS", "HPARAM_RANGES", "make_learner", "make_train", "learned_reward"]
