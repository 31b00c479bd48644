"""Training in chunks: a progress bar, orbax checkpoints and bit-identical resume.

A :class:`~jaxrl.learner.Learner` is run ``n`` updates at a time (:func:`jaxrl.learner.run`).
Each update draws its randomness from the carried state, so chunked, one-shot and resumed
runs produce the same bits.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrl import learner as contract
from jaxrl.run.seeds import (
    SeedsResult,
    _check_finite,
    per_run,
    replicate,
    shard_inputs,
    to_host,
)


class ChunkedOutput(NamedTuple):
    state: Any
    metrics: dict


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt or belongs to another run."""


def chunk_size(num_updates: int, chunks: int) -> int:
    """The divisor of ``num_updates`` nearest to ``num_updates / chunks`` (one compile)."""
    target = num_updates / max(chunks, 1)
    divisors = [d for d in range(1, num_updates + 1) if num_updates % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


def fingerprint(**fields) -> str:
    """A digest of everything that must match for a checkpoint to be resumed."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _manager(directory: Path):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False)
    return ocp.CheckpointManager(directory.resolve(), options=options)


def _save(manager, step: int, state, metrics: list) -> None:
    import orbax.checkpoint as ocp

    # Leaves by index, restored into the structure of a freshly initialised state. Empty
    # leaves (MJX data of a model without contacts has some) hold nothing and orbax cannot
    # write them: they are left out and rebuilt from the template.
    leaves = jax.tree.leaves(to_host(state, _runs(state)))
    saved = {f"{i:05d}": x for i, x in enumerate(leaves) if np.size(x)}
    tree = {"state": saved, "metrics": _stack(metrics)}
    manager.save(step, args=ocp.args.StandardSave(tree))
    manager.wait_until_finished()


def _runs(state) -> int:
    return jax.tree.leaves(state)[0].shape[0]


def _stack(metrics: list) -> dict:
    return {k: np.concatenate([m[k] for m in metrics], axis=1) for k in metrics[0]}


def run_chunked(
    learner,
    num_runs: int,
    hparams,
    *,
    chunk_updates: int,
    seed: int = 0,
    key_ids=None,
    devices=None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    run_fingerprint: str = "",
    progress: bool = True,
) -> SeedsResult:
    """Like :func:`jaxrl.run.run_seeds`, ``chunk_updates`` updates per compiled call.

    Args:
      learner: a :class:`~jaxrl.learner.Learner` (or a ``train`` made from one).
      checkpoint_dir: where orbax checkpoints go (every ``checkpoint_every`` chunks and at
        the end); with ``resume`` the latest one is restored and training continues.
      run_fingerprint: stored with the checkpoints; resuming with another one is an error.
    """
    if chunk_updates <= 0:
        raise ValueError(f"chunk_updates: must be positive, got {chunk_updates}")
    if checkpoint_every <= 0:
        raise ValueError(f"checkpoint_every: must be positive, got {checkpoint_every}")
    learner = contract.as_learner(learner)
    if learner is None:
        raise TypeError("run_chunked needs a Learner (or a train from jaxrl.learner.make_train)")
    total = learner.num_updates
    sizes = [chunk_updates] * (total // chunk_updates)
    if total % chunk_updates:
        sizes.append(total % chunk_updates)
    mesh, sharding, keys_g, hp_g = shard_inputs(num_runs, hparams, seed, key_ids, devices)

    shared = learner.data is not None
    data = (replicate(learner.data, mesh),) if shared else ()
    in_shardings = (sharding, sharding) + ((NamedSharding(mesh, P()),) if shared else ())

    def init_one(k, h, d=None):
        return contract.init(learner, jax.random.wrap_key_data(k), h, data=d)

    t0 = time.perf_counter()
    init = jax.jit(per_run(init_one, mesh, shared=shared), in_shardings=in_shardings,
                   out_shardings=sharding)  # fmt: skip
    state = init(keys_g, hp_g, *data)
    compiled = {}

    def chunk_fn(n):
        if n not in compiled:

            def chunk(s, h, d=None):
                return contract.run(learner, s, h, n, data=d)

            fn = jax.jit(
                per_run(chunk, mesh, shared=shared),
                in_shardings=in_shardings,
                out_shardings=sharding,
                donate_argnums=0,
            )
            compiled[n] = fn.lower(state, hp_g, *data).compile()
        return compiled[n]

    for n in set(sizes):
        chunk_fn(n)
    compile_s = time.perf_counter() - t0

    metrics: list[dict] = []
    start = 0
    manager = None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        meta = checkpoint_dir / "fingerprint.json"
        if resume:
            state, metrics, start = _restore(checkpoint_dir, meta, state, sharding,
                                             run_fingerprint, len(sizes))  # fmt: skip
        else:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps({"fingerprint": run_fingerprint, "chunks": len(sizes)}))
        manager = _manager(checkpoint_dir)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        steps = learner.steps_per_update * num_runs
        done = sum(sizes[:start]) * steps
        bar = tqdm(total=total * steps, initial=done, unit="step", unit_scale=True,
                   desc=learner.step_unit, dynamic_ncols=True)  # fmt: skip
    t0 = time.perf_counter()
    for i in range(start, len(sizes)):
        state, m = chunk_fn(sizes[i])(state, hp_g, *data)
        metrics.append(jax.tree.map(lambda x: np.asarray(x), m))
        if bar is not None:
            ret = metrics[-1]["episode_return"][:num_runs, -1]
            bar.set_postfix(ret=f"{np.nanmean(ret):.1f}", refresh=False)
            bar.update(sizes[i] * learner.steps_per_update * num_runs)
        last = i == len(sizes) - 1
        if manager is not None and ((i + 1) % checkpoint_every == 0 or last):
            _save(manager, i + 1, state, metrics)
    jax.block_until_ready(state)
    run_s = time.perf_counter() - t0
    if bar is not None:
        bar.close()

    all_metrics = {k: v[:num_runs] for k, v in _stack(metrics).items()}
    output = ChunkedOutput(state=to_host(state, num_runs), metrics=all_metrics)
    return SeedsResult(output, _check_finite(output), compile_s, run_s)


def _restore(directory: Path, meta: Path, template, sharding, run_fingerprint, num_chunks):
    import orbax.checkpoint as ocp

    if not meta.exists():
        raise CheckpointError(f"{meta}: no checkpoint to resume from")
    try:
        saved = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{meta}: unreadable ({e})") from None
    if saved.get("fingerprint") != run_fingerprint or saved.get("chunks") != num_chunks:
        raise CheckpointError(
            f"{meta}: the checkpoint belongs to a run with another config, seeds or env; "
            "resume with the same flags, or start a new run directory"
        )
    manager = _manager(directory)
    step = manager.latest_step()
    if step is None:
        raise CheckpointError(f"{directory}: no complete checkpoint to resume from")
    try:
        tree = manager.restore(step, args=ocp.args.StandardRestore())
    except Exception as e:  # orbax raises many types for damaged files
        raise CheckpointError(f"{directory / str(step)}: cannot be restored ({e})") from None

    def put(saved_leaf, like):
        arr = jax.make_array_from_callback(
            saved_leaf.shape, sharding, lambda idx: np.asarray(saved_leaf)[idx]
        )
        if jax.dtypes.issubdtype(like.dtype, jax.dtypes.prng_key):
            arr = jax.random.wrap_key_data(arr)
        return arr

    saved_state = tree.get("state") or {}
    templates, treedef = jax.tree.flatten(template)
    likes = {f"{i:05d}": _host_like(x) for i, x in enumerate(templates)}
    stored = {k for k, like in likes.items() if like.size}
    if set(saved_state) != stored or any(
        np.shape(saved_state[k]) != likes[k].shape for k in stored
    ):
        raise CheckpointError(f"{directory / str(step)}: state does not match this run")
    leaves = [saved_state.get(k, likes[k]) for k in sorted(likes)]
    state = treedef.unflatten([put(a, b) for a, b in zip(leaves, templates, strict=True)])
    metrics = [{k: np.asarray(v) for k, v in tree["metrics"].items()}]
    return state, metrics, step


def _host_like(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    return np.zeros(x.shape, x.dtype)
