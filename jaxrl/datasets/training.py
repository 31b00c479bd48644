"""A dataset as a learner trains on it: checked against the env, in the learner's units.

:func:`load` reads a dataset (:mod:`jaxrl.datasets.storage`), checks that its spaces are
the env's (one-line :class:`~jaxrl.datasets.storage.DatasetError` otherwise) and
:func:`transitions` gives the arrays a learner samples from: actions rescaled from the env's
box onto ``[-1, 1]`` (the units of tanh policies, :class:`jaxrl.envs.ActionSpec`), discrete
actions as int32 indices, and ``done = terminated or truncated``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrl import envs as jenvs
from jaxrl.datasets.storage import Dataset, DatasetError, box_space, describe_space, discrete_space
from jaxrl.datasets.storage import read as read_dataset


def env_spaces(env, env_params) -> tuple[dict, dict]:
    """``(observation_space, action_space)`` of a jaxrl env in gymnasium's JSON form, the
    observations flattened as :func:`jaxrl.envs.stack` flattens them."""
    obs = env.observation_space(env_params)
    obs_space = box_space(np.asarray(obs.low, np.float32), np.asarray(obs.high, np.float32),
                          tuple(obs.shape))  # fmt: skip
    spec = jenvs.action_spec(env, env_params)
    if spec.discrete:
        return obs_space, discrete_space(spec.dim)
    return obs_space, box_space(np.asarray(spec.low), np.asarray(spec.high), (spec.dim,))


def check_env(dataset: Dataset, env, env_params, where: str = "dataset") -> None:
    """Raises :class:`DatasetError` (one line) unless the dataset's observation size and
    action space are the env's."""
    meta = dataset.metadata
    obs_space, act_space = env_spaces(env, env_params)
    d_obs, d_act = meta["observation_space"], meta["action_space"]
    same_obs = int(d_obs.get("shape", [0])[0]) == obs_space["shape"][0]
    if act_space["type"] == "Discrete":
        same_act = d_act.get("type") == "Discrete" and int(d_act["n"]) == act_space["n"]
    else:
        same_act = (d_act.get("type") == "Box" and d_act["shape"] == act_space["shape"]
                    and np.allclose(d_act["low"], act_space["low"])
                    and np.allclose(d_act["high"], act_space["high"]))  # fmt: skip
    if same_obs and same_act:
        return
    recorded = f" (recorded on {dataset.env})" if dataset.env else ""
    env_name = getattr(env, "name", type(env).__name__)
    raise DatasetError(
        f"{where}: its spaces (observations ({d_obs['shape'][0]},), "
        f"{describe_space(d_act)}){recorded} do not match the env {env_name}'s "
        f"(observations ({obs_space['shape'][0]},), {describe_space(act_space)})"
        + (f"; pass --env {dataset.env}" if dataset.env else "")
    )


def load(path: str | Path, env, env_params, *, algo: str, continuous: bool = False,
         field: str = "dataset") -> Dataset:  # fmt: skip
    """The dataset at ``path``, checked against the env; ``continuous`` refuses discrete
    actions for ``algo`` (one line naming what can use them)."""
    if not path:
        raise DatasetError(f"{field}: {algo} trains on a dataset; pass --dataset PATH (made "
                           "by `jaxrl dataset make ENV --kind KIND --out PATH`)")  # fmt: skip
    dataset = read_dataset(path)
    check_env(dataset, env, env_params, where=f"{field} {path}")
    if continuous and dataset.discrete:
        raise DatasetError(f"{field} {path}: {algo} needs continuous actions but this dataset's "
                           "are discrete; use bc or dt")  # fmt: skip
    return dataset


def transitions(dataset: Dataset, spec: jenvs.ActionSpec) -> dict[str, np.ndarray]:
    """The dataset's transitions in a learner's units: ``obs``, ``action`` (``[-1, 1]`` for
    continuous actions, int32 indices for discrete), ``reward``, ``terminated``, ``done``,
    ``next_obs``; numpy arrays with a leading axis of ``N``."""
    if spec.discrete:
        action = dataset.actions.astype(np.int32)
    else:
        low, high = np.asarray(spec.low, np.float32), np.asarray(spec.high, np.float32)
        action = 2.0 * (dataset.actions.astype(np.float32) - low) / (high - low) - 1.0
        action = np.clip(action, -1.0, 1.0).astype(np.float32)
    return {
        "obs": dataset.observations.astype(np.float32),
        "action": action,
        "reward": dataset.rewards.astype(np.float32),
        "terminated": dataset.terminations.astype(bool),
        "done": dataset.dones.astype(bool),
        "next_obs": dataset.next_observations.astype(np.float32),
    }


__all__ = ["DatasetError", "check_env", "env_spaces", "load", "transitions"]
