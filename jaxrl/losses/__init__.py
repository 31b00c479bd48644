"""Loss and return math, written unbatched and time-indexed."""

from jaxrl.losses.gae import generalized_advantage_estimation
from jaxrl.losses.ppo import clipped_surrogate_loss, clipped_value_loss

__all__ = ["clipped_surrogate_loss", "clipped_value_loss", "generalized_advantage_estimation"]
