import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


def jaxrl(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "jaxrl.cli", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args,match",
    [
        (["train", "ppx"], "did you mean 'ppo'"),
        (["trian"], "did you mean 'train'"),
        (["train", "ppo", "--env", "CartPol-v1"], "did you mean 'CartPole-v1'"),
        (["train", "ppo", "--seeds", "0"], "seeds"),
        (["train", "ppo", "--total-steps", "-5"], "total_steps"),
        (["train", "ppo", "--num-minibatches", "3"], "num_minibatches"),
        (["train", "ppo", "--gamma", "2"], "gamma"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args, match, subprocess_env):
    out = jaxrl(*args, env=subprocess_env)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and match in lines[0], out.stderr


def test_train_writes_a_run_directory_and_refuses_to_overwrite(tmp_path, subprocess_env):
    run = tmp_path / "run"
    args = ["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps", "2048",
            "--out", str(run), "--tensorboard"]  # fmt: skip
    out = jaxrl(*args, env=subprocess_env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "IQM" in out.stdout
    for name in ("config.json", "metrics.csv", "summary.json", "learning_curves.png",
                 "final_returns.png", "policy.npz", "tensorboard"):  # fmt: skip
        assert (run / name).exists(), name
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["final_returns"]) == 2 and len(summary["params_sha256"]) == 64
    # One CPU device per run up to the cores there are: the CPU settings took effect.
    cores = len(os.sched_getaffinity(0))
    assert len(json.loads((run / "config.json").read_text())["devices"]) == min(2, cores)
    before = (run / "summary.json").read_text()
    again = jaxrl(*args, env=subprocess_env)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert (run / "summary.json").read_text() == before

    ev = jaxrl("evaluate", str(run), "--episodes", "4", "--perturb", "length=0.25:0.75",
               env=subprocess_env)  # fmt: skip
    assert ev.returncode == 0, ev.stderr[-2000:]
    written = list(run.glob("evaluation_*.json"))
    assert len(written) == 1
    result = json.loads(written[0].read_text())
    assert len(result["greedy"]["per_run"]) == 2 and result["perturb"] == {"length": [0.25, 0.75]}
    missing = jaxrl("evaluate", str(tmp_path / "nope"), env=subprocess_env)
    assert missing.returncode == 2 and "no such run directory" in missing.stderr


def test_sweep_runs_the_grid_in_one_call(tmp_path, subprocess_env):
    run = tmp_path / "sweep"
    out = jaxrl("sweep", "ppo", "--grid", "lr=1e-3,3e-3", "--seeds", "2", "--total-steps",
                "1024", "--out", str(run), env=subprocess_env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert [p["hparams"] for p in summary["points"]] == [{"lr": 1e-3}, {"lr": 3e-3}]
    assert len(summary["final_returns"]) == 4
    assert (run / "sweep_curves.png").exists()


@pytest.mark.parametrize(
    "grid,match",
    [("num_envs=4,8", "static config field"), ("lrr=1", "did you mean 'lr'"), ("lr=a", "numbers")],
)
def test_sweep_bad_grid(grid, match, subprocess_env):
    out = jaxrl("sweep", "ppo", "--grid", grid, env=subprocess_env)
    assert out.returncode == 2 and "Traceback" not in out.stderr and match in out.stderr


def test_compare_prints_iqm_and_probability_of_improvement(tmp_path, subprocess_env):
    for name, returns in [("a", [10.0, 20.0, 30.0, 40.0]), ("b", [35.0, 45.0, 55.0, 65.0])]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"final_returns": returns}))
    out = jaxrl("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out",
                str(tmp_path / "c.png"), env=subprocess_env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    # P(a > b): only 40 beats 35 among 16 pairs.
    assert "0.06" in out.stdout and (tmp_path / "c.png").exists()
    missing = jaxrl("compare", str(tmp_path / "nope"), env=subprocess_env)
    assert missing.returncode == 2 and "not found" in missing.stderr


@pytest.mark.parametrize(
    "argv,sweep,runs",
    [
        (["--env", "CartPole-v1", "--seeds", "16"], False, 16),
        (["--seeds=3"], False, 3),
        ([], False, 4),
        (["--seeds", "zero"], False, 4),
        (["--grid", "lr=1e-4,3e-4,1e-3", "--grid", "gamma=0.9,0.99", "--seeds", "2"], True, 12),
        (["--grid", "lr=1,2", "gamma=3,4,5"], True, 24),
    ],
)
def test_runs_are_counted_before_jax_starts(argv, sweep, runs):
    from jaxrl.cli import _num_runs_from_argv

    assert _num_runs_from_argv(argv, sweep) == runs


def test_train_rl2_on_bandit_trials_and_evaluate(tmp_path, subprocess_env):
    """RL² from the command line: the random policy is measured on the trials the learner
    plays (10 pulls of two arms: ~5 successes), and the saved recurrent policy re-runs."""
    run = tmp_path / "rl2"
    out = jaxrl("train", "rl2", "--env", "BernoulliBandit-k2-n10", "--seeds", "1",
                "--total-steps", "1280", "--num-envs", "8", "--num-steps", "20",
                "--num-minibatches", "2", "--core-size", "8", "--head", "8", "--chunks", "2",
                "--out", str(run), env=subprocess_env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert 4.0 < summary["random_return"] < 6.0
    ev = jaxrl("evaluate", str(run), "--episodes", "8", env=subprocess_env)
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert 0.0 <= json.loads((run / "evaluation.json").read_text())["greedy"]["mean"] <= 10.0
