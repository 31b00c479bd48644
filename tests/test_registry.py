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


@pytest.mark.parametrize("name", NAMES)
def test_every_algorithm_builds_a_learner_for_the_spaces_it_declares(name, spaces):
    module = registry.algorithm(name)
    entry = registry.ALGORITHMS[name]
    hp_fields = set(module.HPARAMS._fields)
    for kind, (env, env_params) in spaces.items():
        handles = entry.actions in (kind, "both")
        config = module.CONFIG()
        if name == "cmaes" and kind == "continuous":
            config = dataclasses.replace(config, episode_steps=200)
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
