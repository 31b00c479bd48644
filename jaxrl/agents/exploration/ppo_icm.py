"""PPO with the Intrinsic Curiosity Module (Pathak et al. 2017, arXiv:1705.05363).

An encoder ``phi`` maps observations to features; an inverse model reads ``(phi(s),
phi(s'))`` and predicts the action taken (a softmax over discrete actions, the action itself
by squared error for continuous ones); a forward model reads ``(phi(s), a)`` and predicts
``phi(s')``. The encoder is trained by the inverse model's loss only (the forward model's
target and input features are held fixed for it), so the features keep what the agent's
actions can change and drop what they cannot. The raw bonus of a transition is the forward
model's error ``mean_k (phi_hat(s')_k - phi(s')_k)^2``; the modules' loss is the paper's
``(1 - beta) L_inverse + beta L_forward``. The rest (observation and intrinsic-reward
normalisation, the non-episodic intrinsic return with its own value head, the two advantages'
weights) is :mod:`jaxrl.agents.exploration.curiosity`'s, as in Burda et al.'s large-scale
study of curiosity (2019). Run it with::

    jaxrl train ppo_icm --env DeepSea-N10
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrl._errors import require_positive_ints
from jaxrl.agents.exploration import curiosity
from jaxrl.agents.exploration.curiosity import Bonus, CuriosityConfig
from jaxrl.learner import Learner, hyperparameters, trainer
from jaxrl.networks import apply_mlp, init_mlp


@dataclasses.dataclass(frozen=True)
class ICMConfig(CuriosityConfig):
    """Static configuration: PPO's shapes and the curiosity module's networks."""

    icm_features: int = 32
    """Width of the encoder's features phi(s)."""

    def validate(self) -> None:
        super().validate()
        require_positive_ints(self, ("icm_features",))


@hyperparameters
class ICMHParams(curiosity.CuriosityHParams):
    """Traced hyperparameters: PPO's, the two rewards' weights and the module's."""

    bonus_lr: float = 1e-3
    """Adam's learning rate for the curiosity module."""
    icm_beta: float = 0.2
    """Weight beta of the forward loss against the inverse loss's 1 - beta."""


HPARAM_RANGES = {**curiosity.HPARAM_RANGES, "icm_beta": "[0, 1]"}


def icm_bonus(config: ICMConfig, obs_dim: int, spec) -> Bonus:
    """The curiosity module: encoder, inverse and forward models, all trained."""
    hidden, act_fn, feat = config.bonus_hidden, config.bonus_activation, config.icm_features
    n_act = spec.dim

    def as_input(action):
        if spec.discrete:
            return jax.nn.one_hot(action, n_act)
        return action

    def init(key):
        k_enc, k_inv, k_fwd = jax.random.split(key, 3)
        return {
            "encoder": init_mlp(k_enc, (obs_dim, *hidden, feat)),
            "inverse": init_mlp(k_inv, (2 * feat, *hidden, n_act)),
            "forward": init_mlp(k_fwd, (feat + n_act, *hidden, feat)),
        }, ()

    def encode(params, obs):
        return apply_mlp(params["encoder"], obs, act_fn)

    def forward_error(params, phi, phi_next, action):
        x = jnp.concatenate([jax.lax.stop_gradient(phi), as_input(action)], axis=-1)
        pred = apply_mlp(params["forward"], x, act_fn)
        return jnp.mean(jnp.square(pred - jax.lax.stop_gradient(phi_next)), axis=-1)

    def inverse_out(params, phi, phi_next):
        return apply_mlp(params["inverse"], jnp.concatenate([phi, phi_next], axis=-1), act_fn)

    def reward(params, frozen, obs, action, next_obs):
        return forward_error(params, encode(params, obs), encode(params, next_obs), action)

    def loss(params, frozen, obs, action, next_obs, hp):
        phi, phi_next = encode(params, obs), encode(params, next_obs)
        out = inverse_out(params, phi, phi_next)
        if spec.discrete:
            logp = jax.nn.log_softmax(out)
            inv = -jnp.take_along_axis(logp, action[:, None].astype(jnp.int32), axis=-1).mean()
        else:
            inv = jnp.mean(jnp.square(out - action))
        fwd = forward_error(params, phi, phi_next, action).mean()
        total = (1.0 - hp.icm_beta) * inv + hp.icm_beta * fwd
        return total, jnp.stack([inv, fwd])

    def predict_action(params, obs, next_obs):
        """The inverse model's action for each transition (its argmax, or its mean)."""
        out = inverse_out(params, encode(params, obs), encode(params, next_obs))
        return jnp.argmax(out, axis=-1) if spec.discrete else out

    bonus = Bonus(init, reward, loss, ("inverse_loss", "forward_loss"))
    return ICMBonus(*bonus, predict_action)


class ICMBonus(NamedTuple):
    """:class:`~jaxrl.agents.exploration.curiosity.Bonus` plus the inverse model's action."""

    init: object
    reward: object
    loss: object
    metric_names: tuple[str, ...]
    predict_action: object


def make_learner(config: ICMConfig, env, env_params) -> Learner:
    """PPO+ICM on ``env``.

    Raises:
      ValueError: an invalid config, naming the field.
    """
    return curiosity.make_learner(config, env, env_params, icm_bonus, ICMHParams(),
                                  HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = ICMConfig
HPARAMS = ICMHParams
