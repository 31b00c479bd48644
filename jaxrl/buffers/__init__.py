"""Functional replay: ``init/add/sample`` over a state pytree, vmappable over seeds."""

from jaxrl.buffers.replay import (
    BufferState,
    ReplayBuffer,
    Sample,
    full_state,
    make_prioritized,
    make_uniform,
)

__all__ = ["BufferState", "ReplayBuffer", "Sample", "full_state", "make_prioritized",
           "make_uniform"]  # fmt: skip
