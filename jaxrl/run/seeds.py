"""Many seeds x hyperparameters in one compiled call, sharded over devices and hosts.

``run_seeds`` vmaps ``train(key, hparams)`` over a leading "run" axis, shards that axis over
every device of a ``jax.sharding.Mesh`` (all processes' devices once ``jax.distributed`` is
initialised) and returns host numpy arrays. Run ``i`` always gets the key
``fold_in(key(seed), i)`` and is computed independently of the others, so its result does not
depend on how many runs, devices or processes share the call.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrl.learner import as_learner, make_train


class SeedsResult(NamedTuple):
    """Output of :func:`run_seeds`; arrays have a leading axis of ``num_runs``."""

    output: Any  # the train function's output, as numpy arrays
    diverged: np.ndarray  # [num_runs] bool: a non-finite loss or parameter
    compile_s: float
    run_s: float
    updates_run: int | None = None  # updates run in run_s (None: the whole run)
    resumed_from: int | None = None  # the update a resumed run started from


def run_keys(seed: int, num_runs: int, key_ids=None) -> np.ndarray:
    """Raw key data ``[num_runs, 2]``: run ``i`` gets ``fold_in(key(seed), key_ids[i])``."""
    base = jax.random.key(seed)
    ids = jnp.arange(num_runs) if key_ids is None else jnp.asarray(key_ids)
    keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(ids)
    return np.asarray(jax.random.key_data(keys))


def broadcast_hparams(hparams, num_runs: int):
    """Gives every leaf a leading axis of ``num_runs`` (scalars are repeated)."""

    def leaf(x):
        x = np.asarray(x, np.float32)
        if x.ndim == 0:
            return np.full((num_runs,), x, np.float32)
        if x.shape[0] != num_runs:
            raise ValueError(f"hparams: leading axis {x.shape[0]} != number of runs {num_runs}")
        return x

    return jax.tree.map(leaf, hparams)


def _mesh_size(num_runs: int, num_devices: int) -> int:
    return min(num_devices, num_runs)


# Runs vmapped together on one device; a device with more runs goes through them in groups of
# at most this many, one group after another (``lax.map``). Large vmapped batches fall out of
# cache: 1024 CartPole PPO seeds on 2 cores ran at 287k env steps/s in one vmap per device and
# at 808k in groups of 8, in 1.2 instead of 1.9 GiB (BENCHMARKS.md).
MAX_VMAP = 8


def _group_size(runs: int) -> int:
    """Runs per vmapped group on a device with ``runs`` runs: all of them up to
    :data:`MAX_VMAP`, else the size in ``[MAX_VMAP // 2, MAX_VMAP]`` that needs the fewest
    padding runs (the largest among equals). Groups of >= 4 also keep a run's floating-point
    results independent of the group size (XLA:CPU rounds batches of fewer than 4 apart)."""
    if runs <= MAX_VMAP:
        return runs
    sizes = range(MAX_VMAP, MAX_VMAP // 2 - 1, -1)
    return min(sizes, key=lambda g: -(-runs // g) * g)


def _padded_runs_per_device(num_runs: int, n_dev: int) -> int:
    per_device = -(-num_runs // n_dev)
    size = _group_size(per_device)
    return -(-per_device // size) * size


def _key_data(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(x)
    return x


def _check_finite(output) -> np.ndarray:
    leaves = jax.tree.leaves(output)
    num_runs = leaves[0].shape[0]
    bad = np.zeros(num_runs, bool)
    for x in leaves:
        if np.issubdtype(x.dtype, np.floating):
            bad |= ~np.isfinite(x.reshape(num_runs, -1)).all(axis=1)
    return bad


def shard_inputs(num_runs: int, hparams, seed: int, key_ids=None, devices=None):
    """Keys and hparams of every run, padded to the mesh and placed as global arrays."""
    if not isinstance(num_runs, int) or num_runs <= 0:
        raise ValueError(f"seeds: must be a positive int, got {num_runs}")
    devices = list(jax.devices() if devices is None else devices)
    hp = broadcast_hparams(hparams, num_runs)
    keys = run_keys(seed, num_runs, key_ids)

    # Pad the run axis to equal groups on every device; the padding runs are dropped afterwards.
    n_dev = _mesh_size(num_runs, len(devices))
    if jax.process_count() > 1:
        n_dev = len(devices)
    padded = _padded_runs_per_device(num_runs, n_dev) * n_dev
    pad = padded - num_runs
    if pad:
        keys = np.concatenate([keys, run_keys(seed + 1_000_003, pad)])
        hp = jax.tree.map(lambda x: np.concatenate([x, np.repeat(x[-1:], pad, 0)]), hp)
    mesh = Mesh(np.array(devices[:n_dev]), ("runs",))
    sharding = NamedSharding(mesh, P("runs"))

    def put(x):
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    keys_g, hp_g = put(keys), jax.tree.map(put, hp)

    return mesh, sharding, keys_g, hp_g


def per_run(fn, mesh, num_args: int = 2, shared: bool = False):
    """``fn`` over a leading run axis, shard_mapped over the mesh's ``runs`` axis.

    ``fn`` takes ``num_args`` per-run arguments and, with ``shared``, one more that every run
    reads whole (a dataset: replicated on every device, never vmapped). On each device the
    runs are vmapped in groups of at most :data:`MAX_VMAP`, the groups one after another.
    """

    def device_runs(*args):
        per, common = (args[:-1], args[-1]) if shared else (args, None)
        runs = jax.tree.leaves(per)[0].shape[0]
        groups = runs // _group_size(runs)

        def vmapped(*group):
            one = (lambda *a: fn(*a, common)) if shared else fn
            if jax.tree.leaves(group)[0].shape[0] == 1:
                # A lone run goes unbatched: XLA:CPU runs a matrix product with a batch axis
                # of one several times slower than the same product without it.
                out = one(*jax.tree.map(lambda x: x[0], group))
                return jax.tree.map(lambda x: x[None], out)
            return jax.vmap(one)(*group)

        if groups == 1:
            return vmapped(*per)
        split = jax.tree.map(lambda x: x.reshape((groups, runs // groups) + x.shape[1:]), per)
        out = jax.lax.map(lambda group: vmapped(*group), split)
        return jax.tree.map(lambda x: x.reshape((runs,) + x.shape[2:]), out)

    in_specs = (P("runs"),) * num_args + ((P(),) if shared else ())
    return jax.shard_map(
        device_runs, mesh=mesh, in_specs=in_specs, out_specs=P("runs"), check_vma=False
    )


def replicate(tree, mesh):
    """``tree``'s arrays placed whole on every device of ``mesh``."""
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(lambda x: jax.device_put(np.asarray(x), sharding), tree)


def to_host(out, num_runs: int):
    """Global arrays (keys as key data) to host numpy, padding runs dropped."""
    out = jax.tree.map(_key_data, out)
    if jax.process_count() > 1:
        out = multihost_utils.process_allgather(out, tiled=True)
    return jax.tree.map(lambda x: np.asarray(x)[:num_runs], out)


def run_seeds(
    train,
    num_runs: int,
    hparams,
    *,
    seed: int = 0,
    key_ids=None,
    devices=None,
    warmup: bool = False,
) -> SeedsResult:
    """Runs ``train(key, hparams)`` for ``num_runs`` runs in one compiled call.

    Args:
      train: pure ``train(key, hparams) -> pytree``, or a :class:`~jaxrl.learner.Learner`
        (or a ``train`` from :func:`jaxrl.learner.make_train`: its learner's dataset is
        passed to every run without being compiled into the program).
      num_runs: number of runs (seeds x grid points).
      hparams: pytree of scalars (shared) or ``[num_runs]`` arrays (one value per run).
      seed: base seed; run ``i`` uses ``fold_in(key(seed), key_ids[i])``.
      key_ids: ``[num_runs]`` ints (default ``arange``); a sweep gives every grid point the
        same ids so its points are compared on common seeds.
      devices: devices to shard over (default: every device of every process).
      warmup: execute once before the timed execution (for benchmarks).

    Returns:
      :class:`SeedsResult` with host arrays; ``diverged`` flags runs with any non-finite
      float in their output (the other runs are kept as they are).
    """
    learner = as_learner(train)
    if learner is not None:
        train = make_train(learner)
    mesh, sharding, keys_g, hp_g = shard_inputs(num_runs, hparams, seed, key_ids, devices)
    args = (keys_g, hp_g)
    data = None if learner is None else learner.data

    # shard_map compiles the same per-device program (a vmap over that device's runs) for
    # any number of devices, so a run's floating-point result does not depend on it.
    if data is None:
        sharded = per_run(lambda k, h: train(jax.random.wrap_key_data(k), h), mesh)
    else:
        sharded = per_run(lambda k, h, d: train(jax.random.wrap_key_data(k), h, data=d), mesh,
                          shared=True)  # fmt: skip
        args += (replicate(data, mesh),)
    shardings = (sharding,) * 2 + ((NamedSharding(mesh, P()),) if data is not None else ())
    fn = jax.jit(sharded, in_shardings=shardings, out_shardings=sharding)
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    if warmup:
        jax.block_until_ready(compiled(*args))
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    run_s = time.perf_counter() - t0
    out = to_host(out, num_runs)
    return SeedsResult(out, _check_finite(out), compile_s, run_s)
