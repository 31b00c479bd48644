import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs


def test_unknown_env_suggests_close_matches():
    with pytest.raises(ValueError, match="did you mean 'CartPole-v1'"):
        envs.make("CartPol-v1")
    with pytest.raises(ValueError, match="did you mean 'brax/ant'"):
        envs.make("brax/antt")


def test_every_gymnax_env_is_listed():
    names = envs.list_envs(include_optional=False)
    assert set(gymnax.registered_envs) <= set(names)


def test_param_overrides_keep_derived_fields_consistent():
    _, p = envs.make("CartPole-v1", length=0.75, masspole=0.2)
    assert p.length == 0.75 and p.masspole == 0.2
    assert np.isclose(p.polemass_length, 0.15) and np.isclose(p.total_mass, 1.2)
    with pytest.raises(ValueError, match="did you mean 'length'"):
        envs.make("CartPole-v1", lenght=0.75)
    with pytest.raises(ValueError, match="derived"):
        envs.make("CartPole-v1", total_mass=3.0)


def test_sample_params_vmaps_into_domain_randomisation():
    _, p = envs.make("CartPole-v1")
    keys = jax.random.split(jax.random.key(0), 64)
    batch = jax.vmap(envs.sample_params, (0, None, None))(keys, p, {"length": (0.25, 0.75)})
    assert batch.length.shape == (64,)
    assert np.all((batch.length >= 0.25) & (batch.length <= 0.75))
    np.testing.assert_allclose(batch.polemass_length, batch.length * p.masspole, rtol=1e-6)
    assert envs.parse_ranges("length=0.25:0.75,masspole=0.2") == {
        "length": (0.25, 0.75),
        "masspole": (0.2, 0.2),
    }


def test_wrapped_step_equals_gymnax_step():
    """Same keys give the same trajectory as gymnax's own auto-resetting step."""
    env, p = envs.make("CartPole-v1")
    wrapped = envs.EpisodeStatistics(env)
    key = jax.random.key(1)
    obs_g, st_g = env.reset(key, p)
    obs_w, st_w = wrapped.reset(key, p)
    step_g, step_w = jax.jit(env.step), jax.jit(wrapped.step)
    for t in range(120):
        k = jax.random.fold_in(key, t)
        a = jnp.int32(t % 3 == 0)
        obs_g, st_g, r_g, term_g, trunc_g, info_g = step_g(k, st_g, a, p)
        obs_w, st_w, r_w, term_w, trunc_w, info_w = step_w(k, st_w, a, p)
        np.testing.assert_array_equal(obs_g, obs_w)
        np.testing.assert_array_equal(info_g["final_observation"], info_w["final_observation"])
        assert r_g == r_w and term_g == term_w and trunc_g == trunc_w


def test_episode_statistics_and_prepared_stepping():
    env, p = envs.make("CartPole-v1")
    venv = envs.VecEnv(envs.EpisodeStatistics(env), 8)
    key = jax.random.key(0)
    obs, state = venv.reset(key, p)
    T = 200
    prepared = venv.prepare(jax.random.key(1), T, p)

    def body(carry, xs):
        state, total = carry
        prepared_t, k = xs
        action = jax.random.randint(k, (8,), 0, 2)
        obs, state, r, term, trunc, info = venv.step_prepared(prepared_t, state, action, p)
        total = total + r
        out = (info["returned_episode"], info["episode_return"], info["episode_length"], total)
        total = jnp.where(info["returned_episode"], 0.0, total)
        return (state, total), out

    keys = jax.random.split(jax.random.key(2), T)
    _, (ended, ret, length, total) = jax.jit(
        lambda s: jax.lax.scan(body, (s, jnp.zeros(8)), (prepared, keys))
    )(state)
    assert ended.sum() > 20
    # CartPole pays 1 per step: the return of a finished episode is its length and the
    # sum of the rewards seen since the previous reset.
    np.testing.assert_allclose(ret[ended], length[ended])
    np.testing.assert_allclose(ret[ended], total[ended])


def test_flatten_and_normalize():
    env, p = envs.make("Breakout-MinAtar")
    venv = envs.NormalizeObservation(envs.VecEnv(envs.FlattenObservation(env), 16))
    obs, state = venv.reset(jax.random.key(0), p)
    assert obs.shape == (16, 400)
    step = jax.jit(venv.step)
    for t in range(20):
        a = jnp.zeros(16, jnp.int32)
        obs, state, *_, info = step(jax.random.key(t), state, a, p)
    assert info["final_observation"].shape == (16, 400)
    assert float(state.obs_stats.count) > 16 * 20
    assert np.all(np.abs(obs) <= 10.0)


def test_rescale_and_clip_actions():
    env, p = envs.make("Pendulum-v1")
    wrapped = envs.RescaleAction(env)
    assert float(wrapped.action_space(p).high) == 1.0
    obs, s = wrapped.reset(jax.random.key(0), p)
    _, _, r_full, *_ = wrapped.transition(jax.random.key(1), s, jnp.array([1.0]), p)
    _, _, r_over, *_ = wrapped.transition(jax.random.key(1), s, jnp.array([7.0]), p)
    assert r_full == r_over  # out-of-range actions are clipped to the bound


@pytest.mark.parametrize("name", ["playground/CartpoleBalance", "brax/inverted_pendulum"])
def test_mjx_adapters_truncate_and_reset(name):
    env, p = envs.make(name, episode_length=3)
    assert p.max_steps_in_episode == 3
    venv = envs.VecEnv(env, 2)
    obs, state = venv.reset(jax.random.key(0), p)
    assert obs.shape == (2, env.observation_space(p).shape[0])
    step = jax.jit(venv.step)
    action = jnp.zeros((2, env.action_space(p).shape[0]))
    truncs = []
    for t in range(3):
        obs, state, r, term, trunc, info = step(jax.random.key(t), state, action, p)
        truncs.append(np.asarray(trunc))
        assert np.all(np.isfinite(obs)) and r.shape == (2,)
    assert truncs[-1].all() and not truncs[0].any()
    assert np.all(np.asarray(state.time) == 0)  # reset after the time limit


def test_packing_round_trips_every_leaf_type_exactly():
    from jaxrl.envs.packing import make_packer, scan_packed

    tree = {
        "f": jnp.array([[1.5, -np.inf], [np.nan, 3.0]], jnp.float32),
        "i": jnp.array([-7, 2**31 - 1], jnp.int32),
        "u": jnp.array([2**32 - 1], jnp.uint32),
        "b": jnp.array([True, False, True]),
        "k": jax.random.split(jax.random.key(3), 2),
        "s": jnp.float32(0.25),
    }
    packer = make_packer(tree)
    packed = packer.pack(tree)
    assert packed.shape == (packer.width,) and packed.dtype == jnp.float32
    back = packer.unpack(packed)
    for name in ("f", "i", "u", "b", "s"):
        assert back[name].dtype == tree[name].dtype and back[name].shape == tree[name].shape
        np.testing.assert_array_equal(back[name], tree[name])
    np.testing.assert_array_equal(jax.random.key_data(back["k"]), jax.random.key_data(tree["k"]))
    assert make_packer({"h": jnp.zeros(2, jnp.float16)}) is None

    def step(carry, x):
        ys = {"sum": carry["i"].sum(), "b": carry["b"], "f": carry["f"], "k": carry["k"]}
        return {**carry, "i": carry["i"] + x, "f": carry["f"] * 2}, ys

    xs = jnp.arange(5, dtype=jnp.int32)
    want = jax.lax.scan(step, tree, xs)
    got = scan_packed(step, tree, xs)
    for a, b in zip(jax.tree.leaves(jax.tree.map(_raw, want)),
                    jax.tree.leaves(jax.tree.map(_raw, got)), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)


def _raw(x):
    return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def test_union_of_ranges_covers_both_intervals_and_nothing_between():
    """Packer et al. 2018's extreme pole lengths [0.05, 0.25] U [0.75, 1.0]: every draw lies in
    one of the two intervals, each gets a share proportional to its length, and the gap
    between them (the "random" range) is never drawn."""
    env, p = envs.make("CartPole-v1")
    ranges = envs.parse_ranges("length=0.05:0.25|0.75:1.0,masspole=0.01:0.05|0.5:1.0")
    assert ranges["length"] == ((0.05, 0.25), (0.75, 1.0))
    keys = jax.random.split(jax.random.key(0), 4000)
    batch = jax.vmap(envs.sample_params, (0, None, None))(keys, p, ranges)
    length = np.asarray(batch.length)
    low, high = (length >= 0.05) & (length <= 0.25), (length >= 0.75) & (length <= 1.0)
    assert np.all(low | high)
    np.testing.assert_allclose(low.mean(), 0.2 / 0.45, atol=0.03)
    assert length[low].min() < 0.07 and length[low].max() > 0.23  # each interval covered
    assert length[high].min() < 0.77 and length[high].max() > 0.98
    np.testing.assert_allclose(batch.polemass_length, batch.masspole * batch.length, rtol=1e-6)
    with pytest.raises(ValueError, match="must not overlap"):
        envs.parse_ranges("length=0.1:0.5|0.4:0.9")
