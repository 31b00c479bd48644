"""Chunked runs, checkpoints and resume give the same bits as one uninterrupted run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT

from jaxrl import envs
from jaxrl.agents.onpolicy import ppo
from jaxrl.learner import Learner, Policy
from jaxrl.run import run_seeds
from jaxrl.run.chunked import CheckpointError, CheckpointWarning, chunk_size, run_chunked
from jaxrl.run.results import params_sha256
from jaxrl.run.resume import check_resumable, write_meta


@pytest.fixture(scope="module")
def train():
    env, p = envs.make("CartPole-v1")
    return ppo.make_train(ppo.PPOConfig(total_steps=20480, num_envs=8, num_steps=32), env, p)


def test_chunked_equals_one_shot(train):
    hp = ppo.PPOHParams(lr=3e-3)
    a = run_seeds(train, 3, hp)
    b = run_chunked(train, 3, hp, chunk_updates=7, progress=False)  # 80 = 7 * 11 + 3
    assert params_sha256(a.output.state) == params_sha256(b.output.state)
    np.testing.assert_array_equal(a.output.metrics["loss"], b.output.metrics["loss"])


def test_resume_checks_the_fingerprint(train, tmp_path):
    hp = ppo.PPOHParams()
    run_chunked(train, 2, hp, chunk_updates=20, progress=False, checkpoint_dir=tmp_path / "c",
                run_fingerprint="a")  # fmt: skip
    with pytest.raises(CheckpointError, match="fingerprint.json"):
        run_chunked(train, 2, hp, chunk_updates=20, progress=False,
                    checkpoint_dir=tmp_path / "c", resume=True, run_fingerprint="b")  # fmt: skip
    with pytest.raises(CheckpointError, match="no checkpoint"):
        run_chunked(train, 2, hp, chunk_updates=20, progress=False,
                    checkpoint_dir=tmp_path / "none", resume=True)  # fmt: skip


def test_checkpoint_of_a_state_with_empty_leaves_resumes(tmp_path):
    """MJX states hold zero-size arrays (no contacts); orbax cannot write those."""

    def init(key, hp, env_params, data):
        return {"x": jnp.zeros(3), "none": jnp.zeros((0, 2)), "key": key}

    def update(s, hp, env_params, data):
        key, k = jax.random.split(s["key"])
        x = s["x"] + hp * jax.random.normal(k, (3,))
        return {**s, "x": x, "key": key}, {"episode_return": x.sum()}

    train = Learner(config=None, hparams=jnp.float32(1.0), init=init, update=update,
                    policy=Policy(lambda *a: None), save=lambda s: s["x"], num_updates=6,
                    steps_per_update=1, env=None, env_params=None)  # fmt: skip
    want = run_chunked(train, 2, jnp.float32(1.0), chunk_updates=2, progress=False)
    ckpt = tmp_path / "c"
    run_chunked(train, 2, jnp.float32(1.0), chunk_updates=2, progress=False,
                checkpoint_dir=ckpt)  # fmt: skip
    shutil.rmtree(ckpt / "3")  # resume from the checkpoint after chunk 2 of 3
    got = run_chunked(train, 2, jnp.float32(1.0), chunk_updates=2, progress=False,
                      checkpoint_dir=ckpt, resume=True)  # fmt: skip
    np.testing.assert_array_equal(got.output.state["x"], want.output.state["x"])
    assert got.output.state["none"].shape == (2, 0, 2)


def test_chunk_size_divides_the_updates():
    assert chunk_size(976, 20) == 61 and chunk_size(80, 1) == 80 and chunk_size(7, 20) == 1


def _cli(args, env):
    return [sys.executable, "-m", "jaxrl.cli", *args], dict(env, PYTHONUNBUFFERED="1")


def test_kill_and_resume_is_bit_identical(tmp_path, subprocess_env):
    args = ["train", "ppo", "--seeds", "2", "--total-steps", "300000", "--chunks", "40",
            "--checkpoint-every", "1", "--no-progress"]  # fmt: skip
    cmd, env = _cli(args + ["--out", str(tmp_path / "full")], subprocess_env)
    full = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-2000:]

    run = tmp_path / "killed"
    cmd, env = _cli(args + ["--out", str(run)], subprocess_env)
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    ckpt = run / "checkpoints"
    while time.time() < deadline:
        # A finished checkpoint: its directory renamed from orbax's temporary name to the
        # step number, with the commit marker inside.
        steps = [p for p in ckpt.glob("[0-9]*") if p.name.isdigit()] if ckpt.exists() else []
        if any((p / "commit_success.txt").exists() for p in steps):
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "summary.json").exists(), "the run finished before it was killed"

    cmd, env = _cli(args + ["--out", str(run), "--resume"], subprocess_env)
    resumed = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = json.loads((tmp_path / "full" / "summary.json").read_text())
    b = json.loads((run / "summary.json").read_text())
    assert a["params_sha256"] == b["params_sha256"]
    assert a["final_returns"] == b["final_returns"]


def test_resume_without_checkpoint_is_a_one_line_error(tmp_path, subprocess_env):
    cmd, env = _cli(["train", "ppo", "--out", str(tmp_path / "x"), "--resume"], subprocess_env)
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "no checkpoint" in out.stderr and "Traceback" not in out.stderr


def _steps(ckpt):
    return sorted((p for p in ckpt.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def _damage(step_dir):
    for f in step_dir.rglob("*"):
        if f.is_file() and f.name != "commit_success.txt":
            f.write_bytes(b"\0garbage")


def test_corrupt_latest_checkpoint_falls_back_to_the_last_intact_one(train, tmp_path):
    hp = ppo.PPOHParams()
    want = run_chunked(train, 2, hp, chunk_updates=20, progress=False)
    ckpt = tmp_path / "c"
    run_chunked(train, 2, hp, chunk_updates=20, progress=False, checkpoint_dir=ckpt,
                run_fingerprint="a")  # fmt: skip
    previous, latest = _steps(ckpt)  # chunks 3 and 4 of 4 (orbax keeps two)
    _damage(latest)
    lines = []
    with pytest.warns(CheckpointWarning, match=str(latest)):
        got = run_chunked(train, 2, hp, chunk_updates=20, progress=False, checkpoint_dir=ckpt,
                          resume=True, run_fingerprint="a", log=lines.append)  # fmt: skip
    assert lines == [f"resuming from {previous}: chunk 3 of 4 done (60 of 80 updates, "
                     "15,360 env steps per run)"]  # fmt: skip
    assert params_sha256(got.output.state) == params_sha256(want.output.state)
    np.testing.assert_array_equal(got.output.metrics["loss"], want.output.metrics["loss"])
    # steps/s counts what ran in this call: one chunk
    assert got.updates_run == 20 and got.resumed_from == 60
    assert (ckpt / f"{latest.name}.damaged").is_dir() and latest.is_dir()  # written again

    for step in _steps(ckpt):
        _damage(step)
    with pytest.raises(CheckpointError, match="no intact checkpoint") as e:
        run_chunked(train, 2, hp, chunk_updates=20, progress=False, checkpoint_dir=ckpt,
                    resume=True, run_fingerprint="a")  # fmt: skip
    assert str(previous) in str(e.value) and str(latest) in str(e.value)


def test_resume_names_every_differing_field_before_compiling(tmp_path):
    fields = {"algo": "ppo", "env": "CartPole-v1", "env_params": {}, "seed": 0, "seeds": 2,
              "points": [{}], "config": {"num_envs": 8, "hidden": (64, 64)},
              "hparams": {"lr": 1e-3, "gamma": 0.99}}  # fmt: skip
    write_meta(tmp_path, fields, 10)
    check_resumable(tmp_path, dict(fields), 10)  # the same run
    other = {**fields, "seeds": 4, "config": {"num_envs": 16, "hidden": (64, 64)},
             "hparams": {"lr": 3e-3, "gamma": 0.99}}  # fmt: skip
    with pytest.raises(CheckpointError) as e:
        check_resumable(tmp_path, other, 10)
    message = str(e.value)
    for part in ("lr: 0.001 in the checkpoint, 0.003 now", "num_envs: 8 in the checkpoint, 16 now",
                 "seeds: 2 in the checkpoint, 4 now"):  # fmt: skip
        assert part in message, message
    assert "gamma" not in message and "hidden" not in message
    with pytest.raises(CheckpointError, match="chunks: 10 in the checkpoint, 20 now"):
        check_resumable(tmp_path, fields, 20)
