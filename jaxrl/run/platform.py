"""CPU execution settings that must be chosen before JAX starts its backend."""

from __future__ import annotations

import os
import warnings


def configure_cpu(num_devices: int | None = None, num_runs: int | None = None) -> int:
    """Exposes one XLA CPU device per core and keeps each device's work on one thread.

    The networks of classic-control RL are tiny: XLA's intra-op threading spends more time
    synchronising than computing on them. Independent runs sharded over one device per core
    use every core with no synchronisation inside a run. So matmuls are single-threaded and
    the runtime's thread pool has one thread (``PJRT_NPROC=1``; see :func:`runtime_threads`
    for jax 0.10 on several devices): with more, XLA runs
    independent kernels of a step concurrently, and on steps of a few microseconds the
    hand-offs cost more than they bring (PPO on CartPole, one seed: 1.42 s -> 1.27 s).
    LLVM's optimisation level is set to 1: on these programs it compiles ~30 % faster than
    the default with no slower code. On CPUs with AVX-512, XLA's kernels use 512-bit vectors
    (~7 % faster PPO updates than its default of 256). Small while loops (a rollout of a few
    envs, GAE, random-number generation) run as single kernels (:data:`SMALL_LOOP_BYTES`).
    OpenBLAS is kept to one thread. Call before any JAX array exists (gymnax creates some
    when it is imported, so before importing gymnax or :mod:`jaxrl.envs`; a late call warns
    and changes nothing). Settings a user already made in ``XLA_FLAGS``, ``PJRT_NPROC`` or
    ``OPENBLAS_NUM_THREADS`` are kept (BENCHMARKS.md has the measurements), except a
    ``PJRT_NPROC`` below :func:`runtime_threads`, which would hang jax 0.10.

    Args:
      num_devices: CPU devices to expose (default: the cores this process may use).
      num_runs: if given, no more devices than runs (an idle extra device still costs time).

    Returns:
      the number of CPU devices requested (the number there are, after a late call).
    """
    import jax

    global _CONFIGURED
    if _backend_started():
        if _CONFIGURED:  # settings made by an earlier call are in force
            return len(jax.devices())
        warnings.warn(
            "configure_cpu: JAX's backend has already started, so the CPU settings do not "
            "apply to this process; call configure_cpu before anything creates a JAX array "
            "(importing gymnax or jaxrl.envs does)",
            stacklevel=2,
        )
        return len(jax.devices())
    n = num_devices or len(os.sched_getaffinity(0))
    if num_runs is not None:
        n = max(1, min(n, num_runs))
    flags = os.environ.get("XLA_FLAGS", "")
    extra = []
    if "xla_cpu_multi_thread_eigen" not in flags:
        extra.append("--xla_cpu_multi_thread_eigen=false")
    if "xla_backend_optimization_level" not in flags:
        extra.append("--xla_backend_optimization_level=1")
    if "xla_cpu_prefer_vector_width" not in flags and _has_avx512() and _isa_allows_avx512(flags):
        extra.append("--xla_cpu_prefer_vector_width=512")
    if "xla_backend_extra_options" not in flags:
        option = f"xla_cpu_small_while_loop_byte_threshold={SMALL_LOOP_BYTES}"
        extra.append(f"--xla_backend_extra_options={option}")
    os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
    # LAPACK calls outside XLA's matmuls (evosax's covariance eigendecomposition every CMA-ES
    # generation) spin OpenBLAS worker threads that fight the per-core devices: 50
    # generations took 45 s instead of 0.3 s on a busy 2-core machine. Read at first use.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # read when the CPU client starts
    forced = [f for f in flags.split() if f.startswith("--xla_force_host_platform_device_count=")]
    devices = int(forced[-1].split("=", 1)[1]) if forced else n
    # at least runtime_threads: fewer hang jax >= 0.10 (a value inherited from a parent
    # process set up for one device would)
    need = runtime_threads(devices, jax.__version__)
    given = os.environ.get("PJRT_NPROC", "")
    if not given.isdigit() or (need > 1 and int(given) < need):
        os.environ["PJRT_NPROC"] = str(need)
    if "xla_force_host_platform_device_count" not in flags:
        jax.config.update("jax_num_cpu_devices", n)
    _CONFIGURED = True
    return n


_CONFIGURED = False  # configure_cpu ran before the backend started


def runtime_threads(num_devices: int, jax_version: str) -> int:
    """The CPU runtime's thread pool size (``PJRT_NPROC``) for ``num_devices`` devices.

    One thread is fastest. From jax 0.10, a program on two or more CPU devices at once that
    calls LAPACK (``jnp.linalg.qr``: the orthogonal initialisation of every network here)
    waits for ever when the pool has no more threads than there are devices: the 16-seed PPO
    program on two devices hung in 4 runs of 4 with 1 or 2 threads and finished in 3 of 3
    with 3 (``experiments/jax_hang.py``; BENCHMARKS.md, "The jax pin"). So there it gets
    one thread more than devices, even where ``PJRT_NPROC`` already asks for fewer."""
    major, minor = (int(x) for x in jax_version.split(".")[:2])
    return num_devices + 1 if num_devices > 1 and (major, minor) >= (0, 10) else 1


# XLA:CPU compiles a while loop whose body touches fewer bytes than this into one kernel,
# instead of running each of its ops as a separate kernel every iteration (XLA's default:
# 1 kB). Such a kernel computes matmuls with plain loops, which only pays for small ones:
# 50 kB takes in PPO's rollout of 4 envs with a 64-64 actor, its GAE and its random-number
# loops, and no loop of a 64-wide network on a batch of 64; 300 kB took in a 64-env rollout
# and ran it 1.7x slower.
SMALL_LOOP_BYTES = 50_000


def _backend_started() -> bool:
    from jax._src import xla_bridge

    return bool(xla_bridge._backends)


def _isa_allows_avx512(flags: str) -> bool:
    """False when ``--xla_cpu_max_isa`` caps XLA below AVX-512 (e.g. ``=AVX2``, to emulate a
    CPU without it): 512-bit vectors are then not what such a CPU would run."""
    for flag in flags.split():
        if flag.startswith("--xla_cpu_max_isa="):
            return flag.split("=", 1)[1].upper().startswith("AVX512")
    return True


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx512f" in line for line in f)
    except OSError:
        return False


def matmul_peak_gflops(n: int = 1024, reps: int = 20, devices=None) -> float:
    """The f32 matmul throughput of ``devices`` together (default: all), in GFLOP/s.

    Every device multiplies its own ``n x n`` matrices at the same time (one compiled
    program, sharded), so with :func:`configure_cpu`'s one device per core this is the
    machine's usable peak. A subset of the devices is not a subset of the cores: a device's
    large matmuls also use the runtime threads of idle devices (device 0 of two alone: ~1.9x
    one core), so only with one device exposed is this one core's peak.
    """
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    devices = list(jax.devices() if devices is None else devices)
    mesh = Mesh(np.array(devices), ("d",))
    a = jax.device_put(jnp.ones((len(devices), n, n), jnp.float32), NamedSharding(mesh, P("d")))
    f = jax.jit(jax.shard_map(lambda x: x @ x, mesh=mesh, in_specs=P("d"), out_specs=P("d")))
    f(a).block_until_ready()
    t = time.perf_counter()
    for _ in range(reps):
        f(a).block_until_ready()
    return len(devices) * 2 * n**3 * reps / (time.perf_counter() - t) / 1e9
