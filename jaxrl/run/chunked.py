"""Training in chunks: a progress bar, orbax checkpoints and bit-identical resume.

A :class:`~jaxrl.learner.Learner` is run ``n`` updates at a time (:func:`jaxrl.learner.run`).
Each update draws its randomness from the carried state, so chunked, one-shot and resumed
runs produce the same bits.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrl import learner as contract
from jaxrl._errors import JaxrlWarning
from jaxrl.run.resume import (
    CheckpointError,
    check_resumable,
    fingerprint,
    write_meta,
)
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


class CheckpointWarning(JaxrlWarning):
    """A damaged checkpoint was passed over for an older intact one."""


def chunk_size(num_updates: int, chunks: int) -> int:
    """The divisor of ``num_updates`` nearest to ``num_updates / chunks`` (one compile)."""
    target = num_updates / max(chunks, 1)
    divisors = [d for d in range(1, num_updates + 1) if num_updates % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


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
    run_fingerprint: dict | str = "",
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    on_chunk: Callable[[int, dict], None] | None = None,
) -> SeedsResult:
    """Like :func:`jaxrl.run.run_seeds`, ``chunk_updates`` updates per compiled call.

    Args:
      learner: a :class:`~jaxrl.learner.Learner` (or a ``train`` made from one).
      checkpoint_dir: where orbax checkpoints go (every ``checkpoint_every`` chunks and at
        the end); with ``resume`` the latest intact one is restored and training continues
        (a damaged latest checkpoint is passed over for the one before, with a
        :class:`CheckpointWarning`).
      run_fingerprint: the fields that define the run (a dict: algorithm, env, config,
        hparams, seeds...; or an opaque string), stored with the checkpoints; resuming with
        other fields is a :class:`CheckpointError` naming each one, raised before compiling.
      progress: a progress bar, and a "compiling" line with the elapsed time before it.
      log: where the line saying which checkpoint a run resumes from goes (``None``: nowhere).
      on_chunk: called after every chunk with ``(updates done before it, its metrics
        [num_runs, chunk_updates])`` (live logging).

    Returns:
      :class:`~jaxrl.run.SeedsResult` whose ``updates_run`` counts the updates run in this
      call (fewer than the run's after a resume) and ``resumed_from`` the checkpoint's update.
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
    if checkpoint_dir is not None and resume:  # before anything is compiled
        check_resumable(Path(checkpoint_dir), run_fingerprint, len(sizes))
    mesh, sharding, keys_g, hp_g = shard_inputs(num_runs, hparams, seed, key_ids, devices)

    shared = learner.data is not None
    data = (replicate(learner.data, mesh),) if shared else ()
    in_shardings = (sharding, sharding) + ((NamedSharding(mesh, P()),) if shared else ())

    def init_one(k, h, d=None):
        return contract.init(learner, jax.random.wrap_key_data(k), h, data=d)

    t0 = time.perf_counter()
    with _Ticker("compiling", enabled=progress):
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
        if resume:
            state, metrics, start = _restore(checkpoint_dir, state, sharding)
            if log is not None:
                done = sum(sizes[:start])
                steps = f"{done * learner.steps_per_update:,} {learner.step_unit}"
                log(f"resuming from {checkpoint_dir / str(start)}: chunk {start} of "
                    f"{len(sizes)} done ({done} of {total} updates, {steps} per run)")  # fmt: skip
        else:
            write_meta(checkpoint_dir, run_fingerprint, len(sizes))
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
        if on_chunk is not None:
            on_chunk(sum(sizes[:i]), {k: v[:num_runs] for k, v in metrics[-1].items()})
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
    return SeedsResult(output, _check_finite(output), compile_s, run_s,
                       updates_run=sum(sizes[start:]),
                       resumed_from=sum(sizes[:start]) if resume else None)  # fmt: skip


class _Ticker:
    """``what... 12 s`` on stderr while a block runs (updated every second on a terminal,
    else one line before and one after), then ``what took 12.3 s``."""

    def __init__(self, what: str, enabled: bool = True):
        self.what, self.enabled = what, enabled
        self._stop = threading.Event()

    def __enter__(self):
        if not self.enabled:
            return self
        self._t0 = time.perf_counter()
        self._tty = sys.stderr.isatty()
        if self._tty:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        else:
            print(f"{self.what}...", file=sys.stderr, flush=True)
        return self

    def _tick(self):
        while not self._stop.wait(1.0):
            elapsed = time.perf_counter() - self._t0
            print(f"\r{self.what}... {elapsed:.0f} s", end="", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if not self.enabled:
            return False
        self._stop.set()
        elapsed = time.perf_counter() - self._t0
        if self._tty:
            self._thread.join()
            print("\r", end="", file=sys.stderr)
        print(f"{self.what} took {elapsed:.1f} s", file=sys.stderr, flush=True)
        return False


def _restore(directory: Path, template, sharding):
    """The latest intact checkpoint in ``directory``: ``(state, metrics, step)``. A damaged
    later one is moved aside (``<step>.damaged``) with a :class:`CheckpointWarning`, so the
    run can write that step again; none intact is a :class:`CheckpointError` naming them."""
    absl = logging.getLogger("absl")  # orbax logs each damaged file; our message says it once
    level = absl.level
    absl.setLevel(logging.CRITICAL)
    try:
        return _restore_latest(directory, template, sharding)
    finally:
        absl.setLevel(level)


def _restore_latest(directory: Path, template, sharding):
    import orbax.checkpoint as ocp

    manager = _manager(directory)
    steps = sorted(manager.all_steps(), reverse=True)
    if not steps:
        raise CheckpointError(f"{directory}: no complete checkpoint to resume from")
    failures = []
    for step in steps:
        path = directory / str(step)
        try:
            tree = manager.restore(step, args=ocp.args.StandardRestore())
            state, metrics = _from_tree(tree, template, sharding, path)
        except Exception as e:  # orbax raises many types for damaged files
            failures.append((path, _short(e)))
            continue
        if failures:
            for bad, _ in failures:
                bad.rename(bad.with_name(bad.name + ".damaged"))
            damaged = "; ".join(f"{p}: {why}" for p, why in failures)
            warnings.warn(CheckpointWarning(
                f"{damaged}; resuming from the intact checkpoint {path} instead (the damaged "
                f"one is kept as {failures[0][0]}.damaged)"), stacklevel=3)  # fmt: skip
        return state, metrics, step
    raise CheckpointError(
        "no intact checkpoint to resume from: "
        + "; ".join(f"{p}: cannot be restored ({why})" for p, why in failures)
    )


def _short(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _from_tree(tree, template, sharding, path: Path):
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
        raise CheckpointError(f"{path}: state does not match this run")
    leaves = [saved_state.get(k, likes[k]) for k in sorted(likes)]
    state = treedef.unflatten([put(a, b) for a, b in zip(leaves, templates, strict=True)])
    metrics = [{k: np.asarray(v) for k, v in tree["metrics"].items()}]
    return state, metrics


def _host_like(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    return np.zeros(x.shape, x.dtype)


__all__ = ["CheckpointError", "CheckpointWarning", "chunk_size", "fingerprint", "run_chunked"]
