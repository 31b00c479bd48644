"""A jaxrl env behind gymnasium's interface has jaxrl's dynamics, step for step."""

import jax
import numpy as np
import pytest

pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from jaxrl import envs  # noqa: E402
from jaxrl.envs.gymnasium import GymnasiumEnv  # noqa: E402
from jaxrl.envs.wrappers import transition  # noqa: E402


@pytest.mark.parametrize("name", ["CartPole-v1", "Pendulum-v1", "Breakout-MinAtar"])
def test_gymnasium_env_steps_the_jaxrl_dynamics(name):
    genv = GymnasiumEnv(name, render_mode="rgb_array")
    check_env(genv, skip_render_check=True)
    env, params = envs.make(name)
    obs, _ = genv.reset(seed=3)
    key = jax.random.key(3)
    key, k = jax.random.split(key)
    want, state = env.reset(k, params)
    np.testing.assert_array_equal(obs, np.asarray(want, np.float32))
    genv.action_space.seed(0)
    for _ in range(40):
        action = genv.action_space.sample()
        obs, reward, terminated, truncated, _ = genv.step(action)
        key, k = jax.random.split(key)
        a = np.asarray(action, np.float32) if not np.isscalar(action) else action
        want, state, r, term, trunc, _ = transition(env, k, state, a, params)
        np.testing.assert_allclose(obs, np.asarray(want, np.float32), rtol=1e-6, atol=1e-6)
        assert reward == pytest.approx(float(r)) and terminated == bool(term)
        if terminated or truncated:
            break
    assert genv.render().shape[2] == 3


def test_overrides_and_seeding():
    genv = GymnasiumEnv("CartPole-v1", length=0.75)
    assert float(genv.env_params.length) == 0.75
    first = genv.reset(seed=5)[0]
    assert np.array_equal(first, genv.reset(seed=5)[0])
    with pytest.raises(RuntimeError, match="reset"):
        GymnasiumEnv("CartPole-v1").step(0)
