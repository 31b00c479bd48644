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


def tied_fields(name: str) -> list[str]:
    """The fields a range's name sets: ``"link_mass_1+link_mass_2"`` names two fields that
    take one shared draw (Packer et al. 2018 give Acrobot one "mass" for both links)."""
    return [part.strip() for part in name.split("+")]


def _check_names(params, names) -> None:
    fields = settable_fields(params)
    named = [field for group in names for field in tied_fields(group)]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise ValueError(f"{twice[0]}: given more than one range")
    for name in named:
        if name in derived_fields(params):
            raise ValueError(f"{name}: derived from other params and cannot be set directly")
        if name not in fields:
            raise ValueError(unknown_name(f"param of {type(params).__qualname__}", name, fields))


def set_params(params, **values):
    """Returns ``params`` with ``values`` set and derived fields recomputed."""
    _check_names(params, values)
    return make_consistent(params.replace(**values))


def intervals(name: str, value) -> tuple[tuple[float, float], ...]:
    """A range as disjoint intervals: ``(low, high)`` or a union ``((l1, h1), (l2, h2))``
    (e.g. the "extreme" ranges of Packer et al. 2018, two intervals either side of the
    "random" ones). ``ValueError`` naming the param for an empty or overlapping range."""
    parts = (value,) if not isinstance(value[0], tuple | list) else tuple(value)
    parts = tuple((float(lo), float(hi)) for lo, hi in parts)
    for low, high in parts:
        if not low <= high:
            raise ValueError(f"{name}: range low {low} exceeds high {high}")
    ordered = sorted(parts)
    for (_, h1), (l2, _) in zip(ordered[:-1], ordered[1:], strict=True):
        if l2 < h1:
            raise ValueError(f"{name}: the intervals of a union must not overlap, got {parts}")
    return tuple(ordered)


def _uniform_union(key, parts: tuple[tuple[float, float], ...]) -> jax.Array:
    """A uniform draw over a union of intervals (each weighted by its length)."""
    if len(parts) == 1:
        low, high = parts[0]
        return jax.random.uniform(key, (), jnp.float32, low, high)
    widths = jnp.asarray([h - lo for lo, h in parts], jnp.float32)
    starts = jnp.cumsum(widths) - widths
    u = jax.random.uniform(key, (), jnp.float32, 0.0, widths.sum())
    i = jnp.clip(jnp.searchsorted(starts, u, side="right") - 1, 0, len(parts) - 1)
    lows = jnp.asarray([lo for lo, _ in parts], jnp.float32)
    return jnp.minimum(lows[i] + (u - starts[i]), jnp.asarray([h for _, h in parts])[i])


def sample_params(key: jax.Array, params, ranges: Mapping):
    """Samples each named field uniformly in its range: ``(low, high)``, or a union of
    intervals ``((l1, h1), (l2, h2), ...)`` sampled uniformly over their total length. A name
    joining fields with ``+`` (``"link_length_1+link_length_2"``) gives them one shared draw.

    Traceable: ``jax.vmap(sample_params, (0, None, None))(keys, params, ranges)`` returns a
    batch of params for domain randomisation.
    """
    _check_names(params, ranges)
    parts = {name: intervals(name, value) for name, value in ranges.items()}
    keys = jax.random.split(key, max(len(ranges), 1))
    values = {}
    for k, name in zip(keys, sorted(ranges), strict=False):
        draw = _uniform_union(k, parts[name])
        values.update({field: draw for field in tied_fields(name)})
    return make_consistent(params.replace(**values))


def parse_ranges(spec: str | list[str]) -> dict:
    """Parses ``"length=0.25:0.75,masspole=0.1"`` into ``{name: (low, high)}``; a union of
    intervals is written with ``|``: ``"length=0.05:0.25|0.75:1.0"`` gives
    ``{"length": ((0.05, 0.25), (0.75, 1.0))}``; ``link_mass_1+link_mass_2=0.75:1.25`` ties two
    fields to one draw (:func:`sample_params`)."""
    items = spec if isinstance(spec, list) else [s for s in spec.split(",") if s.strip()]
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"perturb: expected NAME=LOW:HIGH or NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        try:
            parts = []
            for piece in value.split("|"):
                lo, hi = (piece.split(":", 1) + [piece])[:2] if ":" in piece else (piece, piece)
                parts.append((float(lo), float(hi)))
        except ValueError:
            raise ValueError(f"perturb: {item!r} is not NAME=LOW:HIGH with numbers") from None
        out[name.strip()] = intervals(name.strip(), parts[0] if len(parts) == 1 else parts)
        if len(parts) == 1:
            out[name.strip()] = parts[0]
    return out
