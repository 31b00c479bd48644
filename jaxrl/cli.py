"""Command line: ``jaxrl train ALGO --env NAME --seeds N --out DIR`` and friends.

Every config field and hyperparameter of the algorithm is a flag, described by its docstring
and valid range. Help and errors in the input answer before JAX is imported (the flags are
read from the algorithm's source, env names from the simulators' sources), and are reported
on one line (no traceback) with exit code 2.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

USAGE = """usage: jaxrl train ALGO --env NAME [--seeds N] [--total-steps S] [--out DIR] [flags]
       jaxrl sweep ALGO --env NAME --grid lr=1e-4,3e-4,1e-3 [--grid ...] [--seeds N] [flags]
       jaxrl evaluate DIR [--episodes N] [--perturb length=0.25:0.75] [--video] [--overwrite]
       jaxrl compare DIR DIR... [--normalize --reference ENV=SCORE] [--out PNG]
       jaxrl demos DIR --out FILE [--episodes N] [--run I] [--stochastic]
       jaxrl envs [NAME...]
       jaxrl dataset make ENV --kind KIND --out PATH | jaxrl dataset info PATH
`jaxrl train --help` lists the algorithms, `jaxrl train ALGO --help` every flag of one"""

COMMANDS = ("train", "sweep", "evaluate", "compare", "demos", "envs", "dataset")


class CLIError(Exception):
    pass


def _fail(message: str) -> int:
    print(f"jaxrl: error: {message}", file=sys.stderr)
    return 2


# ---- train and sweep: flags from the algorithm's fields ----------------------------------


@dataclasses.dataclass(frozen=True)
class _Flag:
    name: str
    type: Any
    default: Any
    help: str


def _common_flags(sweep: bool) -> list[_Flag]:
    grid = [_Flag("grid", tuple[str, ...], (), "A hyperparameter axis NAME=V1,V2,... (repeat the "
                  "flag for a cartesian grid); only traced hyperparameters, all points in one "
                  "compile, every point on the same seeds.")] if sweep else []  # fmt: skip
    per = " per grid point" if sweep else ""
    return grid + [
        _Flag("env", str, "CartPole-v1", "Env name (`jaxrl envs` lists them with their spaces)."),
        _Flag("env_params", str, "", "Env parameter overrides NAME=VALUE,... (e.g. "
              "length=0.75,masspole=0.2); `jaxrl envs NAME` lists an env's parameters."),
        _Flag("randomize", str, "", "Domain randomisation: ranges NAME=LOW:HIGH,... (a union "
              "LOW:HIGH|LOW:HIGH; A+B=LOW:HIGH gives two fields one draw) from which every "
              "training episode draws its env params."),
        _Flag("seeds", int, 4, f"Independent runs{per}, all in one compiled call."),
        _Flag("seed", int, 0, "Base seed: run i trains with fold_in(key(seed), i)."),
        _Flag("out", str | None, None, "Results directory: config, metrics, summary, the "
              "saved policies, plots and checkpoints."),
        _Flag("overwrite", bool, False, "Replace an existing --out directory."),
        _Flag("resume", bool, False, "Continue the run in --out from its latest intact "
              "checkpoint (with the same flags)."),
        _Flag("chunks", int, 20, "Compiled pieces a run with --out is cut into (progress and "
              "checkpoints between them); rounded to a divisor of the number of updates."),
        _Flag("checkpoint_every", int, 5, "Chunks between checkpoints (and one at the end)."),
        _Flag("progress", bool, True, "A progress bar, and the compile time as it passes."),
        _Flag("tensorboard", bool, False, "Also write TensorBoard scalars to --out/tensorboard."),
        _Flag("wandb", bool, False, "Also log to Weights & Biases (needs `pip install wandb`; "
              "WANDB_MODE=offline logs without a network)."),
        _Flag("wandb_project", str, "jaxrl", "The Weights & Biases project."),
    ]  # fmt: skip


def _struct(name: str, doc: str, fields, ranges: dict | None = None):
    """A frozen dataclass whose fields carry their help (for tyro)."""
    import tyro

    from jaxrl._errors import describe_range

    items = []
    for f in fields:
        text = f.doc if hasattr(f, "doc") else f.help
        if ranges and f.name in ranges:
            text = f"{text} Must be {describe_range(ranges[f.name])}."
        items.append((f.name, Annotated[f.type, tyro.conf.arg(help=text or None)],
                      dataclasses.field(default=f.default)))  # fmt: skip
    cls = dataclasses.make_dataclass(name, items, frozen=True)
    cls.__doc__ = doc
    return cls


def _args_type(fields, sweep: bool):
    """The flags of ``jaxrl train/sweep ALGO``: the common ones, the config's and the
    hyperparameters' (unprefixed), each with its description and valid range."""
    import tyro

    config_cls = _struct(fields.config_name, fields.config_doc or "Static configuration "
                         "(changing a field recompiles).", fields.config)  # fmt: skip
    hparams_cls = _struct(fields.hparams_name, fields.hparams_doc or "Traced hyperparameters "
                          "(a sweep runs many values in one compile).", fields.hparams,
                          fields.ranges)  # fmt: skip
    common = _common_flags(sweep)
    config_flag = _Flag("config_file", str | None, None, "A YAML or JSON file of flag values "
                        "(a run's config.json works too); flags given on the command line "
                        "override it.")  # fmt: skip
    items = [(f.name, Annotated[f.type, tyro.conf.arg(help=f.help)],
              dataclasses.field(default=f.default)) for f in common]  # fmt: skip
    if sweep:  # --grid A --grid B appends (and --grid A B gives both too)
        items[0] = ("grid", Annotated[tuple[tuple[str, ...], ...], tyro.conf.UseAppendAction,
                                      tyro.conf.arg(help=common[0].help)],
                    dataclasses.field(default=()))  # fmt: skip
    items.append((config_flag.name, Annotated[config_flag.type, tyro.conf.arg(
        name="config", help=config_flag.help)], dataclasses.field(default=None)))  # fmt: skip
    items += [
        ("config", Annotated[config_cls, tyro.conf.OmitArgPrefixes],
         dataclasses.field(default_factory=config_cls)),
        ("hparams", Annotated[hparams_cls, tyro.conf.OmitArgPrefixes],
         dataclasses.field(default_factory=hparams_cls)),
    ]  # fmt: skip
    args_cls = dataclasses.make_dataclass("SweepArgs" if sweep else "TrainArgs", items,
                                          frozen=True)  # fmt: skip
    return args_cls, config_cls, hparams_cls, common


def _pop_config_file(argv: list[str]) -> tuple[list[str], str | None]:
    """``--config FILE`` (or ``--config=FILE``) taken out of ``argv``."""
    out, path, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--config":
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise CLIError("--config needs a file name")
            path = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        else:
            out.append(arg)
        i += 1
    return out, path


# Keys of a run's config.json that are records, not flags.
_RECORD_KEYS = {"command", "versions", "devices", "process_count", "git_commit", "budget",
                "config_file"}  # fmt: skip


def _read_config_file(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--config {path}: no such file")
    text = p.read_text()
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as e:
        raise CLIError(f"--config {path}: cannot be read ({' '.join(str(e).split())})") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise CLIError(f"--config {path}: expected a mapping of flag names to values")
    return values


def _coerce(path: str, name: str, kind, value):
    """``value`` from a config file as the field's type, or a one-line error."""
    import types
    import typing

    def bad(what: str):
        return CLIError(f"--config {path}: {name} must be {what}, got {value!r}")

    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        if value is None and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        args = typing.get_args(kind)
    if kind is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an int")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list | tuple):
            raise bad("a list")
        return tuple(_coerce(path, name, args[0], v) for v in value)
    return value


def _defaults_from_file(path: str, algo: str, sweep: bool, types_, fields):
    """The flags' defaults with the values of a YAML or JSON file."""
    from jaxrl._errors import unknown_name

    args_cls, config_cls, hparams_cls, common = types_
    values = dict(_read_config_file(path))
    common_kinds = {f.name: f.type for f in common}
    config_kinds = {f.name: f.type for f in fields.config}
    hparams_kinds = {f.name: f.type for f in fields.hparams}
    got_common, got_config, got_hparams = {}, {}, {}
    saved_algo = values.pop("algo", algo)
    if saved_algo != algo:
        raise CLIError(f"--config {path}: the file is for algorithm {saved_algo!r}, not {algo!r}")
    for key in ("config", "hparams"):  # a run's config.json nests them
        nested = values.pop(key, None) or {}
        if not isinstance(nested, dict):
            raise CLIError(f"--config {path}: {key} must be a mapping")
        for k, v in nested.items():
            k = k.replace("-", "_")
            kinds = config_kinds if key == "config" else hparams_kinds
            if k not in kinds:
                raise CLIError(f"--config {path}: {key}: " + unknown_name("field", k, kinds))
            (got_config if key == "config" else got_hparams)[k] = _coerce(path, k, kinds[k], v)
    for key, value in values.items():
        k = key.replace("-", "_")
        if k in _RECORD_KEYS:
            continue
        if k == "grid":
            if not sweep:
                continue  # a train's config.json records grid: null
            got_common["grid"] = (_grid_specs(path, value),)
        elif k == "env_params" and isinstance(value, dict):
            got_common[k] = ",".join(f"{n}={v}" for n, v in value.items())
        elif k in common_kinds:
            got_common[k] = _coerce(path, k, common_kinds[k], value)
        elif k in config_kinds:
            got_config[k] = _coerce(path, k, config_kinds[k], value)
        elif k in hparams_kinds:
            got_hparams[k] = _coerce(path, k, hparams_kinds[k], value)
        else:
            known = list(common_kinds) + list(config_kinds) + list(hparams_kinds)
            raise CLIError(f"--config {path}: " + unknown_name("flag", k, known))
    return args_cls(**got_common, config_file=path, config=config_cls(**got_config),
                    hparams=hparams_cls(**got_hparams))  # fmt: skip


def _grid_specs(path: str, value) -> tuple[str, ...]:
    """A file's grid as ``NAME=V1,V2`` specs: a list of specs, a mapping ``{name: [values]}``
    or a sweep's recorded points (a list of mappings, a cartesian product)."""
    if isinstance(value, dict):
        return tuple(f"{k}={','.join(str(v) for v in vs)}" for k, vs in value.items())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        axes: dict[str, list] = {}
        for point in value:
            for k, v in point.items():
                if v not in axes.setdefault(k, []):
                    axes[k].append(v)
        return tuple(f"{k}={','.join(str(v) for v in vs)}" for k, vs in axes.items())
    raise CLIError(f"--config {path}: grid must be a list of NAME=V1,V2 or a mapping")


def _check_env_name(name: str) -> None:
    """An unknown env name is refused here, before the simulators are imported."""
    from jaxrl import _envnames
    from jaxrl._errors import unknown_name

    known = _envnames.names()
    if known is not None and not _envnames.accepted(name, known):
        raise CLIError(unknown_name("env", name, known))


def _env_overrides(spec: str) -> dict[str, float]:
    """``"length=0.75,masspole=0.2"`` -> ``{"length": 0.75, "masspole": 0.2}``."""
    out = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise CLIError(f"env_params: expected NAME=VALUE with a number, got {item!r}")
    return out


def _fingerprint_fields(algo, args, overrides, points, config: dict, hparams: dict) -> dict:
    randomize = {"randomize": args.randomize} if args.randomize else {}
    return dict(algo=algo, env=args.env, env_params=overrides, seed=args.seed, config=config,
                points=points, seeds=args.seeds, hparams=hparams, **randomize)  # fmt: skip


def train_command(algo: str, argv: list[str], sweep: bool = False) -> int:
    """``jaxrl train`` (seeds) and ``jaxrl sweep`` (a grid of traced hparams x seeds)."""
    import tyro

    from jaxrl import _fields, registry
    from jaxrl._errors import check_ranges, unknown_name

    if algo not in registry.ALGORITHMS:
        raise CLIError(unknown_name("algorithm", algo, registry.ALGORITHMS))
    entry = registry.ALGORITHMS[algo]
    fields = _fields.algorithm_fields(entry.module)
    types_ = _args_type(fields, sweep)
    argv, config_file = _pop_config_file(argv)
    default = _defaults_from_file(config_file, algo, sweep, types_, fields) if config_file else None
    command = "sweep" if sweep else "train"
    description = (f"{entry.summary} ({_actions(entry.actions)} actions). Every field of the "
                   "algorithm's config and hyperparameters is a flag.")  # fmt: skip
    kwargs = {"default": default} if default is not None else {}
    args = tyro.cli(types_[0], args=argv, prog=f"jaxrl {command} {algo}",
                    description=description, **kwargs)  # fmt: skip

    # Everything that can be checked without JAX, before importing it.
    for name in ("seeds", "chunks", "checkpoint_every"):
        value = getattr(args, name)
        if value <= 0:
            raise CLIError(f"{name}: must be a positive int, got {value}")
    _check_env_name(args.env)
    check_ranges(args.hparams, fields.ranges)
    from jaxrl.run import sweep as sweep_mod

    grid = [spec for group in args.grid for spec in group] if sweep else []
    if sweep and not grid:
        raise CLIError("sweep needs at least one --grid NAME=V1,V2,...")
    points = sweep_mod.parse_grid(grid, args.hparams, args.config) if sweep else [{}]
    for point in points:
        try:
            check_ranges(dataclasses.replace(args.hparams, **point), fields.ranges)
        except ValueError as e:
            raise CLIError(f"grid: {e}") from None
    num_runs = len(points) * args.seeds
    overrides = _env_overrides(args.env_params)
    if args.wandb:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise CLIError("--wandb needs the wandb package: pip install wandb") from None
    config_dict = dataclasses.asdict(args.config)
    hparams_dict = dataclasses.asdict(args.hparams)
    if args.resume:
        if not args.out:
            raise CLIError("--resume needs --out DIR of the interrupted run")
        out = Path(args.out)
        if not (out / "checkpoints").is_dir():
            raise CLIError(f"{out / 'checkpoints'}: no checkpoint to resume from")
        from jaxrl.run.resume import check_resumable

        stamp = _fingerprint_fields(algo, args, overrides, points, config_dict, hparams_dict)
        check_resumable(out / "checkpoints", stamp)  # names each differing field

    from jaxrl.run import configure_cpu

    configure_cpu(num_runs=num_runs)  # before anything imports gymnax
    import numpy as np

    from jaxrl import envs
    from jaxrl.run import results, run_seeds, saved_policies, stats
    from jaxrl.run.baseline import SOLVED_THRESHOLDS, random_policy_return

    module = registry.algorithm(algo)
    config = registry.config_from_dict(module.CONFIG, config_dict)
    base_hparams = module.HPARAMS(**hparams_dict)
    env, env_params = envs.make(args.env, **overrides)
    if args.randomize:  # domain randomisation: every episode draws its params from ranges
        try:
            ranges = envs.parse_ranges(args.randomize)
            env = envs.DomainRandomization(env, ranges, env_params)
        except ValueError as e:
            raise CLIError(f"randomize: {e}") from None
    learner = module.make_learner(config, env, env_params)  # validates the config
    hparams, key_ids = sweep_mod.expand(base_hparams, points, args.seeds)
    learner.validate_hparams(hparams)
    if not args.resume:
        out = results.prepare_dir(args.out, overwrite=args.overwrite) if args.out else None

    what = f"{len(points)} grid points x {args.seeds} seeds" if sweep else f"{args.seeds} seeds"
    print(f"{command} {algo} on {args.env}: {what} x {learner.total_steps:,} "
          f"{learner.step_unit}")  # fmt: skip
    chunked = not (args.chunks == 1 and out is None)
    budget = _budget(learner, config, args.chunks if chunked else None)
    for line in budget.pop("notes"):
        print(f"  note: {line}")
    tracker = _Tracker(args, algo, out, learner, num_runs, config_dict, hparams_dict, points)
    t0 = time.perf_counter()
    if not chunked:
        from jaxrl.run.chunked import _Ticker

        with _Ticker("compiling and running", enabled=args.progress):
            res = run_seeds(learner, num_runs, hparams, seed=args.seed, key_ids=key_ids)
        tracker.log(0, res.output.metrics)
    else:
        from jaxrl.run.chunked import run_chunked

        res = run_chunked(
            learner,
            num_runs,
            hparams,
            chunk_updates=budget["chunk_updates"],
            seed=args.seed,
            key_ids=key_ids,
            checkpoint_dir=out / "checkpoints" if out is not None else None,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            run_fingerprint=_fingerprint_fields(
                algo, args, overrides, points, config_dict, hparams_dict
            ),  # fmt: skip
            progress=args.progress,
            on_chunk=tracker.log if tracker.active else None,
        )
    wall = time.perf_counter() - t0
    metrics = res.output.metrics
    finals = np.where(res.diverged, np.nan, metrics["episode_return"][:, -1])
    random_return = random_policy_return(learner.env, learner.env_params)  # what it trains on
    solved = SOLVED_THRESHOLDS.get(args.env)
    policy = saved_policies(learner, res.output.state)
    groups = finals.reshape(len(points), args.seeds)
    per_point = [
        {"hparams": p, **stats.summarize(g, baseline=random_return, solved=solved)}
        for p, g in zip(points, groups, strict=True)
    ]
    summary = dict(per_point[0]) if not sweep else {"points": per_point}
    updates_run = learner.num_updates if res.updates_run is None else res.updates_run
    steps_here = num_runs * updates_run * learner.steps_per_update
    summary.update(
        env=args.env,
        algo=algo,
        hparams=hparams_dict,
        env_steps_per_run=learner.total_steps,
        step_unit=learner.step_unit,
        budget=budget,
        random_return=random_return,
        final_returns=finals.tolist(),
        diverged=np.flatnonzero(res.diverged).tolist(),
        compile_s=res.compile_s,
        run_s=res.run_s,
        wall_s=wall,
        steps_this_process=steps_here,
        resumed_from_update=res.resumed_from,
        sps=steps_here / res.run_s if steps_here and res.run_s > 0 else None,
        params_sha256=results.params_sha256(policy),
    )
    if sweep:
        _print_sweep(per_point)
    else:
        _print_summary(summary, args.seeds)
    unit = learner.step_unit
    if summary["sps"] is None:
        rate = "- (nothing was left to run)"
    else:
        rate = f"{summary['sps']:,.0f}"
        if res.resumed_from:
            rate += f" (the {steps_here:,} {unit} run in this process)"
    _print_table([
        ("random policy", f"return {random_return:.2f}"),
        ("compile / run", f"{res.compile_s:.2f} s / {res.run_s:.2f} s"),
        (f"{unit}/s", rate),
    ])  # fmt: skip
    if res.diverged.any():
        print(f"  warning: runs {summary['diverged']} diverged (non-finite loss or params)")
    tracker.finish(summary)

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
                "config": config_dict,
                "hparams": hparams_dict,
                "budget": budget,
                "config_file": config_file,
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


def _actions(kind: str) -> str:
    return "discrete and continuous" if kind == "both" else kind


def _budget(learner, config, chunks: int | None) -> dict:
    """The run's length as asked and as run (budgets round to whole updates and chunks to
    divisors of the updates), with a note for each rounding."""
    from jaxrl.run.chunked import chunk_size

    unit, per = learner.step_unit, learner.steps_per_update
    requested = getattr(config, "total_steps", None)
    out = {"requested_steps": requested, "steps": learner.total_steps, "unit": unit,
           "updates": learner.num_updates, "steps_per_update": per, "notes": []}  # fmt: skip
    if requested is not None and requested != learner.total_steps:
        out["notes"].append(
            f"total_steps {requested:,} rounded down to {learner.total_steps:,} {unit} per run "
            f"({learner.num_updates} whole updates of {per:,})"
        )
    if chunks is not None:
        size = chunk_size(learner.num_updates, chunks)
        count = math.ceil(learner.num_updates / size)
        out.update(chunks_requested=chunks, chunks=count, chunk_updates=size)
        if count != chunks:
            out["notes"].append(
                f"--chunks {chunks} became {count} chunks of {size} updates (a divisor of the "
                f"{learner.num_updates} updates, so one compile serves them all)"
            )
    out["rounded"] = bool(out["notes"])
    return out


class _Tracker:
    """Optional Weights & Biases logging of every update's mean metrics over runs."""

    def __init__(self, args, algo, out, learner, num_runs, config, hparams, points):
        self.active = bool(args.wandb)
        self.steps_per_update = learner.steps_per_update
        self.num_runs = num_runs
        if not self.active:
            return
        import wandb

        self.run = wandb.init(
            project=args.wandb_project,
            name=out.name if out is not None else None,
            dir=str(out) if out is not None else None,
            config={
                "algo": algo,
                "env": args.env,
                "seeds": args.seeds,
                "seed": args.seed,
                "grid": points,
                "config": config,
                "hparams": hparams,
            },  # fmt: skip
            reinit=True,
        )

    def log(self, offset: int, metrics: dict) -> None:
        if not self.active:
            return
        import numpy as np

        from jaxrl.run import stats

        updates = np.asarray(metrics["episode_return"]).shape[1]
        for u in range(updates):
            row = {}
            for name, values in metrics.items():
                column = np.asarray(values)[: self.num_runs, u]
                column = column[np.isfinite(column)]
                if column.size:
                    row[f"mean/{name}"] = float(column.mean())
                    if name == "episode_return":
                        row["iqm/episode_return"] = stats.iqm(column)
            self.run.log(row, step=(offset + u + 1) * self.steps_per_update)

    def finish(self, summary: dict) -> None:
        if not self.active:
            return
        for key in ("iqm", "mean", "frac_solved", "sps", "compile_s", "run_s"):
            if summary.get(key) is not None:
                self.run.summary[key] = summary[key]
        self.run.finish()


def _print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


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


def train_help(command: str) -> str:
    from jaxrl import registry

    width = max(len(n) for n in registry.ALGORITHMS)
    lines = [
        f"usage: jaxrl {command} ALGO --env NAME [flags]"
        + (" --grid NAME=V1,V2,..." if command == "sweep" else ""),
        "",
        f"`jaxrl {command} ALGO --help` describes every flag of one algorithm (its config and",
        "hyperparameters, with their valid ranges); `jaxrl envs` lists the envs and their spaces.",
        "",
        "algorithms (the actions they handle):",
    ]
    for name, entry in registry.ALGORITHMS.items():
        kind = _actions(entry.actions)
        lines.append(f"  {name:<{width}}  {kind:<23}  {entry.summary}")
    return "\n".join(lines)


# ---- evaluate ---------------------------------------------------------------------------


def evaluate_command(argv: list[str]) -> int:
    import tyro

    from jaxrl._cli_args import EvaluateArgs

    args = tyro.cli(EvaluateArgs, args=argv, prog="jaxrl evaluate")
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise CLIError(f"{run_dir}: no such run directory")
    if args.episodes <= 0:
        raise CLIError(f"episodes: must be a positive int, got {args.episodes}")
    if args.video:
        return _video(args, run_dir)
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


def _video(args, run_dir: Path) -> int:
    run: int | str = int(args.run) if args.run.lstrip("-").isdigit() else args.run
    if args.fps <= 0:
        raise CLIError(f"fps: must be a positive int, got {args.fps}")
    config = _read_json(run_dir / "config.json")
    from jaxrl import render

    render.require_renderer(config.get("env", "?"))  # before JAX
    from jaxrl.run import configure_cpu

    configure_cpu(num_runs=1)
    import jaxrl

    policy = jaxrl.load(run_dir, run=run)
    path = Path(args.video_path) if args.video_path else run_dir / "videos" / f"run{policy.run}.gif"
    if path.exists() and not args.overwrite:
        raise CLIError(f"{path} already exists; pass --overwrite to replace it")
    info = render.record_video(policy, path, seed=args.seed, fps=args.fps)
    print(f"{policy.algo} on {policy.env_name}, run {policy.run}: one greedy episode of "
          f"{info['length']} steps, return {info['return']:.2f}")  # fmt: skip
    print(f"video ({info['frames']} frames) written to {path}")
    return 0


def _read_json(path: Path) -> dict:
    from jaxrl.run.results import RunDirError

    if not path.exists():
        raise RunDirError(f"{path}: not found (is {path.parent} a jaxrl run directory?)")
    return json.loads(path.read_text())


# ---- compare, envs ----------------------------------------------------------------------


def compare_command(argv: list[str]) -> int:
    import tyro

    from jaxrl._cli_args import CompareArgs

    args = tyro.cli(CompareArgs, args=argv, prog="jaxrl compare")
    from jaxrl.run.compare import compare, print_comparison

    references = {}
    for item in args.reference:
        env, sep, value = item.rpartition("=")
        try:
            references[env] = float(value)
        except ValueError:
            sep = ""
        if not sep or not env:
            raise CLIError(f"reference: expected ENV=SCORE, got {item!r}")
    result = compare(list(args.runs), args.out, normalize=args.normalize, references=references)
    for line in result["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    print_comparison(result)
    if args.out:
        print(f"plot written to {args.out}")
    return 0


def envs_command(argv: list[str]) -> int:
    """``jaxrl envs``: every env with its action and observation spaces; ``jaxrl envs NAME``
    also lists the params ``--env-params`` can set."""
    if any(a in ("-h", "--help") for a in argv):
        print(
            "usage: jaxrl envs [NAME...]\n\nEvery env name `--env` accepts, with its action "
            "and observation spaces;\nwith names, also the parameters `--env-params` can set."
        )
        return 0
    for name in argv:
        _check_env_name(name)
    from jaxrl.run import configure_cpu

    configure_cpu(num_runs=1)
    from jaxrl.envs import spaces_of

    if argv:
        for name in argv:
            info = spaces_of(name)
            print(name)
            print(f"  actions      {info['actions']}")
            print(f"  observations {info['observations']}")
            if info.get("params"):
                print("  params       " + ", ".join(f"{k}={v}" for k, v in info["params"].items()))
        return 0
    from jaxrl import envs

    names = envs.list_envs()
    width = max(len(n) for n in names)
    print(f"{'env':<{width}}  {'actions':<34}  observations")
    for name in names:
        if name.startswith(("brax/", "playground/")):
            info = {"actions": "continuous", "observations": f"(`jaxrl envs {name}`)"}
        else:
            info = spaces_of(name)
        print(f"{name:<{width}}  {info['actions']:<34}  {info['observations']}")
    return 0


# ---- entry point ------------------------------------------------------------------------


def _one_line_warnings() -> None:
    """jaxrl's own warnings (a checkpoint passed over, a compare caveat) as one line."""
    from jaxrl._errors import JaxrlWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, JaxrlWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    from jaxrl._errors import unknown_name

    _one_line_warnings()
    command, rest = argv[0], argv[1:]
    try:
        if command in ("train", "sweep"):
            if not rest or rest[0].startswith("-"):
                if rest and rest[0] in ("-h", "--help"):
                    print(train_help(command))
                    return 0
                from jaxrl import registry

                raise CLIError(f"{command} needs an algorithm ({', '.join(registry.ALGORITHMS)}); "
                               f"`jaxrl {command} --help` describes them")  # fmt: skip
            return train_command(rest[0], rest[1:], sweep=command == "sweep")
        if command == "evaluate":
            return evaluate_command(rest)
        if command == "compare":
            return compare_command(rest)
        if command == "envs":
            return envs_command(rest)
        if command == "demos":
            from jaxrl.run.demos import demos_command

            return demos_command(rest)
        if command == "dataset":
            from jaxrl.datasets.cli import main as dataset_main

            return dataset_main(rest)
        raise CLIError(unknown_name("command", command, COMMANDS))
    except (CLIError, ValueError, TypeError) as e:  # RunDirError, CheckpointError: ValueError
        return _fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
