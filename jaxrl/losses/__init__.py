"""Loss and return math, written unbatched and time-indexed."""

from jaxrl.losses.gae import generalized_advantage_estimation, lambda_returns
from jaxrl.losses.offline import awr_weight, cql_penalty, expectile_loss, td3_bc_actor_loss
from jaxrl.losses.ppo import categorical_ppo_terms, clipped_surrogate_loss, clipped_value_loss
from jaxrl.losses.value_learning import (
    double_q_target,
    huber_loss,
    n_step_bootstrap,
    soft_state_value,
)
from jaxrl.losses.value_transform import (
    categorical_to_scalar,
    inverse_value_transform,
    scalar_to_categorical,
    symexp,
    symlog,
    two_hot,
    two_hot_decode,
    value_transform,
)

__all__ = [
    "awr_weight",
    "cql_penalty",
    "expectile_loss",
    "categorical_ppo_terms",
    "categorical_to_scalar",
    "clipped_surrogate_loss",
    "clipped_value_loss",
    "double_q_target",
    "generalized_advantage_estimation",
    "huber_loss",
    "lambda_returns",
    "inverse_value_transform",
    "n_step_bootstrap",
    "scalar_to_categorical",
    "soft_state_value",
    "symexp",
    "symlog",
    "td3_bc_actor_loss",
    "two_hot",
    "two_hot_decode",
    "value_transform",
]
