"""Maximum-entropy inverse RL with a linear reward, tabular (Ziebart et al. 2008, AAAI).

The reward is linear in state features, ``r_theta(s) = phi(s) . theta``. Demonstrations are
modelled as samples of the maximum (causal) entropy policy for ``r_theta`` over a horizon of
``T`` steps (Ziebart et al. 2010, "Modeling interaction via the principle of maximum causal
entropy": soft value iteration; on deterministic dynamics it is the 2008 paper's backward
pass). Fitting ``theta`` maximises the dual

    L(theta) = theta . mu_E - (1/N) sum_i V_0(s_0^i),
    dL/dtheta = mu_E - sum_t sum_s D_t(s) phi(s),

expert feature counts ``mu_E = (1/N) sum_i sum_t phi(s_t^i)`` minus the features expected
under the policy, from the exact state visitation frequencies ``D_t`` of the forward pass
started from the demonstrations' own start states, ``D_0`` = their empirical distribution
(:func:`start_distribution`). ``L`` is the demonstrations' log-likelihood
``(1/N) sum_i sum_t log pi_t(a_t^i | s_t^i)`` up to terms whose expectation over the dynamics
is zero (exactly it on deterministic dynamics). The likelihood conditions on each
demonstration's start state: starting the forward pass from the env's start distribution
instead adds the luck of the sampled starts to the gradient (on objectworld with 100
demonstrations it more than doubles the expected value difference,
``experiments/inverse_rl.py``).
With exact expert counts (no sampling) the env's start distribution is the right ``D_0``.
:func:`maxent_irl` maximises ``L(theta) - 0.5 * l2 * |theta|^2`` (a Gaussian prior): on
stochastic dynamics with sampled demonstrations ``L`` alone can grow without bound, and on
objectworld it does (``experiments/inverse_rl.py``, BENCHMARKS.md).
Everything runs on the explicit transition tensor of a :class:`jaxrl.envs.tabular.TabularMDP`
and is jittable and vmappable (over worlds, seeds and demonstration counts, the latter as
weights over a fixed maximum number of demonstrations).

Conventions: the reward ``r(s_t)`` is received in each of the ``T`` states ``s_0..s_{T-1}``;
``V_T = 0``; policies are time-indexed, ``[T, S, A]``.

This is a library (functions and an experiment, ``experiments/inverse_rl.py``), not a
:class:`~jaxrl.learner.Learner`: it needs the env's transition tensor (a model, which the
gymnax protocol does not give), never steps an env, and its policy is indexed by time, which
``Policy.act(obs)`` does not see.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


def soft_value_iteration(transitions: jax.Array, reward: jax.Array, horizon: int):
    """Finite-horizon soft (log-sum-exp) value iteration.

    ``Q_t(s, a) = r(s) + sum_s' P(s' | s, a) V_{t+1}(s')``, ``V_t(s) = log sum_a exp Q_t(s, a)``,
    ``V_T = 0``; the maximum causal entropy policy is ``pi_t(a | s) = exp(Q_t(s, a) - V_t(s))``.

    Args:
      transitions: ``P [S, A, S]``.
      reward: ``r [S]``.
      horizon: ``T`` (static).

    Returns:
      ``(log_pi [T, S, A], V [T, S])``.
    """

    def backward(v_next, _):
        q = reward[:, None] + transitions @ v_next  # [S, A]
        v = jax.nn.logsumexp(q, axis=1)
        return v, (q - v[:, None], v)

    v_end = jnp.zeros(transitions.shape[0], reward.dtype)
    _, (log_pi, v) = jax.lax.scan(backward, v_end, None, horizon, reverse=True)
    return log_pi, v


def state_visitation(transitions: jax.Array, initial: jax.Array, policy: jax.Array):
    """Exact state visitation frequencies ``D_t(s) = P(s_t = s)`` of a time-indexed policy.

    ``D_0 = initial``, ``D_{t+1}(s') = sum_{s, a} D_t(s) pi_t(a | s) P(s' | s, a)``.

    Args:
      transitions: ``P [S, A, S]``.
      initial: ``[S]``.
      policy: ``pi [T, S, A]`` (probabilities).

    Returns:
      ``D [T, S]`` for ``t = 0..T-1``.
    """

    def forward(d, pi_t):
        d_next = jnp.einsum("s,sa,sat->t", d, pi_t, transitions)
        return d_next, d

    _, d = jax.lax.scan(forward, initial, policy)
    return d


def feature_counts(features: jax.Array, states: jax.Array, weights: jax.Array) -> jax.Array:
    """Expert feature counts ``mu_E = sum_i w_i sum_t phi(s_t^i)``, ``[K]``, from demo states
    ``[N, T]`` and weights ``[N]`` summing to 1 (``1/n`` on the first ``n`` demos: a
    demonstration count that ``jax.vmap`` can sweep with fixed shapes)."""
    return jnp.einsum("n,ntk->k", weights, features[states])


def start_distribution(states: jax.Array, weights: jax.Array, num_states: int) -> jax.Array:
    """The demonstrations' empirical start distribution ``[S]``, ``sum_i w_i [s_0^i = s]``,
    from demo states ``[N, T]`` and the weights of :func:`feature_counts`: the ``initial``
    that makes :func:`gradient` the gradient of their log-likelihood."""
    return jnp.zeros(num_states, weights.dtype).at[states[:, 0]].add(weights)


def gradient(transitions, features, initial, theta, expert_counts, horizon: int):
    """The log-likelihood gradient ``mu_E - E_theta[sum_t phi(s_t)]`` ``[K]`` and the policy
    ``log pi [T, S, A]`` of ``r = features @ theta``."""
    log_pi, _ = soft_value_iteration(transitions, features @ theta, horizon)
    d = state_visitation(transitions, initial, jnp.exp(log_pi))
    return expert_counts - d.sum(axis=0) @ features, log_pi


class MaxEntHParams(NamedTuple):
    """Traced hyperparameters of :func:`maxent_irl`."""

    lr: float = 0.1
    """Adam's initial step size on theta."""
    lr_end: float = 0.01
    """Adam's step decays linearly from ``lr`` to ``lr * lr_end`` over the steps."""
    l2: float = 0.01
    """Precision of a Gaussian prior on theta: the fit maximises ``L(theta) - 0.5 * l2 *
    |theta|^2`` (a MAP estimate, Ziebart 2010's thesis). With sampled demonstrations on
    stochastic dynamics ``L`` alone can be unbounded (the expert counts include the luck of
    the dynamics, which no policy matches in expectation): theta then grows without end.
    ``L`` is a mean over the demonstrations, so a prior of precision ``lam`` on ``n`` of them
    is ``l2 = lam / n``; the default was chosen on objectworlds other than the experiment's
    (``jax.random.key(1)``'s); with exact counts it costs 0.07 % of V* there."""


def maxent_irl(transitions, features, initial, expert_counts, horizon: int, steps: int,
               hparams: MaxEntHParams | None = None):  # fmt: skip
    """Fits ``theta`` by ``steps`` Adam steps of ascent on the demonstrations'
    log-likelihood minus the prior's ``0.5 * l2 * |theta|^2``, with a linearly decaying step.
    At the optimum the feature counts match up to the prior:
    ``mu_E - E_theta[sum_t phi(s_t)] = l2 * theta``. ``initial`` is the start distribution of
    the forward pass: the demonstrations' (:func:`start_distribution`) for sampled
    demonstrations, the env's for exact expert counts.

    Returns:
      ``(theta [K], |gradient of the penalised objective| per step [steps])``.
    """
    hparams = MaxEntHParams() if hparams is None else hparams
    adam = optax.scale_by_adam()
    theta = jnp.zeros(features.shape[1], features.dtype)

    def step(carry, t):
        theta, opt_state = carry
        g, _ = gradient(transitions, features, initial, theta, expert_counts, horizon)
        g = g - hparams.l2 * theta
        direction, opt_state = adam.update(g, opt_state, theta)  # ascent: adam on +g
        lr = hparams.lr * (1.0 - (1.0 - hparams.lr_end) * t / jnp.maximum(steps - 1, 1))
        return (theta + lr * direction, opt_state), jnp.linalg.norm(g)

    (theta, _), norms = jax.lax.scan(step, (theta, adam.init(theta)), jnp.arange(steps))
    return theta, norms


def value_iteration(transitions: jax.Array, reward: jax.Array, horizon: int):
    """Finite-horizon (hard) value iteration: ``(greedy policy [T, S, A] one-hot, V [T, S])``
    (ties broken towards the lowest action index)."""

    def backward(v_next, _):
        q = reward[:, None] + transitions @ v_next
        return q.max(axis=1), (jax.nn.one_hot(q.argmax(axis=1), q.shape[1]), q.max(axis=1))

    v_end = jnp.zeros(transitions.shape[0], reward.dtype)
    _, (pi, v) = jax.lax.scan(backward, v_end, None, horizon, reverse=True)
    return pi, v


def policy_value(transitions, initial, reward, policy) -> jax.Array:
    """``E[sum_{t<T} r(s_t)]`` from ``s_0 ~ initial`` under ``policy [T, S, A]``."""
    return jnp.sum(state_visitation(transitions, initial, policy) @ reward)


class ValueDifference(NamedTuple):
    optimal: jax.Array  # V* of the true reward
    learned: jax.Array  # true value of the optimal policy for the learned reward
    difference: jax.Array  # optimal - learned (>= 0)


def expected_value_difference(transitions, initial, true_reward, learned_reward,
                              horizon: int) -> ValueDifference:  # fmt: skip
    """Expected value difference (Levine et al. 2011): the true value lost by acting
    optimally for the learned reward instead of the true one, from the start distribution."""
    pi_star, v_star = value_iteration(transitions, true_reward, horizon)
    pi_learned, _ = value_iteration(transitions, learned_reward, horizon)
    optimal = initial @ v_star[0]
    learned = policy_value(transitions, initial, true_reward, pi_learned)
    return ValueDifference(optimal, learned, optimal - learned)
