"""Dynamics perturbation: set or sample env params with derived fields kept consistent.

Env params are a pytree argument of ``reset``/``step``, so ``jax.vmap`` over params sampled
here is domain randomisation (training) or a dynamics-shift test (evaluation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from jaxrl._errors import unknown_name

# Fields computed from others; setting them directly would break the physics.
_CARTPOLE_FIELDS = {"masscart", "masspole", "total_mass", "length", "polemass_length"}


def derived_fields(params) -> set[str]:
    """Names of params fields computed from other fields (not settable)."""
    names = {f.name for f in dataclasses.fields(params)}
    if _CARTPOLE_FIELDS <= names:
        return {"total_mass", "polemass_length"}
    return set()


def make_consistent(params):
    """Recomputes derived fields from the base fields."""
    if derived_fields(params) == {"total_mass", "polemass_length"}:
        return params.replace(
            total_mass=params.masspole + params.masscart,
            polemass_length=params.masspole * params.length,
        )
    return params


def settable_fields(params) -> list[str]:
    return [f.name for f in dataclasses.fields(params) if f.name not in derived_fields(params)]


def _check_names(params, names) -> None:
    fields = settable_fields(params)
    for name in names:
        if name in derived_fields(params):
            raise ValueError(f"{name}: derived from other params and cannot be set directly")
        if name not in fields:
            raise ValueError(unknown_name(f"param of {type(params).__qualname__}", name, fields))


def set_params(params, **values):
    """Returns ``params`` with ``values`` set and derived fields recomputed."""
    _check_names(params, values)
    return make_consistent(params.replace(**values))


def sample_params(key: jax.Array, params, ranges: Mapping[str, tuple[float, float]]):
    """Samples each named field uniformly in its ``(low, high)`` range.

    Traceable: ``jax.vmap(sample_params, (0, None, None))(keys, params, ranges)`` returns a
    batch of params for domain randomisation.
    """
    _check_names(params, ranges)
    for name, (low, high) in ranges.items():
        if not low <= high:
            raise ValueError(f"{name}: range low {low} exceeds high {high}")
    keys = jax.random.split(key, max(len(ranges), 1))
    values = {
        name: jax.random.uniform(k, (), jnp.float32, low, high)
        for k, (name, (low, high)) in zip(keys, sorted(ranges.items()), strict=False)
    }
    return make_consistent(params.replace(**values))


def parse_ranges(spec: str | list[str]) -> dict[str, tuple[float, float]]:
    """Parses ``"length=0.25:0.75,masspole=0.1"`` into ``{name: (low, high)}``."""
    items = spec if isinstance(spec, list) else [s for s in spec.split(",") if s.strip()]
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"perturb: expected NAME=LOW:HIGH or NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        try:
            lo, hi = (value.split(":", 1) + [value])[:2] if ":" in value else (value, value)
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise ValueError(f"perturb: {item!r} is not NAME=LOW:HIGH with numbers") from None
    return out
