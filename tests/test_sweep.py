import numpy as np

from jaxrl.agents.onpolicy import ppo
from jaxrl.run import sweep


def test_grid_is_a_cartesian_product_with_common_seeds():
    points = sweep.parse_grid(["lr=1e-4,3e-4,1e-3", "gamma=0.9,0.99"], ppo.PPOHParams())
    assert len(points) == 6 and points[0] == {"lr": 1e-4, "gamma": 0.9}
    hp, key_ids = sweep.expand(ppo.PPOHParams(), points, seeds=3)
    assert hp.lr.shape == (18,) and hp.clip_eps.shape == (18,)
    np.testing.assert_allclose(hp.lr[:6], [1e-4] * 6)
    np.testing.assert_allclose(hp.gamma[:6], [0.9] * 3 + [0.99] * 3)
    assert key_ids.tolist() == [0, 1, 2] * 6
