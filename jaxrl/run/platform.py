"""CPU execution settings that must be chosen before JAX starts its backend."""

from __future__ import annotations

import os


def configure_cpu(num_devices: int | None = None, num_runs: int | None = None) -> int:
    """Exposes one XLA CPU device per core and keeps each device's work on one thread.

    The networks of classic-control RL are tiny: XLA's intra-op threading spends more time
    synchronising than computing on them. Independent runs sharded over one device per core
    use every core with no synchronisation inside a run. LLVM's optimisation level is set to
    1: on these programs it compiles ~30 % faster than the default with no slower code
    (BENCHMARKS.md). OpenBLAS is kept to one thread. Call before any JAX computation; flags a
    user already set in ``XLA_FLAGS`` or ``OPENBLAS_NUM_THREADS`` and an already started
    backend are left as they are.

    Args:
      num_devices: CPU devices to expose (default: the cores this process may use).
      num_runs: if given, no more devices than runs (an idle extra device still costs time).

    Returns:
      the number of CPU devices requested.
    """
    import jax

    n = num_devices or len(os.sched_getaffinity(0))
    if num_runs is not None:
        n = max(1, min(n, num_runs))
    flags = os.environ.get("XLA_FLAGS", "")
    extra = []
    if "xla_cpu_multi_thread_eigen" not in flags:
        extra.append("--xla_cpu_multi_thread_eigen=false")
    if "xla_backend_optimization_level" not in flags:
        extra.append("--xla_backend_optimization_level=1")
    os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
    # LAPACK calls outside XLA's matmuls (evosax's covariance eigendecomposition every CMA-ES
    # generation) spin OpenBLAS worker threads that fight the per-core devices: 50
    # generations took 45 s instead of 0.3 s on a busy 2-core machine. Read at first use.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if "xla_force_host_platform_device_count" not in flags:
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # backend already initialised
            pass
    return n
