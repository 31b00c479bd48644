"""Environments: ``make(name)`` and wrappers over the gymnax protocol."""

from jaxrl.envs.meta import Trial, TrialParams, as_trial, bernoulli_bandit
from jaxrl.envs.perturb import parse_ranges, sample_params, set_params, settable_fields
from jaxrl.envs.randomize import DomainRandomization
from jaxrl.envs.registry import list_envs, make, spaces_of
from jaxrl.envs.spaces import ActionSpec, action_spec, is_discrete, require_action_kind
from jaxrl.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    FlattenObservation,
    MaskObservation,
    NormalizeObservation,
    RescaleAction,
    RunningMeanStd,
    VecEnv,
    Wrapper,
    observation_size,
    stack,
)

__all__ = [
    "ActionSpec",
    "action_spec",
    "as_trial",
    "bernoulli_bandit",
    "require_action_kind",
    "ClipAction",
    "DomainRandomization",
    "EpisodeStatistics",
    "FlattenObservation",
    "MaskObservation",
    "NormalizeObservation",
    "RescaleAction",
    "RunningMeanStd",
    "Trial",
    "TrialParams",
    "VecEnv",
    "Wrapper",
    "is_discrete",
    "list_envs",
    "make",
    "observation_size",
    "parse_ranges",
    "sample_params",
    "set_params",
    "settable_fields",
    "spaces_of",
    "stack",
]
