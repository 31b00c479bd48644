"""jaxrl.load: a run directory's policy acts as in training, for every family; nothing in
the directory is unpickled; videos have one frame per state of the episode."""

import dataclasses
import json
import pickle
import shutil
import subprocess
import sys
from types import SimpleNamespace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

import jaxrl
from jaxrl import envs, registry, render
from jaxrl import learner as contract
from jaxrl.agents.evolution import cmaes
from jaxrl.agents.memory import ppo_rnn
from jaxrl.agents.offpolicy import dqn, sac
from jaxrl.agents.search import alphazero
from jaxrl.learner import Learner, Policy
from jaxrl.run import results, saved_policies
from jaxrl.run.results import RunDirError


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "jaxrl.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env, cwd=ROOT)  # fmt: skip


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory, subprocess_env):
    """A PPO run with observation normalisation, trained by the command line."""
    out = tmp_path_factory.mktemp("load") / "ppo"
    res = _cli("train", "ppo", "--seeds", "2", "--total-steps", "4096", "--num-envs", "8",
               "--num-steps", "32", "--normalize-obs", "--lr", "3e-3", "--out", str(out),
               "--no-progress", env=subprocess_env)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return out


def _observations(learner, n=5, seed=1):
    venv = envs.stack(learner.env, learner.env_params, n)
    obs, state = venv.reset(jax.random.key(seed), learner.env_params)
    return obs, state


def _same_actions(policy, params, learner, obs, state, shape):
    """The loaded policy's actions against the learner's own act on the same inputs."""
    raw = np.asarray(obs).reshape((obs.shape[0],) + shape)  # the env's shape, as NumPy
    carry = learner.policy.init_carry(obs.shape[0])
    act = jax.jit(learner.policy.act, static_argnums=5)  # compiled, as training runs it
    for greedy in (True, False):
        key = jax.random.key(7)
        want, _ = act(params, obs, key, carry, state, greedy)
        kwargs = {"env_state": state} if learner.policy.uses_env_state else {}
        got = policy.act(raw, key, greedy=greedy, **kwargs)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        one = policy.act(raw[0], key, greedy=greedy, **kwargs) if not kwargs else None
        if one is not None:
            first, _ = act(params, obs[:1], key, learner.policy.init_carry(1), None, greedy)
            np.testing.assert_array_equal(np.asarray(one), np.asarray(first[0]))


def test_loaded_ppo_acts_as_the_training_policy(ppo_run):
    policy = jaxrl.load(ppo_run, run=1)
    learner = registry.learner_from_run(ppo_run)
    from jaxrl.run.evaluate import policy_template

    stacked = results.load_policy(ppo_run / "policy.npz", policy_template(learner))
    params = jax.tree.map(lambda x: jnp.asarray(x[1]), stacked)
    assert "obs_stats" in params and float(params["obs_stats"].count) > 1000  # statistics kept
    obs, state = _observations(learner)
    _same_actions(policy, params, learner, obs, state, (4,))
    assert policy.config.normalize_obs and policy.hparams["lr"] == 3e-3 and not policy.recurrent
    # jittable, and the same inside a caller's jit
    key = jax.random.key(3)
    fn = jax.jit(lambda o, k: policy.act(o, k, greedy=False))
    np.testing.assert_array_equal(fn(obs, key), policy.act(np.asarray(obs), key, greedy=False))
    with pytest.raises(ValueError, match="needs a key"):
        policy.act(obs, greedy=False)
    finals = json.loads((ppo_run / "summary.json").read_text())["final_returns"]
    assert jaxrl.load(ppo_run, run="best").run == int(np.argmax(finals))
    with pytest.raises(ValueError, match="out of range"):
        jaxrl.load(ppo_run, run=2)


def _write_run(path, algo, env_name, config, learner, runs=2):
    keys = jax.random.split(jax.random.key(0), runs)
    state = jax.vmap(lambda k: contract.init(learner, k))(keys)
    params = saved_policies(learner, state)
    path.mkdir(parents=True)
    results.write_json(path / "config.json", {"algo": algo, "env": env_name, "env_params": {},
                                              "config": dataclasses.asdict(config),
                                              "hparams": learner.hparams._asdict(),
                                              "seeds": runs, "grid": None})  # fmt: skip
    results.write_json(path / "summary.json", {"final_returns": [0.0] * runs})
    results.save_policy(path / "policy.npz", params)
    return jax.tree.map(lambda x: jnp.asarray(x[1]), params)


FAMILIES = [
    ("dqn", "CartPole-v1", dqn.DQNConfig(total_steps=2000, log_every=1000, buffer_size=1000,
                                         batch_size=32, hidden=(16,))),
    ("sac", "Pendulum-v1", sac.SACConfig(total_steps=2000, log_every=1000, buffer_size=1000,
                                         batch_size=32, hidden=(16,))),
    ("cmaes", "Catch-bsuite", cmaes.CMAESConfig(population_size=4, episode_steps=10,
                                                total_steps=400)),
    ("alphazero", "Catch-bsuite", alphazero.AlphaZeroConfig(num_envs=2, num_steps=4,
                                                            total_steps=64, window=32,
                                                            num_simulations=4, n_step=4)),
]  # fmt: skip


@pytest.mark.parametrize("algo,env_name,config", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_every_family_loads_and_acts_as_in_training(algo, env_name, config, tmp_path):
    env, env_params = envs.make(env_name)
    learner = registry.algorithm(algo).make_learner(config, env, env_params)
    params = _write_run(tmp_path / algo, algo, env_name, config, learner)
    policy = jaxrl.load(tmp_path / algo, run=1)
    obs, state = _observations(learner)
    shape = tuple(env.observation_space(env_params).shape)
    _same_actions(policy, params, learner, obs, state, shape)
    if policy.uses_env_state:  # a planner on the true simulator needs the env states
        with pytest.raises(ValueError, match="env_state"):
            policy.act(obs)


@dataclasses.dataclass(frozen=True)
class RecurrentConfig:
    """A policy that counts its steps (memory) and acts on the count's parity."""

    steps: int = 1
    """Unused."""


class RecurrentHParams(NamedTuple):
    scale: float = 1.0
    """Unused."""


def _recurrent_learner(config, env, env_params):
    def init(key, hp, env_params, data):
        return {"w": jnp.ones(3)}

    def update(state, hp, env_params, data):
        return state, {"episode_return": jnp.float32(0.0)}

    def act(params, obs, key, carry, env_state, greedy):
        carry = carry + 1
        return (carry % 2).astype(jnp.int32), carry

    return Learner(config=config, hparams=RecurrentHParams(), init=init, update=update,
                   policy=Policy(act, init_carry=lambda b: jnp.zeros(b, jnp.int32)),
                   save=lambda s: s, num_updates=1, steps_per_update=1, env=env,
                   env_params=env_params)  # fmt: skip


def test_recurrent_policy_keeps_its_carry(tmp_path):
    module = SimpleNamespace(CONFIG=RecurrentConfig, HPARAMS=RecurrentHParams,
                             make_learner=_recurrent_learner)  # fmt: skip
    registry.register("test_recurrent", module, "discrete")
    try:
        env, env_params = envs.make("CartPole-v1")
        learner = _recurrent_learner(RecurrentConfig(), env, env_params)
        _write_run(tmp_path / "r", "test_recurrent", "CartPole-v1", RecurrentConfig(), learner)
        policy = jaxrl.load(tmp_path / "r")
        assert policy.recurrent
        obs = np.zeros((3, 4), np.float32)
        with pytest.raises(ValueError, match="recurrent"):
            policy.act(obs)
        actions, carry = policy.act(obs, carry=policy.init_carry(3))
        actions, carry = policy.act(obs, carry=carry)
        np.testing.assert_array_equal(carry, [2, 2, 2])
        np.testing.assert_array_equal(actions, [0, 0, 0])
    finally:
        registry.ALGORITHMS.pop("test_recurrent")


def test_recurrent_ppo_loads_and_carries_its_memory_as_in_training(tmp_path):
    """ppo_rnn's GRU policy loaded from a run directory: three steps of actions and carries
    equal the learner's own act fed the same carries."""
    config = ppo_rnn.PPORNNConfig(num_envs=4, num_steps=8, total_steps=32, core_size=8,
                                  encoder=(8,), head=(8,))  # fmt: skip
    env, env_params = envs.make("CartPole-v1")
    learner = ppo_rnn.make_learner(config, env, env_params)
    params = _write_run(tmp_path / "rnn", "ppo_rnn", "CartPole-v1", config, learner)
    policy = jaxrl.load(tmp_path / "rnn", run=1)
    assert policy.recurrent
    obs, state = _observations(learner, n=3)
    want_carry, got_carry = learner.policy.init_carry(3), policy.init_carry(3)
    for step in range(3):
        key = jax.random.key(step)
        want, want_carry = learner.policy.act(params, obs, key, want_carry, state, False)
        got, got_carry = policy.act(np.asarray(obs), key, greedy=False, carry=got_carry)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        np.testing.assert_allclose(np.asarray(got_carry), np.asarray(want_carry), atol=1e-6)
        obs = obs + 0.1 * (step + 1)  # other inputs at each step
    assert float(jnp.abs(jnp.asarray(got_carry)).sum()) > 0  # the memory moved


class _Boom:
    """Unpickling this would create ``path``: the marker of code run by loading."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_loading_never_unpickles(ppo_run, tmp_path):
    marker = tmp_path / "code_ran"
    crafted = tmp_path / "crafted"
    shutil.copytree(ppo_run, crafted, ignore=shutil.ignore_patterns("checkpoints"))
    evil = np.empty(1, object)
    evil[0] = _Boom(marker)
    with (crafted / "policy.npz").open("wb") as f:
        np.savez(f, **{"net/actor/0/w": evil})  # numpy pickles object arrays by default
    with pytest.raises(RunDirError, match="pickled Python objects.*never unpickles"):
        jaxrl.load(crafted)
    with (crafted / "policy.npz").open("wb") as f:
        pickle.dump({"net": _Boom(marker)}, f)  # a plain pickle under the name
    with pytest.raises(RunDirError, match="pickled"):
        jaxrl.load(crafted)
    assert not marker.exists()
    config = json.loads((crafted / "config.json").read_text())
    (crafted / "config.json").write_text(json.dumps({**config, "algo": "os.system"}))
    with pytest.raises(ValueError, match="unknown algorithm 'os.system'"):
        jaxrl.load(crafted)


def test_video_has_one_frame_per_state(ppo_run, tmp_path, subprocess_env):
    policy = jaxrl.load(ppo_run, run=0)
    info = render.record_video(policy, tmp_path / "episode.gif", seed=2)
    assert info["frames"] == info["length"] + 1 and info["finished"]
    assert info["return"] == info["length"]  # CartPole: reward 1 per step
    with Image.open(tmp_path / "episode.gif") as gif:
        assert gif.n_frames == info["frames"] and gif.size == (render.WIDTH, render.HEIGHT)
    out = _cli("evaluate", str(ppo_run), "--video", "--run", "0", "--seed", "2",
               env=subprocess_env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"video ({info['frames']} frames) written to {ppo_run / 'videos' / 'run0.gif'}" in (
        out.stdout
    )
    with Image.open(ppo_run / "videos" / "run0.gif") as gif:
        assert gif.n_frames == info["frames"]
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return
    render.record_video(policy, tmp_path / "episode.mp4", seed=2)
    reader = imageio.get_reader(tmp_path / "episode.mp4")
    assert reader.count_frames() == info["frames"]
    reader.close()


def test_envs_without_a_renderer_say_which_have_one(tmp_path, subprocess_env):
    with pytest.raises(ValueError, match="no renderer for Catch-bsuite.*CartPole-v1"):
        render.require_renderer("Catch-bsuite")
    run = tmp_path / "catch"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "ppo", "env": "Catch-bsuite"}))
    out = _cli("evaluate", str(run), "--video", env=subprocess_env)
    assert out.returncode == 2 and "no renderer for Catch-bsuite" in out.stderr
