"""Domain randomisation: each episode draws its own params at reset and steps with them."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_cli import jaxrl

from jaxrl import envs
from jaxrl.envs.randomize import RandomizedState


def _episode_params(state):
    """The RandomizedState params inside any wrapped state pytree."""
    found = [
        leaf.params
        for leaf in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, RandomizedState))
        if isinstance(leaf, RandomizedState)
    ]
    assert len(found) == 1
    return found[0]


def test_each_reset_draws_params_in_range_and_steps_with_them():
    env, p = envs.make("CartPole-v1")
    ranges = envs.parse_ranges("length=0.05:0.25|0.75:1.0,force_mag=5:15")
    rand = envs.DomainRandomization(env, ranges)
    keys = jax.random.split(jax.random.key(1), 2000)
    obs, state = jax.vmap(rand.reset, (0, None))(keys, p)
    length = np.asarray(state.params.length)
    assert np.all(((length >= 0.05) & (length <= 0.25)) | ((length >= 0.75) & (length <= 1.0)))
    assert (length < 0.25).mean() > 0.35 and (length > 0.75).mean() > 0.45  # both intervals
    assert np.asarray(state.params.force_mag).std() > 2.0  # [5, 15] uniform: std 2.9
    np.testing.assert_allclose(state.params.polemass_length, p.masspole * length, rtol=1e-6)

    # A step moves the cart as the plain env does under the episode's own params.
    action = jnp.ones(2000, jnp.int32)
    out = jax.vmap(rand.transition)(keys, state, action)
    plain = jax.vmap(lambda k, s, a, q: env.step_env(k, s, a, q))(
        keys, state.env_state, action, state.params
    )
    np.testing.assert_allclose(out[0], plain[0], rtol=1e-6)
    assert np.ptp(np.asarray(out[0])[:, 3]) > 0.1  # different poles, different responses
    np.testing.assert_array_equal(out[1].params.length, length)  # kept for the episode


def test_a_vectorised_env_keeps_params_within_an_episode_and_redraws_at_its_end():
    env, p = envs.make("CartPole-v1")
    venv = envs.stack(envs.DomainRandomization(env, {"length": (0.25, 0.75)}), p, 8)
    obs, state = venv.reset(jax.random.key(0), p)

    def body(carry, key):
        state = carry
        before = _episode_params(state).length
        obs, state, _, _, _, info = venv.step(key, state, jnp.zeros(8, jnp.int32), p)
        return state, (before, _episode_params(state).length, info["returned_episode"])

    _, (before, after, ended) = jax.lax.scan(body, state, jax.random.split(jax.random.key(1), 60))
    before, after, ended = map(np.asarray, (before, after, ended))
    assert ended.sum() >= 8  # always pushing left ends episodes within ~10 steps
    np.testing.assert_array_equal(after[~ended], before[~ended])
    assert np.all(after[ended] != before[ended])
    assert np.all((after >= 0.25) & (after <= 0.75))


def test_tied_fields_share_one_draw_and_bad_names_are_refused():
    env, p = envs.make("Acrobot-v1")
    ranges = envs.parse_ranges("link_length_1+link_length_2=0.5:0.75|1.25:1.5,link_moi=0.75:1.25")
    rand = envs.DomainRandomization(env, ranges)
    _, state = jax.vmap(rand.reset, (0, None))(jax.random.split(jax.random.key(0), 500), p)
    l1, l2 = np.asarray(state.params.link_length_1), np.asarray(state.params.link_length_2)
    np.testing.assert_array_equal(l1, l2)
    assert np.all(((l1 >= 0.5) & (l1 <= 0.75)) | ((l1 >= 1.25) & (l1 <= 1.5)))
    assert np.all(np.asarray(state.params.link_mass_1) == 1.0)  # not named: untouched
    with pytest.raises(ValueError, match="did you mean 'link_mass_1'"):
        envs.DomainRandomization(env, {"link_mas_1": (0.5, 1.0)})
    with pytest.raises(ValueError, match="link_moi: given more than one range"):
        envs.DomainRandomization(env, {"link_moi": (0.5, 1.0), "link_moi+link_mass_1": (1, 2)})
    with pytest.raises(ValueError, match="derived"):
        envs.DomainRandomization(envs.make("CartPole-v1")[0], {"total_mass": (1.0, 2.0)})
    with pytest.raises(ValueError, match="at least one"):
        envs.DomainRandomization(env, {})


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_any_learner_trains_on_randomised_dynamics(algo):
    """No learner knows about randomisation: built on the wrapped env, its own env copies
    hold per-episode params drawn from the range (4 seeds vmapped, one compile)."""
    from jaxrl import learner as contract
    from jaxrl import registry

    env, p = envs.make("CartPole-v1")
    module = registry.algorithm(algo)
    config = {"ppo": dict(num_envs=8, num_steps=32, total_steps=512),
              "dqn": dict(num_envs=8, total_steps=512, log_every=256, learning_starts=64,
                          buffer_size=512, batch_size=32)}[algo]  # fmt: skip
    learner = module.make_learner(
        module.CONFIG(**config), envs.DomainRandomization(env, {"length": (0.25, 0.75)}), p
    )
    train = jax.jit(jax.vmap(contract.make_train(learner)))
    out = train(jax.random.split(jax.random.key(0), 4))
    lengths = np.asarray(_episode_params(out.state).length)
    assert lengths.shape == (4, 8)
    assert np.all((lengths >= 0.25) & (lengths <= 0.75)) and lengths.std() > 0.05
    assert np.isfinite(np.asarray(out.metrics["episode_return"])).all()


def test_cli_trains_on_randomised_dynamics(tmp_path, subprocess_env):
    run = tmp_path / "run"
    out = jaxrl("train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps",
                "1024", "--randomize", "length=0.05:0.25|0.75:1.0", "--out", str(run),
                env=subprocess_env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["randomize"] == (
        "length=0.05:0.25|0.75:1.0"
    )
    bad = jaxrl("train", "ppo", "--randomize", "lenght=0.1:0.2", env=subprocess_env)
    assert bad.returncode != 0 and "did you mean 'length'" in bad.stderr
