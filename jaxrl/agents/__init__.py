"""Learning agents, each ``make_train(config, env, env_params) -> train(key, hparams)``."""

from jaxrl.agents import a2c, alphazero, cmaes, ddpg, dqn, muzero, ppo, sac, sac_discrete, td3

ALGORITHMS = {
    "a2c": a2c,
    "alphazero": alphazero,
    "cmaes": cmaes,
    "ddpg": ddpg,
    "dqn": dqn,
    "muzero": muzero,
    "ppo": ppo,
    "sac": sac,
    "sac_discrete": sac_discrete,
    "td3": td3,
}

__all__ = [
    "ALGORITHMS",
    "a2c",
    "alphazero",
    "cmaes",
    "ddpg",
    "dqn",
    "muzero",
    "ppo",
    "sac",
    "sac_discrete",
    "td3",
]
