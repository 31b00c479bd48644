"""Decision Transformer: the causal mask (no prediction depends on a later token), the
windows it trains on, and the return-to-go it acts on."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_offline import SEEDS, expert, train_scores  # noqa: F401 (the module's fixture)

from jaxrl.agents.offline import dt

B, K, D, A = 2, 4, 3, 2


@pytest.fixture(scope="module")
def model_and_inputs():
    model = dt.DecisionTransformer(A, False, width=16, layers=2, heads=2, max_timestep=50,
                                   dropout=0.0)  # fmt: skip
    keys = jax.random.split(jax.random.key(0), 4)
    rtg = jax.random.normal(keys[0], (B, K))
    obs = jax.random.normal(keys[1], (B, K, D))
    act = jax.random.uniform(keys[2], (B, K, A), minval=-1, maxval=1)
    timesteps = jnp.broadcast_to(jnp.arange(K), (B, K))
    valid = jnp.ones((B, K), bool)
    params = model.init(keys[3], rtg, obs, act, timesteps, valid)
    apply = jax.jit(lambda r, o, a, v: model.apply(params, r, o, a, timesteps, v))
    return apply, (rtg, obs, act, valid)


@pytest.mark.parametrize("step", range(K))
@pytest.mark.parametrize("token", ["rtg", "obs", "action"])
def test_no_prediction_depends_on_a_later_token(model_and_inputs, step, token):
    """Changing step ``step``'s token changes no prediction before it; the prediction at
    ``step`` itself (read at ``s_step``) sees ``R_step`` and ``s_step`` but not ``a_step``."""
    apply, (rtg, obs, act, valid) = model_and_inputs
    base = np.asarray(apply(rtg, obs, act, valid))
    if token == "rtg":
        rtg = rtg.at[:, step].add(5.0)
    elif token == "obs":
        obs = obs.at[:, step].add(5.0)
    else:
        act = act.at[:, step].multiply(-1.0)
    out = np.asarray(apply(rtg, obs, act, valid))
    np.testing.assert_array_equal(out[:, :step], base[:, :step])
    changed = np.abs(out - base).max(axis=(0, 2)) > 1e-6  # [K]
    if token == "action":
        assert not changed[step]  # a_t comes after s_t
        assert changed[step + 1 :].all()
    else:
        assert changed[step:].all()


def test_padding_is_masked_out(model_and_inputs):
    """Steps marked invalid (left padding of a short window) do not reach valid ones."""
    apply, (rtg, obs, act, valid) = model_and_inputs
    valid = valid.at[:, :2].set(False)
    base = np.asarray(apply(rtg, obs, act, valid))
    act = act.at[:, :2].multiply(-1.0)
    out = np.asarray(apply(rtg.at[:, :2].add(9.0), obs.at[:, :2].add(9.0), act, valid))
    np.testing.assert_allclose(out[:, 2:], base[:, 2:], atol=1e-6)


def test_causal_mask_by_hand():
    mask = np.asarray(dt.causal_mask(jnp.array([[False, True]])))[0, 0]
    # tokens R1 s1 a1 R2 s2 a2; the first step is padding
    expected = np.tril(np.ones((6, 6), bool))
    expected[:, :3] = False
    np.testing.assert_array_equal(mask, expected)


def test_windows_and_return_to_go():
    """Return-to-go sums the rest of the episode; a window never crosses an episode's end
    and keeps its valid steps on the right."""
    data = {
        "obs": jnp.arange(7.0)[:, None],
        "action": jnp.zeros((7, 1)),
        "rtg": jnp.array([6.0, 5.0, 3.0, 0.0, 10.0, 8.0, 4.0]),
        "timestep": jnp.array([0, 1, 2, 3, 0, 1, 2]),
        "end": jnp.array([4, 4, 4, 4, 7, 7, 7]),
    }
    w = jax.jit(lambda k: dt.sample_windows(data, k, 64, 3))(jax.random.key(1))
    obs, valid = np.asarray(w["obs"])[..., 0], np.asarray(w["valid"])
    for o, v in zip(obs, valid, strict=True):
        steps = o[v].astype(int)
        assert v[-1] and list(v) == sorted(v)  # padding on the left only
        assert np.all(np.diff(steps) == 1)  # consecutive
        assert (steps < 4).all() or (steps >= 4).all()  # one episode
    rtg_of = dict(zip(range(7), np.asarray(data["rtg"]), strict=True))
    for o, r, v in zip(obs, np.asarray(w["rtg"]), valid, strict=True):
        np.testing.assert_array_equal(r[v], [rtg_of[int(s)] for s in o[v]])


def test_dt_learns_from_the_expert(expert):  # noqa: F811
    """A one-block, 32-wide transformer over 5 steps, asked for the expert's return."""
    path, refs = expert
    config = {"context": 5, "width": 32, "layers": 1, "heads": 1, "dropout": 0.0,
              "warmup_steps": 100, "batch_size": 64, "eval_episodes": 1}  # fmt: skip
    scores, result = train_scores("dt", path, refs, hp={"lr": 1e-3}, total_steps=800,
                                  log_every=800, **config)  # fmt: skip
    from jaxrl.run import stats

    assert result.output.metrics["action_loss"].shape == (SEEDS, 1)
    assert stats.iqm(scores) >= 50, np.round(scores, 1)
    assert (scores >= 20).sum() >= 7, np.round(scores, 1)
