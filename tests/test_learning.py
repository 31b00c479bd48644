"""Every algorithm learns on a tiny budget: 8 seeds vmapped in one compile per algorithm, the
IQM of their greedy evaluation scores above a threshold with a margin (``tests/learning.py``
has the settings; ``experiments/learning_tests.py`` measures them under other base keys and
CPUs, and BENCHMARKS.md records what it saw)."""

import numpy as np
import pytest
from learning import SPECS, run


@pytest.mark.parametrize("name", [n for n in SPECS if n != "sac_discrete_cartpole"])
def test_learns(name):
    spec = SPECS[name]
    scores = run(spec)
    assert np.isfinite(scores).all(), scores  # no run diverged
    assert spec.passed(scores), (spec.iqm(scores), spec.threshold, scores)
    assert spec.iqm(scores) > spec.random_return


def test_discrete_sac_learns_with_its_default_target_entropy():
    """The default target entropy is 0.89 of the maximum, log|A|: the initial near-uniform
    policy is above it, so the temperature first falls (at the maximum it could only rise);
    once the policy has become decisive the temperature pushes its entropy back up towards
    the target from below."""
    spec = SPECS["sac_discrete_cartpole"]
    scores, metrics = run(spec, with_metrics=True)
    assert spec.passed(scores), (spec.iqm(scores), scores)
    alpha, entropy = np.asarray(metrics["alpha"]), np.asarray(metrics["entropy"])
    target = 0.89 * np.log(2)
    assert np.isfinite(alpha).all() and np.median(alpha[:, 2]) < 1.0, alpha
    lowest, last = np.median(entropy.min(axis=1)), np.median(entropy[:, -1])
    assert lowest < target and lowest + 0.02 < last < target + 0.02, (lowest, last, target)
