"""Compare finished runs: IQM with bootstrap CIs and probability of improvement.

What is compared is a *population*: the runs of one directory, or of one grid point of a
sweep (a sweep's points are never pooled). Returns on different envs are not comparable, so
such a comparison is refused unless the scores are normalised per env, ``(return - random)
/ (reference - random)`` (random -> 0, a reference score -> 1, as Agarwal et al. 2021
normalise multi-task aggregates); populations given the same label (``LABEL=DIR``) on
different envs are then one method over several tasks. Different budgets are allowed with a
warning. Probability of improvement comes with a stratified bootstrap CI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxrl.run import stats
from jaxrl.run.results import RunDirError

# Returns that normalise to 1 when none is given: the most an episode can return.
REFERENCE_SCORES = {
    "CartPole-v1": 500.0,  # 500 steps of reward 1
    "CartPoleSwingUp-v0": 200.0,  # 200 steps of reward at most 1
    "Catch-bsuite": 1.0,
}


@dataclass
class Population:
    name: str  # what the tables call it
    method: str  # populations with the same method on different envs are one method's tasks
    run_dir: str
    env: str | None
    env_params: dict
    steps: int | None  # budget per run
    unit: str
    random_return: float | None
    scores: np.ndarray  # finite final returns

    @property
    def task(self) -> str:
        if not self.env_params:
            return str(self.env)
        return f"{self.env}({','.join(f'{k}={v:g}' for k, v in sorted(self.env_params.items()))})"


@dataclass
class Method:
    name: str
    tasks: dict[str, np.ndarray] = field(default_factory=dict)  # task -> scores
    populations: dict[str, Population] = field(default_factory=dict)


def _split_label(arg: str) -> tuple[str | None, str]:
    label, sep, path = arg.partition("=")
    if sep and label and not Path(arg).exists():
        return label, path
    return None, arg


def load_populations(arg: str) -> list[Population]:
    """The populations of one command-line argument ``DIR`` or ``LABEL=DIR``."""
    label, run_dir = _split_label(arg)
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise RunDirError(f"{path}: not found (is {run_dir} a jaxrl run directory?)")
    summary = json.loads(path.read_text())
    config_path = Path(run_dir) / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    finals = np.asarray(summary["final_returns"], np.float64)
    common = dict(
        run_dir=str(run_dir),
        env=summary.get("env", config.get("env")),
        env_params=config.get("env_params") or {},
        steps=summary.get("env_steps_per_run"),
        unit=summary.get("step_unit", "env steps"),
        random_return=summary.get("random_return"),
    )
    base = label or str(run_dir)
    points = summary.get("points")
    if not points:
        return [Population(name=base, method=base, scores=finals[np.isfinite(finals)], **common)]
    out, start = [], 0
    for point in points:
        n = int(point["runs"])
        group = finals[start : start + n]
        start += n
        tag = ",".join(f"{k}={v:g}" for k, v in point["hparams"].items())
        name = f"{base}[{tag}]"
        out.append(Population(name=name, method=name, scores=group[np.isfinite(group)], **common))
    if start != finals.size:
        raise RunDirError(f"{path}: its points hold {start} runs but it has {finals.size}")
    return out


def _methods(populations: list[Population], normalize: bool, references: dict) -> list[Method]:
    tasks = sorted({p.task for p in populations})
    if len(tasks) > 1 and not normalize:
        where = "; ".join(f"{t}: {', '.join(p.name for p in populations if p.task == t)}"
                          for t in tasks)  # fmt: skip
        raise ValueError(
            f"compare: the runs are on different envs ({where}); returns of different envs are "
            "not comparable: pass --normalize (random -> 0, --reference ENV=SCORE -> 1) to "
            "compare normalised scores across tasks, labelling each method's runs LABEL=DIR"
        )
    methods: dict[str, Method] = {}
    for p in populations:
        scores = p.scores
        if normalize:
            ref = references.get(p.env, REFERENCE_SCORES.get(p.env))
            if ref is None:
                raise ValueError(
                    f"compare: no reference score for {p.env}; give one with --reference "
                    f"{p.env}=SCORE (the return that counts as 1)"
                )
            if p.random_return is None or not np.isfinite(p.random_return):
                raise ValueError(f"compare: {p.run_dir} records no random-policy return "
                                 "to normalise with")  # fmt: skip
            if ref == p.random_return:
                raise ValueError(f"compare: the reference score of {p.env} equals the random "
                                 f"policy's return ({ref:g})")  # fmt: skip
            scores = (scores - p.random_return) / (ref - p.random_return)
        m = methods.setdefault(p.method, Method(p.method))
        if p.task in m.tasks:
            raise ValueError(f"compare: {p.method} has two populations on {p.task}; give "
                             "them different labels")  # fmt: skip
        m.tasks[p.task] = scores
        m.populations[p.task] = p
    out = list(methods.values())
    for m in out[1:]:
        if set(m.tasks) != set(out[0].tasks):
            raise ValueError(
                f"compare: {m.name} is on {sorted(m.tasks)} but {out[0].name} on "
                f"{sorted(out[0].tasks)}; methods must cover the same tasks"
            )
    return out


def _budget_warnings(methods: list[Method]) -> list[str]:
    lines = []
    for task in methods[0].tasks:
        budgets = {m.name: (m.populations[task].steps, m.populations[task].unit) for m in methods}
        if len(set(budgets.values())) > 1:
            shown = ", ".join(f"{n} {s:,} {u}" if s is not None else f"{n} unknown"
                              for n, (s, u) in budgets.items())  # fmt: skip
            lines.append(f"different budgets on {task} ({shown}): the comparison confounds "
                         "the algorithm with the budget")  # fmt: skip
    return lines


def compare(run_dirs: list[str], out_png: str | Path | None = None, *, normalize: bool = False,
            references: dict | None = None, seed: int = 0) -> dict:  # fmt: skip
    """Per population: IQM [95% CI] over runs (and tasks); per pair: P(row > column) with a
    95% stratified bootstrap CI.

    Args:
      run_dirs: run directories, each optionally ``LABEL=DIR``.
      normalize: normalise each env's returns (random -> 0, reference -> 1); needed when
        the runs are on different envs.
      references: ``{env: score}`` that normalises to 1 (default :data:`REFERENCE_SCORES`).

    Raises:
      ValueError: fewer than two populations, different envs without ``normalize``, a
        missing reference, methods on different sets of tasks.
    """
    populations = [p for d in run_dirs for p in load_populations(d)]
    if len(populations) < 2:
        what = populations[0].name if populations else "nothing"
        raise ValueError(f"compare needs at least two populations (run directories, or grid "
                         f"points of a sweep); got one: {what}")  # fmt: skip
    methods = _methods(populations, normalize, references or {})
    if len(methods) < 2:
        raise ValueError(f"compare needs at least two methods; all runs are {methods[0].name}")
    warnings = _budget_warnings(methods)
    task_names = list(methods[0].tasks)
    rows = []
    for m in methods:
        per_task = [m.tasks[t] for t in task_names]
        n = int(sum(x.size for x in per_task))
        empty = any(x.size == 0 for x in per_task)
        lo, hi = (float("nan"),) * 2 if empty else stats.bootstrap_ci_tasks(per_task, seed=seed)
        flat = np.concatenate(per_task)
        rows.append({"run": m.name, "n": n, "tasks": task_names,
                     "iqm": None if empty else stats.iqm(flat), "iqm_ci95": [lo, hi],
                     "mean": None if empty else float(flat.mean())})  # fmt: skip
    poi, poi_ci = [], []
    for a in methods:
        row, row_ci = [], []
        for b in methods:
            xs, ys = [a.tasks[t] for t in task_names], [b.tasks[t] for t in task_names]
            if any(x.size == 0 for x in xs + ys):
                row.append(float("nan"))
                row_ci.append([float("nan")] * 2)
                continue
            row.append(float(np.mean([stats.probability_of_improvement(x, y)
                                      for x, y in zip(xs, ys, strict=True)])))  # fmt: skip
            row_ci.append(list(stats.probability_of_improvement_ci(xs, ys, seed=seed)))
        poi.append(row)
        poi_ci.append(row_ci)
    result = {"runs": rows, "tasks": task_names, "normalized": normalize,
              "probability_of_improvement": poi, "probability_of_improvement_ci95": poi_ci,
              "warnings": warnings}  # fmt: skip
    if out_png is not None:
        _plot(rows, normalize, out_png)
    return result


def _plot(rows: list[dict], normalize: bool, out_png) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.5 * len(rows)))
    for i, r in enumerate(rows):
        if r["iqm"] is None:
            continue
        lo, hi = r["iqm_ci95"]
        ax.plot([lo, hi], [i, i], color="tab:blue", lw=6, alpha=0.35)
        ax.plot([r["iqm"]], [i], "o", color="tab:blue")
    ax.set_yticks(range(len(rows)), [_short(r["run"]) for r in rows])
    what = "normalised score" if normalize else "final return"
    ax.set_xlabel(f"IQM of {what} (95% bootstrap CI)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def _short(name: str) -> str:
    base, bracket, point = name.partition("[")
    return Path(base).name + bracket + point


def print_comparison(result: dict) -> None:
    rows = result["runs"]
    names = [_short(r["run"]) for r in rows]
    width = max(12, *(len(n) for n in names))
    what = "normalised score" if result.get("normalized") else "final return"
    tasks = result.get("tasks", [])
    print(f"  {what} over {len(tasks)} task{'s' if len(tasks) != 1 else ''}: {', '.join(tasks)}")
    print(f"  {'population':<{width}} {'n':>4} {'IQM [95% CI]':>28}")
    for n, r in zip(names, rows, strict=True):
        lo, hi = r["iqm_ci95"]
        iqm = f"{r['iqm']:.2f} [{lo:.2f}, {hi:.2f}]" if r["iqm"] is not None else "-"
        print(f"  {n:<{width}} {r['n']:>4} {iqm:>28}")
    print("\n  P(row > column):")
    col = max(8, min(24, max(len(n) for n in names))) + 2
    print("  " + " " * width + "".join(f"{n[: col - 2]:>{col}}" for n in names))
    for n, p in zip(names, result["probability_of_improvement"], strict=True):
        print(f"  {n:<{width}}" + "".join(f"{v:>{col}.2f}" for v in p))
    print("\n  P(a > b) [95% bootstrap CI]:")
    ci = result["probability_of_improvement_ci95"]
    for i, a in enumerate(names):
        for j, b in enumerate(names[i + 1 :], start=i + 1):
            p, (lo, hi) = result["probability_of_improvement"][i][j], ci[i][j]
            print(f"  {a} > {b}: {p:.2f} [{lo:.2f}, {hi:.2f}]")
