"""Environments: ``make(name)`` and wrappers over the gymnax protocol."""

from jaxrl.envs.perturb import parse_ranges, sample_params, set_params, settable_fields
from jaxrl.envs.registry import is_discrete, list_envs, make
from jaxrl.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    FlattenObservation,
    NormalizeObservation,
    RescaleAction,
    RunningMeanStd,
    VecEnv,
    Wrapper,
)

__all__ = [
    "ClipAction",
    "EpisodeStatistics",
    "FlattenObservation",
    "NormalizeObservation",
    "RescaleAction",
    "RunningMeanStd",
    "VecEnv",
    "Wrapper",
    "is_discrete",
    "list_envs",
    "make",
    "parse_ranges",
    "sample_params",
    "set_params",
    "settable_fields",
]
