"""The studies' tables: Packer et al. 2018's ranges, and the learning-rate perturbations."""

import importlib.util

import jax
import numpy as np
import pytest
from conftest import ROOT

from jaxrl import envs, registry


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shift():
    return _script("dynamics_shift")


@pytest.fixture(scope="module")
def instability():
    return _script("seed_instability")


@pytest.mark.parametrize("env_name", ["CartPole-v1", "MountainCar-v0", "Pendulum-v1", "Acrobot-v1"])
def test_extreme_ranges_lie_outside_the_random_ones_on_both_sides(shift, env_name):
    """E draws cover both sides of R, never fall inside R, and R contains the default D."""
    _, default = envs.make(env_name)
    r = envs.parse_ranges(shift.RANGES[env_name]["R"])
    e = envs.parse_ranges(shift.RANGES[env_name]["E"])
    assert set(r) == set(e)
    keys = jax.random.split(jax.random.key(0), 2000)
    draws = jax.vmap(envs.sample_params, (0, None, None))(keys, default, e)
    for name, (low, high) in r.items():
        for field in envs.perturb.tied_fields(name):
            assert low <= float(getattr(default, field)) <= high, field
            x = np.asarray(getattr(draws, field))
            assert not np.any((x > low) & (x < high)), field
            assert np.any(x < low) and np.any(x > high), field
        fields = envs.perturb.tied_fields(name)
        for other in fields[1:]:  # one draw for tied fields (both Acrobot links)
            np.testing.assert_array_equal(getattr(draws, other), getattr(draws, fields[0]))


def test_every_cell_has_a_published_setting(instability):
    """Each algorithm x env that the algorithm's action space allows has its settings."""
    for env_name in instability.ENVS:
        env, params = envs.make(env_name)
        discrete = envs.is_discrete(env, params)
        for algo in instability.ALGOS:
            handles = registry.ALGORITHMS[algo].actions
            if handles == "both" or (handles == "discrete") == discrete:
                setting = instability.SETTINGS[(algo, env_name)]
                module = registry.algorithm(algo)
                module.CONFIG(**setting.config).validate()
                assert setting.source


def test_learning_rates_are_scaled_per_run(instability):
    from jaxrl.agents.offpolicy import sac

    hp, per_factor = instability.scaled_hparams(sac, "sac", {"actor_lr": 1e-3}, (1.0, 3.0, 1 / 3),
                                                (4, 2, 2))  # fmt: skip
    np.testing.assert_allclose(hp.actor_lr, [1e-3] * 4 + [3e-3] * 2 + [1e-3 / 3] * 2, rtol=1e-6)
    np.testing.assert_allclose(hp.critic_lr, [3e-4] * 4 + [9e-4] * 2 + [1e-4] * 2, rtol=1e-6)
    assert np.ndim(hp.gamma) == 0  # everything else shared
    np.testing.assert_allclose(per_factor["alpha_lr"], [3e-4, 9e-4, 1e-4], rtol=1e-6)


def test_blind_policies_hold_each_action(shift):
    """On MountainCar, pushing right throughout reaches the goal only where the engine beats
    gravity: never under the default dynamics, in most episodes of the extreme draws; the
    other held actions never do."""
    blind = shift.blind_policies("MountainCar-v0", episodes=64)
    policies = blind["policies"]
    assert blind["episodes"] == 64
    assert list(policies) == ["random", "action 0", "action 1", "action 2"]
    assert policies["action 2"]["D"]["success"] == 0.0
    assert policies["action 2"]["E"]["success"] > 0.5
    for test in "DRE":
        assert policies["action 0"][test]["success"] == 0.0
        assert policies["action 0"][test]["mean"] == -200.0


@pytest.mark.parametrize(
    ("study", "argv", "cell"),
    [
        ("seed_instability", ["--algos", "ppo,dqn", "--envs", "CartPole-v1"],
         ("dqn", "CartPole-v1")),
        ("dynamics_shift", ["--algos", "a2c", "--envs", "Pendulum-v1"], ("a2c", "Pendulum-v1")),
    ],
)  # fmt: skip
def test_a_stored_cell_is_refused_before_training(study, argv, cell, tmp_path, monkeypatch, capsys):
    """Re-running a cell that the results file holds fails in one line that names it and
    leaves the file as it was; so does an unknown name, with a suggestion."""
    import json

    module = _script(study)
    out = tmp_path / "study.json"
    out.write_text(json.dumps({"cells": [{"algo": cell[0], "env": cell[1], "iqm": 1.0}]}))
    before = out.read_bytes()
    for args, expected in (
        (argv, f"already holds {cell[0]} on {cell[1]}; pass --overwrite"),
        (["--algos", "ppp", "--envs", cell[1]], "did you mean 'ppo'"),
        (["--algos", cell[0], "--envs", "CartPole-v2"], "did you mean 'CartPole-v1'"),
    ):
        monkeypatch.setattr("sys.argv", [study, *args, "--out", str(out)])
        with pytest.raises(SystemExit) as exit_info:
            module.main()
        assert exit_info.value.code == 2
        assert expected in capsys.readouterr().err
        assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("study", "args", "existing"),
    [
        ("deep_exploration", ["--out", "{d}/result.json"], "result.json"),
        ("deep_exploration", ["--plot", "{d}/slopes.png"], "slopes.png"),
        ("hierarchy", ["--out", "{d}"], "hierarchy_terminations.png"),
        ("iris_study", ["--plot", "{d}/dream", "--envs", "Catch-bsuite"], "dream_Catch-bsuite.png"),
        ("rl2_bandits", ["--plots", "{d}"], "rl2_bandits_regret.png"),
        ("world_models", ["--png-dir", "{d}", "--methods", "dreamer,ppo"],
         "world_models_dreamer_CartPole-v1.png"),
    ],
)  # fmt: skip
def test_a_study_refuses_to_overwrite_its_outputs(study, args, existing, tmp_path, monkeypatch,
                                                   capsys):  # fmt: skip
    """A file a study would write that exists already fails the command in one line before
    any work, and stays as it was."""
    module = _script(study)
    (tmp_path / existing).write_bytes(b"kept")
    monkeypatch.setattr("sys.argv", [study, *(a.format(d=tmp_path) for a in args)])
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    assert exit_info.value.code == 2
    assert f"{tmp_path / existing} already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / existing).read_bytes() == b"kept"
