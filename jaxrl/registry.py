"""The algorithms by name: the one registry, above both the agents and the engine.

``ALGORITHMS`` maps each name the command line knows to its module (imported only when
asked for, so ``--help`` and name errors answer without loading JAX) and the action spaces
it handles. An algorithm module has ``CONFIG``, ``HPARAMS`` and ``make_learner(config, env,
env_params)``; registering a new one is one line here.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from jaxrl._errors import unknown_name


class Entry(NamedTuple):
    module: str | ModuleType  # an import path, or the module itself
    actions: str  # the action spaces it handles: "discrete", "continuous" or "both"
    summary: str


ALGORITHMS: dict[str, Entry] = {
    "ppo": Entry("jaxrl.agents.onpolicy.ppo", "both", "PPO, clipped surrogate, GAE"),
    "a2c": Entry("jaxrl.agents.onpolicy.a2c", "both", "A2C, synchronous A3C"),
    "dqn": Entry("jaxrl.agents.offpolicy.dqn", "discrete", "DQN: double, dueling, n-step, PER"),
    "sac": Entry("jaxrl.agents.offpolicy.sac", "continuous", "SAC, tanh-Gaussian actor"),
    "sac_discrete": Entry("jaxrl.agents.offpolicy.sac_discrete", "discrete", "SAC, categorical"),
    "td3": Entry("jaxrl.agents.offpolicy.td3", "continuous", "TD3"),
    "ddpg": Entry("jaxrl.agents.offpolicy.ddpg", "continuous", "DDPG"),
    "ppo_rnn": Entry("jaxrl.agents.memory.ppo_rnn", "both", "recurrent PPO, GRU or LSTM core"),
    "rl2": Entry("jaxrl.agents.memory.rl2", "both", "RL², recurrent PPO across trials"),
    "cmaes": Entry("jaxrl.agents.evolution.cmaes", "both", "CMA-ES / OpenAI-ES policy search"),
    "muzero": Entry("jaxrl.agents.search.muzero", "discrete", "MuZero, learned model + mctx"),
    "ppo_rnd": Entry("jaxrl.agents.exploration.ppo_rnd", "both", "PPO + RND curiosity bonus"),
    "ppo_icm": Entry("jaxrl.agents.exploration.ppo_icm", "both", "PPO + ICM curiosity bonus"),
    "bootdqn": Entry(
        "jaxrl.agents.exploration.bootdqn", "discrete", "bootstrapped DQN, randomized priors"
    ),
    "option_critic": Entry(
        "jaxrl.agents.hierarchical.option_critic", "discrete", "option-critic: learned options"
    ),
    "hiro": Entry("jaxrl.agents.hierarchical.hiro", "continuous", "HIRO: subgoals on TD3"),
    "gail": Entry("jaxrl.agents.inverse.gail", "both", "GAIL on PPO, from demonstrations"),
    "airl": Entry("jaxrl.agents.inverse.airl", "both", "AIRL on PPO, from demonstrations"),
    "bc": Entry("jaxrl.agents.offline.bc", "both", "behaviour cloning (offline, --dataset)"),
    "td3_bc": Entry("jaxrl.agents.offline.td3_bc", "continuous", "TD3+BC (offline, --dataset)"),
    "iql": Entry("jaxrl.agents.offline.iql", "continuous", "IQL (offline, --dataset)"),
    "dt": Entry("jaxrl.agents.offline.dt", "both", "Decision Transformer (offline, --dataset)"),
    "cql": Entry("jaxrl.agents.offline.cql", "continuous", "CQL on SAC (offline, --dataset)"),
    "sac_offline": Entry(
        "jaxrl.agents.offline.sac_offline",
        "continuous",
        "SAC on a dataset alone (offline control, --dataset)",
    ),
    "td3_offline": Entry(
        "jaxrl.agents.offline.td3_offline",
        "continuous",
        "TD3 on a dataset alone (offline control, --dataset)",
    ),
    "dreamer": Entry("jaxrl.agents.world_models.dreamer", "both", "Dreamer: RSSM + imagination"),
    "iris": Entry("jaxrl.agents.world_models.iris", "discrete", "IRIS: token world model"),
    "alphazero": Entry(
        "jaxrl.agents.search.alphazero",
        "discrete",
        "AlphaZero, true simulator + mctx (deterministic envs)",
    ),  # fmt: skip
}


def algorithm(name: str) -> ModuleType:
    """The module of algorithm ``name``; ``ValueError`` suggesting close names if unknown."""
    if name not in ALGORITHMS:
        raise ValueError(unknown_name("algorithm", name, ALGORITHMS))
    module = ALGORITHMS[name].module
    return importlib.import_module(module) if isinstance(module, str) else module


def register(name: str, module, actions: str = "both", summary: str = "") -> None:
    """Makes ``module`` (an import path or an object with ``CONFIG``, ``HPARAMS`` and
    ``make_learner``) known as algorithm ``name`` to the command line, ``evaluate`` and
    ``compare``, in this process."""
    if actions not in ("discrete", "continuous", "both"):
        raise ValueError(f"actions must be discrete, continuous or both, got {actions!r}")
    if not isinstance(module, str):
        missing = [a for a in ("CONFIG", "HPARAMS", "make_learner") if not hasattr(module, a)]
        if missing:
            raise ValueError(f"{name}: the algorithm has no {', '.join(missing)}")
    ALGORITHMS[name] = Entry(module, actions, summary)


def config_from_dict(config_cls, values: dict):
    """A config dataclass from its JSON form (lists back to tuples)."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(values) - fields
    if unknown:
        raise ValueError(f"config: unknown fields {sorted(unknown)} for {config_cls.__name__}")
    return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def learner_from_run(run_dir: str | Path):
    """The learner of a results directory, rebuilt from its ``config.json``: the algorithm,
    its config, the env and its params overrides."""
    from jaxrl import envs
    from jaxrl.run.results import RunDirError

    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise RunDirError(f"{path}: not found (is {run_dir} a jaxrl run directory?)")
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: not valid JSON ({e})") from None
    env_params = saved.get("env_params") or {}
    if not (isinstance(saved, dict) and isinstance(saved.get("algo"), str)
            and isinstance(saved.get("env"), str) and isinstance(saved.get("config"), dict)
            and isinstance(env_params, dict)
            and all(isinstance(v, int | float) for v in env_params.values())):  # fmt: skip
        raise RunDirError(f"{path}: not a jaxrl run's config (algo, env, config, env_params)")
    module = algorithm(saved["algo"])
    config = config_from_dict(module.CONFIG, saved["config"])
    env, env_params = envs.make(saved["env"], **env_params)
    return module.make_learner(config, env, env_params)
