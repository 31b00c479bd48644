"""``make(name)``: one entry point over gymnax, brax and MuJoCo Playground envs."""

from __future__ import annotations

import functools

import gymnax
from gymnax.environments.bsuite.deep_sea import DeepSea

from jaxrl._errors import unknown_name
from jaxrl.envs import adapters, meta, perturb
from jaxrl.envs.boat_race import BoatRace
from jaxrl.envs.cartpole_swingup import CartPoleSwingUp
from jaxrl.envs.fourrooms import FourRooms
from jaxrl.envs.noisy_tv import NoisyTV
from jaxrl.envs.pointmaze import PointMaze
from jaxrl.envs.wrappers import MaskObservation


def _masked(name: str, keep: tuple[int, ...]):
    return lambda: MaskObservation(gymnax.make(name)[0], keep)


# jaxrl's own envs (gymnax protocol) for tasks gymnax lacks: name -> a function making the env
# (its default params are ``env.default_params``). The partially observed ones show only
# positions: CartPole (x, theta) without (x_dot, theta_dot), Pendulum (cos, sin) without the
# angular velocity.
OWN_ENVS = {
    "CartPoleSwingUp-v0": CartPoleSwingUp,
    "CartPoleNoVel-v1": _masked("CartPole-v1", (0, 2)),
    "PendulumNoVel-v1": _masked("Pendulum-v1", (0, 1)),
    "BoatRace-v0": BoatRace,
    "NoisyTV-v0": NoisyTV,
    # DeepSea (Osband et al. 2020) of N x N: gymnax's DeepSea-bsuite is N = 8 only. Its
    # params keep gymnax's defaults: deterministic moves, the action that goes right drawn per
    # cell once (randomize_actions; 0 makes it always action 1), a cost 0.01 / N per right move.
    "DeepSea-N4": functools.partial(DeepSea, 4),
    "DeepSea-N6": functools.partial(DeepSea, 6),
    "DeepSea-N10": functools.partial(DeepSea, 10),
    "DeepSea-N12": functools.partial(DeepSea, 12),
    "DeepSea-N16": functools.partial(DeepSea, 16),
    "DeepSea-N20": functools.partial(DeepSea, 20),
    "DeepSea-N30": functools.partial(DeepSea, 30),
    "DeepSea-N40": functools.partial(DeepSea, 40),
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
    names = gymnax_names() + list(OWN_ENVS) + list(meta.BANDIT_NAMES)
    if include_optional:
        names += list(_optional_names("brax")) + list(_optional_names("playground"))
    return names


def make(name: str, **overrides):
    """Creates an env and its default params.

    Args:
      name: a gymnax id (``"CartPole-v1"``), one of jaxrl's own (``OWN_ENVS``; a bandit
        trial ``"BernoulliBandit-k<arms>-n<pulls>"``, :mod:`jaxrl.envs.meta`),
        ``"brax/<name>"`` (MJX backend unless ``backend=`` is given) or
        ``"playground/<Name>"`` (dm_control suite, JAX impl).
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
    elif meta.BANDIT_NAME.match(name):
        env, params = meta.bandit_from_name(name)
    elif name not in gymnax.registered_envs:
        raise ValueError(unknown_name("env", name, list_envs()))
    else:
        env, params = gymnax.make(name)
    if overrides:
        params = perturb.set_params(params, **overrides)
    return env, params


def _describe_box(space) -> str:
    import numpy as np

    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    shape = tuple(int(d) for d in space.shape)
    if low.size and np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
        bounds = f"[{low.flat[0]:g}, {high.flat[0]:g}]"
    else:
        bounds = "per-dimension bounds"
    return f"{shape} in {bounds}"


def spaces_of(name: str, **overrides) -> dict:
    """What an env offers a learner: ``{"actions", "observations", "params"}`` as text (the
    params are those ``--env-params`` / ``make(name, **overrides)`` can set, with their
    defaults). Envs that fetch data when built are described without building them."""
    if name in _NEEDS_DOWNLOAD:
        return {"actions": "-", "observations": "(fetches data over the network when built)",
                "params": {}}  # fmt: skip
    env, params = make(name, **overrides)
    space = env.action_space(params)
    if hasattr(space, "n"):
        actions = f"discrete, {int(space.n)} actions"
    else:
        actions = f"continuous {_describe_box(space)}"
    obs = env.observation_space(params)
    observations = f"{tuple(int(d) for d in obs.shape)}"
    settable = {}
    try:
        for field in perturb.settable_fields(params):
            value = getattr(params, field)
            if isinstance(value, int | float | bool) or getattr(value, "ndim", 1) == 0:
                settable[field] = float(value) if not isinstance(value, bool) else value
    except TypeError:  # params that are not a dataclass
        pass
    return {"actions": actions, "observations": observations, "params": settable}
