"""Running many seeds, statistics and results on disk."""

from jaxrl.run.chunked import CheckpointError, chunk_size, run_chunked
from jaxrl.run.platform import configure_cpu, matmul_peak_gflops
from jaxrl.run.seeds import SeedsResult, broadcast_hparams, run_keys, run_seeds

__all__ = [
    "CheckpointError",
    "SeedsResult",
    "broadcast_hparams",
    "chunk_size",
    "configure_cpu",
    "matmul_peak_gflops",
    "run_chunked",
    "run_keys",
    "run_seeds",
]
