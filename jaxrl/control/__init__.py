"""Classical control: iLQR, receding-horizon MPC, MPPI and CEM, and dynamics models."""

from jaxrl.control import models
from jaxrl.control.ilqr import ILQRResult, check_shapes, ilqr, rollout
from jaxrl.control.models import Model
from jaxrl.control.mpc import EpisodeResult, Planner, PlanState, cem, episode, ilqr_mpc, mppi

__all__ = [
    "EpisodeResult",
    "ILQRResult",
    "Model",
    "PlanState",
    "Planner",
    "cem",
    "check_shapes",
    "episode",
    "ilqr",
    "ilqr_mpc",
    "models",
    "mppi",
    "rollout",
]
