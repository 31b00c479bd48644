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
    """With the default target entropy (0.89 of the maximum) the temperature falls from its
    initial 1 and stays bounded; at a target of the maximum entropy it could only rise."""
    spec = SPECS["sac_discrete_cartpole"]
    scores, metrics = run(spec, with_metrics=True)
    assert spec.passed(scores), (spec.iqm(scores), scores)
    alpha = np.asarray(metrics["alpha"])[:, 2:]  # from the first trained update on
    assert np.isfinite(alpha).all() and alpha.max() <= 1.0 and np.median(alpha[:, -1]) < 0.5
