"""Loss and return math, written unbatched and time-indexed."""

from jaxrl.losses.gae import generalized_advantage_estimation
from jaxrl.losses.ppo import clipped_surrogate_loss, clipped_value_loss
from jaxrl.losses.value_learning import (
    double_q_target,
    huber_loss,
    n_step_bootstrap,
    soft_state_value,
)

__all__ = [
    "clipped_surrogate_loss",
    "clipped_value_loss",
    "double_q_target",
    "generalized_advantage_estimation",
    "huber_loss",
    "n_step_bootstrap",
    "soft_state_value",
]
