"""jaxrl's return and target math against rlax (DeepMind's RL building blocks), a test-only
dependency: GAE, n-step bootstrapped returns, double Q-learning targets, the signed
hyperbolic transform h(x) and its inverse, and two-hot encodings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

rlax = pytest.importorskip("rlax")

from jaxrl.losses import (  # noqa: E402
    double_q_target,
    generalized_advantage_estimation,
    inverse_value_transform,
    n_step_bootstrap,
    two_hot,
    two_hot_decode,
    value_transform,
)


def _segments(done):
    """Index ranges of the episodes a segment holds (cut after each done step)."""
    cuts = [0] + [i + 1 for i in np.flatnonzero(done)] + [len(done)]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def test_gae_with_terminations_and_truncations_equals_rlax_per_episode():
    """jaxrl's GAE over a segment spanning several episodes (terminations: no bootstrap;
    truncations: bootstrap from the final observation's value, trace cut) equals rlax's
    truncated GAE run on each episode piece alone, with the piece's last value the value of
    the state it reached."""
    rng = np.random.default_rng(3)
    T, gamma, lam = 40, 0.97, 0.9
    r = rng.normal(size=T).astype(np.float32)
    v = rng.normal(size=T).astype(np.float32)
    v_final = rng.normal(size=T).astype(np.float32)  # value of each step's final observation
    terminated, truncated = np.zeros(T, bool), np.zeros(T, bool)
    terminated[[5, 17, 30]] = True
    truncated[[9, 10, 22, 39]] = True  # twice in a row: a one-step episode
    done = terminated | truncated
    v_tp1 = np.where(done, v_final, np.append(v[1:], v_final[-1]))
    got = generalized_advantage_estimation(jnp.asarray(r), jnp.asarray(v), jnp.asarray(v_tp1),
                                           jnp.asarray(terminated), jnp.asarray(done),
                                           gamma, lam)  # fmt: skip
    want = np.zeros(T, np.float32)
    for a, b in _segments(done):
        values = np.append(v[a:b], v_tp1[b - 1])  # [T_piece + 1]
        discount = gamma * (1.0 - terminated[a:b])
        want[a:b] = rlax.truncated_generalized_advantage_estimation(
            jnp.asarray(r[a:b]), jnp.asarray(discount, jnp.float32), lam, jnp.asarray(values)
        )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_n_step_bootstrap_equals_rlax_n_step_returns():
    """Each full window of n steps (terminations inside it included) gives rlax's n-step
    bootstrapped return at its first step."""
    rng = np.random.default_rng(1)
    T, n, gamma = 30, 5, 0.9
    r = rng.normal(size=T).astype(np.float32)
    v_next = rng.normal(size=T).astype(np.float32)  # value of the state each step reached
    terminated = rng.random(T) < 0.1
    discount = (gamma * (1.0 - terminated)).astype(np.float32)
    want = rlax.n_step_bootstrapped_returns(jnp.asarray(r), jnp.asarray(discount),
                                            jnp.asarray(v_next), n)  # fmt: skip
    for t in range(T - n + 1):
        window = slice(t, t + n)
        partial, boot, k = n_step_bootstrap(jnp.asarray(r[window]), jnp.asarray(discount[window]),
                                            jnp.asarray(terminated[window]))  # fmt: skip
        got = partial + boot * v_next[t + int(k)]
        np.testing.assert_allclose(got, want[t], rtol=1e-5, atol=1e-5)


def test_double_q_target_equals_rlax_double_q_learning():
    rng = np.random.default_rng(2)
    for _ in range(20):
        q_tm1, q_online, q_target = (jnp.asarray(rng.normal(size=4), jnp.float32)
                                     for _ in range(3))  # fmt: skip
        a, r, d = int(rng.integers(4)), float(rng.normal()), float(rng.uniform())
        td = rlax.double_q_learning(q_tm1, a, r, d, q_target, q_online)
        ours = r + d * double_q_target(q_online, q_target) - q_tm1[a]
        np.testing.assert_allclose(ours, td, rtol=1e-6, atol=1e-6)


def test_value_transform_and_inverse_equal_rlax():
    """In float64 (rlax's inverse loses digits to cancellation in float32: at h(-37) it gives
    -36.99905 where jaxrl's gives -37.000004)."""
    with jax.enable_x64():
        x = jnp.asarray(np.concatenate([np.linspace(-500, 500, 2001), [0.0, 1e-4, -3.3]]))
        np.testing.assert_allclose(value_transform(x), rlax.signed_hyperbolic(x), rtol=1e-12,
                                   atol=1e-12)  # fmt: skip
        y = value_transform(x)
        np.testing.assert_allclose(inverse_value_transform(y), rlax.signed_parabolic(y),
                                   rtol=1e-9, atol=1e-9)  # fmt: skip


def test_two_hot_equals_rlax():
    """rlax keeps a value 1e-5 of a bin inside the support's top (its weights differ from the
    exact split by up to 3e-5 relative); jaxrl's split is exact: its mean is ``x``."""
    x = jnp.asarray([-7.0, -5.0, -1.3, 0.0, 0.25, 2.71, 5.0, 9.0], jnp.float32)
    ours = jax.vmap(lambda s: two_hot(s, -5.0, 5.0, 11))(x)
    theirs = rlax.transform_to_2hot(x, -5.0, 5.0, 11)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(two_hot_decode(ours, -5.0, 5.0, 11), jnp.clip(x, -5, 5),
                               rtol=1e-6, atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(two_hot_decode(theirs, -5.0, 5.0, 11), jnp.clip(x, -5, 5),
                               rtol=1e-4, atol=1e-4)  # fmt: skip
