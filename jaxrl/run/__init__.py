"""Running many seeds, statistics and results on disk."""

from jaxrl.run.platform import configure_cpu
from jaxrl.run.seeds import SeedsResult, broadcast_hparams, run_keys, run_seeds

__all__ = ["SeedsResult", "broadcast_hparams", "configure_cpu", "run_keys", "run_seeds"]
