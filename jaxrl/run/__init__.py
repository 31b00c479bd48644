"""Running many seeds, statistics and results on disk.

Names are imported on first use: :func:`configure_cpu` must run before JAX starts its
backend, and the command line reads its arguments (and answers ``--help``) before importing
JAX at all.
"""

import importlib

_LAZY = {
    "CheckpointError": "jaxrl.run.resume",
    "chunk_size": "jaxrl.run.chunked",
    "run_chunked": "jaxrl.run.chunked",
    "configure_cpu": "jaxrl.run.platform",
    "matmul_peak_gflops": "jaxrl.run.platform",
    "SeedsResult": "jaxrl.run.seeds",
    "broadcast_hparams": "jaxrl.run.seeds",
    "run_keys": "jaxrl.run.seeds",
    "run_seeds": "jaxrl.run.seeds",
    # these import the envs (and gymnax, which starts JAX's backend)
    "evaluate_params": "jaxrl.run.evaluate",
    "first_episode_returns": "jaxrl.run.evaluate",
    "saved_policies": "jaxrl.run.evaluate",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jaxrl.run' has no attribute {name!r}")


__all__ = sorted(_LAZY)
