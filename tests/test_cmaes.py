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


def _sep_cma_tell_reference(x, fitness, mean, std, C, p_std, p_c, generation, p):
    """One generation of separable CMA-ES (Ros & Hansen 2008; the update equations of Hansen's
    tutorial, arXiv:1604.00772, with C diagonal), in numpy, minimising ``fitness``."""
    n = mean.shape[0]
    mu_eff, c_s, d_s, c_c, chi_n = (float(p.mu_eff), float(p.c_std), float(p.d_std),
                                    float(p.c_c), float(p.chi_n))  # fmt: skip
    w = np.asarray(p.weights, np.float64)
    c_1 = 2 / ((n + 1.3) ** 2 + mu_eff)
    c_mu = min(1 - c_1, 2 * (mu_eff - 2 + 1 / mu_eff) / ((n + 2) ** 2 + mu_eff))
    c_1, c_mu = c_1 * (n + 2) / 3, c_mu * (n + 2) / 3
    shrink = min(1.0, 1.0 / (c_1 + c_mu * w.sum()))
    c_1, c_mu = c_1 * shrink, c_mu * shrink
    y = (x - mean) / std
    y_sorted = y[np.argsort(fitness)]
    y_w = w @ y_sorted
    mean = mean + std * y_w
    p_std = (1 - c_s) * p_std + np.sqrt(c_s * (2 - c_s) * mu_eff) * y_w / np.sqrt(C)
    norm = np.linalg.norm(p_std)
    std = std * np.exp(c_s / d_s * (norm / chi_n - 1))
    h = norm / np.sqrt(1 - (1 - c_s) ** (2 * (generation + 1))) < (1.4 + 2 / (n + 1)) * chi_n
    p_c = (1 - c_c) * p_c + h * np.sqrt(c_c * (2 - c_c) * mu_eff) * y_w
    delta = (1 - h) * c_c * (2 - c_c)
    C = (1 + c_1 * delta - c_1 - c_mu * w.sum()) * C + c_1 * p_c**2 + c_mu * (w @ y_sorted**2)
    return mean, std, C, p_std, p_c


def test_separable_cma_es_matches_the_paper_update_and_stays_linear_in_memory():
    """Two generations of ``sep_cma_es`` against a numpy loop of the paper's update with its
    raised learning rates; and its state holds no ``n x n`` array on a MinAtar-sized policy."""
    n, pop = 6, 10
    cfg = cmaes.CMAESConfig(strategy="sep_cma_es", population_size=pop)
    es, p = cmaes._strategy(cfg, n, cmaes.CMAESHParams(sigma=0.3))
    assert float(p.c_1) > 2 / ((n + 1.3) ** 2 + float(p.mu_eff))  # raised over full CMA-ES
    state = es.init(jax.random.key(0), jnp.linspace(-1, 1, n), p)
    mean, std = np.asarray(state.mean, np.float64), 0.3
    C, p_std, p_c = np.ones(n), np.zeros(n), np.zeros(n)
    for g in range(2):
        x, state = es.ask(jax.random.key(10 + g), state, p)
        fitness = np.asarray(jnp.sum(jnp.square(x - 0.5), axis=1))
        state, _ = es.tell(jax.random.key(20 + g), x, jnp.asarray(fitness), state, p)
        mean, std, C, p_std, p_c = _sep_cma_tell_reference(
            np.asarray(x, np.float64), fitness, mean, std, C, p_std, p_c, g, p
        )
        for got, want in ((state.mean, mean), (state.std, std), (state.C, C),
                          (state.p_std, p_std), (state.p_c, p_c)):  # fmt: skip
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(C, 1.0)

    env, params = envs.make("Breakout-MinAtar")
    learner = cmaes.make_learner(
        cmaes.CMAESConfig(strategy="sep_cma_es", episode_steps=100, total_steps=1700),
        env,
        params,
    )
    shapes = jax.eval_shape(lambda k: contract.init(learner, k), jax.random.key(0))
    num_params = shapes.params.shape[0]
    assert num_params == 400 * 16 + 16 + 16 * 3 + 3
    assert max(x.size for x in jax.tree.leaves(shapes)) == num_params
