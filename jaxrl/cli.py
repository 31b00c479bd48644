"""Command line: ``jaxrl train ALGO --env NAME --seeds N --out DIR`` and ``jaxrl envs``.

Every config field and hyperparameter of the algorithm is a flag. Errors in the input are
reported on one line (no traceback) with a non-zero exit code.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Annotated

USAGE = """usage: jaxrl train ALGO --env NAME [--seeds N] [--total-steps S] [--out DIR] [flags]
       jaxrl sweep ALGO --env NAME --grid lr=1e-4,3e-4,1e-3 [--grid ...] [--seeds N] [flags]
       jaxrl evaluate DIR [--episodes N] [--perturb length=0.25:0.75] [--overwrite]
       jaxrl compare DIR DIR... [--out PNG]
       jaxrl envs
run `jaxrl train ALGO --help` for every flag of an algorithm"""

COMMANDS = ("train", "sweep", "evaluate", "compare", "envs")


class CLIError(Exception):
    pass


def _fail(message: str) -> int:
    print(f"jaxrl: error: {message}", file=sys.stderr)
    return 2


def _train_args_type(algo_module, sweep: bool):
    """A dataclass of the common flags plus the algorithm's config and hparams (unprefixed)."""
    import tyro

    config_cls, hparams_cls = algo_module.CONFIG, algo_module.HPARAMS
    field = dataclasses.field
    grid = [("grid", tuple[str, ...], field(default=()))] if sweep else []
    return dataclasses.make_dataclass(
        "SweepArgs" if sweep else "TrainArgs",
        [
            *grid,
            ("env", str, field(default="CartPole-v1")),
            ("seeds", int, field(default=4)),
            ("seed", int, field(default=0)),
            ("out", str | None, field(default=None)),
            ("overwrite", bool, field(default=False)),
            ("resume", bool, field(default=False)),
            ("chunks", int, field(default=20)),
            ("checkpoint_every", int, field(default=5)),
            ("progress", bool, field(default=True)),
            ("tensorboard", bool, field(default=False)),
            ("env_params", str, field(default="")),
            ("randomize", str, field(default="")),
            (
                "config",
                Annotated[config_cls, tyro.conf.OmitArgPrefixes],
                field(default_factory=config_cls),
            ),
            (
                "hparams",
                Annotated[hparams_cls, tyro.conf.OmitArgPrefixes],
                field(default_factory=hparams_cls),
            ),
        ],  # fmt: skip
    )


def _print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def _num_runs_from_argv(argv: list[str], sweep: bool) -> int:
    """The number of runs a train/sweep command line asks for, read before anything imports
    gymnax: gymnax creates arrays at import, which starts JAX's backend, after which
    :func:`jaxrl.run.configure_cpu` can no longer set the number of CPU devices. Malformed
    values count as the default; the full parser reports them afterwards."""
    seeds, grid_sizes, i = 4, [], 0
    while i < len(argv):
        arg = argv[i]
        name, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name == "--seeds":
            value = inline or (argv[i + 1] if i + 1 < len(argv) else "")
            seeds = int(value) if value.isdigit() and int(value) > 0 else 4
        elif name == "--grid" and sweep:
            j = i + 1
            specs = [arg[len("--grid=") :]] if inline else []
            while not inline and j < len(argv) and not argv[j].startswith("--"):
                specs.append(argv[j])
                j += 1
            grid_sizes += [len([v for v in spec.split("=", 1)[-1].split(",") if v.strip()])
                           for spec in specs]  # fmt: skip
        i += 1
    return seeds * math.prod(max(1, n) for n in grid_sizes)


def train_command(algo: str, argv: list[str], sweep: bool = False) -> int:
    """``jaxrl train`` (seeds) and ``jaxrl sweep`` (a grid of traced hparams x seeds)."""
    from jaxrl.run import configure_cpu

    configure_cpu(num_runs=_num_runs_from_argv(argv, sweep))
    import tyro

    from jaxrl import registry

    module = registry.algorithm(algo)
    command = "sweep" if sweep else "train"
    args = tyro.cli(_train_args_type(module, sweep), args=argv, prog=f"jaxrl {command} {algo}")
    if args.seeds <= 0:
        raise CLIError(f"seeds: must be a positive int, got {args.seeds}")
    from jaxrl.run import sweep as sweep_mod

    points = sweep_mod.parse_grid(args.grid, args.hparams, args.config) if sweep else [{}]
    if sweep and not args.grid:
        raise CLIError("sweep needs at least one --grid NAME=V1,V2,...")
    num_runs = len(points) * args.seeds

    import numpy as np

    from jaxrl import envs
    from jaxrl.run import results, run_seeds, saved_policies, stats
    from jaxrl.run.baseline import SOLVED_THRESHOLDS, random_policy_return

    overrides = {k: v[0] for k, v in envs.parse_ranges(args.env_params).items()}
    env, env_params = envs.make(args.env, **overrides)
    if args.randomize:  # domain randomisation: every episode draws its params from ranges
        env = envs.DomainRandomization(env, envs.parse_ranges(args.randomize), env_params)
    learner = module.make_learner(args.config, env, env_params)  # validates the config
    hparams, key_ids = sweep_mod.expand(args.hparams, points, args.seeds)
    learner.validate_hparams(hparams)
    if args.chunks <= 0:
        raise CLIError(f"chunks: must be a positive int, got {args.chunks}")
    if args.resume:
        if not args.out:
            raise CLIError("--resume needs --out DIR of the interrupted run")
        out = Path(args.out)
        if not (out / "checkpoints").is_dir():
            raise CLIError(f"{out / 'checkpoints'}: no checkpoint to resume from")
    else:
        out = results.prepare_dir(args.out, overwrite=args.overwrite) if args.out else None

    what = f"{len(points)} grid points x {args.seeds} seeds" if sweep else f"{args.seeds} seeds"
    print(f"{command} {algo} on {args.env}: {what} x {learner.total_steps} {learner.step_unit}")
    t0 = time.perf_counter()
    if args.chunks == 1 and out is None:
        res = run_seeds(learner, num_runs, hparams, seed=args.seed, key_ids=key_ids)
    else:
        from jaxrl.run.chunked import chunk_size, fingerprint, run_chunked

        stamp = fingerprint(algo=algo, env=args.env, env_params=overrides, seed=args.seed,
                            randomize=args.randomize,
                            config=dataclasses.asdict(args.config), points=points,
                            seeds=args.seeds, hparams=args.hparams._asdict())  # fmt: skip
        res = run_chunked(
            learner,
            num_runs,
            hparams,
            chunk_updates=chunk_size(learner.num_updates, args.chunks),
            seed=args.seed,
            key_ids=key_ids,
            checkpoint_dir=out / "checkpoints" if out is not None else None,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            run_fingerprint=stamp,
            progress=args.progress,
        )
    wall = time.perf_counter() - t0
    metrics = res.output.metrics
    finals = np.where(res.diverged, np.nan, metrics["episode_return"][:, -1])
    random_return = random_policy_return(env, env_params)
    solved = SOLVED_THRESHOLDS.get(args.env)
    steps = learner.total_steps
    policy = saved_policies(learner, res.output.state)
    groups = finals.reshape(len(points), args.seeds)
    per_point = [
        {"hparams": p, **stats.summarize(g, baseline=random_return, solved=solved)}
        for p, g in zip(points, groups, strict=True)
    ]
    summary = dict(per_point[0]) if not sweep else {"points": per_point}
    summary.update(
        env=args.env,
        algo=algo,
        env_steps_per_run=steps,
        random_return=random_return,
        final_returns=finals.tolist(),
        diverged=np.flatnonzero(res.diverged).tolist(),
        compile_s=res.compile_s,
        run_s=res.run_s,
        wall_s=wall,
        sps=num_runs * steps / res.run_s,
        params_sha256=results.params_sha256(policy),
    )
    if sweep:
        _print_sweep(per_point)
    else:
        _print_summary(summary, args.seeds)
    _print_table([
        ("random policy", f"return {random_return:.2f}"),
        ("compile / run", f"{res.compile_s:.2f} s / {res.run_s:.2f} s"),
        (f"{learner.step_unit}/s", f"{summary['sps']:,.0f}"),
    ])  # fmt: skip
    if res.diverged.any():
        print(f"  warning: runs {summary['diverged']} diverged (non-finite loss or params)")

    if out is not None:
        results.write_json(
            out / "config.json",
            {
                "command": command,
                "algo": algo,
                "env": args.env,
                "env_params": overrides,
                "randomize": args.randomize,
                "seeds": args.seeds,
                "seed": args.seed,
                "grid": points if sweep else None,
                "config": dataclasses.asdict(args.config),
                "hparams": args.hparams._asdict(),
                **results.environment_info(),
            },
        )
        results.write_metrics_csv(out / "metrics.csv", metrics, learner.steps_per_update)
        if args.tensorboard:
            results.write_tensorboard(out, metrics, learner.steps_per_update)
        results.write_json(out / "summary.json", summary)
        results.save_policy(out / "policy.npz", policy)
        env_steps = np.arange(1, learner.num_updates + 1) * learner.steps_per_update
        curves = metrics["episode_return"]
        if sweep:
            results.plot_sweep(out, curves, env_steps, points, args.seeds, random_return,
                               f"{algo} on {args.env}")  # fmt: skip
        elif (~res.diverged).any():
            results.plot_run(out, curves[~res.diverged], env_steps, finals, random_return,
                             f"{algo} on {args.env}")  # fmt: skip
        print(f"results written to {out}")
    return 0


def _print_summary(summary: dict, seeds: int) -> None:
    rows = [
        ("runs", f"{seeds} ({len(summary['diverged'])} diverged)"),
        ("mean", f"{summary.get('mean', float('nan')):.2f}"),
    ]
    if "iqm" in summary:
        lo, hi = summary["iqm_ci95"]
        rows += [
            ("IQM [95% CI]", f"{summary['iqm']:.2f} [{lo:.2f}, {hi:.2f}]"),
            ("min / max", f"{summary['min']:.2f} / {summary['max']:.2f}"),
        ]
    if "frac_solved" in summary:
        rows.append(
            (f"solved (>= {summary['solved_threshold']:g})", f"{summary['frac_solved']:.2f}")
        )
    rows.append(("frac below random", f"{summary.get('frac_below_random', float('nan')):.2f}"))
    _print_table(rows)


def _print_sweep(per_point: list[dict]) -> None:
    header = f"  {'hparams':<28} {'mean':>9} {'IQM [95% CI]':>28} {'solved':>7} {'<random':>8}"
    print(header)
    for p in per_point:
        name = ",".join(f"{k}={v:g}" for k, v in p["hparams"].items())
        if "iqm" not in p:
            print(f"  {name:<28} {'all runs diverged':>9}")
            continue
        lo, hi = p["iqm_ci95"]
        ci = f"{p['iqm']:.2f} [{lo:.2f}, {hi:.2f}]"
        solved = f"{p['frac_solved']:.2f}" if "frac_solved" in p else "-"
        print(f"  {name:<28} {p['mean']:>9.2f} {ci:>28} {solved:>7} "
              f"{p['frac_below_random']:>8.2f}")  # fmt: skip


def evaluate_command(argv: list[str]) -> int:
    import tyro

    fields = [
        ("run_dir", Annotated[str, tyro.conf.Positional]),
        ("episodes", int, dataclasses.field(default=32)),
        ("perturb", str, dataclasses.field(default="")),
        ("seed", int, dataclasses.field(default=0)),
        ("overwrite", bool, dataclasses.field(default=False)),
    ]
    args = tyro.cli(dataclasses.make_dataclass("EvaluateArgs", fields), args=argv,
                    prog="jaxrl evaluate")  # fmt: skip
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise CLIError(f"{run_dir}: no such run directory")
    from jaxrl.run import configure_cpu

    configure_cpu(num_runs=1)  # before anything imports gymnax
    from jaxrl.registry import learner_from_run
    from jaxrl.run.evaluate import evaluate_dir

    result = evaluate_dir(run_dir, learner_from_run(run_dir), episodes=args.episodes,
                          perturb=args.perturb, seed=args.seed,
                          overwrite=args.overwrite)  # fmt: skip
    shift = f" under {args.perturb}" if args.perturb else ""
    print(f"evaluated {run_dir}{shift}: {args.episodes} episodes per run")
    for mode in ("greedy", "stochastic"):
        r = result[mode]
        lo, hi = r["iqm_ci95"]
        print(f"  {mode:<10} mean {r['mean']:9.2f}  IQM {r['iqm']:9.2f} [{lo:.2f}, {hi:.2f}]")
    print(f"results written to {result['path']}")
    return 0


def compare_command(argv: list[str]) -> int:
    from jaxrl.run.compare import compare, print_comparison

    png = None
    if "--out" in argv:
        i = argv.index("--out")
        if i + 1 >= len(argv):
            raise CLIError("--out needs a file name")
        png = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    if not argv:
        raise CLIError("compare needs at least one run directory")
    result = compare(argv, png)
    print_comparison(result)
    if png:
        print(f"plot written to {png}")
    return 0


def envs_command() -> int:
    from jaxrl import envs

    for name in envs.list_envs():
        print(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    from jaxrl._errors import unknown_name
    from jaxrl.run.results import RunDirError

    command, rest = argv[0], argv[1:]
    try:
        if command in ("train", "sweep"):
            if not rest or rest[0].startswith("-"):
                raise CLIError(f"{command} needs an algorithm, e.g. `jaxrl {command} ppo`")
            return train_command(rest[0], rest[1:], sweep=command == "sweep")
        if command == "evaluate":
            return evaluate_command(rest)
        if command == "compare":
            return compare_command(rest)
        if command == "envs":
            return envs_command()
        raise CLIError(unknown_name("command", command, COMMANDS))
    except (CLIError, ValueError, RunDirError, TypeError) as e:  # CheckpointError is a ValueError
        return _fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
