"""Receding-horizon model-predictive control: iLQR-MPC, MPPI and CEM behind one interface.

A :class:`Planner` is a pair of pure functions ``init() -> PlanState`` and
``act(plan, x, key) -> (u, plan)``: plan over the next ``horizon`` steps from state ``x``,
apply the first control, keep the rest (shifted by one step) as the next warm start. All
three planners are traceable, so :func:`episode` runs a whole env episode (or a vmapped batch
of them) as one jitted ``lax.scan``.

- :func:`ilqr_mpc`: a few iterations of :func:`jaxrl.control.ilqr` per step, warm-started
  (Tassa, Erez & Todorov 2012, "Synthesis and stabilization of complex behaviors through
  online trajectory optimization").
- :func:`mppi`: model-predictive path integral control (Williams et al. 2017,
  "Information theoretic MPC for model-based reinforcement learning"): the new plan is the
  softmin-weighted average of sampled perturbed plans, each scored by its model cost plus the
  paper's control-cost term.
- :func:`cem`: the cross-entropy method (Rubinstein 1999; as a planner, Chua et al. 2018,
  arXiv:1805.12114): refit a diagonal Gaussian over plans to the elite samples.

MPPI and CEM keep the current plan as one of their samples, so a step never returns a plan
worse (under the model) than the warm start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrl._errors import require
from jaxrl.control.ilqr import ilqr, rollout
from jaxrl.control.models import Model
from jaxrl.envs.wrappers import transition


class PlanState(NamedTuple):
    """The warm start carried between steps: the plan ``us [H, m]`` and the step count."""

    us: jax.Array
    step: jax.Array


class Planner(NamedTuple):
    """A receding-horizon policy: ``init() -> PlanState``, ``act(plan, x, key) -> (u, plan)``.

    Attributes:
      init: the initial warm start (zero controls, clipped into the bounds).
      act: ``act(plan, x [n], key) -> (u [m], plan)``.
      horizon: planning horizon ``H`` in steps.
      name: for tables.
    """

    init: Callable[[], PlanState]
    act: Callable
    horizon: int
    name: str


def _shift(us: jax.Array) -> jax.Array:
    """Drops the applied control and repeats the last one."""
    return jnp.concatenate([us[1:], us[-1:]])


def _next(plan: PlanState, us: jax.Array) -> PlanState:
    return PlanState(_shift(us), plan.step + 1)


def _zero_plan(model: Model, horizon: int) -> Callable[[], PlanState]:
    def init() -> PlanState:
        us = jnp.clip(jnp.zeros((horizon, model.action_dim)), model.u_lower, model.u_upper)
        return PlanState(us, jnp.zeros((), jnp.int32))

    return init


def _check(horizon: int, **positive_ints) -> None:
    require(isinstance(horizon, int) and horizon > 0, "horizon",
            f"must be a positive int, got {horizon}")  # fmt: skip
    for name, value in positive_ints.items():
        require(isinstance(value, int) and value > 0, name, f"must be a positive int, got {value}")


def ilqr_mpc(model: Model, horizon: int = 30, iterations: int = 5, first_iterations: int = 0,
             multistart: bool = False, **ilqr_kwargs) -> Planner:  # fmt: skip
    """iLQR-MPC: ``iterations`` warm-started iLQR iterations per control step.

    Args:
      model: the planning model.
      horizon: steps planned ahead.
      iterations: iLQR ``maxiter`` per step (it stops earlier once converged).
      first_iterations: ``maxiter`` at the first step of an episode, where there is no warm
        start yet (0: ``iterations``).
      multistart: also start iLQR from zero and from constant lower- and upper-bound plans
        (vmapped, 4x the work) and keep the cheapest result. iLQR is a local method: on
        swing-up tasks with tight torque limits the warm start alone can sit in a poor local
        minimum (too little energy pumped) for many steps.
      **ilqr_kwargs: passed to :func:`jaxrl.control.ilqr` (``tol``, ``reg_init`` ...).
    """
    _check(horizon, iterations=iterations)
    require(isinstance(first_iterations, int) and first_iterations >= 0, "first_iterations",
            f"must be a non-negative int, got {first_iterations}")  # fmt: skip
    cost = model.cost(horizon)
    most = max(iterations, first_iterations)

    def act(plan: PlanState, x: jax.Array, key: jax.Array):
        del key
        budget = jnp.where(plan.step == 0, first_iterations or iterations, iterations)

        def solve(x, us):
            return ilqr(cost, model.dynamics, x, us, maxiter=most, iteration_budget=budget,
                        u_lower=model.u_lower, u_upper=model.u_upper, **ilqr_kwargs)  # fmt: skip

        if not multistart:
            res = solve(x, plan.us)
            return res.us[0], _next(plan, res.us)
        ones = jnp.ones_like(plan.us)
        lo = jnp.where(jnp.isfinite(model.u_lower), model.u_lower, -1.0)
        hi = jnp.where(jnp.isfinite(model.u_upper), model.u_upper, 1.0)
        starts = jnp.stack([plan.us, 0.0 * ones, lo * ones, hi * ones])
        res = jax.vmap(solve, (None, 0))(x, starts)
        best = jnp.argmin(jnp.where(jnp.isfinite(res.cost), res.cost, jnp.inf))
        us = res.us[best]
        return us[0], _next(plan, us)

    return Planner(_zero_plan(model, horizon), act, horizon, "ilqr_mpc")


def _plan_costs(model: Model, horizon: int, x: jax.Array, plans: jax.Array) -> jax.Array:
    """Total model cost of each plan ``[K, H, m]`` from ``x`` -> ``[K]`` (non-finite -> inf)."""
    cost = model.cost(horizon)
    _, total = jax.vmap(rollout, (None, None, None, 0))(cost, model.dynamics, x, plans)
    return jnp.where(jnp.isfinite(total), total, jnp.inf)


def mppi(
    model: Model,
    horizon: int = 30,
    num_samples: int = 256,
    iterations: int = 1,
    noise_std: float = 0.5,
    temperature: float = 1.0,
    control_cost: float = 1.0,
) -> Planner:
    """MPPI: ``U <- sum_k w_k U_k``, ``w = softmax(-(S_k - min S) / temperature)``.

    ``S_k`` is the model cost of the perturbed plan ``U_k = U + eps_k`` plus the control-cost
    term of Williams et al. (2017, eq. 23, with their ``gamma = lambda (1 - alpha)``):
    ``control_cost * temperature * sum_t u_t^T Sigma^-1 eps_{k,t}``, where ``u_t`` is the
    current plan and ``Sigma`` the perturbations' diagonal covariance. It comes from the KL
    term between the controlled and the uncontrolled trajectory distributions and keeps
    sampled plans from being scored for moving away from the plan alone; ``control_cost=0``
    scores the model cost only (``alpha = 1`` in their notation).

    Args:
      model: the planning model.
      horizon: steps planned ahead.
      num_samples: sampled plans ``K`` per iteration (one of them the current plan).
      iterations: refinements per control step.
      noise_std: std of the Gaussian perturbations, in units of half the control range.
      temperature: ``lambda`` of the softmin over plan costs.
      control_cost: ``1 - alpha``, the weight of the control-cost term (in ``[0, 1]``).
    """
    _check(horizon, num_samples=num_samples, iterations=iterations)
    require(noise_std > 0, "noise_std", f"must be positive, got {noise_std}")
    require(temperature > 0, "temperature", f"must be positive, got {temperature}")
    require(0 <= control_cost <= 1, "control_cost", f"must be in [0, 1], got {control_cost}")
    scale = noise_std * 0.5 * (model.u_upper - model.u_lower)
    scale = jnp.where(jnp.isfinite(scale), scale, noise_std)
    shape = (iterations, num_samples, horizon, model.action_dim)

    def act(plan: PlanState, x: jax.Array, key: jax.Array):
        noise = jax.random.normal(key, shape).at[:, 0].set(0.0) * scale

        def refine(us, eps):
            plans = jnp.clip(us + eps, model.u_lower, model.u_upper)
            costs = _plan_costs(model, horizon, x, plans)
            costs += control_cost * temperature * jnp.einsum("hm,khm->k", us / scale**2, eps)
            return mppi_update(plans, costs, temperature), None

        us, _ = jax.lax.scan(refine, plan.us, noise)
        return us[0], _next(plan, us)

    return Planner(_zero_plan(model, horizon), act, horizon, "mppi")


def mppi_update(plans: jax.Array, costs: jax.Array, temperature) -> jax.Array:
    """The softmin-weighted average of plans ``[K, H, m]`` with costs ``[K]``:
    ``sum_k w_k U_k``, ``w = softmax(-(S - min S) / temperature)``."""
    w = jax.nn.softmax(-(costs - jnp.min(costs)) / temperature)
    return jnp.einsum("k,khm->hm", w, plans)


def cem(
    model: Model,
    horizon: int = 30,
    num_samples: int = 256,
    num_elites: int = 32,
    iterations: int = 4,
    init_std: float = 0.5,
    smoothing: float = 0.1,
) -> Planner:
    """CEM planner: sample ``N(mean, std^2)`` plans, refit to the ``num_elites`` cheapest.

    Args:
      model: the planning model.
      horizon: steps planned ahead.
      num_samples: plans sampled per iteration (one of them the current mean).
      num_elites: plans kept to refit the mean and std.
      iterations: refits per control step.
      init_std: the std each step starts from, in units of half the control range.
      smoothing: weight of the old mean/std in each refit (0: take the elites' moments).
    """
    _check(horizon, num_samples=num_samples, num_elites=num_elites, iterations=iterations)
    require(num_elites <= num_samples, "num_elites",
            f"{num_elites} exceeds num_samples {num_samples}")  # fmt: skip
    require(init_std > 0, "init_std", f"must be positive, got {init_std}")
    require(0 <= smoothing < 1, "smoothing", f"must be in [0, 1), got {smoothing}")
    half = 0.5 * (model.u_upper - model.u_lower)
    std0 = init_std * jnp.where(jnp.isfinite(half), half, 1.0)
    shape = (iterations, num_samples, horizon, model.action_dim)

    def act(plan: PlanState, x: jax.Array, key: jax.Array):
        noise = jax.random.normal(key, shape).at[:, 0].set(0.0)

        def refit(carry, eps):
            mean, std = carry
            plans = jnp.clip(mean + std * eps, model.u_lower, model.u_upper)
            costs = _plan_costs(model, horizon, x, plans)
            _, idx = jax.lax.top_k(-costs, num_elites)
            elites = plans[idx]
            mean = smoothing * mean + (1 - smoothing) * elites.mean(0)
            std = smoothing * std + (1 - smoothing) * elites.std(0)
            return (mean, std), None

        std = jnp.broadcast_to(std0, plan.us.shape)
        (us, _), _ = jax.lax.scan(refit, (plan.us, std), noise)
        return us[0], _next(plan, us)

    return Planner(_zero_plan(model, horizon), act, horizon, "cem")


class EpisodeResult(NamedTuple):
    """Output of :func:`episode`: ``episode_return []``, ``actions [T, m]``, ``states [T, n]``.

    ``states`` are the model states the planner saw before each action.
    """

    episode_return: jax.Array
    actions: jax.Array
    states: jax.Array


def episode(planner: Planner, model: Model, env, env_params, key: jax.Array,
            num_steps: int | None = None) -> EpisodeResult:  # fmt: skip
    """Runs one env episode with ``planner`` choosing every action (traceable, vmappable).

    Args:
      planner: from :func:`ilqr_mpc`, :func:`mppi` or :func:`cem`.
      model: the model the planner was built on (its ``state_fn`` reads the env state).
      env: a gymnax-protocol env.
      env_params: its params.
      key: PRNG key (reset and planner noise).
      num_steps: steps to run (default ``env_params.max_steps_in_episode``); rewards after
        termination or truncation are not counted.

    Returns:
      :class:`EpisodeResult`.
    """
    num_steps = int(env_params.max_steps_in_episode) if num_steps is None else num_steps
    k_reset, k_run = jax.random.split(key)
    _, state = env.reset(k_reset, env_params)

    def step(carry, key):
        state, plan, ret, alive = carry
        k_plan, k_env = jax.random.split(key)
        x = model.state_fn(state)
        u, plan = planner.act(plan, x, k_plan)
        _, state, reward, terminated, truncated, _ = transition(env, k_env, state, u, env_params)
        ret = ret + jnp.where(alive, reward, 0.0)
        alive = alive & ~(terminated | truncated)
        return (state, plan, ret, alive), (u, x)

    init = (state, planner.init(), jnp.zeros(()), jnp.asarray(True))
    (_, _, ret, _), (us, xs) = jax.lax.scan(step, init, jax.random.split(k_run, num_steps))
    return EpisodeResult(ret, us, xs)
