"""``make(name)``: one entry point over gymnax, brax and MuJoCo Playground envs."""

from __future__ import annotations

import functools

import gymnax

from jaxrl._errors import unknown_name
from jaxrl.envs import adapters, perturb
from jaxrl.envs.cartpole_swingup import CartPoleSwingUp
from jaxrl.envs.fourrooms import FourRooms
from jaxrl.envs.pointmaze import PointMaze

# jaxrl's own envs (gymnax protocol) for tasks gymnax lacks.
OWN_ENVS = {
    "CartPoleSwingUp-v0": CartPoleSwingUp,
    "FourRooms-v0": FourRooms,
    "PointMaze-v0": PointMaze,
}

# gymnax envs that fetch data over the network on construction.
_NEEDS_DOWNLOAD = {"MNISTBandit-bsuite"}


def gymnax_names() -> list[str]:
    return list(gymnax.registered_envs)


@functools.cache
def _optional_names(prefix: str) -> tuple[str, ...]:
    try:
        names = adapters.brax_names() if prefix == "brax" else adapters.playground_names()
    except ImportError:  # pragma: no cover - optional dependency missing
        return ()
    return tuple(f"{prefix}/{n}" for n in names)


def list_envs(include_optional: bool = True) -> list[str]:
    """All env names ``make`` accepts."""
    names = gymnax_names() + list(OWN_ENVS)
    if include_optional:
        names += list(_optional_names("brax")) + list(_optional_names("playground"))
    return names


def make(name: str, **overrides):
    """Creates an env and its default params.

    Args:
      name: a gymnax id (``"CartPole-v1"``), ``"brax/<name>"`` (MJX backend unless
        ``backend=`` is given) or ``"playground/<Name>"`` (dm_control suite, JAX impl).
      **overrides: for gymnax, env params fields (``length=0.75``), with derived fields kept
        consistent; for brax, ``backend``/``episode_length`` and env kwargs; for Playground,
        ``episode_length`` and config overrides.

    Returns:
      ``(env, env_params)`` following gymnax's ``reset``/``step`` protocol.
    """
    if not isinstance(name, str):
        raise TypeError(f"env name must be a string, got {type(name).__name__}")
    if name.startswith("brax/"):
        short = name.split("/", 1)[1]
        if name not in _optional_names("brax"):
            raise ValueError(unknown_name("env", name, list_envs()))
        return adapters.make_brax(short, **overrides)
    if name.startswith("playground/"):
        short = name.split("/", 1)[1]
        if name not in _optional_names("playground"):
            raise ValueError(unknown_name("env", name, list_envs()))
        return adapters.make_playground(short, **overrides)
    if name in OWN_ENVS:
        env = OWN_ENVS[name]()
        params = env.default_params
    elif name not in gymnax.registered_envs:
        raise ValueError(unknown_name("env", name, list_envs()))
    else:
        env, params = gymnax.make(name)
    if overrides:
        params = perturb.set_params(params, **overrides)
    return env, params
