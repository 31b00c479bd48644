"""Re-run saved policies: greedy and stochastic returns, optionally under shifted dynamics."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs as jenvs
from jaxrl.run import stats
from jaxrl.run.baseline import first_episode_returns
from jaxrl.run.results import RunDirError


def evaluate_params(train, env, env_params, params, *, episodes: int, greedy: bool, seed: int = 0,
                    ranges: dict | None = None) -> np.ndarray:  # fmt: skip
    """Mean undiscounted return over ``episodes`` episodes for each run's params ``[runs, P]``.

    With ``ranges`` each episode samples its env params uniformly (``{"length": (lo, hi)}``).
    """
    max_steps = int(env_params.max_steps_in_episode)
    env_w = jenvs.EpisodeStatistics(env)
    if not jenvs.is_discrete(env, env_params):
        env_w = jenvs.ClipAction(env_w)
    if len(env.observation_space(env_params).shape) != 1:
        env_w = jenvs.FlattenObservation(env_w)
    venv = jenvs.VecEnv(env_w, episodes, batched_params=True)

    @jax.jit
    def one_run(p, key):
        k_params, k_run = jax.random.split(key)
        pkeys = jax.random.split(k_params, episodes)
        if ranges:
            batch = jax.vmap(jenvs.sample_params, (0, None, None))(pkeys, env_params, ranges)
        else:
            batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (episodes,) + jnp.shape(x)),
                                 env_params)  # fmt: skip

        def act(obs, k):
            return train.act(p, obs, k, greedy)

        first, _ = first_episode_returns(venv, act, batch, k_run, max_steps)
        return first.mean()

    keys = jax.random.split(jax.random.key(seed), params.shape[0])
    return np.asarray(jax.vmap(one_run)(jnp.asarray(params), keys))


def evaluate_dir(run_dir: str | Path, *, episodes: int = 32, perturb: str = "",
                 seed: int = 0, overwrite: bool = False) -> dict:  # fmt: skip
    """Evaluates the final policies of a run directory and writes ``evaluation*.json``."""
    from jaxrl.agents import ALGORITHMS

    run_dir = Path(run_dir)
    cfg_path, params_path = run_dir / "config.json", run_dir / "params.npz"
    for path in (cfg_path, params_path):
        if not path.exists():
            raise RunDirError(f"{path}: not found (is {run_dir} a finished jaxrl run?)")
    if episodes <= 0:
        raise ValueError(f"episodes: must be a positive int, got {episodes}")
    saved = json.loads(cfg_path.read_text())
    module = ALGORITHMS[saved["algo"]]
    config = module.CONFIG(**{k: tuple(v) if isinstance(v, list) else v
                              for k, v in saved["config"].items()})  # fmt: skip
    if getattr(config, "normalize_obs", False):
        raise ValueError("evaluate: runs trained with --normalize-obs are not supported yet")
    env, env_params = jenvs.make(saved["env"], **saved.get("env_params", {}))
    ranges = jenvs.parse_ranges(perturb) if perturb else {}
    if ranges:
        jenvs.sample_params(jax.random.key(0), env_params, ranges)  # validates the names
    train = module.make_train(config, env, env_params)
    params = np.load(params_path)["params"]
    out_name = "evaluation.json" if not perturb else f"evaluation_{_slug(perturb)}.json"
    out_path = run_dir / out_name
    if out_path.exists() and not overwrite:
        raise RunDirError(f"{out_path} already exists; pass --overwrite to replace it")
    result = {"episodes": episodes, "perturb": {k: list(v) for k, v in ranges.items()}}
    for mode in ("greedy", "stochastic"):
        per_run = evaluate_params(train, env, env_params, params, episodes=episodes,
                                  greedy=mode == "greedy", seed=seed, ranges=ranges)  # fmt: skip
        result[mode] = {"per_run": per_run.tolist(), **stats.summarize(per_run)}
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    result["path"] = str(out_path)
    return result


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
