"""compare refuses what it cannot compare honestly, and pins its statistics to references."""

import json

import numpy as np
import pytest

from jaxrl.run import stats
from jaxrl.run.compare import compare


def _run(path, returns, env="CartPole-v1", steps=100_000, random=22.0, points=None, **config):
    path.mkdir(parents=True)
    summary = {"final_returns": returns, "env": env, "env_steps_per_run": steps,
               "random_return": random}  # fmt: skip
    if points:
        per = len(returns) // len(points)
        summary["points"] = [{"hparams": p, "runs": per} for p in points]
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "config.json").write_text(json.dumps({"env": env, "env_params": {}, **config}))
    return str(path)


def test_sweep_grid_points_are_separate_populations(tmp_path):
    sweep = _run(tmp_path / "sweep", [10.0, 20.0, 30.0, 400.0, 450.0, 500.0],
                 points=[{"lr": 1e-3}, {"lr": 3e-3}])  # fmt: skip
    result = compare([sweep])
    names = [r["run"] for r in result["runs"]]
    assert names == [f"{sweep}[lr=0.001]", f"{sweep}[lr=0.003]"]
    assert [r["n"] for r in result["runs"]] == [3, 3]
    assert result["probability_of_improvement"][1][0] == 1.0


def test_one_directory_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least two populations"):
        compare([_run(tmp_path / "a", [1.0, 2.0])])


def test_different_envs_are_refused_unless_normalised(tmp_path):
    cp = _run(tmp_path / "cp", [500.0, 480.0, 490.0], random=22.0)
    pd = _run(tmp_path / "pd", [-150.0, -200.0, -170.0], env="Pendulum-v1", random=-1200.0)
    with pytest.raises(ValueError, match="different envs.*--normalize"):
        compare([cp, pd])
    with pytest.raises(ValueError, match="no reference score for Pendulum-v1"):
        compare([cp, pd], normalize=True)
    # Normalised, two methods over the same two tasks.
    cp2 = _run(tmp_path / "cp2", [250.0, 260.0, 240.0], random=22.0)
    pd2 = _run(tmp_path / "pd2", [-600.0, -700.0, -650.0], env="Pendulum-v1", random=-1200.0)
    result = compare([f"a={cp}", f"a={pd}", f"b={cp2}", f"b={pd2}"], normalize=True,
                     references={"Pendulum-v1": -150.0})  # fmt: skip
    assert result["tasks"] == ["CartPole-v1", "Pendulum-v1"]
    assert [r["run"] for r in result["runs"]] == ["a", "b"]
    assert result["probability_of_improvement"][0][1] == 1.0  # a beats b on both tasks
    expected = np.concatenate([(np.array([500.0, 480.0, 490.0]) - 22.0) / (500.0 - 22.0),
                               (np.array([-150.0, -200.0, -170.0]) + 1200.0) / 1050.0])  # fmt: skip
    assert result["runs"][0]["iqm"] == pytest.approx(stats.iqm(expected))
    with pytest.raises(ValueError, match="same tasks"):
        compare([f"a={cp}", f"a={pd}", f"b={cp2}"], normalize=True,
                references={"Pendulum-v1": -150.0})  # fmt: skip


def test_different_budgets_warn(tmp_path):
    a = _run(tmp_path / "a", [10.0, 20.0], steps=100_000)
    b = _run(tmp_path / "b", [30.0, 40.0], steps=50_000)
    result = compare([a, b])
    assert len(result["warnings"]) == 1 and "different budgets" in result["warnings"][0]
    assert "100,000" in result["warnings"][0] and "50,000" in result["warnings"][0]
    assert not compare([a, _run(tmp_path / "c", [1.0, 2.0])])["warnings"]


def test_probability_of_improvement_ci_is_the_bootstrap_by_hand(tmp_path):
    a, b = [10.0, 20.0, 30.0, 40.0], [35.0, 45.0, 55.0, 65.0]
    result = compare([_run(tmp_path / "a", a), _run(tmp_path / "b", b)])
    assert result["probability_of_improvement"][0][1] == pytest.approx(1 / 16)
    # the same resamples, one at a time
    rng = np.random.default_rng(0)
    x, y = np.array(a), np.array(b)
    ix = rng.integers(0, 4, size=(2000, 4))
    iy = rng.integers(0, 4, size=(2000, 4))
    values = [stats.probability_of_improvement(x[i], y[j]) for i, j in zip(ix, iy, strict=True)]
    lo, hi = np.quantile(values, [0.025, 0.975])
    assert result["probability_of_improvement_ci95"][0][1] == pytest.approx([lo, hi])
    # one task: the stratified bootstrap of the IQM is the plain one
    assert stats.bootstrap_ci_tasks([x]) == stats.bootstrap_ci(x)
