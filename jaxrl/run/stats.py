"""Aggregate statistics for few-run deep RL (Agarwal et al. 2021, arXiv:2108.13264).

Point estimates (mean, median, interquartile mean, optimality gap), percentile bootstrap
confidence intervals (stratified over tasks), probability of improvement and performance
profiles. Scores are arrays ``[runs]`` or ``[runs, tasks]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _2d(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x[:, None] if x.ndim == 1 else x


def mean(x) -> float:
    return float(np.mean(_2d(x)))


def median(x) -> float:
    """Median over tasks of each task's mean score over runs (Agarwal et al. 2021); scores
    ``[runs]`` or ``[runs, tasks]``. With one task, that task's mean."""
    return float(np.median(np.mean(_2d(x), axis=0)))


def iqm(x) -> float:
    """Interquartile mean: mean of the middle 50 % of all scores (25 % trimmed each side)."""
    flat = np.sort(_2d(x).reshape(-1))
    n = flat.size
    cut = int(np.floor(0.25 * n))  # same trimming rule as scipy.stats.trim_mean(x, 0.25)
    return float(np.mean(flat[cut : n - cut]))


def optimality_gap(x, threshold: float = 1.0) -> float:
    """Mean amount by which scores fall short of ``threshold``."""
    return float(np.mean(np.maximum(threshold - _2d(x), 0.0)))


AGGREGATES: dict[str, Callable] = {
    "mean": mean,
    "median": median,
    "iqm": iqm,
    "optimality_gap": optimality_gap,
}


def bootstrap_ci(
    x,
    statistic: Callable = iqm,
    *,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval, resampling runs independently within each task."""
    x = _2d(x)
    n, tasks = x.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(num_resamples, n, tasks))
    resampled = np.take_along_axis(x[None], idx, axis=1)  # [R, n, tasks]
    values = np.array([statistic(r) for r in resampled])
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_ci_tasks(
    tasks: list,
    statistic: Callable = iqm,
    *,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """:func:`bootstrap_ci` for scores of several tasks with any number of runs each
    (``[runs_t]`` per task): each task's runs are resampled apart, and ``statistic`` is taken
    over all of them together."""
    arrays = [np.asarray(x, np.float64).reshape(-1) for x in tasks]
    rng = np.random.default_rng(seed)
    draws = [x[rng.integers(0, x.size, size=(num_resamples, x.size))] for x in arrays]
    values = np.array([statistic(np.concatenate([d[r] for d in draws]))
                       for r in range(num_resamples)])  # fmt: skip
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def probability_of_improvement_ci(
    x_tasks: list,
    y_tasks: list,
    *,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of P(X > Y) averaged over tasks (:func:`probability_of_improvement`
    per task): every task's runs of X and of Y are resampled independently."""
    rng = np.random.default_rng(seed)
    total = np.zeros(num_resamples)
    for x, y in zip(x_tasks, y_tasks, strict=True):
        x = np.asarray(x, np.float64).reshape(-1)
        y = np.asarray(y, np.float64).reshape(-1)
        wins = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])  # [n, m]
        ix = rng.integers(0, x.size, size=(num_resamples, x.size))
        iy = rng.integers(0, y.size, size=(num_resamples, y.size))
        # mean over the resampled pairs: counts of each run in the resample, weighted
        cx = np.stack([np.bincount(r, minlength=x.size) for r in ix]) / x.size  # [R, n]
        cy = np.stack([np.bincount(r, minlength=y.size) for r in iy]) / y.size  # [R, m]
        total += np.einsum("rn,nm,rm->r", cx, wins, cy)
    values = total / len(x_tasks)
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def probability_of_improvement(x, y) -> float:
    """P(X > Y) for a run of X against a run of Y, ties counting 1/2, averaged over tasks.

    Equals the Mann-Whitney U statistic divided by ``n * m``.
    """
    x, y = _2d(x), _2d(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"probability_of_improvement: {x.shape[1]} vs {y.shape[1]} tasks")
    per_task = []
    for t in range(x.shape[1]):
        a, b = x[:, t][:, None], y[:, t][None, :]
        per_task.append(np.mean((a > b) + 0.5 * (a == b)))
    return float(np.mean(per_task))


def performance_profile(x, taus) -> np.ndarray:
    """Fraction of runs (over all tasks) with score above each ``tau``."""
    flat = _2d(x).reshape(-1)
    return np.array([np.mean(flat > t) for t in np.asarray(taus)])


def fraction_below(x, baseline: float) -> float:
    """Fraction of runs scoring below ``baseline`` (e.g. the random policy's return)."""
    return float(np.mean(_2d(x) < baseline))


def fraction_below_ci(
    x, baseline: float, *, num_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``(fraction, low, high)``: the fraction of runs scoring below ``baseline`` and its
    percentile bootstrap interval over runs (how often a run ends worse than, e.g., the
    random policy)."""
    lo, hi = bootstrap_ci(x, lambda r: fraction_below(r, baseline), num_resamples=num_resamples,
                          confidence=confidence, seed=seed)  # fmt: skip
    return fraction_below(x, baseline), lo, hi


def summarize(x, *, baseline: float | None = None, solved: float | None = None, seed: int = 0):
    """A dict of the usual figures for final returns of one task ``[runs]``."""
    x = np.asarray(x, np.float64)
    finite = x[np.isfinite(x)]
    out = {"runs": int(x.size), "finite_runs": int(finite.size)}
    if finite.size == 0:
        return out
    lo, hi = bootstrap_ci(finite, iqm, seed=seed)
    out.update(
        mean=float(finite.mean()),
        iqm=iqm(finite),
        iqm_ci95=[lo, hi],
        median=float(np.median(finite)),
        min=float(finite.min()),
        max=float(finite.max()),
        std=float(finite.std()),
    )
    if solved is not None:
        out["solved_threshold"] = solved
        out["frac_solved"] = float(np.mean(finite >= solved))
    if baseline is not None:
        out["random_return"] = baseline
        out["frac_below_random"] = fraction_below(finite, baseline)
    return out
