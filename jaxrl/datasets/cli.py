"""``jaxrl dataset make ENV --kind KIND --out PATH`` and ``jaxrl dataset info PATH``.

Arguments are read, and bad ones refused on one line, before JAX is imported.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

USAGE = """usage: jaxrl dataset make ENV --kind KIND[,KIND...]|all --out PATH [--size N]
                          [--train-steps N] [--seed S] [--env-params N=V,...] [--overwrite]
       jaxrl dataset info PATH [--json]

make: D4RL's recipe with jaxrl's SAC as the behaviour policy. Kinds: random, medium
(a policy at a third of the way from random to expert), expert, medium-replay (the replay
buffer of the run up to the medium policy) and medium-expert (both); several kinds (or
all) share one SAC run and go to PATH/<kind>. Datasets are written in Minari's format
(minari.MinariDataset(PATH / "data") reads them).
info: what a dataset holds: env, kind, transitions, episodes, returns, reference scores."""


def _fail(message: str) -> int:
    print(f"jaxrl: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    """The ``jaxrl dataset`` command (``argv`` after ``dataset``)."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "make":
            return make_command(rest)
        if command == "info":
            return info_command(rest)
        from jaxrl._errors import unknown_name

        return _fail(unknown_name("dataset command", command, ("make", "info")))
    except ValueError as e:  # DatasetError is one
        return _fail(str(e))


def _parse_make(argv: list[str]) -> dict:
    import argparse

    parser = argparse.ArgumentParser(
        prog="jaxrl dataset make", description="Makes offline datasets by D4RL's recipe."
    )
    parser.add_argument("env", help="env name (`jaxrl envs` lists them)")
    parser.add_argument("--kind", required=True,
                        help="random, medium, expert, medium-replay, medium-expert, a "
                             "comma-separated list of them, or all")  # fmt: skip
    parser.add_argument("--out", required=True, help="dataset directory (PATH/<kind> for several)")
    parser.add_argument("--size", type=int, default=None, help="transitions of each collected "
                        "kind (default: the env's recipe, 100,000 for most)")  # fmt: skip
    parser.add_argument(
        "--train-steps",
        type=int,
        default=None,
        help="env steps of the behaviour SAC run (default: the env's recipe)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=50,
                        help="envs collecting in parallel")  # fmt: skip
    parser.add_argument("--env-params", default="", help="env parameter overrides N=V,...")
    parser.add_argument("--overwrite", action="store_true", help="replace existing datasets")

    def error(message):
        raise ValueError(message)

    parser.error = error  # one line, exit code 2, through main
    return vars(parser.parse_args(argv))


def make_command(argv: list[str]) -> int:
    args = _parse_make(argv)
    from jaxrl.cli import _check_env_name, _env_overrides
    from jaxrl.datasets.storage import parse_kinds

    _check_env_name(args["env"])
    kinds = parse_kinds(args["kind"])
    for name in ("size", "train_steps", "num_envs"):
        if args[name] is not None and args[name] <= 0:
            raise ValueError(f"{name}: must be a positive int, got {args[name]}")
    overrides = _env_overrides(args["env_params"])
    out = Path(args["out"])
    targets = [out] if len(kinds) == 1 else [out / k for k in kinds]
    for path in targets:
        if path.exists() and not args["overwrite"]:
            raise ValueError(f"{path} already exists; pass --overwrite to replace it")

    from jaxrl.run import configure_cpu

    configure_cpu(num_runs=1)
    from jaxrl.datasets.collect import make, recipe_for

    recipe = recipe_for(args["env"], size=args["size"], train_steps=args["train_steps"])
    if recipe.train_steps < recipe.log_every:
        recipe = dataclasses.replace(recipe, log_every=recipe.train_steps)
    print(f"dataset {', '.join(kinds)} of {args['env']}: SAC trained {recipe.train_steps:,} "
          f"env steps, {recipe.size:,} transitions a collected kind")  # fmt: skip
    make(args["env"], kinds, out, recipe=recipe, seed=args["seed"], num_envs=args["num_envs"],
         env_overrides=overrides, overwrite=args["overwrite"])  # fmt: skip
    return 0


def info_command(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: jaxrl dataset info PATH [--json]")
        return 0 if argv else 2
    as_json = "--json" in argv
    paths = [a for a in argv if a != "--json"]
    unknown = [a for a in paths if a.startswith("--")]
    if unknown:
        raise ValueError(f"unknown flag {unknown[0]}; usage: jaxrl dataset info PATH [--json]")
    from jaxrl.datasets.storage import info

    for path in paths:
        summary = info(path)
        if as_json:
            print(json.dumps(summary))
            continue
        print(path)
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            if k == "path":
                continue
            shown = f"{v:.2f}" if isinstance(v, float) else v
            print(f"  {k:<{width}}  {shown}")
    return 0
