"""Helpers for clear errors on bad input."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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
