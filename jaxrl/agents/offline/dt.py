"""Decision Transformer (Chen et al. 2021, arXiv:2106.01345): offline RL as sequence modelling.

A causal transformer (GPT-2 style: pre-LayerNorm blocks, learned timestep embeddings) reads
the last ``context`` steps of a trajectory as tokens ``(R_1, s_1, a_1, ..., R_K, s_K, a_K)``,
``R_t`` the return still to come (return-to-go), and predicts each ``a_t`` from the output at
``s_t``: by the causal mask it sees only ``R_<=t``, ``s_<=t`` and ``a_<t``. Trained by
regression (mean squared error on continuous actions in ``[-1, 1]``; cross-entropy on
discrete ones) on windows drawn uniformly from the dataset's episodes (a window near an
episode's end is shorter and padded on the left, masked out). Conditioned on a high target
return at test time, it acts as the data did when such returns followed.

Acting: the policy's carry holds the last ``context`` steps; ``Policy.observe`` counts the
target down by each reward (``R_{t+1} = R_t - r_t``) and the episode loop resets it at an
episode's end. The target is ``target_score`` on D4RL's normalised scale (100: the expert's
return) when the dataset records reference returns, else on the scale of its own lowest and
highest episode return; it is part of the saved policy (``target_return``, in the env's
units), so the same trained network can be asked for other returns.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl import envs as jenvs
from jaxrl._errors import require, require_nonnegative_int, require_positive_ints
from jaxrl.agents.offline import common
from jaxrl.episodes import first_episode_returns, max_steps_of
from jaxrl.learner import Learner, Policy, latest_return, trainer
from jaxrl.networks import transformer
from jaxrl.networks.transformer import Block


@dataclasses.dataclass(frozen=True)
class DTConfig:
    """Static configuration (changing one recompiles). The defaults are the paper's for the
    Gym locomotion tasks except the budget."""

    dataset: str = ""
    """Path of the dataset (a directory made by `jaxrl dataset make`, Minari's format)."""
    total_steps: int = 20_000
    """Gradient steps per run (per seed), rounded down to whole multiples of log_every."""
    log_every: int = 2_000
    """Gradient steps per reported update (one row of metrics, then evaluation episodes)."""
    batch_size: int = 64
    """Trajectory windows per gradient step."""
    context: int = 20
    """Steps of history the transformer reads (K; 3K tokens)."""
    width: int = 128
    """Embedding width of every token."""
    layers: int = 3
    """Transformer blocks."""
    heads: int = 1
    """Attention heads (must divide width)."""
    dropout: float = 0.1
    """Dropout rate in training (embeddings, attention, residual branches)."""
    warmup_steps: int = 10_000
    """Gradient steps of linear learning-rate warm-up."""
    normalize_obs: bool = True
    """Standardise observations by the dataset's mean and std (saved with the policy)."""
    eval_episodes: int = 4
    """Evaluation episodes after every update, conditioned on target_score."""

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.log_every

    def validate(self) -> None:
        require(isinstance(self.dataset, str), "dataset", f"must be a path, got {self.dataset!r}")
        require_positive_ints(self, ("total_steps", "log_every", "batch_size", "context",
                                     "width", "layers", "heads", "eval_episodes"))  # fmt: skip
        require(
            self.total_steps >= self.log_every,
            "total_steps",
            f"{self.total_steps} is less than one update (log_every={self.log_every})",
        )
        require(self.width % self.heads == 0, "heads",
                f"{self.heads} does not divide width={self.width}")  # fmt: skip
        require(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout}")
        require_nonnegative_int(self, "warmup_steps")


class DTHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr: float = 1e-4
    """AdamW's learning rate (after warm-up)."""
    weight_decay: float = 1e-4
    """AdamW's decoupled weight decay."""
    grad_clip: float = 0.25
    """Global gradient-norm clip."""
    target_score: float = 100.0
    """Return asked for when acting, on D4RL's normalised scale (100: the expert's)."""


HPARAM_RANGES = {
    "lr": "> 0",
    "weight_decay": ">= 0",
    "grad_clip": "> 0",
    "target_score": "[-1000, 1000]",
}


# ---- the network ------------------------------------------------------------------------------


class DecisionTransformer(nn.Module):
    """``(rtg [B, K], obs [B, K, D], actions [B, K, A] | [B, K], timesteps [B, K],
    valid [B, K]) -> action predictions [B, K, A]`` (tanh-squashed, or logits if discrete)."""

    action_dim: int
    discrete: bool
    width: int
    layers: int
    heads: int
    max_timestep: int
    dropout: float

    @nn.compact
    def __call__(self, rtg, obs, actions, timesteps, valid, deterministic: bool = True):
        b, k = valid.shape
        time = nn.Embed(self.max_timestep, self.width)(timesteps)
        if self.discrete:
            actions = jax.nn.one_hot(actions, self.action_dim)
        tokens = jnp.stack([nn.Dense(self.width)(rtg[..., None]) + time,
                            nn.Dense(self.width)(obs) + time,
                            nn.Dense(self.width)(actions) + time], axis=2)  # fmt: skip
        x = nn.LayerNorm()(tokens.reshape(b, 3 * k, self.width))
        x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
        mask = causal_mask(valid)
        for _ in range(self.layers):
            x = Block(self.width, self.heads, self.dropout)(x, mask, deterministic)
        x = nn.LayerNorm()(x)
        out = nn.Dense(self.action_dim)(x.reshape(b, k, 3, self.width)[:, :, 1])  # at s_t
        return out if self.discrete else jnp.tanh(out)


def causal_mask(valid: jax.Array) -> jax.Array:
    """``[B, 1, 3K, 3K]``: token ``i`` attends to token ``j <= i`` of a valid step (three
    tokens per step: R, s, a)."""
    return transformer.causal_mask(valid, 3)


# ---- the dataset as windows -----------------------------------------------------------------


def sequence_items(prepared: common.Prepared, return_scale: float) -> dict:
    """The transitions plus what windows need: ``rtg`` (return-to-go within the episode,
    over ``return_scale``), ``timestep`` (step within the episode) and ``end`` (the index
    one past the episode's last step)."""
    d = prepared.dataset
    items = {k: prepared.items[k] for k in ("obs", "action")}
    bounds = d.episode_bounds
    lengths = np.diff(bounds)
    episode = np.repeat(np.arange(lengths.size), lengths)
    start = bounds[:-1][episode]
    end = bounds[1:][episode]
    csum = np.concatenate([[0.0], np.cumsum(d.rewards, dtype=np.float64)])
    rtg = csum[end] - csum[np.arange(len(d))]
    items["rtg"] = (rtg / return_scale).astype(np.float32)
    items["timestep"] = (np.arange(len(d)) - start).astype(np.int32)
    items["end"] = end.astype(np.int32)
    return items


def sample_windows(data: dict, key, batch: int, context: int) -> dict:
    """``batch`` windows of ``context`` steps: each starts at a uniformly drawn step and
    stops at its episode's end, the valid steps at the right (``valid [B, K]``)."""
    n = data["rtg"].shape[0]
    i = jax.random.randint(key, (batch,), 0, n)
    length = jnp.minimum(context, data["end"][i] - i)  # [B]
    k = jnp.arange(context)
    pad = context - length
    pos = i[:, None] + k[None, :] - pad[:, None]
    valid = k[None, :] >= pad[:, None]
    pos = jnp.clip(pos, 0, n - 1)
    out = {name: data[name][pos] for name in ("obs", "action", "rtg", "timestep")}
    out = {name: jnp.where(valid.reshape(valid.shape + (1,) * (x.ndim - 2)), x, 0)
           for name, x in out.items()}  # fmt: skip
    return {**out, "valid": valid}


# ---- the learner -------------------------------------------------------------------------


@struct.dataclass
class DTState:
    params: Any
    opt: Any
    key: jax.Array
    grad_steps: jax.Array
    last_return: jax.Array
    target_return: jax.Array


@struct.dataclass
class Context:
    """The policy's carry: the last ``K`` steps of an episode and what it has earned."""

    obs: jax.Array  # [B, K, D]
    action: jax.Array  # [B, K, A] | [B, K]
    rtg: jax.Array  # [B, K]
    timestep: jax.Array  # [B, K]
    valid: jax.Array  # [B, K]
    earned: jax.Array  # [B] reward so far
    t: jax.Array  # [B] steps so far


def make_learner(config: DTConfig, env, env_params) -> Learner:
    """The Decision Transformer on ``config.dataset`` (discrete or continuous actions).

    Raises:
      ValueError: invalid config (naming the field), a missing or damaged dataset, or one
        whose spaces are not the env's.
    """
    cfg = config
    cfg.validate()
    prepared = common.prepare(cfg, env, env_params, algo="dt", continuous=False)
    spec = prepared.spec
    d = prepared.dataset
    returns = d.episode_returns()
    return_scale = float(max(np.max(np.abs(returns)), 1e-6))
    lo, hi = prepared.ref_scores or (float(returns.min()), float(returns.max()))
    if not hi > lo:
        hi = lo + 1.0
    items = sequence_items(prepared, return_scale)
    n, obs_dim = items["obs"].shape
    require(n >= cfg.batch_size, "batch_size",
            f"{cfg.batch_size} is more than the dataset's {n} transitions")  # fmt: skip
    max_timestep = int(max(max_steps_of(env_params), int(items["timestep"].max()) + 1))
    model = DecisionTransformer(spec.dim, spec.discrete, cfg.width, cfg.layers, cfg.heads,
                                max_timestep, cfg.dropout)  # fmt: skip
    mean, std = jnp.asarray(prepared.obs_mean), jnp.asarray(prepared.obs_std)
    venv = jenvs.stack(env, env_params, cfg.eval_episodes)
    max_steps = max_steps_of(env_params)
    k = cfg.context
    a_shape = () if spec.discrete else (spec.dim,)
    a_dtype = jnp.int32 if spec.discrete else jnp.float32

    def optimizer(hp):
        warmup = optax.linear_schedule(1.0 / max(cfg.warmup_steps, 1), 1.0, cfg.warmup_steps)
        return optax.chain(optax.clip_by_global_norm(hp.grad_clip), optax.scale_by_adam(),
                           optax.add_decayed_weights(hp.weight_decay),
                           optax.scale_by_schedule(warmup), optax.scale(-hp.lr))  # fmt: skip

    def init_carry(b: int) -> Context:
        return Context(obs=jnp.zeros((b, k, obs_dim)), action=jnp.zeros((b, k) + a_shape, a_dtype),
                       rtg=jnp.zeros((b, k)), timestep=jnp.zeros((b, k), jnp.int32),
                       valid=jnp.zeros((b, k), bool), earned=jnp.zeros((b,)),
                       t=jnp.zeros((b,), jnp.int32))  # fmt: skip

    def act(saved, obs, key, carry: Context, env_state, greedy: bool):
        def push(history, new):
            return jnp.concatenate([history[:, 1:], new[:, None]], axis=1)

        obs_n = (obs - saved["obs_mean"]) / saved["obs_std"]
        rtg_now = (saved["target_return"] - carry.earned) / return_scale
        ctx = carry.replace(
            obs=push(carry.obs, obs_n),
            action=push(carry.action, jnp.zeros((obs.shape[0],) + a_shape, a_dtype)),
            rtg=push(carry.rtg, rtg_now),
            timestep=push(carry.timestep, jnp.minimum(carry.t, max_timestep - 1)),
            valid=push(carry.valid, jnp.ones((obs.shape[0],), bool)),
        )
        out = model.apply(saved["net"], ctx.rtg, ctx.obs, ctx.action, ctx.timestep, ctx.valid,
                          deterministic=True)[:, -1]  # fmt: skip
        if spec.discrete:
            action = jnp.argmax(out, -1) if greedy else jax.random.categorical(key, out)
            action = action.astype(jnp.int32)
        else:
            action = out
        ctx = ctx.replace(action=ctx.action.at[:, -1].set(action), t=carry.t + 1)
        return spec.to_env(action), ctx

    def observe(carry: Context, reward) -> Context:
        return carry.replace(earned=carry.earned + reward)

    policy = Policy(act, init_carry, observe=observe)

    def save(state: DTState):
        return {"net": state.params, "target_return": state.target_return,
                "obs_mean": mean, "obs_std": std}  # fmt: skip

    def init(key, hp, env_params, data) -> DTState:
        k_init, k_run = jax.random.split(key)
        dummy = init_carry(1)
        params = model.init(k_init, dummy.rtg, dummy.obs, dummy.action, dummy.timestep,
                            dummy.valid.at[:, -1].set(True))  # fmt: skip
        target = lo + hp.target_score / 100.0 * (hi - lo)
        return DTState(params=params, opt=optimizer(hp).init(params), key=k_run,
                       grad_steps=jnp.zeros((), jnp.int32),
                       last_return=jnp.zeros((), jnp.float32),
                       target_return=jnp.asarray(target, jnp.float32))  # fmt: skip

    def loss_fn(params, batch, key):
        pred = model.apply(params, batch["rtg"], batch["obs"], batch["action"],
                           batch["timestep"], batch["valid"], deterministic=cfg.dropout == 0.0,
                           rngs={"dropout": key})  # fmt: skip
        valid = batch["valid"].astype(jnp.float32)
        if spec.discrete:
            logp = jax.nn.log_softmax(pred)
            per = -jnp.take_along_axis(logp, batch["action"][..., None], axis=-1)[..., 0]
        else:
            per = jnp.mean((pred - batch["action"]) ** 2, axis=-1)
        return jnp.sum(valid * per) / jnp.maximum(jnp.sum(valid), 1.0)

    def update(state: DTState, hp, env_params, data):
        tx = optimizer(hp)
        key, k_train, k_eval = jax.random.split(state.key, 3)

        def grad_step(carry, key):
            params, opt = carry
            k_batch, k_drop = jax.random.split(key)
            batch = sample_windows(data, k_batch, cfg.batch_size, k)
            loss, grads = jax.value_and_grad(loss_fn)(params, batch, k_drop)
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), loss

        (params, opt), losses = jax.lax.scan(grad_step, (state.params, state.opt),
                                             jax.random.split(k_train, cfg.log_every))  # fmt: skip
        state = state.replace(params=params, opt=opt, key=key,
                              grad_steps=state.grad_steps + cfg.log_every)  # fmt: skip
        returns, finished = first_episode_returns(policy, save(state), venv, env_params, k_eval,
                                                  max_steps, greedy=True)  # fmt: skip
        last, episodes = latest_return(state.last_return, returns, finished)
        metrics = {"action_loss": jnp.mean(losses), "episode_return": last,
                   "episodes": episodes.astype(jnp.float32),
                   "target_return": state.target_return,
                   **common.score_metrics(last, prepared.ref_scores)}  # fmt: skip
        return state.replace(last_return=last), metrics

    return Learner(
        config=cfg,
        hparams=DTHParams(),
        init=init,
        update=update,
        policy=policy,
        save=save,
        num_updates=cfg.num_updates,
        steps_per_update=cfg.log_every,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
        data={name: items[name] for name in ("obs", "action", "rtg", "timestep", "end")},
        step_unit=common.STEP_UNIT,
    )


make_train = trainer(make_learner)
CONFIG = DTConfig
HPARAMS = DTHParams
