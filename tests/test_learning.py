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
    """With the defaults the temperature finds its equilibrium and the policy learns.

    The default target entropy is 0.7 of the maximum, log|A|. The initial near-uniform policy
    is above it, so alpha first falls; once the policy has become decisive alpha rises until
    the entropy meets its target, where alpha's gradient averages zero. With CleanRL's 0.89 on
    two actions the target lies above the entropy any alpha gives on CartPole and alpha grows
    without end (median 5.7 at 10,000 steps, 3,190 at 50,000; the entropy here is then ~0.07
    below its target): this test fails for it."""
    spec = SPECS["sac_discrete_cartpole"]
    assert not spec.hparams  # the defaults
    scores, metrics = run(spec, with_metrics=True)
    assert spec.passed(scores), (spec.iqm(scores), scores)
    alpha, entropy = np.asarray(metrics["alpha"]), np.asarray(metrics["entropy"])
    target = 0.7 * np.log(2)
    assert np.isfinite(alpha).all() and np.median(alpha[:, 2]) < 1.0, alpha
    assert np.median(alpha.max(axis=1)) < 5.0, alpha  # bounded (median peak ~2.3, keys 0-2)
    last = np.median(entropy[:, -1])
    assert abs(last - target) < 0.03, (last, target)  # at the equilibrium (0.47 vs 0.485)
