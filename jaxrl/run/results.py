"""A run as a directory: config, per-update metrics, summary and plots."""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path

import jax
import numpy as np

PACKAGES = ("jax", "jaxlib", "flax", "optax", "chex", "gymnax", "brax", "mujoco-mjx", "tyro")


class RunDirError(ValueError):
    """A results directory cannot be used as asked."""


def prepare_dir(out: str | Path, *, overwrite: bool = False) -> Path:
    """Creates ``out``; an existing one is refused unless ``overwrite`` (nothing is touched)."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not overwrite:
            raise RunDirError(f"{path} already exists; pass --overwrite to replace it")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


def overwrite_refusal(paths, *, overwrite: bool = False) -> str | None:
    """Why writing ``paths`` must be refused (one line naming the files that exist already),
    or ``None`` when none exists or ``overwrite`` is set.

    Check every file a command will write (empty entries are skipped) before the work that
    produces them, so that a refused command computes and writes nothing.
    """
    taken = [str(p) for p in paths if p and Path(p).exists()]
    if taken and not overwrite:
        return (f"{', '.join(taken)} already exist{'s' * (len(taken) == 1)}; pass "
                "--overwrite to replace, or choose another path")  # fmt: skip
    return None


def stored_cells_refusal(path: str | Path, keys, *, overwrite: bool = False) -> str | None:
    """Why re-running study cells must be refused (one line naming those that ``path``
    already stores), or ``None`` when it stores none of them or ``overwrite`` is set.

    A study file (``{"cells": [{"algo": ..., "env": ..., ...}, ...]}``) gathers cells from
    separate commands; ``keys`` are the ``(algo, env)`` pairs a command is about to run. Check
    before training, so that a refused command computes and writes nothing.
    """
    path = Path(path)
    if overwrite or not path.exists():
        return None
    stored = {(c["algo"], c["env"]) for c in json.loads(path.read_text()).get("cells", [])}
    clash = [f"{algo} on {env}" for algo, env in keys if (algo, env) in stored]
    if clash:
        return (f"{path} already holds {', '.join(clash)}; pass --overwrite to replace them, "
                "or choose another --out")  # fmt: skip
    return None


def environment_info() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "versions": versions,
        "devices": [str(d) for d in jax.devices()],
        "process_count": jax.process_count(),
        "git_commit": commit,
    }


def params_sha256(params) -> str:
    """SHA-256 over the bytes of every parameter leaf (all runs), in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return h.hexdigest()


def _leaf_name(path) -> str:
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts) or "params"


def save_policy(path: Path, params) -> None:
    """Writes a policy's parameters (a pytree, leading run axis) to ``path`` (``.npz``).

    Each leaf is stored under its path in the tree (``net/hidden/0/w``), as plain arrays: the
    file is read back with :func:`load_policy` against the learner's template, never
    unpickled.
    """
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    arrays = {_leaf_name(p): np.asarray(x) for p, x in leaves}
    with Path(path).open("wb") as f:
        np.savez(f, **arrays)


def load_policy(path: Path, template):
    """The parameters :func:`save_policy` wrote, checked against ``template`` (one run's
    shapes and dtypes, e.g. ``jax.eval_shape`` of the learner's ``save``): every leaf must
    be there with a leading run axis and the template's shape. Nothing is unpickled."""
    path = Path(path)
    if not path.exists():
        raise RunDirError(f"{path}: not found (is {path.parent} a finished jaxrl run?)")
    arrays = read_arrays(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves, runs = [], None
    for p, like in flat:
        name = _leaf_name(p)
        if name not in arrays:
            raise RunDirError(f"{path}: no {name!r}; the file does not match this run's config")
        x = arrays[name]
        if x.shape[1:] != tuple(like.shape) or (runs is not None and x.shape[0] != runs):
            raise RunDirError(f"{path}: {name!r} has shape {x.shape}, expected "
                              f"[runs, {', '.join(map(str, like.shape))}]")  # fmt: skip
        runs = x.shape[0]
        leaves.append(x.astype(like.dtype))
    extra = set(arrays) - {_leaf_name(p) for p, _ in flat}
    if extra:
        raise RunDirError(f"{path}: unexpected arrays {sorted(extra)}")
    return jax.tree.unflatten(treedef, leaves)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, refusing anything but plain numeric arrays: pickled
    objects are never loaded (so a shared run directory cannot run code when opened)."""
    refused = (f"{path}: holds pickled Python objects; refused: saved policies are plain "
               "numeric arrays and jaxrl never unpickles")  # fmt: skip
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise RunDirError(refused) from None
        raise RunDirError(f"{path}: cannot be read as saved parameters ({e})") from None
    except Exception as e:  # a damaged or foreign file
        raise RunDirError(f"{path}: cannot be read as saved parameters ({e})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise RunDirError(f"{path}: not an .npz archive of named arrays")
    arrays = {}
    with data:
        for name in data.files:
            try:
                x = data[name]
            except ValueError as e:
                if "pickle" in str(e) or "allow_pickle" in str(e):
                    raise RunDirError(f"{refused} ({name!r} is an object array)") from None
                raise RunDirError(f"{path}: {name!r} cannot be read ({e})") from None
            except Exception as e:
                raise RunDirError(f"{path}: {name!r} cannot be read ({e})") from None
            if x.dtype.kind not in "biuf":
                raise RunDirError(f"{path}: {name!r} has dtype {x.dtype}; saved parameters "
                                  "are numeric arrays")  # fmt: skip
            arrays[name] = x
    return arrays


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(x):
    if isinstance(x, np.ndarray | np.generic):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def write_metrics_csv(path: Path, metrics: dict, steps_per_update: int) -> None:
    """One row per (run, update): ``run, update, env_steps, <metric>...``."""
    names = sorted(metrics)
    arrays = [np.asarray(metrics[n]) for n in names]
    runs, updates = arrays[0].shape[:2]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "update", "env_steps", *names])
        for r in range(runs):
            for u in range(updates):
                w.writerow([r, u, (u + 1) * steps_per_update, *(f"{a[r, u]:.6g}" for a in arrays)])


def read_metrics_csv(path: Path) -> dict[str, np.ndarray]:
    """Inverse of :func:`write_metrics_csv`: ``{name: [runs, updates]}``."""
    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    runs = max(int(r["run"]) for r in rows) + 1
    names = [k for k in rows[0] if k not in ("run", "update")]
    out = {n: np.array([float(r[n]) for r in rows]).reshape(runs, -1) for n in names}
    return out


def plot_run(out: Path, curves: np.ndarray, env_steps: np.ndarray, finals: np.ndarray,
             random_return: float | None, title: str) -> list[Path]:  # fmt: skip
    """Learning curves (IQM with a bootstrap band, thin per-run lines) and final returns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrl.run import stats

    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for c in curves:
        ax.plot(env_steps, c, color="tab:blue", alpha=0.15, lw=0.7)
    idx = np.unique(np.linspace(0, len(env_steps) - 1, min(60, len(env_steps))).astype(int))
    centre = np.array([stats.iqm(curves[:, i]) for i in idx])
    band = np.array([stats.bootstrap_ci(curves[:, i], num_resamples=300) for i in idx])
    ax.plot(env_steps[idx], centre, color="tab:blue", lw=2, label=f"IQM of {len(curves)} runs")
    ax.fill_between(env_steps[idx], band[:, 0], band[:, 1], color="tab:blue", alpha=0.25,
                    label="95% bootstrap CI")  # fmt: skip
    if random_return is not None and np.isfinite(random_return):
        ax.axhline(random_return, color="gray", ls="--", lw=1, label="random policy")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths.append(out / "learning_curves.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    finite = finals[np.isfinite(finals)]
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, finite.size)
    ax.scatter(finite, jitter, s=14, alpha=0.6, color="tab:blue", label="final return per run")
    ax.axvline(stats.iqm(finite), color="tab:blue", lw=2, label="IQM")
    if random_return is not None and np.isfinite(random_return):
        ax.axvline(random_return, color="gray", ls="--", lw=1, label="random policy")
    ax.set_yticks([])
    ax.set_xlabel("final episode return")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    paths.append(out / "final_returns.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def plot_sweep(out: Path, curves: np.ndarray, env_steps: np.ndarray, points: list[dict],
               seeds: int, random_return: float | None, title: str) -> Path:  # fmt: skip
    """IQM learning curve per grid point (runs are point-major, ``seeds`` per point)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxrl.run import stats

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    idx = np.unique(np.linspace(0, len(env_steps) - 1, min(60, len(env_steps))).astype(int))
    for i, point in enumerate(points):
        group = curves[i * seeds : (i + 1) * seeds][:, idx]
        group = group[np.isfinite(group).all(axis=1)]
        if len(group) == 0:
            continue
        label = ",".join(f"{k}={v:g}" for k, v in point.items())
        ax.plot(env_steps[idx], [stats.iqm(group[:, j]) for j in range(len(idx))], label=label)
    if random_return is not None and np.isfinite(random_return):
        ax.axhline(random_return, color="gray", ls="--", lw=1, label="random policy")
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"IQM episode return ({seeds} seeds)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = out / "sweep_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_tensorboard(out: Path, metrics: dict, steps_per_update: int) -> Path:
    """Per-update mean over runs of every metric (and the IQM of the return) as scalars."""
    from tensorboardX import SummaryWriter

    from jaxrl.run import stats

    logdir = out / "tensorboard"
    writer = SummaryWriter(str(logdir))
    updates = np.asarray(next(iter(metrics.values()))).shape[1]
    for u in range(updates):
        step = (u + 1) * steps_per_update
        for name, values in metrics.items():
            column = np.asarray(values)[:, u]
            column = column[np.isfinite(column)]
            if column.size:
                writer.add_scalar(f"mean/{name}", float(column.mean()), step)
        returns = np.asarray(metrics["episode_return"])[:, u]
        returns = returns[np.isfinite(returns)]
        if returns.size:
            writer.add_scalar("iqm/episode_return", stats.iqm(returns), step)
    writer.close()
    return logdir
