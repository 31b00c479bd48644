"""PPO with Random Network Distillation (Burda et al. 2018, arXiv:1810.12894).

A target network ``f`` with random weights is fixed at initialisation; a predictor ``f_hat``
of the same shape learns to match it on the observations the agent reaches. The raw bonus of
reaching ``s'`` is the predictor's error ``mean_k (f_hat(s')_k - f(s')_k)^2`` on the
normalised observation: large on states seen rarely, falling as a state is visited again.
The rest (observation and intrinsic-reward normalisation, the non-episodic intrinsic return
with its own value head and discount, the two advantages' weights) is
:mod:`jaxrl.agents.exploration.curiosity`'s. Run it with::

    jaxrl train ppo_rnd --env DeepSea-N10
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxrl._errors import require_positive_ints
from jaxrl.agents.exploration import curiosity
from jaxrl.agents.exploration.curiosity import Bonus, CuriosityConfig, CuriosityHParams
from jaxrl.learner import Learner, trainer
from jaxrl.networks import apply_mlp, init_mlp


@dataclasses.dataclass(frozen=True)
class RNDConfig(CuriosityConfig):
    """Static configuration: PPO's shapes and RND's networks."""

    rnd_features: int = 64
    """Output width of the target and predictor networks."""

    def validate(self) -> None:
        super().validate()
        require_positive_ints(self, ("rnd_features",))


RNDHParams = CuriosityHParams
HPARAM_RANGES = {**curiosity.HPARAM_RANGES}


def rnd_bonus(config: RNDConfig, obs_dim: int, spec) -> Bonus:
    """RND's bonus: the predictor trained, the target frozen."""
    sizes = (obs_dim, *config.bonus_hidden, config.rnd_features)
    activation = config.bonus_activation

    def init(key):
        k_pred, k_target = jax.random.split(key)
        return init_mlp(k_pred, sizes), init_mlp(k_target, sizes)

    def error(predictor, target, next_obs):
        pred = apply_mlp(predictor, next_obs, activation)
        goal = jax.lax.stop_gradient(apply_mlp(target, next_obs, activation))
        return jnp.mean(jnp.square(pred - goal), axis=-1)

    def reward(predictor, target, obs, action, next_obs):
        return error(predictor, target, next_obs)

    def loss(predictor, target, obs, action, next_obs, hp):
        total = error(predictor, target, next_obs).mean()
        return total, jnp.stack([total])

    return Bonus(init, reward, loss, ("rnd_loss",))


def make_learner(config: RNDConfig, env, env_params) -> Learner:
    """PPO+RND on ``env``.

    Raises:
      ValueError: an invalid config, naming the field.
    """
    return curiosity.make_learner(config, env, env_params, rnd_bonus)


make_train = trainer(make_learner)
CONFIG = RNDConfig
HPARAMS = RNDHParams
