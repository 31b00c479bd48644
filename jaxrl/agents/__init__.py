"""Learning agents, each ``make_train(config, env, env_params) -> train(key, hparams)``."""

from jaxrl.agents import ppo

ALGORITHMS = {"ppo": ppo}

__all__ = ["ALGORITHMS", "ppo"]
