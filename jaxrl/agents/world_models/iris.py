"""IRIS-style agent (Micheli et al. 2023, arXiv:2209.00588), small and on flat observations.

Three parts, trained together in one jitted loop (``train(key, hparams)`` is pure and
vmappable over seeds):

1. **Tokenizer**: a discrete autoencoder. An MLP encodes an observation into ``tokens``
   vectors of size ``embed_dim``; each is replaced by its nearest entry of a learned codebook
   of ``codebook`` entries (its token), with the straight-through estimator for the encoder's
   gradient; an MLP decodes the quantized vectors back. Loss: reconstruction MSE plus the
   VQ-VAE codebook and commitment terms (van den Oord et al. 2017, arXiv:1711.00937),
   ``|sg(z) - e|^2 + beta |z - sg(e)|^2`` (:func:`vector_quantize`).
2. **World model**: a causal transformer (:mod:`jaxrl.networks.transformer`) over sequences of
   ``context`` steps, each step the ``tokens`` observation tokens followed by one action
   token. From each observation token it predicts the next token of the same observation,
   and from the action token the first token of the next observation, the reward (two-hot
   over ``reward_bins`` bins in ``[-reward_max, reward_max]``) and termination (Bernoulli).
   Trained by cross-entropy on sequences of consecutive real steps from replay
   (:mod:`jaxrl.buffers`), on the tokenizer's current tokens (no gradient into the
   tokenizer); attention never crosses an episode boundary inside a sequence, and the next
   observation after an episode's end (the reset) carries no loss.
3. **Actor-critic in imagination**: from the first observation of each sampled sequence
   (the only real observation it reads), the transformer dreams ``horizon`` steps: the actor
   picks an action from the current tokens' codebook vectors, the model samples reward,
   termination and the next observation's tokens one by one (a sliding window of the last
   ``context`` steps). The actor is trained by REINFORCE on the lambda-return minus the
   critic's value with an entropy bonus, the critic by regression to the lambda-return;
   steps after a dreamed termination carry no loss.

In the real env the agent acts with the same actor on the tokens of the real observation.
Discrete actions only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl import buffers
from jaxrl import envs as jenvs
from jaxrl._errors import require, require_layers, require_nonnegative_int, require_positive_ints
from jaxrl.distributions import Categorical
from jaxrl.learner import Learner, Policy, latest_return, trainer
from jaxrl.losses import lambda_returns, two_hot, two_hot_decode
from jaxrl.networks import apply_mlp, init_mlp
from jaxrl.networks.transformer import Block, segment_causal_mask


@dataclasses.dataclass(frozen=True)
class IRISConfig:
    """Static configuration (changing one recompiles). Defaults: a small model for Catch."""

    num_envs: int = 16
    """Environments stepped in lockstep in each run."""
    num_steps: int = 4
    """Env steps of every env per update (then the gradient steps)."""
    total_steps: int = 100_000
    """Env steps per run (per seed), rounded down to whole updates."""
    buffer_size: int = 100_000
    """Replay capacity in transitions (all envs together)."""
    learning_starts: int = 1_000
    """Env steps collected before any gradient step."""
    batch_size: int = 32
    """Sequences per world-model step, and imagined rollouts per actor-critic step."""
    context: int = 4
    """Steps per sequence the transformer reads (its attention window)."""
    tokens: int = 4
    """Tokens per observation (K)."""
    codebook: int = 32
    """Entries of the tokenizer's codebook (the token vocabulary)."""
    embed_dim: int = 16
    """Size of each codebook vector."""
    hidden: tuple[int, ...] = (128,)
    """Hidden widths of the tokenizer's encoder and decoder and of the actor and critic."""
    width: int = 64
    """Transformer embedding width."""
    layers: int = 1
    """Transformer blocks."""
    heads: int = 2
    """Attention heads (must divide width)."""
    reward_bins: int = 5
    """Bins of the two-hot reward head."""
    reward_max: float = 1.0
    """Largest |reward| the reward head represents (rewards are clipped into it)."""
    horizon: int = 10
    """Imagined steps per rollout."""
    model_steps: int = 4
    """Tokenizer and world-model Adam steps per update."""
    ac_steps: int = 4
    """Actor-critic Adam steps (each on fresh imagined rollouts) per update."""

    @property
    def batch(self) -> int:
        """Env steps per update."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch

    def validate(self) -> None:
        require_positive_ints(self, ("num_envs", "num_steps", "total_steps", "buffer_size",
                                     "batch_size", "context", "tokens", "codebook",
                                     "embed_dim", "width", "layers", "heads", "horizon",
                                     "model_steps", "ac_steps"))  # fmt: skip
        require(self.total_steps >= self.batch, "total_steps",
                f"{self.total_steps} is less than one update "
                f"(num_envs*num_steps={self.batch})")  # fmt: skip
        require(self.context >= 2, "context", f"must be at least 2 steps, got {self.context}")
        require(self.width % self.heads == 0, "heads",
                f"{self.heads} does not divide width={self.width}")  # fmt: skip
        require(isinstance(self.reward_bins, int) and self.reward_bins >= 2, "reward_bins",
                f"must be an int >= 2, got {self.reward_bins}")  # fmt: skip
        require(self.reward_max > 0, "reward_max", f"must be positive, got {self.reward_max}")
        require_nonnegative_int(self, "learning_starts")
        per_env = self.buffer_size // self.num_envs
        require(per_env >= self.context, "buffer_size",
                f"{self.buffer_size} holds {per_env} steps per env, fewer than "
                f"context={self.context}")  # fmt: skip
        require_layers(self.hidden)


class IRISHParams(NamedTuple):
    """Traced hyperparameters (vmappable)."""

    lr_model: float = 1e-3
    """Adam's learning rate for the tokenizer and the world model."""
    lr_actor: float = 1e-3
    """Adam's learning rate for the actor and the critic."""
    gamma: float = 0.99
    """Discount of imagined returns."""
    lam: float = 0.95
    """Lambda of the imagined lambda-returns."""
    entropy_coef: float = 0.01
    """Weight of the actor's entropy bonus."""
    commitment: float = 0.25
    """Weight beta of the VQ commitment term."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip (each optimizer)."""


HPARAM_RANGES = {
    "lr_model": "> 0",
    "lr_actor": "> 0",
    "gamma": "[0, 1]",
    "lam": "[0, 1]",
    "entropy_coef": ">= 0",
    "commitment": ">= 0",
    "max_grad_norm": "> 0",
}


# ---- the tokenizer --------------------------------------------------------------------------


def vector_quantize(z: jax.Array, codebook: jax.Array, beta):
    """Nearest-codebook quantization of ``z [..., E]`` over ``codebook [N, E]``.

    Returns ``(tokens [...], z_st [..., E], loss [])``: the indices of the nearest entries,
    ``z + sg(e - z)`` (the entries' values, with the encoder's gradient passed straight
    through) and ``mean |sg(z) - e|^2 + beta mean |z - sg(e)|^2`` (codebook and commitment
    terms, means over every element).
    """
    codebook = jnp.asarray(codebook)  # saved params may be host arrays
    dist = jnp.sum((z[..., None, :] - codebook) ** 2, axis=-1)
    tokens = jnp.argmin(dist, axis=-1)
    e = codebook[tokens]
    sg = jax.lax.stop_gradient
    loss = jnp.mean((sg(z) - e) ** 2) + beta * jnp.mean((z - sg(e)) ** 2)
    return tokens, z + sg(e - z), loss


class WorldModelOut(NamedTuple):
    """The transformer's predictions over ``[B, C]`` steps."""

    first: jax.Array  # [B, C, N] logits of the next step's token 0 (at the action token)
    rest: jax.Array  # [B, C, K-1, N] logits of token j+1 of the same step (at token j)
    reward: jax.Array  # [B, C, bins] reward logits (at the action token)
    done: jax.Array  # [B, C] termination logit (at the action token)


class WorldModel(nn.Module):
    """``(tokens [B, C, K], actions [B, C], segment [B, C]) -> WorldModelOut``: a causal
    transformer over ``C * (K + 1)`` tokens, ``K`` observation tokens then the action token
    of each step, attending only within a segment (an episode)."""

    codebook: int
    num_actions: int
    context: int
    width: int
    layers: int
    heads: int
    reward_bins: int

    @nn.compact
    def __call__(self, tokens, actions, segment) -> WorldModelOut:
        b, c, k = tokens.shape
        obs = nn.Embed(self.codebook, self.width)(tokens)
        act = nn.Embed(self.num_actions, self.width)(actions)[:, :, None]
        pos = self.param("pos", nn.initializers.normal(0.02), (self.context, k + 1, self.width))
        x = (jnp.concatenate([obs, act], axis=2) + pos[:c]).reshape(b, c * (k + 1), self.width)
        mask = segment_causal_mask(segment, k + 1)
        for _ in range(self.layers):
            x = Block(self.width, self.heads)(x, mask)
        x = nn.LayerNorm()(x).reshape(b, c, k + 1, self.width)
        head = nn.Dense(self.codebook, name="next_token")
        at_action = x[:, :, k]
        return WorldModelOut(
            first=head(at_action),
            rest=head(x[:, :, : k - 1]),
            reward=nn.Dense(self.reward_bins, name="reward")(at_action),
            done=nn.Dense(1, name="done")(at_action)[..., 0],
        )


class Step(NamedTuple):
    """One real env step, as replay stores it."""

    obs: jax.Array  # [D]
    action: jax.Array  # [] int32
    reward: jax.Array  # []
    terminated: jax.Array  # [] bool
    truncated: jax.Array  # [] bool


class Dream(NamedTuple):
    """An imagined rollout ``[B, H]`` (``final_tokens [B, K]``: the state after the last)."""

    tokens: jax.Array  # [B, H, K]
    action: jax.Array  # [B, H]
    reward: jax.Array  # [B, H]
    done: jax.Array  # [B, H] bool
    final_tokens: jax.Array  # [B, K]


class Parts(NamedTuple):
    """IRIS's networks as pure functions of one parameter dict (see :func:`make_parts`)."""

    init: Any  # key -> params
    tokenize: Any  # (params, obs [..., D]) -> tokens [..., K]
    decode: Any  # (params, tokens [..., K]) -> obs [..., D]
    features: Any  # (params, tokens [..., K]) -> [..., K*E] actor-critic input (no gradient)
    world_model: Any  # (params, tokens, actions, segment) -> WorldModelOut
    logits: Any  # (params, tokens [..., K]) -> action logits [..., A]
    value: Any  # (params, tokens [..., K]) -> [...]
    rollout: Any  # (params, start_tokens [B, K], key, horizon, choose) -> Dream


def returns_time_last(rewards, discounts, values, bootstrap, lam):
    """:func:`jaxrl.losses.lambda_returns` with time on the last axis: ``rewards,
    discounts, values [..., T]`` (``values[t]`` is ``v_t``), ``bootstrap [...]`` is
    ``v_T``; returns ``[..., T]``."""
    time_first = [jnp.moveaxis(x, -1, 0) for x in (rewards, discounts, values)]
    v = jnp.concatenate([time_first[2], bootstrap[None]], axis=0)
    return jnp.moveaxis(lambda_returns(time_first[0], time_first[1], v, lam), 0, -1)


def make_parts(cfg: IRISConfig, obs_dim: int, num_actions: int) -> Parts:
    """The tokenizer, world model, actor and critic for ``cfg`` (already validated)."""
    k, e, n = cfg.tokens, cfg.embed_dim, cfg.codebook
    wm = WorldModel(n, num_actions, cfg.context, cfg.width, cfg.layers, cfg.heads,
                    cfg.reward_bins)  # fmt: skip
    support = (-cfg.reward_max, cfg.reward_max, cfg.reward_bins)

    def init(key):
        ks = jax.random.split(key, 6)
        c = cfg.context
        return {
            "encoder": init_mlp(ks[0], (obs_dim, *cfg.hidden, k * e)),
            "decoder": init_mlp(ks[1], (k * e, *cfg.hidden, obs_dim)),
            "codebook": jax.random.uniform(ks[2], (n, e), minval=-1.0 / n, maxval=1.0 / n),
            "world_model": wm.init(ks[3], jnp.zeros((1, c, k), jnp.int32),
                                   jnp.zeros((1, c), jnp.int32), jnp.zeros((1, c), jnp.int32)),
            "actor": init_mlp(ks[4], (k * e, *cfg.hidden, num_actions), head_scale=0.01),
            "critic": init_mlp(ks[5], (k * e, *cfg.hidden, 1), head_scale=1.0),
        }  # fmt: skip

    def encode(params, obs):
        return apply_mlp(params["encoder"], obs).reshape(obs.shape[:-1] + (k, e))

    def tokenize(params, obs):
        return vector_quantize(encode(params, obs), params["codebook"], 0.0)[0]

    def decode(params, tokens):
        z = jnp.asarray(params["codebook"])[tokens]
        return apply_mlp(params["decoder"], z.reshape(tokens.shape[:-1] + (k * e,)))

    def features(params, tokens):
        z = jax.lax.stop_gradient(params["codebook"])[tokens]
        return z.reshape(tokens.shape[:-1] + (k * e,))

    def world_model(params, tokens, actions, segment):
        return wm.apply(params["world_model"], tokens, actions, segment)

    def logits(params, tokens):
        return apply_mlp(params["actor"], features(params, tokens), "tanh")

    def value(params, tokens):
        return apply_mlp(params["critic"], features(params, tokens), "tanh")[..., 0]

    def rollout(params, start_tokens, key, horizon: int, choose, greedy: bool = False) -> Dream:
        """``horizon`` imagined steps from ``start_tokens`` alone; ``choose(t, tokens [B, K],
        key) -> actions [B]`` picks each action; the next tokens are sampled (the most
        likely ones if ``greedy``). The window holds the last ``context``
        steps; later positions never affect earlier ones (causal), so the slots not yet
        written are never read."""
        b, c = start_tokens.shape[0], cfg.context

        def pick(key, logits):
            return jnp.argmax(logits, -1) if greedy else jax.random.categorical(key, logits)

        tok = jnp.zeros((b, c, k), jnp.int32).at[:, 0].set(start_tokens)
        act = jnp.zeros((b, c), jnp.int32)
        seg = jnp.zeros((b, c), jnp.int32)

        def step(carry, key_t):
            tok, act, t = carry
            k_act, k_r, k_d, k_tok = jax.random.split(key_t, 4)
            s = jnp.minimum(t, c - 1)
            current = tok[:, s]
            a = choose(t, current, k_act).astype(jnp.int32)
            act = act.at[:, s].set(a)
            out = world_model(params, tok, act, seg)
            reward = two_hot_decode(jax.nn.softmax(out.reward[:, s]), *support)
            done = jax.random.bernoulli(k_d, jax.nn.sigmoid(out.done[:, s]))
            shift = t + 1 >= c
            tok = jnp.where(shift, jnp.roll(tok, -1, axis=1), tok)
            act = jnp.where(shift, jnp.roll(act, -1, axis=1), act)
            s_next = jnp.minimum(t + 1, c - 1)
            keys = jax.random.split(k_tok, k)
            tok = tok.at[:, s_next, 0].set(pick(keys[0], out.first[:, s]))
            for j in range(1, k):
                out_j = world_model(params, tok, act, seg)
                nxt = pick(keys[j], out_j.rest[:, s_next, j - 1])
                tok = tok.at[:, s_next, j].set(nxt)
            return (tok, act, t + 1), (current, a, reward, done)

        keys = jax.random.split(key, horizon)
        (tok, _, t), (tokens, actions, rewards, dones) = jax.lax.scan(
            step, (tok, act, jnp.zeros((), jnp.int32)), keys
        )
        final = tok[:, jnp.minimum(t, c - 1)]
        swap = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
        return Dream(swap(tokens), swap(actions), swap(rewards), swap(dones), final)

    return Parts(init, tokenize, decode, features, world_model, logits, value, rollout)


def imagine(parts: Parts, params, obs_seq, key, horizon: int) -> Dream:
    """Rollouts of ``horizon`` steps dreamed by the actor in the world model from
    ``obs_seq[:, 0]`` (sampled real sequences ``[B, C, D]``): the first observation is the
    only real one read."""
    start = parts.tokenize(params, obs_seq[:, 0])

    def choose(t, tokens, key):
        return jax.random.categorical(key, parts.logits(params, tokens))

    return parts.rollout(params, start, key, horizon, choose)


# ---- losses ---------------------------------------------------------------------------------


def tokenizer_loss(parts: Parts, params, obs, beta):
    """Reconstruction MSE plus the VQ codebook and commitment terms on ``obs [..., D]``."""
    e = params["codebook"].shape[1]
    z = apply_mlp(params["encoder"], obs)
    z = z.reshape(obs.shape[:-1] + (-1, e))
    _, z_st, vq = vector_quantize(z, params["codebook"], beta)
    recon = apply_mlp(params["decoder"], z_st.reshape(obs.shape[:-1] + (-1,)))
    mse = jnp.mean((recon - obs) ** 2)
    return mse + vq, mse


def world_model_loss(parts: Parts, params, steps: Step, valid, reward_support):
    """Cross-entropies of the next tokens, reward (two-hot) and termination on sequences
    ``steps [B, C]`` (``valid [B]``), on the tokenizer's tokens (no gradient into it).

    Returns ``(total, (token_ce, reward_ce, done_ce))``."""
    tokens = jax.lax.stop_gradient(parts.tokenize(params, steps.obs))  # [B, C, K]
    ended = steps.terminated | steps.truncated
    segment = jnp.cumsum(ended, axis=1) - ended  # episode id of each step in the window
    out = parts.world_model(params, tokens, steps.action, segment)
    w = valid.astype(jnp.float32)[:, None]

    def ce(logits, target):
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), target[..., None], -1)[..., 0]

    rest = ce(out.rest, tokens[..., 1:]).mean(-1)  # [B, C]
    cont = (~ended[:, :-1]).astype(jnp.float32) * w  # next step is the same episode
    first = ce(out.first[:, :-1], tokens[:, 1:, 0])
    n_rest = tokens.shape[-1] - 1
    token_ce = (jnp.sum(cont * first) + n_rest * jnp.sum(w * rest)) / jnp.maximum(
        jnp.sum(cont) + n_rest * jnp.sum(w * jnp.ones_like(rest)), 1.0
    )
    target = jax.vmap(jax.vmap(lambda r: two_hot(r, *reward_support)))(steps.reward)
    reward_ce = -jnp.sum(target * jax.nn.log_softmax(out.reward), -1)
    term = steps.terminated.astype(jnp.float32)
    done_ce = optax.sigmoid_binary_cross_entropy(out.done, term)
    denom = jnp.maximum(jnp.sum(w * jnp.ones_like(term)), 1.0)
    reward_ce, done_ce = jnp.sum(w * reward_ce) / denom, jnp.sum(w * done_ce) / denom
    return token_ce + reward_ce + done_ce, (token_ce, reward_ce, done_ce)


def actor_critic_loss(parts: Parts, params, dream: Dream, hp):
    """REINFORCE on lambda-returns with an entropy bonus, and the critic's regression.

    Returns ``(total, (actor_loss, value_loss, entropy, mean_return))``."""
    sg = jax.lax.stop_gradient
    values = parts.value(params, dream.tokens)  # [B, H]
    bootstrap = parts.value(params, dream.final_tokens)  # [B]
    cont = 1.0 - dream.done.astype(jnp.float32)
    alive = jnp.cumprod(jnp.concatenate([jnp.ones_like(cont[:, :1]), cont[:, :-1]], 1), 1)
    returns = sg(returns_time_last(dream.reward, hp.gamma * cont, sg(values), sg(bootstrap),
                                hp.lam))  # fmt: skip
    dist = Categorical(parts.logits(params, dream.tokens))
    logp = dist.log_prob(dream.action)
    norm = jnp.maximum(jnp.sum(alive), 1.0)
    adv = returns - sg(values)
    actor = -jnp.sum(alive * logp * adv) / norm
    entropy = jnp.sum(alive * dist.entropy()) / norm
    value_loss = 0.5 * jnp.sum(alive * (values - returns) ** 2) / norm
    total = actor - hp.entropy_coef * entropy + value_loss
    return total, (actor, value_loss, entropy, jnp.sum(alive * returns) / norm)


# ---- the learner ----------------------------------------------------------------------------


MODEL_KEYS = ("encoder", "decoder", "codebook", "world_model")
AC_KEYS = ("actor", "critic")


@struct.dataclass
class IRISState:
    params: Any
    opt_model: Any
    opt_ac: Any
    env_state: Any
    obs: jax.Array
    buffer: buffers.BufferState
    key: jax.Array
    env_steps: jax.Array
    last_return: jax.Array


def make_learner(config: IRISConfig, env, env_params) -> Learner:
    """IRIS on ``env`` (discrete actions).

    Raises ``ValueError`` (before tracing) for an invalid config (naming the field) or a
    continuous action space.
    """
    cfg = config
    cfg.validate()
    spec = jenvs.require_action_kind("iris", env, env_params, True, "ppo")
    venv = jenvs.stack(env, env_params, cfg.num_envs)
    obs_dim = jenvs.observation_size(env, env_params)
    parts = make_parts(cfg, obs_dim, spec.dim)
    support = (-cfg.reward_max, cfg.reward_max, cfg.reward_bins)
    buffer = buffers.make_uniform(cfg.buffer_size, cfg.num_envs, cfg.batch_size,
                                  sequence_length=cfg.context)  # fmt: skip
    example = Step(jnp.zeros(obs_dim), jnp.zeros((), jnp.int32), jnp.zeros(()),
                   jnp.zeros((), bool), jnp.zeros((), bool))  # fmt: skip

    def split(params, keys):
        return {name: params[name] for name in keys}

    def tx(lr, hp):
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr))

    def model_loss(model_params, other, steps, valid, hp):
        params = {**other, **model_params}
        tok, mse = tokenizer_loss(parts, params, steps.obs, hp.commitment)
        wm, (token_ce, reward_ce, done_ce) = world_model_loss(parts, params, steps, valid,
                                                              support)  # fmt: skip
        return tok + wm, jnp.stack([mse, token_ce, reward_ce, done_ce])

    def ac_loss(ac_params, other, dream, hp):
        total, aux = actor_critic_loss(parts, {**other, **ac_params}, dream, hp)
        return total, jnp.stack(aux)

    def act(params, obs, key, carry, env_state, greedy: bool):
        logits = parts.logits(params, parts.tokenize(params, obs))
        action = jnp.argmax(logits, -1) if greedy else jax.random.categorical(key, logits)
        return action.astype(jnp.int32), carry

    def init(key, hp, env_params, data):
        k_init, k_reset, k_run = jax.random.split(key, 3)
        params = parts.init(k_init)
        obs, env_state = venv.reset(k_reset, env_params)
        return IRISState(
            params=params,
            opt_model=tx(hp.lr_model, hp).init(split(params, MODEL_KEYS)),
            opt_ac=tx(hp.lr_actor, hp).init(split(params, AC_KEYS)),
            env_state=env_state, obs=obs, buffer=buffer.init(example), key=k_run,
            env_steps=jnp.zeros((), jnp.int32), last_return=jnp.zeros((), jnp.float32),
        )  # fmt: skip

    def collect(params, env_state, obs, key):
        def step(carry, key_t):
            env_state, obs = carry
            k_act, k_env = jax.random.split(key_t)
            action, _ = act(params, obs, k_act, (), env_state, greedy=False)
            next_obs, env_state, reward, terminated, truncated, info = venv.step(
                k_env, env_state, action, env_params
            )
            rec = Step(obs, action, reward.astype(jnp.float32), terminated, truncated)
            return (env_state, next_obs), (rec, info["episode_return"], info["returned_episode"])

        keys = jax.random.split(key, cfg.num_steps)
        (env_state, obs), traj = jax.lax.scan(step, (env_state, obs), keys)
        return env_state, obs, traj

    def train(params, opt_model, opt_ac, buffer_state, key, hp):
        t_model, t_ac = tx(hp.lr_model, hp), tx(hp.lr_actor, hp)
        model_grad = jax.grad(model_loss, has_aux=True)
        ac_grad = jax.grad(ac_loss, has_aux=True)

        def model_step(carry, key):
            params, opt = carry
            sample = buffer.sample(buffer_state, key)
            mp = split(params, MODEL_KEYS)
            other = split(params, AC_KEYS)
            grads, losses = model_grad(mp, other, sample.items, sample.valid, hp)
            updates, opt = t_model.update(grads, opt, mp)
            return ({**params, **optax.apply_updates(mp, updates)}, opt), losses

        def ac_step(carry, key):
            params, opt = carry
            k_sample, k_dream = jax.random.split(key)
            sample = buffer.sample(buffer_state, k_sample)
            dream = imagine(
                parts, jax.lax.stop_gradient(params), sample.items.obs, k_dream, cfg.horizon
            )
            ap = split(params, AC_KEYS)
            other = split(params, MODEL_KEYS)
            grads, losses = ac_grad(ap, other, dream, hp)
            updates, opt = t_ac.update(grads, opt, ap)
            return ({**params, **optax.apply_updates(ap, updates)}, opt), losses

        k_model, k_ac = jax.random.split(key)
        (params, opt_model), m_losses = jax.lax.scan(
            model_step, (params, opt_model), jax.random.split(k_model, cfg.model_steps)
        )
        (params, opt_ac), a_losses = jax.lax.scan(
            ac_step, (params, opt_ac), jax.random.split(k_ac, cfg.ac_steps)
        )
        return params, opt_model, opt_ac, m_losses.mean(0), a_losses.mean(0)

    def update(state: IRISState, hp, env_params, data):
        key, k_play, k_train = jax.random.split(state.key, 3)
        env_state, obs, (steps, returns, returned) = collect(state.params, state.env_state,
                                                             state.obs, k_play)  # fmt: skip
        buffer_state = jax.lax.scan(lambda s, row: (buffer.add(s, row), None), state.buffer,
                                    steps)[0]  # fmt: skip
        env_steps = state.env_steps + cfg.batch
        params, opt_model, opt_ac, m_losses, a_losses = train(
            state.params, state.opt_model, state.opt_ac, buffer_state, k_train, hp
        )
        ready = (env_steps >= cfg.learning_starts) & buffer.can_sample(buffer_state)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ready, a, b), new, old)  # noqa: E731
        last, episodes = latest_return(state.last_return, returns, returned)
        metrics = {"episode_return": last, "episodes": episodes.astype(jnp.float32)}
        names = ("recon_mse", "token_ce", "reward_ce", "done_ce")
        metrics.update(zip(names, m_losses, strict=True))
        names = ("actor_loss", "value_loss", "entropy", "imagined_return")
        metrics.update(zip(names, a_losses, strict=True))
        state = IRISState(
            params=keep(params, state.params), opt_model=keep(opt_model, state.opt_model),
            opt_ac=keep(opt_ac, state.opt_ac), env_state=env_state, obs=obs,
            buffer=buffer_state, key=key, env_steps=env_steps, last_return=last,
        )  # fmt: skip
        return state, metrics

    learner = Learner(
        config=cfg,
        hparams=IRISHParams(),
        init=init,
        update=update,
        policy=Policy(act),
        save=lambda state: state.params,
        num_updates=cfg.num_updates,
        steps_per_update=cfg.batch,
        env=env,
        env_params=env_params,
        hparam_ranges=HPARAM_RANGES,
    )
    return learner


def make_learner_parts(config: IRISConfig, env, env_params) -> Parts:
    """The :class:`Parts` a learner from :func:`make_learner` uses (to read saved params:
    tokenize, decode, dream)."""
    config.validate()
    spec = jenvs.require_action_kind("iris", env, env_params, True, "ppo")
    return make_parts(config, jenvs.observation_size(env, env_params), spec.dim)


def open_loop_predictor(learner: Learner):
    """``predict(saved, obs [B, H + 1, D], actions [B, H], key) -> [B, H, D]`` for an IRIS
    learner: the first observation tokenized, then ``H`` steps dreamed along ``actions`` and
    decoded; reads ``obs[:, 0]`` only (the protocol of ``experiments/world_models.py``)."""
    parts = make_learner_parts(learner.config, learner.env, learner.env_params)

    def predict(saved, obs, actions, key):
        horizon = actions.shape[1]
        start = parts.tokenize(saved, obs[:, 0])
        out = parts.rollout(saved, start, key, horizon, lambda t, tok, k: actions[:, t], True)
        seq = jnp.concatenate([out.tokens[:, 1:], out.final_tokens[:, None]], axis=1)
        return parts.decode(saved, seq)

    return predict


make_train = trainer(make_learner)
CONFIG = IRISConfig
HPARAMS = IRISHParams
