"""Validation of concrete hyperparameter values (scalars or arrays of a sweep)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np


def check_hparams(hp, checks: dict[str, Callable]) -> None:
    """Raises ``ValueError("name: invalid value ...")`` where a check fails on any element.

    Traced values are skipped: validation happens in Python, before tracing.
    """
    for name, ok in checks.items():
        value = getattr(hp, name)
        if isinstance(value, jax.core.Tracer):
            continue
        if not np.all(ok(np.asarray(value))):
            raise ValueError(f"{name}: invalid value {value}")
