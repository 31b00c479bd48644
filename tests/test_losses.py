import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.losses import (
    clipped_surrogate_loss,
    clipped_value_loss,
    generalized_advantage_estimation,
)


def gae_reference(r, v, v_next_bootstrap, terminated, done, gamma, lam):
    """Python loop: bootstrap unless terminated; cut the trace at every episode end."""
    T = len(r)
    adv = np.zeros(T)
    acc = 0.0
    for t in reversed(range(T)):
        nonterminal = 1.0 - terminated[t]
        delta = r[t] + gamma * nonterminal * v_next_bootstrap[t] - v[t]
        acc = delta + gamma * lam * (1.0 - done[t]) * acc
        adv[t] = acc
    return adv


class GAETest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_python_loop_with_truncation_and_termination(self):
        rng = np.random.default_rng(0)
        T, B = 12, 5
        r = rng.normal(size=(T, B))
        v = rng.normal(size=(T, B))
        v_final = rng.normal(size=(T, B))  # value of the true final observation
        v_last = rng.normal(size=(B,))
        terminated = np.zeros((T, B))
        truncated = np.zeros((T, B))
        terminated[3, 0] = terminated[7, 2] = terminated[11, 4] = 1
        truncated[5, 1] = truncated[2, 2] = truncated[11, 3] = 1
        done = np.maximum(terminated, truncated)
        v_next = np.concatenate([v[1:], v_last[None]])
        v_tp1 = np.where(done > 0, v_final, v_next)
        gamma, lam = 0.97, 0.9

        fn = self.variant(
            jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)
        )
        got = fn(*(jnp.asarray(a, jnp.float32) for a in (r, v, v_tp1, terminated, done)),
                 gamma, lam)  # fmt: skip
        want = np.stack(
            [gae_reference(r[:, b], v[:, b], v_tp1[:, b], terminated[:, b], done[:, b], gamma,
                           lam) for b in range(B)], axis=1)  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        # A truncated step bootstraps from the final observation's value...
        t, b = 5, 1
        assert abs(want[t, b] - (r[t, b] + gamma * v_final[t, b] - v[t, b])) < 1e-9
        # ...and a terminated one does not bootstrap at all.
        t, b = 3, 0
        assert abs(want[t, b] - (r[t, b] - v[t, b])) < 1e-9

    def test_rank_is_checked(self):
        x = jnp.zeros((3, 2))
        with pytest.raises(AssertionError):
            generalized_advantage_estimation(x, x, x, x, x, 0.9, 0.9)


def test_clipped_surrogate_hand_computed():
    ratio = jnp.array([0.5, 1.0, 1.5, 1.5, 0.5])
    adv = jnp.array([1.0, 2.0, 1.0, -1.0, -1.0])
    # -min(r A, clip(r, 0.8, 1.2) A):
    # 0.5*1=0.5 vs 0.8 -> 0.5; 2 vs 2 -> 2; 1.5 vs 1.2 -> 1.2; -1.5 vs -1.2 -> -1.5;
    # -0.5 vs -0.8 -> -0.8
    want = -jnp.array([0.5, 2.0, 1.2, -1.5, -0.8])
    np.testing.assert_allclose(clipped_surrogate_loss(ratio, adv, 0.2), want, rtol=1e-6)


def test_clipped_value_loss_hand_computed():
    v = jnp.array([1.0, 0.0, 2.0])
    v_old = jnp.array([0.5, 0.5, 2.0])
    target = jnp.array([2.0, 0.0, 3.0])
    # run 0: unclipped (1-2)^2=1, clipped v=0.7 -> 1.69; max 1.69 -> 0.845
    # run 1: unclipped 0, clipped v=0.3 -> 0.09 -> 0.045
    # run 2: 1 and 1 -> 0.5
    want = jnp.array([0.845, 0.045, 0.5])
    np.testing.assert_allclose(clipped_value_loss(v, v_old, target, 0.2), want, rtol=1e-5)
