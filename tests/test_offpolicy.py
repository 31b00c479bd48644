"""DQN, SAC (continuous and discrete), TD3, DDPG: the replay loop's contract, bad input,
the command line. (Their learning tests are in ``test_learning.py``.)"""

import json

import jax
import numpy as np
import pytest

from jaxrl import envs
from jaxrl import learner as contract
from jaxrl.registry import algorithm


def test_chunked_run_equals_one_call():
    """``run`` in two pieces gives the same bits as ``train`` (checkpoint/resume relies on it)."""
    module = algorithm("dqn")
    env, env_params = envs.make("CartPole-v1")
    cfg = module.CONFIG(total_steps=2_000, learning_starts=500, log_every=500, buffer_size=1_000)
    learner = module.make_learner(cfg, env, env_params)
    hp = module.HPARAMS()
    key = jax.random.key(3)
    whole = jax.jit(contract.make_train(learner))(key, hp)
    run = jax.jit(lambda s, h, n: contract.run(learner, s, h, n), static_argnums=2)
    state, m1 = run(jax.jit(lambda k, h: contract.init(learner, k, h))(key, hp), hp, 2)
    state, m2 = run(state, hp, 2)
    np.testing.assert_array_equal(np.asarray(whole.state.params), np.asarray(state.params))
    np.testing.assert_array_equal(
        np.asarray(whole.metrics["loss"]), np.concatenate([m1["loss"], m2["loss"]])
    )


@pytest.mark.parametrize(
    "algo,env_name,match",
    [
        ("dqn", "Pendulum-v1", "dqn needs discrete actions.*use sac, td3 or ddpg"),
        ("sac", "CartPole-v1", "sac needs continuous actions.*use sac_discrete or dqn"),
        ("td3", "CartPole-v1", "td3 needs continuous actions.*dqn or sac_discrete"),
        ("ddpg", "Acrobot-v1", "ddpg needs continuous actions"),
        ("sac_discrete", "Pendulum-v1", "sac_discrete needs discrete actions.*use sac"),
    ],
)
def test_wrong_action_kind_names_the_right_algorithm(algo, env_name, match):
    module = algorithm(algo)
    env, env_params = envs.make(env_name)
    with pytest.raises(ValueError, match=match):
        module.make_train(module.CONFIG(), env, env_params)


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"buffer_size": 64}, "buffer_size: 64 is smaller than batch_size"),
        ({"learning_starts": 10}, "learning_starts: 10 is less than batch_size"),
        ({"train_every": 3}, "log_every: 1000 is not a multiple of num_envs"),
        ({"batch_size": 0}, "batch_size: must be a positive int"),
        ({"storage_dtype": "float8"}, "storage_dtype: unknown storage dtype"),
        ({"total_steps": 10}, "total_steps: 10 is less than one update"),
        ({"activation": "rleu"}, "activation: .*did you mean 'relu'"),
    ],
)
def test_invalid_config_fails_before_tracing(overrides, match):
    module = algorithm("sac")
    env, env_params = envs.make("Pendulum-v1")
    with pytest.raises(ValueError, match=match):
        module.make_train(module.CONFIG(**overrides), env, env_params)


def test_cli_trains_and_evaluates_an_offpolicy_run(tmp_path):
    """`jaxrl train td3` writes a run directory that `jaxrl evaluate` re-runs."""
    from jaxrl.cli import main

    out = tmp_path / "run"
    flags = ["--total-steps", "1000", "--learning-starts", "200", "--log-every", "200",
             "--batch-size", "64", "--hidden", "32", "32", "--buffer-size", "1000"]  # fmt: skip
    argv = ["train", "td3", "--env", "Pendulum-v1", "--seeds", "2", "--no-progress"]
    assert main([*argv, *flags, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == "td3" and summary["env_steps_per_run"] == 1000
    assert len(summary["final_returns"]) == 2
    assert main(["evaluate", str(out), "--episodes", "2"]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert len(evaluation["greedy"]["per_run"]) == 2
