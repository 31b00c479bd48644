"""The learning tests' settings, shared by the tests and ``experiments/learning_tests.py``.

Each :class:`Spec` trains ``seeds`` runs of one algorithm vmapped in one compile (base key
``seed``; run ``i`` gets ``fold_in(key(seed), i)``), scores each final policy by its mean
greedy return over ``episodes`` evaluation episodes, and passes when the interquartile mean
of the runs' scores reaches ``threshold``: the middle half of the runs decides, so one or two
runs that a float rounding change tips either way cannot flip it. The thresholds sit well
below the lowest IQM seen under three base keys on CPUs with and without AVX-512
(BENCHMARKS.md lists them all) and far above the random policy.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    algo: str
    env: str
    config: dict
    threshold: float
    hparams: dict = dataclasses.field(default_factory=dict)
    seeds: int = 8
    episodes: int = 8
    random_return: float = 0.0  # the random policy's (for the record)

    def iqm(self, scores: np.ndarray) -> float:
        from jaxrl.run import stats

        return stats.iqm(np.where(np.isfinite(scores), scores, -1e30))

    def passed(self, scores: np.ndarray) -> bool:
        return self.iqm(scores) >= self.threshold


PPO_FAST = {"total_steps": 100_000, "num_envs": 16, "num_steps": 32, "num_minibatches": 8}

SPECS = {
    s.name: s
    for s in [
        Spec("ppo_cartpole", "ppo", "CartPole-v1", PPO_FAST, 400.0, {"lr": 2.5e-3},
             random_return=22.4),
        Spec("ppo_pendulum", "ppo", "Pendulum-v1",
             {"total_steps": 200_000, "num_envs": 16, "num_steps": 64, "update_epochs": 8,
              "num_minibatches": 8, "normalize_obs": True}, -600.0,
             {"lr": 3e-3, "gamma": 0.95, "ent_coef": 0.0}, random_return=-1224.0),
        Spec("a2c_cartpole", "a2c", "CartPole-v1", {}, 400.0, random_return=22.4),
        Spec("dqn_cartpole", "dqn", "CartPole-v1", {"total_steps": 30_000, "buffer_size": 20_000},
             150.0, random_return=22.4),
        Spec("sac_pendulum", "sac", "Pendulum-v1", {"total_steps": 8_000, "hidden": (64, 64)},
             -350.0, random_return=-1224.0),
        Spec("td3_pendulum", "td3", "Pendulum-v1",
             {"total_steps": 15_000, "hidden": (64, 64), "batch_size": 128}, -400.0,
             random_return=-1224.0),
        Spec("ddpg_pendulum", "ddpg", "Pendulum-v1",
             {"total_steps": 8_000, "hidden": (64, 64), "batch_size": 128}, -400.0,
             random_return=-1224.0),
        Spec("sac_discrete_cartpole", "sac_discrete", "CartPole-v1",
             {"total_steps": 10_000, "hidden": (64, 64), "batch_size": 128}, 200.0,
             random_return=22.4),
        Spec("cmaes_cartpole", "cmaes", "CartPole-v1", {"total_steps": 400_000}, 475.0,
             episodes=16, random_return=22.4),
        Spec("sep_cma_es_cartpole", "cmaes", "CartPole-v1",
             {"strategy": "sep_cma_es", "total_steps": 400_000}, 475.0, episodes=16,
             random_return=22.4),
        Spec("open_es_cartpole", "cmaes", "CartPole-v1",
             {"strategy": "open_es", "total_steps": 400_000}, 60.0, episodes=16,
             random_return=22.4),
        Spec("muzero_catch", "muzero", "Catch-bsuite", {"total_steps": 40_960}, 0.8,
             episodes=32, random_return=-0.6),
        Spec("alphazero_cartpole", "alphazero", "CartPole-v1", {}, 400.0, random_return=22.4),
    ]
}  # fmt: skip


def run(spec: Spec, seed: int = 0, seeds: int | None = None, with_metrics: bool = False):
    """Trains ``spec``'s runs (vmapped, one compile) and returns each run's greedy score
    (``-inf`` for a run that diverged), and the training metrics with ``with_metrics``."""
    from jaxrl import envs, registry
    from jaxrl.run import evaluate_params, run_seeds, saved_policies

    module = registry.algorithm(spec.algo)
    env, env_params = envs.make(spec.env)
    learner = module.make_learner(module.CONFIG(**spec.config), env, env_params)
    runs = spec.seeds if seeds is None else seeds
    res = run_seeds(learner, runs, module.HPARAMS(**spec.hparams), seed=seed)
    scores = evaluate_params(learner, saved_policies(learner, res.output.state),
                             episodes=spec.episodes, greedy=True)  # fmt: skip
    scores = np.where(res.diverged, -np.inf, scores)
    return (scores, res.output.metrics) if with_metrics else scores
