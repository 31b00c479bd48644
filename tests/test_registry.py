"""The registry: every algorithm it names builds through the contract, with ranges for each
hyperparameter and the action spaces it declares."""

import dataclasses

import pytest

from jaxrl import envs, registry
from jaxrl.learner import Learner

NAMES = sorted(registry.ALGORITHMS)


@pytest.fixture(scope="module")
def spaces():
    return {"discrete": envs.make("CartPole-v1"), "continuous": envs.make("Pendulum-v1")}


@pytest.fixture(scope="module")
def datasets(spaces, tmp_path_factory):
    """A small dataset of random arrays on each env, for learners that train on one."""
    import numpy as np

    from jaxrl.datasets import storage
    from jaxrl.datasets.training import env_spaces

    rng = np.random.default_rng(0)
    paths = {}
    for kind, (env, env_params) in spaces.items():
        obs_space, act_space = env_spaces(env, env_params)
        n, d = 300, obs_space["shape"][0]
        if kind == "discrete":
            actions = rng.integers(0, act_space["n"], n)
        else:
            actions = rng.uniform(-1, 1, (n, act_space["shape"][0])).astype(np.float32)
        dones = np.arange(n) % 100 == 99
        data = storage.Dataset(rng.normal(size=(n, d)).astype(np.float32), actions,
                               rng.normal(size=n).astype(np.float32), dones, np.zeros(n, bool),
                               rng.normal(size=(n, d)).astype(np.float32))  # fmt: skip
        paths[kind] = tmp_path_factory.mktemp("datasets") / kind
        storage.write(paths[kind], data, observation_space=obs_space, action_space=act_space)
    return paths


@pytest.fixture(scope="module")
def demo_files(spaces, tmp_path_factory):
    """A demonstration file per space (two episodes of the random policy), for learners that
    imitate one (a ``demos`` config field)."""
    import jax

    from jaxrl import demos
    from jaxrl.learner import Policy

    files = {}
    for kind, (env, p) in spaces.items():
        spec = envs.action_spec(env, p)
        policy = Policy(lambda prm, obs, key, c, s, g, spec=spec: (spec.to_env(
            spec.random(key, obs.shape[0])), c))  # fmt: skip
        out = demos.record(policy, None, env, p, jax.random.key(0), 2, int(p.max_steps_in_episode))
        flat, returns = demos.flatten(*out)
        files[kind] = tmp_path_factory.mktemp("demos") / f"{kind}.npz"
        demos.save(files[kind], flat, returns, kind)
    return files


@pytest.mark.parametrize("name", NAMES)
def test_every_algorithm_builds_a_learner_for_the_spaces_it_declares(
    name, spaces, demo_files, datasets
):
    module = registry.algorithm(name)
    entry = registry.ALGORITHMS[name]
    hp_fields = set(module.HPARAMS._fields)
    for kind, (env, env_params) in spaces.items():
        handles = entry.actions in (kind, "both")
        config = module.CONFIG()
        if name == "cmaes" and kind == "continuous":
            config = dataclasses.replace(config, episode_steps=200)
        if "demos" in {f.name for f in dataclasses.fields(config)}:
            config = dataclasses.replace(config, demos=str(demo_files[kind]), num_demos=2)
        if hasattr(config, "dataset"):  # offline learners: a dataset of the env's spaces
            config = dataclasses.replace(config, dataset=str(datasets[kind]))
        if handles:
            learner = module.make_learner(config, env, env_params)
            assert isinstance(learner, Learner)
            assert set(learner.hparam_ranges) == hp_fields  # a range for every field
            assert type(learner.hparams) is module.HPARAMS
            learner.validate_hparams(module.HPARAMS())  # the defaults are in range
        else:
            with pytest.raises(ValueError, match="discrete|continuous"):
                module.make_learner(config, env, env_params)


def test_unknown_algorithm_suggests_a_close_name():
    with pytest.raises(ValueError, match="did you mean 'sac_discrete'"):
        registry.algorithm("sac_discrte")


def test_hyperparameters_extend_a_base_as_dataclass_inheritance_does():
    from typing import NamedTuple

    import jax

    from jaxrl import _fields
    from jaxrl.learner import hyperparameters

    class Base(NamedTuple):
        lr: float = 1e-3
        """Base learning rate."""
        gamma: float = 0.99
        """Discount."""

    @hyperparameters
    class Extended(Base):
        """Base's, plus beta."""

        lr: float = 3e-3
        beta: float = 0.5
        """Weight of beta."""

    @hyperparameters
    class Twice(Extended):
        gamma: float = 0.9
        """A shorter horizon."""

    assert Extended._fields == ("lr", "gamma", "beta")
    assert Extended() == (3e-3, 0.99, 0.5) and Extended(beta=1.0)._replace(lr=0.1).beta == 1.0
    assert Twice._fields == ("lr", "gamma", "beta") and Twice() == (3e-3, 0.9, 0.5)
    assert Extended.__doc__ == "Base's, plus beta." and Extended.__name__ == "Extended"
    assert jax.tree.leaves(Twice()) == [3e-3, 0.9, 0.5]
    # docstrings stay where they were written: a redefined field without one keeps the base's
    docs = _fields._mro_docs(Twice)
    assert docs == {"lr": "Base learning rate.", "gamma": "A shorter horizon.",
                    "beta": "Weight of beta."}  # fmt: skip
    with pytest.raises(TypeError, match="no default"):

        @hyperparameters
        class Missing(Base):
            delta: float


def test_extended_hyperparameters_keep_their_bases_defaults():
    """The algorithms that extend another's hyperparameters keep every default they had."""
    from jaxrl.agents.exploration import ppo_icm, ppo_rnd
    from jaxrl.agents.inverse import gail
    from jaxrl.agents.memory import rl2
    from jaxrl.agents.offline import cql, td3_bc, td3_offline
    from jaxrl.agents.offpolicy import ddpg, sac, td3
    from jaxrl.agents.onpolicy import ppo

    assert rl2.HPARAMS()._replace(lr=2.5e-4) == ppo.PPOHParams()
    for module in (ppo_rnd, ppo_icm, gail):
        hp = module.HPARAMS()
        assert all(getattr(hp, k) == v for k, v in ppo.PPOHParams()._asdict().items())
    assert ddpg.HPARAMS().target_noise == 0.0 and td3.HPARAMS().exploration_noise == 0.1
    assert td3_bc.HPARAMS().alpha == 2.5 and td3_offline.HPARAMS() == td3.TD3TargetHParams()
    assert cql.HPARAMS()._replace(actor_lr=3e-4)[:7] == tuple(sac.SACHParams())
    assert sac.SACDiscreteHParams().target_entropy_scale == 0.7
