import numpy as np
import pytest
import scipy.stats

from jaxrl.run import stats


@pytest.mark.parametrize("n", [4, 7, 16, 33, 100])
def test_iqm_equals_scipy_trim_mean(n):
    x = np.random.default_rng(n).normal(size=n) * 100
    assert abs(stats.iqm(x) - scipy.stats.trim_mean(x, 0.25)) < 1e-6


def test_bootstrap_ci_agrees_with_scipy_percentile():
    x = np.random.default_rng(1).gamma(2.0, 50.0, size=40)
    lo, hi = stats.bootstrap_ci(x, stats.mean, num_resamples=4000, seed=3)
    ref = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=4000, method="percentile", random_state=4
    ).confidence_interval
    width = ref.high - ref.low
    # Two independent Monte-Carlo estimates of the same quantiles.
    assert abs(lo - ref.low) < 0.1 * width
    assert abs(hi - ref.high) < 0.1 * width


def test_probability_of_improvement_is_mann_whitney():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, size=13).astype(float)  # integers: ties happen
    y = rng.integers(0, 5, size=9).astype(float)
    u = scipy.stats.mannwhitneyu(x, y).statistic
    assert abs(stats.probability_of_improvement(x, y) - u / (13 * 9)) < 1e-12


def test_summary_fields_and_fraction_below_random():
    x = np.array([10.0, 20.0, 30.0, 500.0, np.nan])
    s = stats.summarize(x, baseline=15.0, solved=475.0)
    assert s["runs"] == 5 and s["finite_runs"] == 4
    assert s["frac_solved"] == 0.25
    assert s["frac_below_random"] == 0.25
    assert s["iqm_ci95"][0] <= s["iqm"] <= s["iqm_ci95"][1]


def test_performance_profile_is_decreasing():
    x = np.random.default_rng(0).normal(size=50)
    prof = stats.performance_profile(x, np.linspace(-3, 3, 13))
    assert np.all(np.diff(prof) <= 0) and prof[0] > 0.99 and prof[-1] < 0.01


def test_median_is_over_tasks_of_each_tasks_mean():
    """Agarwal et al. 2021: the median over tasks of the per-task mean over runs."""
    scores = np.array([[0.0, 4.0, 100.0], [2.0, 6.0, 100.0], [1.0, 5.0, -170.0]])  # [runs, tasks]
    # task means 1, 5, 10 -> median 5; per-run means would be 34.7, 36, -54.7 -> median 34.7
    assert stats.median(scores) == 5.0
    assert stats.median(np.array([3.0, 1.0, 2.0])) == 2.0  # one task: its mean


def test_performance_profile_by_hand():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(stats.performance_profile(x, [-1, 0.5, 1.5, 2.5, 3.0]),
                               [1.0, 0.75, 0.5, 0.25, 0.0])  # fmt: skip
    two_tasks = np.array([[0.0, 10.0], [1.0, 20.0]])  # runs over both tasks pooled
    np.testing.assert_allclose(stats.performance_profile(two_tasks, [0.5, 15.0]), [0.75, 0.25])


def test_fraction_below_ci_matches_the_binomial_interval():
    """256 runs of which 77 (30 %) fall below the baseline: the point estimate is exact and
    the bootstrap interval matches the normal approximation of the binomial,
    0.30 +- 1.96 sqrt(0.3 * 0.7 / 256) = [0.244, 0.357], within resampling noise."""
    x = np.concatenate([np.full(77, 10.0), np.full(179, 500.0)])
    frac, lo, hi = stats.fraction_below_ci(np.random.default_rng(0).permutation(x), 22.4)
    assert frac == 77 / 256
    half = 1.96 * np.sqrt(frac * (1 - frac) / 256)
    np.testing.assert_allclose([lo, hi], [frac - half, frac + half], atol=0.012)
    assert stats.fraction_below_ci(x, 5.0) == (0.0, 0.0, 0.0)  # ties at the baseline count not
