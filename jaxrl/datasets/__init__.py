"""Offline RL datasets: made from jaxrl's own agents, stored in Minari's format.

- :mod:`~jaxrl.datasets.storage`: the format on disk (Minari's HDF5 layout), reading with
  one-line errors, :class:`Dataset` (flat transitions) and D4RL's :func:`normalized_score`.
  Imports neither JAX nor any agent (the command line reads datasets before JAX starts).
- :mod:`~jaxrl.datasets.training`: a dataset checked against an env and in a learner's
  units; what offline learners (:mod:`jaxrl.agents.offline`) import.
- :mod:`~jaxrl.datasets.collect`: D4RL's recipe (random, medium, expert, medium-replay,
  medium-expert) with jaxrl's SAC as the behaviour policy; above the agents and the engine,
  like the command line (``jaxrl dataset make``, ``jaxrl dataset info``:
  :mod:`~jaxrl.datasets.cli`).
"""

from jaxrl.datasets.storage import (
    KINDS,
    Dataset,
    DatasetError,
    info,
    normalized_score,
    read,
    read_metadata,
    write,
)

__all__ = ["KINDS", "Dataset", "DatasetError", "info", "normalized_score", "read",
           "read_metadata", "write"]  # fmt: skip
