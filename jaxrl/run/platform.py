"""CPU execution settings that must be chosen before JAX starts its backend."""

from __future__ import annotations

import os


def configure_cpu(num_devices: int | None = None) -> int:
    """Exposes one XLA CPU device per core and keeps each device's work on one thread.

    The networks of classic-control RL are tiny: XLA's intra-op threading spends more time
    synchronising than computing on them. Independent runs sharded over one device per core
    use every core with no synchronisation inside a run. Call before any JAX computation;
    a user's own ``XLA_FLAGS`` and an already started backend are left as they are.

    Returns:
      the number of CPU devices requested.
    """
    import jax

    n = num_devices or len(os.sched_getaffinity(0))
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    if "xla_force_host_platform_device_count" not in flags:
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # backend already initialised
            pass
    return n
