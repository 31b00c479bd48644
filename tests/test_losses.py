import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.losses import (
    categorical_ppo_terms,
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


def _composed_ppo_terms(logits, value, action, old_lp, old_v, adv, target, eps, clip_value):
    log_p = jax.nn.log_softmax(logits, axis=0)
    log_ratio = jnp.take_along_axis(log_p, action.astype(jnp.int32)[None], 0)[0] - old_lp
    ratio = jnp.exp(log_ratio)
    if clip_value:
        value_loss = clipped_value_loss(value, old_v, target, eps)
    else:
        value_loss = 0.5 * (value - target) ** 2
    entropy = -jnp.sum(jnp.exp(log_p) * log_p, axis=0)
    kl = (ratio - 1.0) - log_ratio
    return jnp.stack([clipped_surrogate_loss(ratio, adv, eps), value_loss, entropy, kl])


@pytest.mark.parametrize("num_actions", [2, 3])
@pytest.mark.parametrize("clip_value", [True, False])
def test_categorical_ppo_terms_match_the_composed_losses(num_actions, clip_value):
    """Values and gradients (through a weighted sum of all four terms) equal autodiff of
    log-softmax + clipped losses, with ratios and values on both sides of the clip range."""
    ks = jax.random.split(jax.random.key(num_actions), 7)
    b = 301
    logits = 2.0 * jax.random.normal(ks[0], (num_actions, b))
    value = jax.random.normal(ks[1], (b,))
    action = jax.random.randint(ks[2], (b,), 0, num_actions).astype(jnp.float32)
    shifted = logits + 0.4 * jax.random.normal(ks[3], (num_actions, b))
    old_lp = jnp.take_along_axis(jax.nn.log_softmax(shifted, 0), action.astype(jnp.int32)[None], 0)[
        0
    ]
    old_v = value + 0.3 * jax.random.normal(ks[4], (b,))
    adv, target = jax.random.normal(ks[5], (b,)), jax.random.normal(ks[6], (b,))
    data = (action, old_lp, old_v, adv, target, 0.2, clip_value)
    got = categorical_ppo_terms(logits, value, *data)
    want = _composed_ppo_terms(logits, value, *data)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Both sides of both clips occur in this data (else the test would miss a branch).
    log_ratio = (
        jnp.take_along_axis(jax.nn.log_softmax(logits, 0), action.astype(jnp.int32)[None], 0)[0]
        - old_lp
    )
    assert jnp.any(jnp.abs(log_ratio) > 0.25) and jnp.any(jnp.abs(log_ratio) < 0.1)
    assert jnp.any(jnp.abs(value - old_v) > 0.2) and jnp.any(jnp.abs(value - old_v) < 0.2)

    weights = jnp.array([1.0, 0.5, -0.01, 0.3])

    def total(fn):
        return lambda lg, v: jnp.sum(weights @ fn(lg, v, *data))

    got = jax.grad(total(categorical_ppo_terms), (0, 1))(logits, value)
    want = jax.grad(total(_composed_ppo_terms), (0, 1))(logits, value)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4)
        assert float(jnp.abs(w).max()) > 1e-2


def test_clipped_value_loss_hand_computed():
    v = jnp.array([1.0, 0.0, 2.0])
    v_old = jnp.array([0.5, 0.5, 2.0])
    target = jnp.array([2.0, 0.0, 3.0])
    # run 0: unclipped (1-2)^2=1, clipped v=0.7 -> 1.69; max 1.69 -> 0.845
    # run 1: unclipped 0, clipped v=0.3 -> 0.09 -> 0.045
    # run 2: 1 and 1 -> 0.5
    want = jnp.array([0.845, 0.045, 0.5])
    np.testing.assert_allclose(clipped_value_loss(v, v_old, target, 0.2), want, rtol=1e-5)


@pytest.mark.parametrize("data_mode", ["traced", "closed_over"])
def test_categorical_ppo_gradient_under_jit_matches_autodiff_per_sample(data_mode):
    """Per-sample gradients of the hand-written categorical terms equal autodiff's under
    ``jit``, with the rollout data traced or closed over as constants. Inside both clip
    ranges the clipped and unclipped terms are the same number; the branch must not depend
    on how XLA rounds two computations of it (it once zeroed ~8 % of value gradients)."""
    b, num_actions = 4096, 2
    ks = jax.random.split(jax.random.key(11), 7)
    logits = jax.random.normal(ks[0], (num_actions, b))
    value = 3.0 * jax.random.normal(ks[1], (b,))
    action = jax.random.randint(ks[2], (b,), 0, num_actions).astype(jnp.float32)
    old_lp = jnp.take_along_axis(
        jax.nn.log_softmax(logits + 0.05 * jax.random.normal(ks[3], logits.shape), 0),
        action.astype(jnp.int32)[None], 0)[0]  # fmt: skip
    old_v = value + 0.3 * jax.random.normal(ks[4], (b,))  # about half inside the clip range
    adv, target = jax.random.normal(ks[5], (b,)), 3.0 * jax.random.normal(ks[6], (b,))
    data = (action, old_lp, old_v, adv, target, 0.2)

    def grads(fn, logits, value, data):
        loss = lambda lg, v: jnp.sum(fn(lg, v, *data, True)[:2])  # noqa: E731
        return jax.grad(loss, (0, 1))(logits, value)

    if data_mode == "traced":
        got = jax.jit(lambda lg, v, d: grads(categorical_ppo_terms, lg, v, d))(logits, value, data)
    else:
        got = jax.jit(lambda: grads(categorical_ppo_terms, logits, value, data))()
    want = grads(_composed_ppo_terms, logits, value, data)
    inside = np.abs(np.asarray(value - old_v)) <= 0.2
    assert 0.2 < inside.mean() < 0.8
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)  # value, every sample
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-6)  # logits
