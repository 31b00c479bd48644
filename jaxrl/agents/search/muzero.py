"""MuZero: planning with a learned model (Schrittwieser et al. 2020, arXiv:1911.08265).

Self-play, replay and training run in one jitted loop (``train(key, hparams)`` is pure and
vmappable over seeds). Each update:

1. **Self-play**: ``num_envs`` envs act for ``num_steps`` steps with a search over the
   *learned* model (Gumbel MuZero by default, Danihelka et al. 2022; PUCT selectable): the
   representation network embeds the observation, the dynamics network unrolls actions into
   latent states and rewards, the prediction network gives priors and values.
2. **Replay**: the steps enter a :mod:`jaxrl.buffers` replay holding the most recent
   ``window`` steps of every env (:mod:`jaxrl.agents.search.selfplay`).
3. **Training**: ``sgd_steps`` Adam steps, each on ``sgd_batch`` sequences of ``K + n``
   consecutive steps of one env sampled uniformly from replay. From the first step of each
   the model is unrolled ``unroll_steps`` (K) steps
   along the actions taken; the loss sums, over the K + 1 predictions, cross-entropy to the
   search policy, and categorical (two-hot over ``h``-transformed values) cross-entropies
   for the value (n-step return bootstrapped from the search's root values) and the reward.
   Past the end of an episode the model is trained towards an absorbing state (value and
   reward 0, no policy loss); positions past a time-limit truncation carry no loss. The
   latent's gradient is halved at each dynamics step (paper appendix G).

Value targets use the root values stored at acting time (no reanalyse).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import mctx

from jaxrl import envs as jenvs
from jaxrl._errors import require_positive_ints
from jaxrl.agents.search import selfplay
from jaxrl.agents.search.selfplay import SearchLearnerConfig, Step
from jaxrl.learner import Learner, trainer
from jaxrl.losses import categorical_to_scalar, scalar_to_categorical
from jaxrl.networks.muzero import dynamics, init_muzero, predict, represent
from jaxrl.planning import require_discrete


@dataclasses.dataclass(frozen=True)
class MuZeroConfig(SearchLearnerConfig):
    """Static configuration (a change recompiles); see :class:`SearchLearnerConfig`."""

    num_steps: int = 8
    total_steps: int = 40_960
    window: int = 128
    sgd_batch: int = 128
    n_step: int = 10
    hidden: tuple[int, ...] = (64,)
    num_simulations: int = 16
    unroll_steps: int = 5
    """Steps the learned model is unrolled from each sampled position (K)."""
    latent_dim: int = 64
    """Size of the learned model's latent state."""

    @property
    def unroll(self) -> int:
        return self.unroll_steps

    def validate(self) -> None:
        require_positive_ints(self, ("unroll_steps", "latent_dim"))
        super().validate()


class MuZeroHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 3e-3
    """Adam's learning rate."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    reward_coef: float = 1.0
    """Weight of the reward loss."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""
    temperature: float = 1.0
    """Self-play exploration: Gumbel noise scale at the root (gumbel), or visit counts
    sampled as visits ** (1 / temperature) (muzero); 0 is greedy.
    """


HPARAM_RANGES = {
    "lr": "> 0",
    "value_coef": ">= 0",
    "reward_coef": ">= 0",
    "max_grad_norm": "> 0",
    "temperature": ">= 0",
}


class Unroll(NamedTuple):
    """One training sample: an observation and the K-step targets that follow it."""

    obs: jax.Array  # [obs_dim]
    action: jax.Array  # [K]
    policy: jax.Array  # [K + 1, A]
    value: jax.Array  # [K + 1]
    reward: jax.Array  # [K]
    policy_w: jax.Array  # [K + 1]
    value_w: jax.Array  # [K + 1]
    reward_w: jax.Array  # [K]


class _Model(NamedTuple):
    """The learned model over the networks' parameter pytree, as mctx reads it."""

    value_max: float
    num_bins: int
    gamma: float

    def to_scalar(self, logits):
        return categorical_to_scalar(logits, self.value_max, self.num_bins)

    def root(self, p, obs) -> mctx.RootFnOutput:
        latent = represent(p, obs)
        logits, value_logits = predict(p, latent)
        return mctx.RootFnOutput(
            prior_logits=logits, value=self.to_scalar(value_logits), embedding=latent
        )

    def recurrent_fn(self, p, key, action, latent):
        """The learned model as an mctx recurrence (no terminal states: discount gamma)."""
        del key
        latent, reward_logits = dynamics(p, latent, action)
        logits, value_logits = predict(p, latent)
        out = mctx.RecurrentFnOutput(
            reward=self.to_scalar(reward_logits),
            discount=jnp.full(action.shape, self.gamma, jnp.float32),
            prior_logits=logits,
            value=self.to_scalar(value_logits),
        )
        return out, latent

    def value(self, p, obs):
        return self.root(p, obs).value


def unroll_loss(params: dict, sample: Unroll, value_max: float, num_bins: int):
    """K-step unrolled MuZero loss of one sample (unbatched; vmap over the batch).

    The paper's weighting (Schrittwieser et al. 2020, appendix G and pseudocode): the root's
    prediction counts 1 and each of the K unrolled steps' predictions (policy, value, reward)
    1/K, so the root weighs as much as the whole unroll.

    Returns:
      ``(policy, value, reward)`` weighted cross-entropies over the unroll, each ``[]``.
    """
    num_steps = sample.action.shape[0]
    to_cat = functools.partial(scalar_to_categorical, v_max=value_max, num_bins=num_bins)

    def ce(target, logits):
        return -jnp.sum(target * jax.nn.log_softmax(logits))

    latent = represent(params, sample.obs)
    logits, value_logits = predict(params, latent)
    pl = sample.policy_w[0] * ce(sample.policy[0], logits)
    vl = sample.value_w[0] * ce(to_cat(sample.value[0]), value_logits)
    rl = jnp.zeros(())
    step_weight = 1.0 / max(num_steps, 1)
    for k in range(num_steps):
        latent, reward_logits = dynamics(params, latent, sample.action[k])
        latent = 0.5 * latent + 0.5 * jax.lax.stop_gradient(latent)
        logits, value_logits = predict(params, latent)
        pl += step_weight * sample.policy_w[k + 1] * ce(sample.policy[k + 1], logits)
        vl += step_weight * sample.value_w[k + 1] * ce(to_cat(sample.value[k + 1]), value_logits)
        rl += step_weight * sample.reward_w[k] * ce(to_cat(sample.reward[k]), reward_logits)
    return pl, vl, rl


def make_unroll(seq: Step, valid, gamma: float, n: int, unroll: int) -> Unroll:
    """The training sample of one sequence of ``unroll + n`` steps (unbatched)."""
    z = selfplay.sequence_targets(seq, gamma, n, unroll)
    absorbing, live = selfplay.sequence_masks(seq, valid, unroll)
    reward = jnp.where(absorbing, 0.0, seq.reward[: unroll + 1])
    return Unroll(
        obs=seq.obs[0],
        action=seq.action[:unroll],
        policy=seq.policy[: unroll + 1],
        value=jnp.where(absorbing, 0.0, z),
        reward=reward[:unroll],
        policy_w=(live & ~absorbing).astype(jnp.float32),
        value_w=live.astype(jnp.float32),
        reward_w=live[:unroll].astype(jnp.float32),
    )


def make_learner(config: MuZeroConfig, env, env_params) -> Learner:
    """MuZero on ``env``.

    Raises ``ValueError`` (before tracing) for an invalid config or a continuous action space.
    """
    config.validate()
    num_actions = require_discrete(env, env_params, "muzero")
    cfg = config
    obs_dim = jenvs.observation_size(env, env_params)
    model = _Model(cfg.value_max, cfg.num_bins, cfg.gamma)
    loss_one = functools.partial(unroll_loss, value_max=cfg.value_max, num_bins=cfg.num_bins)
    K, n = cfg.unroll_steps, cfg.n_step
    make_batch = jax.vmap(make_unroll, (0, 0, None, None, None))

    def loss(tree, sample, hp):
        batch = make_batch(sample.items, sample.valid, cfg.gamma, n, K)
        pl, vl, rl = jax.vmap(loss_one, in_axes=(None, 0))(tree, batch)
        pl, vl, rl = pl.mean(), vl.mean(), rl.mean()
        total = pl + hp.value_coef * vl + hp.reward_coef * rl
        return total, jnp.stack([total, pl, vl, rl])

    nets = selfplay.Networks(
        init=lambda key: init_muzero(key, obs_dim, num_actions, cfg.latent_dim, cfg.hidden,
                                     cfg.num_bins),
        root=lambda tree, obs, env_state: model.root(tree, obs),
        recurrent=lambda env_params: model.recurrent_fn,
        value=model.value,
        loss=loss,
        loss_names=("loss", "policy_loss", "value_loss", "reward_loss"),
    )  # fmt: skip
    return selfplay.make_search_learner(cfg, env, env_params, nets, MuZeroHParams(),
                                        HPARAM_RANGES)  # fmt: skip


make_train = trainer(make_learner)
CONFIG = MuZeroConfig
HPARAMS = MuZeroHParams
