"""MuZero: planning with a learned model (Schrittwieser et al. 2020, arXiv:1911.08265).

Self-play, replay and training run in one jitted loop (``train(key, hparams)`` is pure and
vmappable over seeds). Each update:

1. **Self-play**: ``num_envs`` envs act for ``num_steps`` steps with a search over the
   *learned* model (Gumbel MuZero by default, Danihelka et al. 2022; PUCT selectable): the
   representation network embeds the observation, the dynamics network unrolls actions into
   latent states and rewards, the prediction network gives priors and values.
2. **Replay**: the trajectories enter a FIFO window holding the most recent ``window`` steps
   of every env (time-major, so the K-step unrolls and n-step targets read consecutive
   steps of one env), kept in the learner state.
3. **Training**: ``sgd_steps`` Adam steps, each on ``sgd_batch`` positions sampled uniformly
   from the window. From each position the model is unrolled ``unroll_steps`` (K) steps
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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mctx
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_positive_ints
from jaxrl.losses import categorical_to_scalar, scalar_to_categorical
from jaxrl.networks.muzero import dynamics, init_muzero, predict, represent
from jaxrl.planning import (
    SearchConfig,
    n_step_returns,
    require_discrete,
    root_value,
    run_search,
)
from jaxrl.run.hparams import check_hparams


@dataclasses.dataclass(frozen=True)
class MuZeroConfig:
    """Static configuration (a change recompiles).

    ``gamma`` is static (not a traced hyperparameter) because ``train.act`` searches with it
    and takes no hyperparameters.
    """

    num_envs: int = 16
    num_steps: int = 8
    total_steps: int = 40_960
    window: int = 128
    sgd_steps: int = 16
    sgd_batch: int = 128
    unroll_steps: int = 5
    n_step: int = 10
    hidden: tuple[int, ...] = (64,)
    latent_dim: int = 64
    num_bins: int = 41
    value_max: float = 100.0
    gamma: float = 0.99
    search_policy: str = "gumbel"
    num_simulations: int = 16
    max_depth: int | None = None

    @property
    def batch_size(self) -> int:
        """Env steps per update."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    @property
    def search(self) -> SearchConfig:
        return SearchConfig(self.search_policy, self.num_simulations, self.max_depth)

    def validate(self) -> None:
        require_positive_ints(
            self,
            (
                "num_envs",
                "num_steps",
                "total_steps",
                "window",
                "sgd_steps",
                "sgd_batch",
                "unroll_steps",
                "n_step",
                "latent_dim",
            ),
        )
        require(self.total_steps >= self.batch_size, "total_steps",
                f"{self.total_steps} is less than one update "
                f"(num_envs*num_steps={self.batch_size})")  # fmt: skip
        require(
            self.window >= self.num_steps,
            "window",
            f"must hold at least one update's num_steps={self.num_steps}, got {self.window}",
        )
        require(len(self.hidden) > 0 and all(h > 0 for h in self.hidden), "hidden",
                f"needs at least one positive layer size, got {self.hidden}")  # fmt: skip
        require(isinstance(self.num_bins, int) and self.num_bins >= 3, "num_bins",
                f"must be an int >= 3, got {self.num_bins}")  # fmt: skip
        require(self.value_max > 0, "value_max", f"must be positive, got {self.value_max}")
        require(0 <= self.gamma <= 1, "gamma", f"must be in [0, 1], got {self.gamma}")
        self.search.validate(policy_field="search_policy")


class MuZeroHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 3e-3
    value_coef: float = 0.5
    reward_coef: float = 1.0
    max_grad_norm: float = 1.0
    temperature: float = 1.0  # self-play exploration (see ``run_search``)


def validate_hparams(hp: MuZeroHParams) -> None:
    """Checks concrete hyperparameter values (arrays are checked elementwise)."""
    checks = {
        "lr": lambda v: v > 0,
        "value_coef": lambda v: v >= 0,
        "reward_coef": lambda v: v >= 0,
        "max_grad_norm": lambda v: v > 0,
        "temperature": lambda v: v >= 0,
    }
    check_hparams(hp, checks)


@struct.dataclass
class Replay:
    """The FIFO window of the latest ``W`` self-play steps of each of ``N`` envs."""

    obs: jax.Array  # [W, N, obs_dim]
    action: jax.Array  # [W, N] int32
    reward: jax.Array  # [W, N]
    terminated: jax.Array  # [W, N] bool
    truncated: jax.Array  # [W, N] bool
    policy: jax.Array  # [W, N, A] search policy
    value: jax.Array  # [W, N] search root value of obs
    final_value: jax.Array  # [W, N] model value of the final obs (used after truncation)
    valid: jax.Array  # [W, N] bool: filled
    last_value: jax.Array  # [N] model value of the obs after the newest step


@struct.dataclass
class MuZeroState:
    params: jax.Array  # flat f32 vector of the three networks
    opt_state: Any
    env_state: Any
    obs: jax.Array
    replay: Replay
    key: jax.Array
    last_return: jax.Array


@struct.dataclass
class TrainResult:
    """Final learner state and metrics per update (each ``[num_updates]``)."""

    state: MuZeroState
    metrics: dict


class SelfPlayStep(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    policy: jax.Array
    value: jax.Array
    final_obs: jax.Array
    episode_return: jax.Array
    returned: jax.Array


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
    unravel: Any
    value_max: float
    num_bins: int
    gamma: float

    def to_scalar(self, logits):
        return categorical_to_scalar(logits, self.value_max, self.num_bins)

    def root(self, flat_params, obs) -> mctx.RootFnOutput:
        p = self.unravel(flat_params)
        latent = represent(p, obs)
        logits, value_logits = predict(p, latent)
        return mctx.RootFnOutput(
            prior_logits=logits, value=self.to_scalar(value_logits), embedding=latent
        )

    def recurrent_fn(self, flat_params, key, action, latent):
        """The learned model as an mctx recurrence (no terminal states: discount gamma)."""
        del key
        p = self.unravel(flat_params)
        latent, reward_logits = dynamics(p, latent, action)
        logits, value_logits = predict(p, latent)
        out = mctx.RecurrentFnOutput(
            reward=self.to_scalar(reward_logits),
            discount=jnp.full(action.shape, self.gamma, jnp.float32),
            prior_logits=logits,
            value=self.to_scalar(value_logits),
        )
        return out, latent

    def value(self, flat_params, obs):
        return self.root(flat_params, obs).value


def unroll_loss(params: dict, sample: Unroll, value_max: float, num_bins: int):
    """K-step unrolled MuZero loss of one sample (unbatched; vmap over the batch).

    Returns:
      ``(policy, value, reward)`` cross-entropies summed over the unroll, each ``[]``.
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
    for k in range(num_steps):
        latent, reward_logits = dynamics(params, latent, sample.action[k])
        latent = 0.5 * latent + 0.5 * jax.lax.stop_gradient(latent)
        logits, value_logits = predict(params, latent)
        pl += sample.policy_w[k + 1] * ce(sample.policy[k + 1], logits)
        vl += sample.value_w[k + 1] * ce(to_cat(sample.value[k + 1]), value_logits)
        rl += sample.reward_w[k] * ce(to_cat(sample.reward[k]), reward_logits)
    return pl, vl, rl


def make_unroll(replay: Replay, z: jax.Array, t: jax.Array, env: jax.Array, K: int) -> Unroll:
    """Gathers the sample starting at window step ``t`` of env ``env`` (unbatched)."""
    W = replay.reward.shape[0]
    idx = t + jnp.arange(K + 1)
    in_range = idx < W
    idx = jnp.minimum(idx, W - 1)

    def at(x):
        return x[idx, env]

    terminated, truncated = at(replay.terminated), at(replay.truncated)
    ended = terminated | truncated
    # Did the episode end (or get truncated) strictly before step k of the unroll?
    ended_before = jnp.cumsum(ended) - ended > 0
    cut_before = jnp.cumsum(truncated) - truncated > 0
    live = in_range & ~cut_before & at(replay.valid)
    value = jnp.where(ended_before, 0.0, at(z))
    reward = jnp.where(ended_before, 0.0, at(replay.reward))
    return Unroll(
        obs=replay.obs[idx[0], env],
        action=at(replay.action)[:K],
        policy=at(replay.policy),
        value=value,
        reward=reward[:K],
        policy_w=(live & ~ended_before).astype(jnp.float32),
        value_w=live.astype(jnp.float32),
        reward_w=live[:K].astype(jnp.float32),
    )


def _act(model: _Model, search: SearchConfig, params, obs, key, greedy: bool):
    """Actions ``[B]`` from a search over the learned model."""
    out = run_search(search, params, key, model.root(params, obs), model.recurrent_fn,
                     greedy=greedy)  # fmt: skip
    return out.action.astype(jnp.int32)


def make_train(config: MuZeroConfig, env, env_params):
    """Builds ``train(key, hparams, env_params=None) -> TrainResult``.

    Raises ``ValueError`` (before tracing) for an invalid config or a continuous action space.
    """
    config.validate()
    num_actions = require_discrete(env, env_params, "muzero")
    cfg = config
    base = env
    if len(env.observation_space(env_params).shape) != 1:
        base = jenvs.FlattenObservation(env)
    venv = jenvs.VecEnv(jenvs.EpisodeStatistics(base), cfg.num_envs)
    obs_dim = base.observation_space(env_params).shape[0]

    def init_net(key):
        return init_muzero(key, obs_dim, num_actions, cfg.latent_dim, cfg.hidden, cfg.num_bins)

    _, unravel = ravel_pytree(init_net(jax.random.key(0)))
    model = _Model(unravel, cfg.value_max, cfg.num_bins, cfg.gamma)
    default_env_params = env_params
    loss_one = functools.partial(unroll_loss, value_max=cfg.value_max, num_bins=cfg.num_bins)
    K, W, N = cfg.unroll_steps, cfg.window, cfg.num_envs

    def _as_f32(hparams):
        return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), hparams)

    def make_optimizer(hp):
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(hp.lr))

    def loss_fn(params, batch: Unroll, hp):
        pl, vl, rl = jax.vmap(loss_one, in_axes=(None, 0))(unravel(params), batch)
        scale = 1.0 / (K + 1)
        pl, vl, rl = pl.mean() * scale, vl.mean() * scale, rl.mean() * scale
        total = pl + hp.value_coef * vl + hp.reward_coef * rl
        return total, jnp.stack([total, pl, vl, rl])

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def self_play(params, env_state, obs, key, hp, env_params):
        k_search, k_env = jax.random.split(key)
        prepared = venv.prepare(k_env, cfg.num_steps, env_params)

        def step(carry, xs):
            env_state, obs = carry
            key_t, prepared_t = xs
            out = run_search(cfg.search, params, key_t, model.root(params, obs),
                             model.recurrent_fn, temperature=hp.temperature)  # fmt: skip
            next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
                prepared_t, env_state, out.action, env_params
            )
            rec = SelfPlayStep(obs, out.action.astype(jnp.int32), reward.astype(jnp.float32),
                               terminated, truncated, out.action_weights, root_value(out),
                               info["final_observation"], info["episode_return"],
                               info["returned_episode"])  # fmt: skip
            return (env_state, next_obs), rec

        keys = jax.random.split(k_search, cfg.num_steps)
        (env_state, obs), traj = jax.lax.scan(step, (env_state, obs), (keys, prepared))
        return env_state, obs, traj

    def add(replay: Replay, traj: SelfPlayStep, final_value, last_value) -> Replay:
        new = Replay(traj.obs, traj.action, traj.reward, traj.terminated, traj.truncated,
                     traj.policy, traj.value, final_value,
                     jnp.ones(traj.reward.shape, bool), last_value)  # fmt: skip

        def push(old, x):
            return jnp.concatenate([old[cfg.num_steps :], x], axis=0)

        fields = {f.name for f in dataclasses.fields(Replay)} - {"last_value"}
        return replay.replace(
            **{f: push(getattr(replay, f), getattr(new, f)) for f in fields},
            last_value=last_value,
        )

    def value_targets(replay: Replay) -> jax.Array:
        """n-step targets of every window step ``[W, N]``."""
        next_value = jnp.concatenate([replay.value[1:], replay.last_value[None]], axis=0)
        v_tp1 = jnp.where(replay.truncated, replay.final_value, next_value)
        discount = cfg.gamma * (1.0 - replay.terminated.astype(jnp.float32))
        end = replay.terminated | replay.truncated
        fn = jax.vmap(functools.partial(n_step_returns, n=cfg.n_step), in_axes=1, out_axes=1)
        return fn(replay.reward, discount, v_tp1, end)

    def train_steps(params, opt_state, replay: Replay, key, hp, tx):
        z = value_targets(replay)
        filled = jnp.sum(replay.valid[:, 0])
        k_t, k_env = jax.random.split(key)
        shape = (cfg.sgd_steps, cfg.sgd_batch)
        # Start positions uniform over the filled part of the window (the newest steps).
        t = W - 1 - jnp.floor(jax.random.uniform(k_t, shape) * filled).astype(jnp.int32)
        env = jax.random.randint(k_env, shape, 0, N)
        gather = jax.vmap(jax.vmap(make_unroll, (None, None, 0, 0, None)), (None, None, 0, 0, None))
        batches = gather(replay, z, t, env, K)

        def sgd_step(carry, batch):
            params, opt_state = carry
            grads, aux = grad_fn(params, batch, hp)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        (params, opt_state), aux = jax.lax.scan(sgd_step, (params, opt_state), batches)
        return params, opt_state, aux.mean(axis=0)

    def init(key, hparams, env_params=None):
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params, _ = ravel_pytree(init_net(k_init))
        obs, env_state = venv.reset(k_reset, env_params)

        def zeros(*shape, dtype=jnp.float32):
            return jnp.zeros((W, N, *shape), dtype)

        replay = Replay(
            obs=zeros(obs_dim),
            action=zeros(dtype=jnp.int32),
            reward=zeros(),
            terminated=zeros(dtype=bool),
            truncated=zeros(dtype=bool),
            policy=zeros(num_actions),
            value=zeros(),
            final_value=zeros(),
            valid=zeros(dtype=bool),
            last_value=jnp.zeros((N,), jnp.float32),
        )
        return MuZeroState(
            params=params,
            opt_state=make_optimizer(hp).init(params),
            env_state=env_state,
            obs=obs,
            replay=replay,
            key=k_run,
            last_return=jnp.zeros((), jnp.float32),
        )

    def run(state: MuZeroState, hparams, num_updates: int, env_params=None):
        env_params = default_env_params if env_params is None else env_params
        hp = _as_f32(hparams)
        tx = make_optimizer(hp)

        def update(state: MuZeroState, _):
            key, k_play, k_train = jax.random.split(state.key, 3)
            env_state, obs, traj = self_play(state.params, state.env_state, state.obs, k_play,
                                             hp, env_params)  # fmt: skip
            final_value = model.value(state.params, traj.final_obs)
            replay = add(state.replay, traj, final_value, model.value(state.params, obs))
            params, opt_state, losses = train_steps(state.params, state.opt_state, replay,
                                                    k_train, hp, tx)  # fmt: skip
            episodes = traj.returned.sum()
            mean_return = jnp.sum(traj.episode_return * traj.returned) / jnp.maximum(episodes, 1)
            last_return = jnp.where(episodes > 0, mean_return, state.last_return)
            metrics = {
                "episode_return": last_return,
                "episodes": episodes,
                "loss": losses[0],
                "policy_loss": losses[1],
                "value_loss": losses[2],
                "reward_loss": losses[3],
                "search_value": traj.value.mean(),
            }
            state = state.replace(params=params, opt_state=opt_state, env_state=env_state,
                                  obs=obs, replay=replay, key=key,
                                  last_return=last_return)  # fmt: skip
            return state, metrics

        return jax.lax.scan(update, state, None, num_updates)

    def train(key, hparams=None, env_params=None):
        hparams = MuZeroHParams() if hparams is None else hparams
        state = init(key, hparams, env_params)
        state, metrics = run(state, hparams, cfg.num_updates, env_params)
        return TrainResult(state=state, metrics=metrics)

    train.init = init
    train.run = run
    train.num_updates = cfg.num_updates
    train.steps_per_update = cfg.batch_size
    train.act = functools.partial(_act, model, cfg.search)
    return train


CONFIG = MuZeroConfig
HPARAMS = MuZeroHParams
