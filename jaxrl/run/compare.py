"""Compare finished runs: IQM with bootstrap CIs and probability of improvement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jaxrl.run import stats
from jaxrl.run.results import RunDirError


def load_final_returns(run_dir: str | Path) -> tuple[str, np.ndarray]:
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise RunDirError(f"{path}: not found (is {run_dir} a jaxrl run directory?)")
    summary = json.loads(path.read_text())
    finals = np.asarray(summary["final_returns"], np.float64)
    return str(run_dir), finals[np.isfinite(finals)]


def compare(run_dirs: list[str], out_png: str | Path | None = None) -> dict:
    """Per run: IQM [95% CI]; per pair: P(row run > column run)."""
    runs = [load_final_returns(d) for d in run_dirs]
    rows = []
    for name, x in runs:
        lo, hi = stats.bootstrap_ci(x) if x.size else (float("nan"), float("nan"))
        rows.append(
            {
                "run": name,
                "n": int(x.size),
                "iqm": stats.iqm(x) if x.size else None,
                "iqm_ci95": [lo, hi],
                "mean": float(x.mean()) if x.size else None,
            }
        )
    poi = [[stats.probability_of_improvement(a, b) if a.size and b.size else float("nan")
            for _, b in runs] for _, a in runs]  # fmt: skip
    if out_png is not None:
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
        ax.set_yticks(range(len(rows)), [Path(r["run"]).name for r in rows])
        ax.set_xlabel("IQM of final return (95% bootstrap CI)")
        fig.tight_layout()
        fig.savefig(out_png, dpi=110)
        plt.close(fig)
    return {"runs": rows, "probability_of_improvement": poi}


def print_comparison(result: dict) -> None:
    rows = result["runs"]
    names = [Path(r["run"]).name for r in rows]
    width = max(12, *(len(n) for n in names))
    print(f"  {'run':<{width}} {'n':>4} {'IQM [95% CI]':>28}")
    for n, r in zip(names, rows, strict=True):
        lo, hi = r["iqm_ci95"]
        iqm = f"{r['iqm']:.2f} [{lo:.2f}, {hi:.2f}]" if r["iqm"] is not None else "-"
        print(f"  {n:<{width}} {r['n']:>4} {iqm:>28}")
    print("\n  P(row > column):")
    print("  " + " " * width + "".join(f"{n[:10]:>11}" for n in names))
    for n, p in zip(names, result["probability_of_improvement"], strict=True):
        print(f"  {n:<{width}}" + "".join(f"{v:>11.2f}" for v in p))
