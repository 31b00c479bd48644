"""Offline datasets on disk, in Minari's format, and in memory as flat transitions.

A dataset is a directory laid out as Minari (the Farama Foundation's successor of D4RL)
writes one with its HDF5 backend, so ``minari.MinariDataset(PATH / "data")`` reads it too::

    PATH/data/metadata.json    Minari's metadata: total_episodes, total_steps,
                               data_format "hdf5", observation_space and action_space
                               (gymnasium's JSON form), ref_min_score / ref_max_score
                               (D4RL's reference returns), and jaxrl's own record under
                               "jaxrl" (env, env params, kind, how it was collected)
    PATH/data/main_data.hdf5   one group per episode, episode_0 ... episode_{E-1}, each with
                               observations [T + 1, obs] float32 (the last one the state the
                               episode ended in), actions [T, act] float32 in the env's
                               units ([T] int64 for discrete actions), rewards [T] float32,
                               terminations [T] bool and truncations [T] bool

Every episode ends with a termination or a truncation (time limit, or the collection
stopping mid-episode). :func:`read` checks all of it and raises :class:`DatasetError` (a
``ValueError``) with one line naming what is wrong: a missing or truncated file, a count
that does not add up, arrays of the wrong shape. In memory a :class:`Dataset` holds the
episodes flattened to ``N`` transitions with their next observations, which is what
:func:`transitions` turns into a :mod:`jaxrl.buffers` state for uniform sampling.

This module imports no agent and no JAX: the command line reads datasets before JAX starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

MAIN_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
KINDS = ("random", "medium", "expert", "medium-replay", "medium-expert")


class DatasetError(ValueError):
    """A dataset that cannot be used (the message is one line and names the path)."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Episodes flattened to ``N`` transitions (in collection order, episode after episode).

    ``actions`` are in the env's units (``[N, act]`` float32), or ``[N]`` int64 indices for
    discrete actions. ``terminations`` mark true ends (no bootstrap), ``truncations`` cut
    episodes (time limit, or the end of the collection); every episode's last step has one
    of the two. ``metadata`` is the ``metadata.json`` record (see the module docstring).
    """

    observations: np.ndarray  # [N, obs] float32
    actions: np.ndarray  # [N, act] float32 | [N] int64
    rewards: np.ndarray  # [N] float32
    terminations: np.ndarray  # [N] bool
    truncations: np.ndarray  # [N] bool
    next_observations: np.ndarray  # [N, obs] float32
    metadata: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def dones(self) -> np.ndarray:
        """``[N]`` whether the episode ends at this step."""
        return self.terminations | self.truncations

    @property
    def discrete(self) -> bool:
        return bool(np.issubdtype(self.actions.dtype, np.integer))

    @property
    def episode_bounds(self) -> np.ndarray:
        """``[E + 1]`` start indices of the episodes, and ``N`` last."""
        ends = np.flatnonzero(self.dones) + 1
        return np.concatenate([[0], ends]).astype(np.int64)

    def episode_returns(self) -> np.ndarray:
        """``[E]`` undiscounted return of every episode."""
        bounds = self.episode_bounds
        sums = np.concatenate([[0.0], np.cumsum(self.rewards, dtype=np.float64)])
        return (sums[bounds[1:]] - sums[bounds[:-1]]).astype(np.float64)

    @property
    def env(self) -> str | None:
        return self.metadata.get("jaxrl", {}).get("env")

    @property
    def kind(self) -> str | None:
        return self.metadata.get("jaxrl", {}).get("kind")

    @property
    def ref_scores(self) -> tuple[float, float] | None:
        """D4RL's reference returns ``(random, expert)``, if recorded."""
        lo, hi = self.metadata.get("ref_min_score"), self.metadata.get("ref_max_score")
        return None if lo is None or hi is None else (float(lo), float(hi))


def parse_kinds(text: str) -> list[str]:
    """``"medium,expert"`` or ``"all"`` -> the kinds; ``ValueError`` naming an unknown one."""
    from jaxrl._errors import unknown_name

    kinds = list(KINDS) if text.strip() == "all" else [
        k.strip() for k in text.split(",") if k.strip()]  # fmt: skip
    if not kinds:
        raise ValueError("kind: give one of " + ", ".join(KINDS) + " (or all)")
    for k in kinds:
        if k not in KINDS:
            raise ValueError("kind: " + unknown_name("dataset kind", k, KINDS))
    return list(dict.fromkeys(kinds))


def normalized_score(returns, ref_min: float, ref_max: float):
    """D4RL's normalised score ``100 (R - R_random) / (R_expert - R_random)``: 0 is the
    random policy's return, 100 the expert's (Fu et al. 2020, arXiv:2004.07219)."""
    if not ref_max != ref_min:
        raise ValueError(f"normalized_score: the reference returns are equal ({ref_min})")
    return 100.0 * (np.asarray(returns, np.float64) - ref_min) / (ref_max - ref_min)


def concatenate(datasets: list[Dataset], metadata: dict) -> Dataset:
    """The episodes of ``datasets`` one after another (e.g. medium-expert)."""
    fields = ("observations", "actions", "rewards", "terminations", "truncations",
              "next_observations")  # fmt: skip
    arrays = {f: np.concatenate([getattr(d, f) for d in datasets]) for f in fields}
    return Dataset(**arrays, metadata=metadata)


# ---- spaces in gymnasium's JSON form, as Minari records them ---------------------------------


def box_space(low, high, shape) -> dict:
    low = np.broadcast_to(np.asarray(low, np.float32), shape).reshape(-1)
    high = np.broadcast_to(np.asarray(high, np.float32), shape).reshape(-1)
    return {"type": "Box", "dtype": "float32", "shape": [int(math.prod(shape))],
            "low": low.tolist(), "high": high.tolist()}  # fmt: skip


def discrete_space(n: int) -> dict:
    return {"type": "Discrete", "dtype": "int64", "start": 0, "n": int(n)}


def describe_space(space: dict) -> str:
    if space.get("type") == "Discrete":
        return f"{space['n']} discrete actions"
    return f"continuous, shape ({space['shape'][0]},)"


# ---- writing -------------------------------------------------------------------------------


def write(path: str | Path, dataset: Dataset, *, observation_space: dict, action_space: dict,
          overwrite: bool = False) -> Path:  # fmt: skip
    """Writes ``dataset`` to the directory ``path`` (Minari's layout); returns ``path``.

    ``observation_space`` / ``action_space`` are gymnasium JSON dicts (:func:`box_space`,
    :func:`discrete_space`). Refuses an existing ``path`` unless ``overwrite``.
    """
    import h5py

    path = Path(path)
    _check_arrays(dataset, str(path))
    if path.exists() and not overwrite:
        raise DatasetError(f"{path} already exists; pass --overwrite to replace it")
    data_dir = path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    bounds = dataset.episode_bounds
    tmp = data_dir / (MAIN_FILE + ".tmp")
    with h5py.File(tmp, "w") as f:
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            g = f.create_group(f"episode_{i}")
            g.attrs["id"] = i
            g.attrs["total_steps"] = int(b - a)
            obs = np.concatenate([dataset.observations[a:b], dataset.next_observations[b - 1 : b]])
            g.create_dataset("observations", data=obs.astype(np.float32))
            actions = dataset.actions[a:b]
            g.create_dataset("actions", data=actions.astype(
                np.int64 if dataset.discrete else np.float32))  # fmt: skip
            g.create_dataset("rewards", data=dataset.rewards[a:b].astype(np.float32))
            g.create_dataset("terminations", data=dataset.terminations[a:b].astype(bool))
            g.create_dataset("truncations", data=dataset.truncations[a:b].astype(bool))
            g.create_group("infos")
    tmp.replace(data_dir / MAIN_FILE)
    meta = dict(dataset.metadata)
    meta.update(
        total_episodes=int(len(bounds) - 1),
        total_steps=len(dataset),
        data_format="hdf5",
        jpeg_encoding=False,
        observation_space=json.dumps(observation_space),
        action_space=json.dumps(action_space),
    )
    meta.setdefault("dataset_id", f"jaxrl/{path.name}-v0")
    meta.setdefault("minari_version", "0.5.4")
    (data_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return path


def _check_arrays(d: Dataset, where: str) -> None:
    n = len(d)
    if n == 0:
        raise DatasetError(f"dataset {where}: no transitions")
    for name in ("observations", "actions", "terminations", "truncations",
                 "next_observations"):  # fmt: skip
        if getattr(d, name).shape[0] != n:
            raise DatasetError(f"dataset {where}: {name} has {getattr(d, name).shape[0]} rows, "
                               f"rewards {n}")  # fmt: skip
    if not d.dones[-1]:
        raise DatasetError(f"dataset {where}: the last episode has no termination or truncation")


# ---- reading -------------------------------------------------------------------------------


def data_dir(path: str | Path) -> Path:
    """The ``data`` folder of a dataset (``path`` may name the dataset or its ``data``)."""
    path = Path(path)
    if (path / "data" / METADATA_FILE).exists() or not (path / METADATA_FILE).exists():
        return path / "data"
    return path


def read_metadata(path: str | Path) -> dict:
    """``metadata.json`` of the dataset at ``path`` (no arrays read; no JAX, no h5py)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset {path}: no such file or directory")
    meta_path = data_dir(path) / METADATA_FILE
    if not meta_path.is_file():
        raise DatasetError(f"dataset {path}: no {METADATA_FILE} (not a dataset directory made "
                           "by `jaxrl dataset make` or Minari)")  # fmt: skip
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"dataset {path}: {meta_path.name} is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"dataset {path}: {meta_path.name} is not a JSON object")
    for key in ("total_episodes", "total_steps", "observation_space", "action_space"):
        if key not in meta:
            raise DatasetError(f"dataset {path}: {meta_path.name} has no {key!r}")
    for key in ("observation_space", "action_space"):
        try:
            space = json.loads(meta[key]) if isinstance(meta[key], str) else meta[key]
        except json.JSONDecodeError:
            space = None
        if not isinstance(space, dict) or space.get("type") not in ("Box", "Discrete"):
            raise DatasetError(f"dataset {path}: {key} is not a Box or Discrete space")
        meta[key] = space
    fmt = meta.get("data_format", "hdf5")
    if fmt != "hdf5":
        raise DatasetError(f"dataset {path}: data_format {fmt!r}; only Minari's hdf5 is read")
    return meta


def read(path: str | Path) -> Dataset:
    """The dataset at ``path``, checked; :class:`DatasetError` (one line) if it is missing,
    truncated or inconsistent."""
    import h5py

    path = Path(path)
    meta = read_metadata(path)
    main = data_dir(path) / MAIN_FILE
    if not main.is_file():
        raise DatasetError(f"dataset {path}: {main} is missing")
    obs_space, act_space = meta["observation_space"], meta["action_space"]
    discrete = act_space["type"] == "Discrete"
    obs_dim = int(obs_space["shape"][0]) if obs_space["type"] == "Box" else 1
    episodes = int(meta["total_episodes"])
    parts: dict[str, list] = {k: [] for k in ("obs", "next", "act", "rew", "term", "trunc")}
    try:
        with h5py.File(main, "r") as f:
            found = sum(1 for k in f.keys() if k.startswith("episode_"))
            if found != episodes:
                raise DatasetError(f"dataset {path}: {found} episodes in {MAIN_FILE}, "
                                   f"{episodes} in {METADATA_FILE} (truncated?)")  # fmt: skip
            for i in range(episodes):
                g = f[f"episode_{i}"]
                o = np.asarray(g["observations"], np.float32).reshape(-1, obs_dim)
                t = o.shape[0] - 1
                a = np.asarray(g["actions"])
                r = np.asarray(g["rewards"], np.float32).reshape(-1)
                te = np.asarray(g["terminations"], bool).reshape(-1)
                tr = np.asarray(g["truncations"], bool).reshape(-1)
                a = a.reshape(-1).astype(np.int64) if discrete else a.reshape(t, -1)
                if t < 1 or a.shape[0] != t or r.shape[0] != t or te.shape[0] != t or (
                        tr.shape[0] != t):  # fmt: skip
                    raise DatasetError(f"dataset {path}: episode_{i} has {o.shape[0]} "
                                       f"observations, {a.shape[0]} actions, {r.shape[0]} "
                                       "rewards (expected T + 1, T, T)")  # fmt: skip
                if not (te[-1] or tr[-1]):
                    raise DatasetError(f"dataset {path}: episode_{i} ends with neither a "
                                       "termination nor a truncation")  # fmt: skip
                parts["obs"].append(o[:-1])
                parts["next"].append(o[1:])
                parts["act"].append(a)
                parts["rew"].append(r)
                parts["term"].append(te)
                parts["trunc"].append(tr)
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        why = " ".join(str(e).split())
        raise DatasetError(f"dataset {path}: {MAIN_FILE} cannot be read, damaged or "
                           f"truncated ({why})") from None  # fmt: skip
    if episodes == 0:
        raise DatasetError(f"dataset {path}: no episodes")
    d = Dataset(
        observations=np.concatenate(parts["obs"]),
        actions=np.concatenate(parts["act"]),
        rewards=np.concatenate(parts["rew"]),
        terminations=np.concatenate(parts["term"]),
        truncations=np.concatenate(parts["trunc"]),
        next_observations=np.concatenate(parts["next"]),
        metadata=meta,
    )
    if len(d) != int(meta["total_steps"]):
        raise DatasetError(f"dataset {path}: {len(d)} steps in {MAIN_FILE}, "
                           f"{meta['total_steps']} in {METADATA_FILE} (truncated?)")  # fmt: skip
    if act_space["type"] == "Box" and d.actions.shape[1] != int(act_space["shape"][0]):
        raise DatasetError(f"dataset {path}: actions of size {d.actions.shape[1]}, the action "
                           f"space says {act_space['shape'][0]}")  # fmt: skip
    return d


def info(path: str | Path) -> dict[str, Any]:
    """A summary of the dataset at ``path`` (what ``jaxrl dataset info`` prints)."""
    d = read(path)
    returns = d.episode_returns()
    meta = d.metadata
    out = {
        "path": str(path),
        "env": d.env,
        "kind": d.kind,
        "transitions": len(d),
        "episodes": int(returns.shape[0]),
        "terminations": int(d.terminations.sum()),
        "truncations": int(d.truncations.sum()),
        "observations": f"({d.observations.shape[1]},)",
        "actions": describe_space(meta["action_space"]),
        "return_mean": float(returns.mean()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "ref_min_score": meta.get("ref_min_score"),
        "ref_max_score": meta.get("ref_max_score"),
    }
    if d.ref_scores is not None:
        out["normalized_return_mean"] = float(normalized_score(returns.mean(), *d.ref_scores))
    out["collected"] = meta.get("jaxrl", {}).get("collected")
    return out
