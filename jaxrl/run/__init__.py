"""Running many seeds, statistics and results on disk."""

from jaxrl.run.chunked import CheckpointError, chunk_size, run_chunked
from jaxrl.run.platform import configure_cpu, matmul_peak_gflops
from jaxrl.run.seeds import SeedsResult, broadcast_hparams, run_keys, run_seeds

_LAZY = {  # these import the envs (and gymnax, which starts JAX's backend): on first use
    "evaluate_params": "jaxrl.run.evaluate",
    "first_episode_returns": "jaxrl.run.evaluate",
    "saved_policies": "jaxrl.run.evaluate",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jaxrl.run' has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "SeedsResult",
    "broadcast_hparams",
    "chunk_size",
    "configure_cpu",
    "evaluate_params",
    "first_episode_returns",
    "matmul_peak_gflops",
    "run_chunked",
    "run_keys",
    "run_seeds",
    "saved_policies",
]
