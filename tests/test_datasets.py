"""Offline datasets: Minari's layout on disk, round trips, D4RL's normalised score, one-line
errors for bad files, and the ``jaxrl dataset`` commands."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl.cli import main as cli_main
from jaxrl.datasets import DatasetError, normalized_score, read, storage, write
from jaxrl.datasets.collect import rollout
from jaxrl.datasets.training import env_spaces, load, transitions

FIELDS = ("observations", "actions", "rewards", "terminations", "truncations",
          "next_observations")  # fmt: skip


def toy(n_episodes=3, length=5, obs_dim=3, act_dim=2, discrete=False, seed=0):
    """Episodes of random arrays (each next observation the episode's following one): the
    first ends in a termination, the others truncated."""
    rng = np.random.default_rng(seed)
    n = n_episodes * length
    states = rng.normal(size=(n_episodes, length + 1, obs_dim)).astype(np.float32)
    obs = states[:, :-1].reshape(n, obs_dim)
    nxt = states[:, 1:].reshape(n, obs_dim)
    ends = np.arange(length - 1, n, length)
    term = np.zeros(n, bool)
    trunc = np.zeros(n, bool)
    term[ends[0]] = True
    trunc[ends[1:]] = True
    if discrete:
        actions = rng.integers(0, act_dim, size=n).astype(np.int64)
    else:
        actions = rng.uniform(-2, 2, size=(n, act_dim)).astype(np.float32)
    return storage.Dataset(obs, actions, rng.normal(size=n).astype(np.float32), term, trunc, nxt,
                           metadata={"ref_min_score": -10.0, "ref_max_score": 5.0})  # fmt: skip


def spaces(obs_dim=3, act_dim=2, discrete=False):
    obs = storage.box_space(-np.inf, np.inf, (obs_dim,))
    act = storage.discrete_space(act_dim) if discrete else storage.box_space(-2, 2, (act_dim,))
    return obs, act


@pytest.mark.parametrize("discrete", [False, True])
def test_round_trip_identical_arrays(tmp_path, discrete):
    d = toy(discrete=discrete)
    obs_space, act_space = spaces(discrete=discrete)
    write(tmp_path / "d", d, observation_space=obs_space, action_space=act_space)
    back = read(tmp_path / "d")
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(back, f), getattr(d, f), err_msg=f)
        assert getattr(back, f).dtype == getattr(d, f).dtype, f
    assert back.metadata["total_episodes"] == 3 and back.metadata["total_steps"] == 15
    assert back.metadata["action_space"] == act_space
    assert back.ref_scores == (-10.0, 5.0)
    np.testing.assert_allclose(back.episode_returns(), d.rewards.reshape(3, 5).sum(1), rtol=1e-6)
    # the layout Minari reads: one group per episode with T + 1 observations
    import h5py

    with h5py.File(tmp_path / "d" / "data" / "main_data.hdf5") as f:
        assert sorted(f.keys()) == ["episode_0", "episode_1", "episode_2"]
        assert f["episode_1/observations"].shape == (6, 3)
        np.testing.assert_array_equal(f["episode_1/observations"][-1], d.next_observations[9])
    meta = json.loads((tmp_path / "d" / "data" / "metadata.json").read_text())
    assert meta["data_format"] == "hdf5" and json.loads(meta["action_space"]) == act_space


def test_buffer_state_of_a_dataset_samples_its_rows():
    d = toy(n_episodes=4, length=8)
    items = {"obs": jnp.asarray(d.observations), "reward": jnp.asarray(d.rewards)}
    buf = buffers.make_uniform(len(d), 1, 16)
    state = buffers.full_state(items)
    sample = jax.jit(lambda s, k: buf.sample(s, k, 1.0))(state, jax.random.key(0))
    rows = {tuple(np.round(r, 6)) for r in d.observations}
    drawn = np.asarray(sample.items["obs"]).reshape(-1, 3)
    assert drawn.shape == (16, 3) and all(tuple(np.round(o, 6)) in rows for o in drawn)
    # after N adds to an empty buffer the state is the same
    filled = buf.init({k: v[0] for k, v in items.items()})
    filled = jax.lax.fori_loop(0, len(d), lambda i, s: buf.add(
        s, jax.tree.map(lambda x: x[i][None], items)), filled)  # fmt: skip
    for k in items:
        np.testing.assert_array_equal(filled.data[k], state.data[k])
    assert int(filled.count) == int(state.count) == len(d) and int(filled.pos) == 0


def test_normalized_score_is_d4rls_formula():
    np.testing.assert_allclose(normalized_score([-10.0, 5.0, -2.5, 20.0], -10.0, 5.0),
                               [0.0, 100.0, 50.0, 200.0])  # fmt: skip
    assert normalized_score(-1243.67 + 0.25 * (1090.39), -1243.67, -153.28) == pytest.approx(25.0)
    with pytest.raises(ValueError, match="equal"):
        normalized_score(1.0, 3.0, 3.0)


def test_learner_units_map_the_box_onto_unit_interval():
    env, params = jenvs.make("Pendulum-v1")
    spec = jenvs.action_spec(env, params)
    d = toy(obs_dim=3, act_dim=1)
    items = transitions(d, spec)
    np.testing.assert_allclose(items["action"], np.clip(d.actions / 2.0, -1, 1), atol=1e-6)
    np.testing.assert_array_equal(items["done"], d.terminations | d.truncations)


# ---- bad input: one line, naming what is wrong ---------------------------------------------


@pytest.fixture(scope="module")
def pendulum_dataset(tmp_path_factory):
    env, params = jenvs.make("Pendulum-v1")
    path = tmp_path_factory.mktemp("data") / "pend"
    d = toy(n_episodes=4, length=10, obs_dim=3, act_dim=1)
    write(path, d, observation_space=env_spaces(env, params)[0],
          action_space=env_spaces(env, params)[1])  # fmt: skip
    return path


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetError) as e:
        read(tmp_path / "nowhere")
    assert "no such file" in one_line(e)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as e:
        read(tmp_path / "empty")
    assert "metadata.json" in one_line(e)


def test_truncated_file(tmp_path, pendulum_dataset):
    import shutil

    path = tmp_path / "cut"
    shutil.copytree(pendulum_dataset, path)
    main = path / "data" / "main_data.hdf5"
    main.write_bytes(main.read_bytes()[: main.stat().st_size // 2])
    with pytest.raises(DatasetError) as e:
        read(path)
    assert "truncated" in one_line(e) and str(path) in one_line(e)
    (path / "data" / "main_data.hdf5").unlink()
    with pytest.raises(DatasetError) as e:
        read(path)
    assert "missing" in one_line(e)


def test_metadata_that_does_not_add_up(tmp_path, pendulum_dataset):
    import shutil

    path = tmp_path / "meta"
    shutil.copytree(pendulum_dataset, path)
    meta_path = path / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["total_episodes"] = 7
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError) as e:
        read(path)
    assert "4 episodes" in one_line(e) and "7" in one_line(e)


def test_spaces_that_do_not_match_the_env(pendulum_dataset):
    env, params = jenvs.make("CartPoleSwingUp-v0")
    with pytest.raises(DatasetError) as e:
        load(pendulum_dataset, env, params, algo="bc")
    assert "do not match" in one_line(e) and "observations (3,)" in one_line(e)


def test_continuous_algorithm_on_discrete_data(tmp_path):
    env, params = jenvs.make("CartPole-v1")
    d = toy(obs_dim=4, act_dim=2, discrete=True)
    write(tmp_path / "cp", d, observation_space=env_spaces(env, params)[0],
          action_space=env_spaces(env, params)[1])  # fmt: skip
    assert load(tmp_path / "cp", env, params, algo="bc").discrete
    with pytest.raises(DatasetError) as e:
        load(tmp_path / "cp", env, params, algo="td3_bc", continuous=True)
    assert "continuous actions" in one_line(e) and "discrete" in one_line(e)


def test_train_refuses_bad_datasets_and_writes_nothing(tmp_path, pendulum_dataset, capsys):
    out = tmp_path / "run"
    args = ["train", "bc", "--env", "CartPoleSwingUp-v0", "--dataset",
            str(pendulum_dataset), "--out", str(out)]  # fmt: skip
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "do not match" in err
    assert not out.exists()
    args[5] = str(tmp_path / "absent")
    assert cli_main(args) == 2
    assert "no such file" in capsys.readouterr().err and not out.exists()


def test_write_refuses_an_existing_path(tmp_path):
    obs_space, act_space = spaces()
    write(tmp_path / "d", toy(), observation_space=obs_space, action_space=act_space)
    with pytest.raises(DatasetError, match="already exists"):
        write(tmp_path / "d", toy(), observation_space=obs_space, action_space=act_space)


# ---- collection and the command line -------------------------------------------------------


def test_rollout_keeps_whole_episodes():
    env, params = jenvs.make("Pendulum-v1")
    spec = jenvs.action_spec(env, params)

    def act(p, obs, key):
        return spec.to_env(spec.random(key, obs.shape[0]))

    d = rollout(env, params, act, None, jax.random.key(0), num_envs=4, size=500)
    assert len(d) == 600  # 200-step episodes: the first end at or past 500
    assert d.truncations.sum() == 3 and not d.terminations.any()
    assert np.all(np.abs(d.actions) <= 2.0)
    # consecutive steps chain: next observation of t is the observation of t + 1 in an episode
    np.testing.assert_allclose(d.next_observations[:199], d.observations[1:200], atol=1e-6)
    r = jnp.asarray(d.rewards)
    assert float(r.max()) <= 0.0


def test_dataset_info_command(pendulum_dataset, capsys):
    assert cli_main(["dataset", "info", str(pendulum_dataset), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["transitions"] == 40 and summary["episodes"] == 4
    assert summary["normalized_return_mean"] == pytest.approx(
        100 * (summary["return_mean"] + 10) / 15)  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (["make", "Pendulum-v1", "--kind", "mediun", "--out", "X"], "medium"),
        (["make", "Pendulm-v1", "--kind", "expert", "--out", "X"], "Pendulum-v1"),
        (["make", "Pendulum-v1", "--kind", "expert", "--out", "X", "--size", "0"], "size"),
        (["info", "/nonexistent/dataset"], "no such file"),
    ],
)
def test_dataset_command_errors(args, message, capsys, tmp_path):
    args = [str(tmp_path / a) if a == "X" else a for a in args]
    assert cli_main(["dataset", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not (tmp_path / "X").exists()


def test_dataclass_fields_are_the_minari_fields():
    names = [f.name for f in dataclasses.fields(storage.Dataset)]
    assert names[:5] == ["observations", "actions", "rewards", "terminations", "truncations"]


def test_minari_reads_what_jaxrl_writes(tmp_path):
    minari = pytest.importorskip("minari")
    d = toy(n_episodes=3, length=5, obs_dim=3, act_dim=1)
    obs_space, act_space = spaces(act_dim=1)
    write(tmp_path / "d", d, observation_space=obs_space, action_space=act_space)
    m = minari.MinariDataset(str(tmp_path / "d" / "data"))
    assert m.total_episodes == 3 and m.total_steps == 15
    episodes = list(m.iterate_episodes())
    np.testing.assert_array_equal(np.concatenate([e.actions for e in episodes]), d.actions)
    np.testing.assert_array_equal(np.concatenate([e.rewards for e in episodes]), d.rewards)
    np.testing.assert_array_equal(episodes[1].observations[:-1], d.observations[5:10])
    np.testing.assert_array_equal(np.concatenate([e.terminations for e in episodes]),
                                  d.terminations)  # fmt: skip
