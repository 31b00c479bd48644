"""A jaxrl env as a ``gymnasium.Env``, so other libraries (Stable-Baselines3, CleanRL) can be
run on the very same dynamics as jaxrl's learners.

``GymnasiumEnv("CartPole-v1")`` steps the env jaxrl trains on (any name
:func:`jaxrl.envs.make` knows, with its parameter overrides), one transition per ``step``
through a jitted call, with gymnasium's ``terminated``/``truncated`` split as jaxrl's own
learners see it and no automatic reset (gymnasium callers reset). Observations are float32
NumPy arrays in the env's own shape; ``render()`` draws a frame where :mod:`jaxrl.render`
has a renderer. Needs ``gymnasium`` (``pip install gymnasium``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

try:
    import gymnasium
    from gymnasium import spaces as gym_spaces
except ImportError as e:  # pragma: no cover - optional dependency
    raise ImportError("jaxrl.envs.gymnasium needs gymnasium: pip install gymnasium") from e

from jaxrl.envs.registry import make
from jaxrl.envs.wrappers import transition


def _box(space, dtype=np.float32) -> gym_spaces.Box:
    shape = tuple(int(d) for d in space.shape)
    low = np.broadcast_to(np.asarray(space.low, np.float64), shape).astype(dtype)
    high = np.broadcast_to(np.asarray(space.high, np.float64), shape).astype(dtype)
    return gym_spaces.Box(low=low, high=high, shape=shape, dtype=dtype)


class GymnasiumEnv(gymnasium.Env):
    """One copy of a jaxrl env behind gymnasium's ``reset``/``step`` interface.

    Args:
      env: an env name (``"CartPole-v1"``) or an env object of the gymnax protocol.
      env_params: the env's params (default: ``make``'s, with ``overrides``).
      seed: the seed of the first reset (``reset(seed=...)`` reseeds).
      render_mode: ``None`` or ``"rgb_array"``.
      **overrides: env parameter overrides when ``env`` is a name (``length=0.75``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, env: str | Any = "CartPole-v1", env_params=None, *, seed: int = 0,
                 render_mode: str | None = None, **overrides):  # fmt: skip
        if isinstance(env, str):
            self.name = env
            env, default = make(env, **overrides)
            env_params = default if env_params is None else env_params
        else:
            self.name = getattr(env, "name", type(env).__name__)
            env_params = env.default_params if env_params is None else env_params
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.env, self.env_params = env, env_params
        space = env.action_space(env_params)
        self._discrete = hasattr(space, "n")
        self.action_space = gym_spaces.Discrete(int(space.n)) if self._discrete else _box(space)
        self.observation_space = _box(env.observation_space(env_params))
        self._key = jax.random.key(seed)
        self._state = None
        self._obs = None

        def reset(key):
            key, k = jax.random.split(key)
            return key, env.reset(k, env_params)

        def step(key, state, action):  # one dispatch per step: the key is split inside
            key, k = jax.random.split(key)
            return key, transition(env, k, state, action, env_params)

        self._reset_fn, self._step_fn = jax.jit(reset), jax.jit(step)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        self._key, (obs, self._state) = self._reset_fn(self._key)
        self._obs = np.asarray(obs, np.float32)
        return self._obs.copy(), {}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("step before reset: call reset() first")
        if self._discrete:
            action = jnp.asarray(int(np.asarray(action).reshape(())), jnp.int32)
        else:
            action = jnp.asarray(np.asarray(action, np.float32).reshape(self.action_space.shape))
        self._key, (obs, self._state, reward, terminated, truncated, _) = self._step_fn(
            self._key, self._state, action
        )
        self._obs = np.asarray(obs, np.float32)
        return (self._obs.copy(), float(reward), bool(terminated), bool(truncated) and
                not bool(terminated), {})  # fmt: skip

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from jaxrl.render import require_renderer

        draw = require_renderer(self.name)
        return draw(jax.device_get(self._state), self._obs, self.env_params)
