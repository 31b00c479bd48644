"""Hyperparameter grids over traced hparams: the whole grid x seeds in one compile."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from jaxrl._errors import unknown_name


def parse_grid(specs, hparams, config=None) -> list[dict[str, float]]:
    """Parses ``["lr=1e-4,3e-4", "gamma=0.99,0.999"]`` into the cartesian product of points.

    Only traced hyperparameters can be swept in one compile; naming a static config field
    is an error that says so.
    """
    fields = _names(hparams)
    static = _names(config) if config is not None else []
    axes: dict[str, list[float]] = {}
    for spec in specs:
        if "=" not in spec:
            raise ValueError(f"grid: expected NAME=V1,V2,..., got {spec!r}")
        name, values = spec.split("=", 1)
        name = name.strip().replace("-", "_")
        if name in static:
            raise ValueError(
                f"grid: {name!r} is a static config field (changing it recompiles); "
                f"a grid sweeps traced hyperparameters: {', '.join(fields)}"
            )
        if name not in fields:
            raise ValueError("grid: " + unknown_name("hyperparameter", name, fields))
        if name in axes:
            raise ValueError(f"grid: {name!r} given twice")
        try:
            axes[name] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"grid: values of {name!r} must be numbers, got {values!r}") from None
        if not axes[name]:
            raise ValueError(f"grid: no values for {name!r}")
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def _names(obj) -> list[str]:
    """Field names of a NamedTuple or a dataclass (instance or class)."""
    if hasattr(obj, "_fields"):
        return list(obj._fields)
    return [f.name for f in dataclasses.fields(obj)]


def expand(hparams, points: list[dict[str, float]], seeds: int):
    """Per-run hparams ``[points * seeds]`` (point-major) and the key ids of the runs.

    Every point gets key ids ``0..seeds-1``: grid points are compared on common seeds.
    """
    n = len(points) * seeds
    values = {}
    for name in hparams._fields:
        base = float(getattr(hparams, name))
        per_point = [p.get(name, base) for p in points]
        values[name] = np.repeat(np.asarray(per_point, np.float32), seeds)
    key_ids = np.tile(np.arange(seeds), len(points))
    assert values[hparams._fields[0]].shape == (n,)
    return type(hparams)(**values), key_ids
