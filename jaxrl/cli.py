"""Command line: ``jaxrl train ALGO --env NAME --seeds N --out DIR`` and ``jaxrl envs``.

Every config field and hyperparameter of the algorithm is a flag. Errors in the input are
reported on one line (no traceback) with a non-zero exit code.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Annotated

USAGE = """usage: jaxrl train ALGO --env NAME [--seeds N] [--total-steps S] [--out DIR] [flags]
       jaxrl envs
run `jaxrl train ALGO --help` for every flag of an algorithm"""

COMMANDS = ("train", "envs")


class CLIError(Exception):
    pass


def _fail(message: str) -> int:
    print(f"jaxrl: error: {message}", file=sys.stderr)
    return 2


def _train_args_type(algo_module):
    """A dataclass of the common flags plus the algorithm's config and hparams (unprefixed)."""
    import tyro

    config_cls, hparams_cls = algo_module.CONFIG, algo_module.HPARAMS
    field = dataclasses.field
    return dataclasses.make_dataclass(
        "TrainArgs",
        [
            ("env", str, field(default="CartPole-v1")),
            ("seeds", int, field(default=4)),
            ("seed", int, field(default=0)),
            ("out", str | None, field(default=None)),
            ("overwrite", bool, field(default=False)),
            ("env_params", str, field(default="")),
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


def train_command(algo: str, argv: list[str]) -> int:
    import tyro

    from jaxrl._errors import unknown_name
    from jaxrl.agents import ALGORITHMS

    if algo not in ALGORITHMS:
        raise CLIError(unknown_name("algorithm", algo, ALGORITHMS))
    module = ALGORITHMS[algo]
    args = tyro.cli(_train_args_type(module), args=argv, prog=f"jaxrl train {algo}")
    if args.seeds <= 0:
        raise CLIError(f"seeds: must be a positive int, got {args.seeds}")
    from jaxrl.run import configure_cpu

    configure_cpu(num_runs=args.seeds)

    import numpy as np

    from jaxrl import envs
    from jaxrl.run import results, run_seeds, stats
    from jaxrl.run.baseline import SOLVED_THRESHOLDS, random_policy_return

    overrides = {k: v[0] for k, v in envs.parse_ranges(args.env_params).items()}
    env, env_params = envs.make(args.env, **overrides)
    train = module.make_train(args.config, env, env_params)  # validates the config
    module.validate_hparams(args.hparams)
    out = results.prepare_dir(args.out, overwrite=args.overwrite) if args.out else None

    print(f"training {algo} on {args.env}: {args.seeds} seeds x {args.config.total_steps} steps")
    t0 = time.perf_counter()
    res = run_seeds(train, args.seeds, args.hparams, seed=args.seed)
    wall = time.perf_counter() - t0
    metrics = res.output.metrics
    finals = np.where(res.diverged, np.nan, metrics["episode_return"][:, -1])
    random_return = random_policy_return(env, env_params)
    summary = stats.summarize(
        finals, baseline=random_return, solved=SOLVED_THRESHOLDS.get(args.env)
    )
    steps = args.config.num_updates * args.config.batch_size
    summary.update(
        env=args.env,
        algo=algo,
        env_steps_per_run=steps,
        final_returns=finals.tolist(),
        diverged=np.flatnonzero(res.diverged).tolist(),
        compile_s=res.compile_s,
        run_s=res.run_s,
        wall_s=wall,
        sps=args.seeds * steps / res.run_s,
        params_sha256=results.params_sha256(res.output.state.params),
    )
    rows = [
        ("runs", f"{args.seeds} ({len(summary['diverged'])} diverged)"),
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
    rows += [
        ("below random", f"{summary.get('frac_below_random', float('nan')):.2f} "
                         f"(random policy {random_return:.2f})"),
        ("compile / run", f"{res.compile_s:.2f} s / {res.run_s:.2f} s"),
        ("env steps/s", f"{summary['sps']:,.0f}"),
    ]  # fmt: skip
    _print_table(rows)
    if res.diverged.any():
        print(f"  warning: runs {summary['diverged']} diverged (non-finite loss or params)")

    if out is not None:
        info = results.environment_info()
        results.write_json(
            out / "config.json",
            {
                "algo": algo,
                "env": args.env,
                "env_params": overrides,
                "seeds": args.seeds,
                "seed": args.seed,
                "config": dataclasses.asdict(args.config),
                "hparams": args.hparams._asdict(),
                **info,
            },
        )
        results.write_metrics_csv(out / "metrics.csv", metrics, args.config.batch_size)
        results.write_json(out / "summary.json", summary)
        env_steps = np.arange(1, args.config.num_updates + 1) * args.config.batch_size
        curves = metrics["episode_return"][~res.diverged]
        if len(curves):
            results.plot_run(out, curves, env_steps, finals, random_return,
                             f"{algo} on {args.env}")  # fmt: skip
        print(f"results written to {out}")
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
        if command == "train":
            if not rest or rest[0].startswith("-"):
                raise CLIError("train needs an algorithm, e.g. `jaxrl train ppo`")
            return train_command(rest[0], rest[1:])
        if command == "envs":
            return envs_command()
        raise CLIError(unknown_name("command", command, COMMANDS))
    except (CLIError, ValueError, RunDirError, TypeError) as e:
        return _fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
