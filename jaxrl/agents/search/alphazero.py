"""AlphaZero-style planning with the true simulator (Silver et al. 2018, Science 362:1140).

gymnax envs are pure functions, so the search tree's nodes can hold real env states: every
simulation steps the true env (:func:`jaxrl.planning.make_env_recurrent_fn`), and a
prediction network gives the search its priors and leaf values. Self-play acts with the
search (Gumbel MuZero by default, Danihelka et al. 2022; PUCT selectable) in ``num_envs``
envs into a :mod:`jaxrl.buffers` replay of the latest ``window`` steps of every env
(:mod:`jaxrl.agents.search.selfplay`); each update takes ``sgd_steps`` Adam steps on
``sgd_batch`` sampled positions, by cross-entropy towards the search's policy and a
categorical (two-hot, ``h``-transformed) value head towards n-step returns bootstrapped from
the search's root values. Only deterministic envs are accepted (a stochastic env raises
``ValueError``: planning on one sample of each transition would be silently wrong).

The policy is the search itself: it acts on env states (``Policy.uses_env_state``), as a
planner with a simulator does. :func:`prior_act` acts with the network's prior alone, the
policy distilled from search.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrl import envs as jenvs
from jaxrl.agents.search import selfplay
from jaxrl.agents.search.selfplay import SearchLearnerConfig, Step
from jaxrl.learner import Learner, trainer
from jaxrl.losses import categorical_to_scalar, scalar_to_categorical
from jaxrl.networks.muzero import apply_prediction, init_prediction
from jaxrl.planning import (
    check_deterministic,
    env_root,
    make_env_recurrent_fn,
    require_discrete,
)


@dataclasses.dataclass(frozen=True)
class AlphaZeroConfig(SearchLearnerConfig):
    """Static configuration (a change recompiles); see :class:`SearchLearnerConfig`."""


class AlphaZeroHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 1e-3
    """Adam's learning rate."""
    value_coef: float = 1.0
    """Weight of the value loss."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""
    temperature: float = 1.0
    """Self-play exploration: Gumbel noise scale at the root (gumbel), or visit counts
    sampled as visits ** (1 / temperature) (muzero); 0 is greedy.
    """


HPARAM_RANGES = {"lr": "> 0", "value_coef": ">= 0", "max_grad_norm": "> 0", "temperature": ">= 0"}


def policy_value_loss(logits, value_logits, pi_target, z, value_max: float, num_bins: int):
    """Cross-entropies of one sample: policy ``[A]`` vs search policy, value ``[bins]`` vs z."""
    policy_loss = -jnp.sum(pi_target * jax.nn.log_softmax(logits))
    z_cat = scalar_to_categorical(z, value_max, num_bins)
    value_loss = -jnp.sum(z_cat * jax.nn.log_softmax(value_logits))
    return policy_loss, value_loss


class _Net(NamedTuple):
    value_max: float
    num_bins: int

    def apply(self, params, obs):
        """``(prior logits [B, A], value [B])`` of the prediction network's pytree."""
        logits, value_logits = apply_prediction(params, obs)
        return logits, categorical_to_scalar(value_logits, self.value_max, self.num_bins)

    def value(self, params, obs):
        return self.apply(params, obs)[1]


def prior_act(learner: Learner, params, obs, key, greedy: bool = True):
    """The network prior's actions (no search): its mode, or a sample."""
    logits, _ = _Net(learner.config.value_max, learner.config.num_bins).apply(params, obs)
    if greedy:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def make_learner(config: AlphaZeroConfig, env, env_params) -> Learner:
    """AlphaZero on ``env``.

    Raises ``ValueError`` (before tracing) for an invalid config, a continuous action space
    or an env with stochastic transitions.
    """
    config.validate()
    num_actions = require_discrete(env, env_params, "alphazero")
    check_deterministic(env, env_params)
    cfg = config
    obs_dim = jenvs.observation_size(env, env_params)
    # The planner steps the env as the stack holds it below its episode statistics.
    flat = len(env.observation_space(env_params).shape) == 1
    plan_env = env if flat else jenvs.FlattenObservation(env)
    net = _Net(cfg.value_max, cfg.num_bins)
    loss_one = functools.partial(policy_value_loss, value_max=cfg.value_max,
                                 num_bins=cfg.num_bins)  # fmt: skip

    def sample_loss(tree, seq: Step, valid):
        z = selfplay.sequence_targets(seq, cfg.gamma, cfg.n_step, 0)[0]
        logits, value_logits = apply_prediction(tree, seq.obs[0])
        pl, vl = loss_one(logits, value_logits, seq.policy[0], z)
        return pl * valid, vl * valid

    def loss(tree, sample, hp):
        valid = sample.valid.astype(jnp.float32)
        pl, vl = jax.vmap(sample_loss, (None, 0, 0))(tree, sample.items, valid)
        total = pl.mean() + hp.value_coef * vl.mean()
        return total, jnp.stack([total, pl.mean(), vl.mean()])

    nets = selfplay.Networks(
        init=lambda key: init_prediction(key, obs_dim, num_actions, cfg.hidden, cfg.num_bins),
        root=lambda tree, obs, env_state: env_root(net.apply, tree, obs, env_state.env_state),
        recurrent=lambda env_params: make_env_recurrent_fn(plan_env, env_params, net.apply,
                                                           cfg.gamma),
        value=net.value,
        loss=loss,
        loss_names=("loss", "policy_loss", "value_loss"),
        uses_env_state=True,
    )  # fmt: skip
    return selfplay.make_search_learner(cfg, env, env_params, nets, AlphaZeroHParams(),
                                        HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = AlphaZeroConfig
HPARAMS = AlphaZeroHParams
