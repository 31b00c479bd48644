"""Episodes of a policy: evaluation of saved runs, re-run from their directory.

:func:`play` (from :mod:`jaxrl.episodes`, the one episode loop) plays any
:class:`~jaxrl.learner.Policy` (feed-forward, recurrent, return-conditioned, a planner that
reads env states, the random policy) in a batch of envs and records each step;
:func:`first_episode_returns` gives each env's first episode's return from it, and everything
that scores a policy uses that.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs as jenvs
from jaxrl import learner as contract
from jaxrl.episodes import Steps, first_episode_returns, max_steps_of, play  # noqa: F401
from jaxrl.learner import Learner
from jaxrl.run import stats
from jaxrl.run.results import RunDirError, load_policy


def make_evaluator(learner: Learner, *, episodes: int, greedy: bool, ranges: dict | None = None,
                   env_params=None, max_steps: int | None = None,
                   per_episode: bool = False):  # fmt: skip
    """A jitted ``evaluate(params, key) -> [runs]``: the mean undiscounted return of each run's
    policy over ``episodes`` episodes (see :func:`evaluate_params`); with ``per_episode``,
    every episode's return, ``[runs, episodes]``."""
    env = learner.env
    env_params = learner.env_params if env_params is None else env_params
    venv = jenvs.stack(env, env_params, episodes, batched_params=True)
    max_steps = max_steps_of(env_params) if max_steps is None else max_steps

    def one_run(p, key):
        k_params, k_run = jax.random.split(key)
        pkeys = jax.random.split(k_params, episodes)
        if ranges:
            batch = jax.vmap(jenvs.sample_params, (0, None, None))(pkeys, env_params, ranges)
        else:
            batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (episodes,) + jnp.shape(x)),
                                 env_params)  # fmt: skip
        first, _ = first_episode_returns(learner.policy, p, venv, batch, k_run, max_steps,
                                         greedy)  # fmt: skip
        return first if per_episode else first.mean()

    @jax.jit
    def evaluate(params, key):
        runs = jax.tree.leaves(params)[0].shape[0]
        return jax.vmap(one_run)(params, jax.random.split(key, runs))

    return evaluate


def evaluate_params(learner: Learner, params, *, episodes: int, greedy: bool, seed: int = 0,
                    ranges: dict | None = None, env_params=None) -> np.ndarray:  # fmt: skip
    """Mean undiscounted return over ``episodes`` episodes for each run's policy.

    Args:
      learner: the learner the policies come from (its env, env params and policy).
      params: what ``learner.save`` yields, with a leading run axis on every leaf.
      episodes: episodes per run, played in parallel (each env's first episode counts).
      greedy: the policy's mode, or samples.
      seed: evaluation seed.
      ranges: if given, each episode samples its env params uniformly from these ranges
        (``{"length": (lo, hi)}``): a test of overfitting to the training dynamics.
      env_params: the env params to evaluate on (default: the learner's).

    Returns:
      ``[runs]`` mean returns.
    """
    evaluate = make_evaluator(learner, episodes=episodes, greedy=greedy, ranges=ranges,
                              env_params=env_params)  # fmt: skip
    return np.asarray(evaluate(jax.tree.map(jnp.asarray, params), jax.random.key(seed)))


def saved_policies(learner: Learner, state):
    """What ``learner.save`` yields for each run of ``state`` (leading run axis), as numpy."""
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(learner.save))(state))


def policy_template(learner: Learner):
    """The shapes and dtypes of what ``learner.save`` yields for one run."""

    def saved(key):
        return learner.save(contract.init(learner, key))

    return jax.eval_shape(saved, jax.random.key(0))


def evaluate_dir(run_dir: str | Path, learner: Learner, *, episodes: int = 32,
                 perturb: str = "", seed: int = 0, overwrite: bool = False) -> dict:  # fmt: skip
    """Evaluates the final policies of a run directory and writes ``evaluation*.json``.

    ``learner`` is the run's learner, rebuilt from its ``config.json`` (see
    :func:`jaxrl.registry.learner_from_run`).
    """
    run_dir = Path(run_dir)
    if episodes <= 0:
        raise ValueError(f"episodes must be a positive int, got {episodes}")
    ranges = jenvs.parse_ranges(perturb) if perturb else {}
    if ranges:
        jenvs.sample_params(jax.random.key(0), learner.env_params, ranges)  # validates names
    out_name = "evaluation.json" if not perturb else f"evaluation_{_slug(perturb)}.json"
    out_path = run_dir / out_name
    if out_path.exists() and not overwrite:
        raise RunDirError(f"{out_path} already exists; pass --overwrite to replace it")
    params = load_policy(run_dir / "policy.npz", policy_template(learner))
    result = {"episodes": episodes, "perturb": {k: list(v) for k, v in ranges.items()}}
    for mode in ("greedy", "stochastic"):
        per_run = evaluate_params(learner, params, episodes=episodes, greedy=mode == "greedy",
                                  seed=seed, ranges=ranges)  # fmt: skip
        result[mode] = {"per_run": per_run.tolist(), **stats.summarize(per_run)}
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    result["path"] = str(out_path)
    return result


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
