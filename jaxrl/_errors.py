"""Helpers for clear errors on bad input, and the validation built on them.

The bottom of the package: it imports nothing from jaxrl, so every layer can use it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

import numpy as np


class JaxrlWarning(UserWarning):
    """A warning of jaxrl's own (the command line prints these on one line)."""


def unknown_name(kind: str, name: str, options: Iterable[str]) -> str:
    """Returns an error message for an unknown ``name``, suggesting close matches."""
    options = sorted(options)
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    close = [lowered[c] for c in close]
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
        hint = f"known: {shown}"
    return f"unknown {kind} {name!r}; {hint}"


def first_unknown(kind: str, names: Iterable[str], options: Iterable[str]) -> str | None:
    """The :func:`unknown_name` message for the first of ``names`` not in ``options``, or
    ``None`` when every one is known."""
    options = list(options)
    return next((unknown_name(kind, n, options) for n in names if n not in options), None)


def require(condition: bool, field: str, message: str) -> None:
    """Raises ``ValueError`` naming ``field`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"{field}: {message}")


def require_positive_ints(obj, names) -> None:
    """Raises ``ValueError`` naming the first of ``obj``'s fields ``names`` that is not a
    positive int."""
    for name in names:
        value = getattr(obj, name)
        require(isinstance(value, int) and value > 0, name, f"must be a positive int, got {value}")


def require_nonnegative_int(obj, name: str) -> None:
    """Raises ``ValueError`` naming ``obj``'s field ``name`` unless it is an int >= 0."""
    value = getattr(obj, name)
    require(isinstance(value, int) and value >= 0, name, f"must be a non-negative int, got {value}")


def require_update_schedule(cfg, per_iteration: str) -> None:
    """Checks a config that reports every ``log_every`` env steps and collects
    ``cfg.steps_per_iteration`` of them per iteration (``per_iteration`` names the product,
    e.g. ``"num_envs*train_every"``): ``log_every`` must be a multiple of it and
    ``total_steps`` at least one report."""
    require(
        cfg.log_every % cfg.steps_per_iteration == 0,
        "log_every",
        f"{cfg.log_every} is not a multiple of {per_iteration}={cfg.steps_per_iteration}",
    )
    require(
        cfg.total_steps >= cfg.log_every,
        "total_steps",
        f"{cfg.total_steps} is less than one update (log_every={cfg.log_every})",
    )


def require_layers(hidden) -> None:
    """Raises ``ValueError`` naming ``hidden`` unless it lists at least one positive width."""
    require(
        len(hidden) > 0 and all(isinstance(h, int) and h > 0 for h in hidden),
        "hidden",
        f"needs at least one positive layer size, got {hidden}",
    )


def require_choice(field: str, value: str, options: Iterable[str], kind: str | None = None):
    """Raises ``ValueError`` naming ``field`` unless ``value`` is one of ``options``."""
    options = list(options)
    if value not in options:
        raise ValueError(f"{field}: " + unknown_name(kind or field, value, options))


# A valid range is written as ``"> 0"``, ``">= 0"``, ``"< 1"``, ``"<= 1"`` or an interval
# ``"[0, 1]"``, ``"(0, 1]"``, ``"[0, 1)"``, ``"(0, 1)"`` (bounds may be ``inf``).
_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,]+),\s*([^\])]+)\s*([\])])\s*$")
_BOUND = re.compile(r"^\s*(>=|<=|>|<)\s*(\S+)\s*$")


def in_range(spec: str, value) -> np.ndarray:
    """Elementwise: does ``value`` lie in the range ``spec`` (see the module's syntax)?"""
    v = np.asarray(value, np.float64)
    m = _INTERVAL.match(spec)
    if m:
        left, lo, hi, right = m.groups()
        lo, hi = float(lo), float(hi)
        ok_lo = v >= lo if left == "[" else v > lo
        ok_hi = v <= hi if right == "]" else v < hi
        return ok_lo & ok_hi
    m = _BOUND.match(spec)
    if not m:
        raise ValueError(f"range: cannot read {spec!r}")
    op, bound = m.group(1), float(m.group(2))
    return {">": v > bound, ">=": v >= bound, "<": v < bound, "<=": v <= bound}[op]


def describe_range(spec: str) -> str:
    """``"> 0"`` -> ``"> 0"``; ``"[0, 1]"`` -> ``"in [0, 1]"`` (for messages and help)."""
    return f"in {spec.strip()}" if _INTERVAL.match(spec) else spec.strip()


def check_ranges(values, ranges: Mapping[str, str]) -> None:
    """Raises ``ValueError("lr must be > 0, got -1")`` for the first field outside its range.

    ``values`` is a NamedTuple of scalars or of arrays (one value per run of a sweep); traced
    values are skipped, since validation happens in Python before tracing. For an array the
    message names the first bad value and its run.
    """
    for name, spec in ranges.items():
        value = getattr(values, name)
        try:
            arr = np.asarray(value, np.float64)
        except Exception:  # a tracer: nothing to check before tracing
            continue
        ok = in_range(spec, arr)
        if np.all(ok):
            continue
        if arr.ndim == 0:
            got = f"{arr.item():g}"
        else:
            i = int(np.flatnonzero(~np.asarray(ok).reshape(-1))[0])
            got = f"{arr.reshape(-1)[i]:g} (run {i})"
        raise ValueError(f"{name} must be {describe_range(spec)}, got {got}")
