"""CMA-ES / OpenAI-ES policy search: learning on CartPole-v1, the learner contract, the CLI."""

import json
import os

# Single-threaded OpenBLAS for CMA-ES's per-generation eigendecomposition (spinning worker
# threads slow it down many times on a busy machine); effective when LAPACK is not yet loaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl import learner as contract
from jaxrl._errors import check_ranges
from jaxrl.agents.evolution import cmaes


@pytest.fixture(scope="module")
def cartpole():
    return envs.make("CartPole-v1")


def test_contract_chunked_equals_one_shot_and_vmaps_over_hparams(cartpole):
    env, params = cartpole
    cfg = cmaes.CMAESConfig(population_size=8, episode_steps=100, total_steps=4 * 800)
    env_params = params.replace(max_steps_in_episode=100)
    learner = cmaes.make_learner(cfg, env, env_params)
    train = contract.make_train(learner)
    assert learner.num_updates == 4 and learner.steps_per_update == 800
    keys = jax.random.split(jax.random.key(3), 2)
    # sigma is traced: one compile runs both settings.
    hps = cmaes.CMAESHParams(sigma=jnp.array([0.1, 1.0]), lr=jnp.array([0.05, 0.05]))
    full = jax.jit(jax.vmap(train))(keys, hps)
    run = jax.jit(jax.vmap(lambda s, h, n: contract.run(learner, s, h, n), (0, 0, None)),
                  static_argnums=2)  # fmt: skip
    state = jax.jit(jax.vmap(lambda k, h: contract.init(learner, k, h)))(keys, hps)
    state, m1 = run(state, hps, 2)
    state, m2 = run(state, hps, 2)
    np.testing.assert_array_equal(full.state.params, state.params)
    np.testing.assert_array_equal(
        full.metrics["episode_return"],
        np.concatenate([m1["episode_return"], m2["episode_return"]], axis=1),
    )
    assert full.state.params.ndim == 2 and full.state.params.dtype == jnp.float32
    assert full.metrics["sigma"].shape == (2, 4)
    assert not np.allclose(full.metrics["sigma"][0], full.metrics["sigma"][1])
    full = jax.tree.map(lambda x: x[0], full)
    actions = learner.act(learner.save(full.state), jnp.zeros((5, 4)), jax.random.key(0))
    assert actions.shape == (5,) and actions.dtype == jnp.int32


def test_continuous_actions_stay_in_bounds():
    env, params = envs.make("Pendulum-v1")
    cfg = cmaes.CMAESConfig(population_size=8, episode_steps=200, total_steps=1600)
    learner = cmaes.make_learner(cfg, env, params)
    layers = learner.save(contract.init(learner, jax.random.key(0)))
    layers = jax.tree.map(lambda x: x * 100.0, layers)
    actions = learner.act(layers, jax.random.normal(jax.random.key(1), (64, 3)), None)
    assert actions.shape == (64, 1) and float(jnp.abs(actions).max()) <= 2.0


def test_bad_config_raises_before_tracing(cartpole):
    env, params = cartpole
    with pytest.raises(ValueError, match="strategy.*did you mean 'cma_es'"):
        cmaes.make_train(cmaes.CMAESConfig(strategy="cmaes"), env, params)
    with pytest.raises(ValueError, match="population_size.*even"):
        cmaes.make_train(cmaes.CMAESConfig(strategy="open_es", population_size=9), env, params)
    with pytest.raises(ValueError, match="episode_steps.*200"):
        p_env, p_params = envs.make("Pendulum-v1")
        cmaes.make_train(cmaes.CMAESConfig(), p_env, p_params)
    with pytest.raises(ValueError, match="total_steps"):
        cmaes.make_train(cmaes.CMAESConfig(total_steps=100), env, params)
    with pytest.raises(ValueError, match="sigma"):
        check_ranges(cmaes.CMAESHParams(sigma=-1.0), cmaes.HPARAM_RANGES)


def test_cli_trains_cmaes(tmp_path):
    from jaxrl.cli import main

    out = tmp_path / "run"
    code = main(["train", "cmaes", "--env", "CartPole-v1", "--seeds", "2", "--total-steps",
                 "16000", "--chunks", "2", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == "cmaes" and summary["env_steps_per_run"] == 16000
    assert len(summary["final_returns"]) == 2
