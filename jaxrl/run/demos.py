"""``jaxrl demos RUN_DIR --out FILE``: demonstrations from a trained run's saved policy.

The run's learner is rebuilt from its ``config.json``, one run's final policy is loaded from
``policy.npz`` and played for ``--episodes`` episodes in parallel (greedy by default);
the finished episodes are written in the format of :mod:`jaxrl.demos`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxrl.run.results import RunDirError


def write_from_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    episodes: int = 10,
    run: int = 0,
    greedy: bool = True,
    seed: int = 0,
    overwrite: bool = False,
) -> dict:
    """Records ``episodes`` episodes of run ``run``'s final policy and writes them to ``out``.

    Returns:
      ``{"path", "episodes", "transitions", "mean_return", "returns"}``.

    Raises:
      ValueError: a bad count or run index, ``out`` existing without ``overwrite``, or
        episodes that did not finish within the env's time limit.
    """
    import jax
    import numpy as np

    from jaxrl import demos as jdemos
    from jaxrl.registry import learner_from_run
    from jaxrl.run.evaluate import max_steps_of, policy_template
    from jaxrl.run.results import load_policy

    run_dir, out = Path(run_dir), Path(out)
    if episodes <= 0:
        raise ValueError(f"episodes: must be a positive int, got {episodes}")
    if out.exists() and not overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    learner = learner_from_run(run_dir)
    params = load_policy(run_dir / "policy.npz", policy_template(learner))
    runs = jax.tree.leaves(params)[0].shape[0]
    if not 0 <= run < runs:
        raise ValueError(f"run: {run_dir} holds runs 0..{runs - 1}, got {run}")
    one = jax.tree.map(lambda x: x[run], params)
    max_steps = max_steps_of(learner.env_params)
    record = jax.jit(
        lambda p, k: jdemos.record(
            learner.policy, p, learner.env, learner.env_params, k, episodes, max_steps, greedy
        )  # fmt: skip
    )
    steps, valid, returns, finished = record(one, jax.random.key(seed))
    if not bool(np.all(finished)):
        raise ValueError(f"episodes: {int((~np.asarray(finished)).sum())} of {episodes} did not "
                         f"end within {max_steps} steps")  # fmt: skip
    flat, returns = jdemos.flatten(steps, valid, returns, finished)
    env_name = _env_name(run_dir)
    jdemos.save(out, flat, returns, env_name)
    return {"path": str(out), "episodes": len(returns), "transitions": int(flat.size),
            "mean_return": float(np.mean(returns)), "returns": returns.tolist()}  # fmt: skip


def _env_name(run_dir: Path) -> str:
    import json

    return json.loads((run_dir / "config.json").read_text()).get("env", "")


@dataclasses.dataclass
class DemosArgs:
    run_dir: str
    """A results directory of `jaxrl train` (its config.json and policy.npz)."""
    out: str
    """The demonstration file to write (.npz, see jaxrl.demos)."""
    episodes: int = 10
    """Episodes to record."""
    run: int = 0
    """Which of the directory's runs (seeds) acts."""
    stochastic: bool = False
    """Sample actions from the policy instead of taking its mode."""
    seed: int = 0
    """Seed of the episodes' starts (and of the samples, with --stochastic)."""
    overwrite: bool = False
    """Replace an existing file."""


def demos_command(argv: list[str]) -> int:
    """``jaxrl demos RUN_DIR --out FILE [--episodes N] [--run I] [--stochastic]``."""
    import tyro

    from jaxrl.run import configure_cpu

    args = tyro.cli(DemosArgs, args=_positional(argv), prog="jaxrl demos")
    configure_cpu(num_runs=1)  # before anything imports gymnax
    result = write_from_run(args.run_dir, args.out, episodes=args.episodes, run=args.run,
                            greedy=not args.stochastic, seed=args.seed,
                            overwrite=args.overwrite)  # fmt: skip
    print(
        f"wrote {result['episodes']} episodes ({result['transitions']} transitions) of "
        f"{args.run_dir} to {result['path']}: mean return {result['mean_return']:.2f}"
    )
    return 0


def _positional(argv: list[str]) -> list[str]:
    """``RUN_DIR`` may come first, as in ``jaxrl evaluate``."""
    if argv and not argv[0].startswith("-"):
        return ["--run-dir", argv[0], *argv[1:]]
    return argv
