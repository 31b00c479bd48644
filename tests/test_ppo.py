import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl._errors import check_ranges
from jaxrl.agents.onpolicy import ppo
from jaxrl.run import run_seeds

# A configuration that solves CartPole within 1e5 steps (see the learning test).
FAST = ppo.PPOConfig(total_steps=100_000, num_envs=16, num_steps=32, num_minibatches=8)
FAST_HP = ppo.PPOHParams(lr=2.5e-3)


@pytest.fixture(scope="module")
def cartpole():
    return envs.make("CartPole-v1")


def test_train_traces_once(cartpole):
    env, p = cartpole
    cfg = dataclasses.replace(FAST, total_steps=1024)
    train = ppo.make_train(cfg, env, p)
    traces = []

    def counted(key, hp):
        traces.append(1)
        return train(key, hp)

    fn = jax.jit(counted)
    for i in range(3):
        out = fn(jax.random.key(i), ppo.PPOHParams(lr=1e-3 * (i + 1)))
    jax.block_until_ready(out)
    assert len(traces) == 1


def test_diverging_run_is_flagged_and_others_kept(cartpole):
    env, p = cartpole
    cfg = dataclasses.replace(FAST, total_steps=2048)
    train = ppo.make_train(cfg, env, p)
    res = run_seeds(train, 3, ppo.PPOHParams(lr=np.array([1e-3, np.nan, 1e-3])))
    assert res.diverged.tolist() == [False, True, False]
    assert np.isfinite(res.output.metrics["loss"][[0, 2]]).all()


@pytest.mark.parametrize("few,many", [(2, 5), (6, 13)])
def test_results_do_not_depend_on_the_number_of_runs(cartpole, few, many):
    """13 runs on one device go through in groups of 7 (``MAX_VMAP``), 6 in one vmap."""
    env, p = cartpole
    train = ppo.make_train(dataclasses.replace(FAST, total_steps=2048), env, p)
    a = run_seeds(train, few, FAST_HP).output
    b = run_seeds(train, many, FAST_HP).output
    np.testing.assert_array_equal(a.state.params, b.state.params[:few])


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("num_envs", 0, "num_envs"),
        ("total_steps", -1, "total_steps"),
        ("num_minibatches", 3, "num_minibatches"),
        ("update_epochs", 0, "update_epochs"),
        ("activation", "tanhh", "did you mean 'tanh'"),
        ("total_steps", 10, "less than one batch"),
    ],
)
def test_invalid_config_fails_before_tracing(cartpole, field, value, match):
    env, p = cartpole
    cfg = dataclasses.replace(ppo.PPOConfig(), **{field: value})
    with pytest.raises(ValueError, match=match):
        ppo.make_train(cfg, env, p)


def test_invalid_hparams():
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\], got 1.5"):
        check_ranges(ppo.PPOHParams(gamma=1.5), ppo.HPARAM_RANGES)
    with pytest.raises(ValueError, match=r"lr must be > 0, got -1 \(run 1\)"):
        check_ranges(ppo.PPOHParams(lr=np.array([1e-3, -1.0])), ppo.HPARAM_RANGES)


def test_env_params_can_be_vmapped(cartpole):
    """Domain randomisation: one vmap over env params (pole length) gives each run exactly
    the run trained alone on its params, and the params do change the dynamics."""
    env, p = cartpole
    train = ppo.make_train(dataclasses.replace(FAST, total_steps=1024), env, p)
    lengths = jnp.array([0.25, 0.5, 1.0])
    batch = jax.vmap(lambda L: envs.set_params(p, length=L))(lengths)
    out = jax.jit(jax.vmap(train, (None, None, 0)))(jax.random.key(0), FAST_HP, batch)
    alone = jax.jit(train)(jax.random.key(0), FAST_HP, envs.set_params(p, length=0.25))
    np.testing.assert_allclose(out.metrics["loss"][0], alone.metrics["loss"], rtol=1e-5)
    obs = np.asarray(out.state.obs)  # each run's envs after training
    assert not np.allclose(obs[0], obs[2])
    assert not np.allclose(out.metrics["loss"][0], out.metrics["loss"][2])


def test_observation_statistics_are_saved_and_applied_by_the_policy(tmp_path):
    """A run trained with normalize_obs saves its observation statistics with the policy;
    acting normalises raw observations by them, and ``jaxrl evaluate`` scores such runs."""
    env, p = envs.make("Pendulum-v1")
    cfg = ppo.PPOConfig(total_steps=2048, num_envs=4, num_steps=64, normalize_obs=True)
    learner = ppo.make_learner(cfg, env, p)
    state = jax.jit(lambda k: ppo.make_train(cfg, env, p)(k).state)(jax.random.key(0))
    saved = learner.save(state)
    stats = saved["obs_stats"]
    assert float(stats.count) > 2048  # every observation of the run went into them
    obs = jnp.array([[1.0, 0.0, 3.0], [-0.5, 0.8, -2.0]])
    net = ppo.ActorCritic(False, cfg.activation)
    got = learner.act(saved, obs, jax.random.key(1), greedy=True)
    plain = ppo.make_learner(dataclasses.replace(cfg, normalize_obs=False), env, p)
    want = plain.act({"net": saved["net"]}, stats.normalize(obs), jax.random.key(1))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert not np.allclose(got, net(saved["net"], obs)[0].mode())  # raw obs act differently

    from jaxrl.cli import main

    out = tmp_path / "run"
    assert main(["train", "ppo", "--env", "Pendulum-v1", "--seeds", "2", "--total-steps", "2048",
                 "--num-envs", "4", "--num-steps", "64", "--normalize-obs", "--no-progress",
                 "--out", str(out)]) == 0  # fmt: skip
    assert main(["evaluate", str(out), "--episodes", "2"]) == 0
