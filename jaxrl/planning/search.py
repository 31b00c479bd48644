"""Monte-Carlo tree search with ``mctx``: one entry point over Gumbel and classic MuZero.

* :func:`run_search` runs Gumbel MuZero (Danihelka et al. 2022, "Policy improvement by
  planning with Gumbel", ICLR) by default, or the PUCT search of MuZero (Schrittwieser et al.
  2020, arXiv:1911.08265) with Dirichlet noise at the root.
* :func:`make_env_recurrent_fn` plans with a *perfect* model, AlphaZero style (Silver et al.
  2018, Science 362:1140): the tree's embeddings are true gymnax env states and a network only
  gives priors and leaf values. This is exact only for envs whose transitions are
  deterministic given the state; :func:`check_deterministic` refuses every other env.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import mctx
from flax import struct

from jaxrl._errors import require, unknown_name
from jaxrl.envs.wrappers import Wrapper, transition

SEARCH_POLICIES = ("gumbel", "muzero")

# gymnax envs whose ``step`` is a deterministic function of (state, action): their only
# randomness is in ``reset``. Catch re-draws the ball's column only when stepping a finished
# episode, which the planner never uses (a terminal node is absorbing). Acrobot is
# deterministic only without torque noise (checked on its params).
DETERMINISTIC_ENVS = (
    "Acrobot-v1",
    "Breakout-MinAtar",
    "CartPole-v1",
    "Catch-bsuite",
    "MountainCar-v0",
)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Static search settings (a change recompiles).

    Attributes:
      policy: ``"gumbel"`` (Gumbel MuZero, sequential halving at the root; works with few
        simulations) or ``"muzero"`` (PUCT with Dirichlet noise at the root).
      num_simulations: simulations per search.
      max_depth: deepest node a simulation may reach (``None``: ``num_simulations``).
      max_num_considered_actions: Gumbel root actions considered by sequential halving.
      dirichlet_fraction, dirichlet_alpha: PUCT root noise (``"muzero"`` only).
      pb_c_init: PUCT exploration constant (``"muzero"`` only).
    """

    policy: str = "gumbel"
    num_simulations: int = 16
    max_depth: int | None = None
    max_num_considered_actions: int = 16
    dirichlet_fraction: float = 0.25
    dirichlet_alpha: float = 0.3
    pb_c_init: float = 1.25

    def validate(self, prefix: str = "", policy_field: str = "policy") -> None:
        """Raises ``ValueError`` naming the field (``prefix`` + name) of a bad setting."""
        if self.policy not in SEARCH_POLICIES:
            raise ValueError(
                f"{policy_field}: " + unknown_name("search policy", self.policy, SEARCH_POLICIES)
            )
        for name in ("num_simulations", "max_num_considered_actions"):
            value = getattr(self, name)
            require(isinstance(value, int) and value > 0, prefix + name,
                    f"must be a positive int, got {value}")  # fmt: skip
        require(
            self.max_depth is None or (isinstance(self.max_depth, int) and self.max_depth > 0),
            prefix + "max_depth",
            f"must be None or a positive int, got {self.max_depth}",
        )
        require(0 <= self.dirichlet_fraction <= 1, prefix + "dirichlet_fraction",
                f"must be in [0, 1], got {self.dirichlet_fraction}")  # fmt: skip
        require(self.dirichlet_alpha > 0, prefix + "dirichlet_alpha",
                f"must be positive, got {self.dirichlet_alpha}")  # fmt: skip
        require(self.pb_c_init > 0, prefix + "pb_c_init",
                f"must be positive, got {self.pb_c_init}")  # fmt: skip


def run_search(
    config: SearchConfig,
    params: Any,
    key: jax.Array,
    root: mctx.RootFnOutput,
    recurrent_fn: Callable,
    *,
    temperature: jax.Array | float = 1.0,
    greedy: bool = False,
    invalid_actions: jax.Array | None = None,
) -> mctx.PolicyOutput:
    """Searches from a batch of roots.

    Args:
      config: the search settings.
      params: forwarded to ``recurrent_fn``.
      key: PRNG key (consumed).
      root: ``RootFnOutput(prior_logits [B, A], value [B], embedding [B, ...])``.
      recurrent_fn: ``(params, key, action [B], embedding) -> (RecurrentFnOutput, embedding)``.
      temperature: exploration of the acted action (traced). PUCT samples proportionally to
        ``visits ** (1 / temperature)``; Gumbel MuZero scales its root Gumbel noise by it
        (0: the deterministic best action).
      greedy: no exploration at all (static): no root noise and temperature 0.
      invalid_actions: ``[B, A]`` ones where an action is not allowed.

    Returns:
      mctx's ``PolicyOutput``: ``action [B]``, ``action_weights [B, A]`` (the policy
      target) and ``search_tree`` (its root value is ``search_tree.node_values[:, 0]``).
    """
    chex.assert_rank(root.prior_logits, 2)
    chex.assert_rank(root.value, 1)
    temperature = 0.0 if greedy else temperature
    if config.policy == "gumbel":
        return mctx.gumbel_muzero_policy(
            params,
            key,
            root,
            recurrent_fn,
            num_simulations=config.num_simulations,
            invalid_actions=invalid_actions,
            max_depth=config.max_depth,
            max_num_considered_actions=config.max_num_considered_actions,
            gumbel_scale=temperature,
        )
    return mctx.muzero_policy(
        params,
        key,
        root,
        recurrent_fn,
        num_simulations=config.num_simulations,
        invalid_actions=invalid_actions,
        max_depth=config.max_depth,
        dirichlet_fraction=0.0 if greedy else config.dirichlet_fraction,
        dirichlet_alpha=config.dirichlet_alpha,
        pb_c_init=config.pb_c_init,
        temperature=temperature,
    )


def root_value(output: mctx.PolicyOutput) -> jax.Array:
    """The search's value estimate of each root ``[B]``."""
    return output.search_tree.node_values[:, output.search_tree.ROOT_INDEX]


def require_discrete(env, env_params, algo: str) -> int:
    """The number of actions; ``ValueError`` for a continuous action space."""
    space = env.action_space(env_params)
    if not hasattr(space, "n"):
        raise ValueError(
            f"env: {algo} searches a tree over discrete actions, but {_name(env)} has a "
            f"continuous action space {space}; use an algorithm for continuous control "
            "(e.g. ppo) instead"
        )
    return int(space.n)


def _name(env) -> str:
    inner = env.unwrapped if isinstance(env, Wrapper) else env
    return getattr(inner, "name", type(inner).__name__)


def check_deterministic(env, env_params) -> None:
    """Raises ``ValueError`` unless ``env``'s step is a deterministic function of its state.

    Planning with the true simulator steps env states inside the tree; for a stochastic env
    that would plan against one arbitrary sample of each transition, so such envs are refused
    rather than planned for silently wrongly. Known deterministic gymnax envs are listed in
    :data:`DETERMINISTIC_ENVS`; an env of one's own opts in with a class attribute
    ``deterministic_transitions = True``.
    """
    inner = env.unwrapped if isinstance(env, Wrapper) else env
    name = _name(env)
    if getattr(inner, "deterministic_transitions", False):
        return
    if name not in DETERMINISTIC_ENVS:
        raise ValueError(
            f"env: planning with the true simulator needs deterministic transitions, and "
            f"{name} is not known to be deterministic (known: {', '.join(DETERMINISTIC_ENVS)}); "
            "train muzero (a learned model) on it instead, or set "
            "`deterministic_transitions = True` on an env class whose step is deterministic"
        )
    noise = getattr(env_params, "torque_noise_max", 0.0)
    if not isinstance(noise, jax.core.Tracer) and float(noise) != 0.0:
        raise ValueError(
            f"env: {name} with torque_noise_max={float(noise)} has stochastic transitions; "
            "planning with the true simulator needs torque_noise_max=0"
        )


@struct.dataclass
class EnvEmbedding:
    """A search-tree node of the true-simulator planner: an env state and whether it ended."""

    state: Any
    done: jax.Array  # [B] bool: the episode terminated on the way to this node


def env_root(predict_fn: Callable, params, obs: jax.Array, env_state) -> mctx.RootFnOutput:
    """Roots for true-simulator search: network priors/values at ``obs [B, ...]``."""
    logits, value = predict_fn(params, obs)
    done = jnp.zeros(logits.shape[:1], bool)
    return mctx.RootFnOutput(
        prior_logits=logits, value=value, embedding=EnvEmbedding(env_state, done)
    )


def make_env_recurrent_fn(env, env_params, predict_fn: Callable, gamma) -> Callable:
    """An mctx recurrent function that steps the true env (AlphaZero-style planning).

    Args:
      env: a gymnax env (with observation wrappers only, e.g. ``FlattenObservation``: the
        tree holds the env's state as ``reset``/``transition`` return it).
      env_params: its params.
      predict_fn: ``(params, obs [B, ...]) -> (prior logits [B, A], value [B])``.
      gamma: discount per step (may be traced).

    Returns:
      ``recurrent_fn(params, key, action [B], EnvEmbedding) -> (RecurrentFnOutput,
      EnvEmbedding)``. A terminated episode is absorbing: every later step has reward 0 and
      discount 0. Time-limit truncation is not a terminal state for the planner.
    """
    check_deterministic(env, env_params)

    def recurrent_fn(params, key, action, embedding: EnvEmbedding):
        keys = jax.random.split(key, action.shape[0])
        step = jax.vmap(transition, in_axes=(None, 0, 0, 0, None))
        obs, state, reward, terminated, _, _ = step(env, keys, embedding.state, action, env_params)
        logits, value = predict_fn(params, obs)
        reward = jnp.where(embedding.done, 0.0, reward).astype(jnp.float32)
        done = embedding.done | terminated
        discount = jnp.where(done, 0.0, gamma).astype(jnp.float32)
        out = mctx.RecurrentFnOutput(
            reward=reward, discount=discount, prior_logits=logits, value=value
        )
        return out, EnvEmbedding(state, done)

    return recurrent_fn
