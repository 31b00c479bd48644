"""PPO's update laid out for XLA:CPU: the fast path behind ``PPOConfig.implementation``.

The same algorithm as :mod:`jaxrl.agents.onpolicy.ppo` (whose plain update is the reference;
a golden test holds the two to the same parameters), laid out for small networks on CPU,
where per-kernel overhead and matmul layouts dominate: only the actor runs inside the
rollout's time loop, batch-major with its weights transposed once per rollout, and records
each action's log-probability (the values of the whole batch come from one batched critic
pass afterwards); the env state travels through the loop as one packed vector; the batch is
one array shuffled by one gather; the actor and critic towers are trained stacked and
feature-major with a hand-written backward pass (:mod:`jaxrl.networks.actor_critic`); a
categorical policy's loss terms come with a hand-written gradient
(:func:`jaxrl.losses.categorical_ppo_terms`); every random number of an update comes from one
generator call (:func:`draw_update`); and the optimiser updates one flat vector.
BENCHMARKS.md has the measurements behind each choice.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from jaxrl.envs.packing import scan_packed
from jaxrl.learner import latest_return
from jaxrl.losses import (
    categorical_ppo_terms,
    clipped_surrogate_loss,
    clipped_value_loss,
    generalized_advantage_estimation,
)
from jaxrl.losses.ppo import log_softmax_rows, select_row
from jaxrl.networks.actor_critic import (
    ACTOR,
    CRITIC,
    select_towers,
    towers,
    towers_batch_major,
    transpose_towers,
)


class Transition(NamedTuple):
    """One rollout step of every env (leading axis ``num_envs``)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # of the action, under the policy that acted
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array  # terminated or truncated: an episode ended (and its return is known)
    final_obs: jax.Array
    episode_return: jax.Array


class Policy(NamedTuple):
    """The actor's distribution over actions (static description, pure methods)."""

    discrete: bool
    num_actions: int
    activation: str

    def actor(self, params) -> dict:
        """The actor of ``params`` as :meth:`outputs` and :meth:`sample` read it: its layers
        transposed for batch-major evaluation (:func:`transpose_towers`), plus ``log_std`` for
        continuous actions. Made once per rollout, outside its time loop."""
        actor = {"net": transpose_towers(select_towers(params, ACTOR_ONLY))}
        if not self.discrete:
            actor["log_std"] = params["log_std"]
        return actor

    def outputs(self, actor, obs):
        """Logits or action means ``[B, A]`` of observations ``[B, D]``."""
        return towers_batch_major(actor["net"], obs, self.activation)[0]

    def sample(self, actor, obs, noise):
        """Actions ``[B]`` (``[B, A]``) and their log-probabilities ``[B]`` for observations
        ``[B, D]``, from pre-drawn noise and an :meth:`actor`.

        ``noise`` is ``[B, A]``: Gumbel for discrete actions (the argmax of logits + noise
        samples the softmax), N(0, 1) for continuous ones.
        """
        out = self.outputs(actor, obs)
        if self.discrete:
            action = jnp.argmax(out + noise, axis=-1).astype(jnp.int32)
            log_p = log_softmax_rows([out[:, a] for a in range(self.num_actions)])
            return action, select_row(log_p, action)
        action = out + jnp.exp(actor["log_std"]) * noise
        return action, self.log_prob_entropy(actor, out.T, action.T)[0]

    def log_prob_entropy(self, params, out, action):
        """``log pi(action)`` and the entropy ``[B]`` from actor outputs ``[A, B]``.

        ``action`` is ``[B]`` (discrete) or ``[A, B]`` (continuous). Sums over the ``A``
        action rows are written out row by row, so the whole computation (and its gradient)
        is elementwise over the batch and fuses into a few loops.
        """
        rows = [out[a] for a in range(self.num_actions)]
        if self.discrete:
            log_p = log_softmax_rows(rows)
            entropy = -sum(jnp.exp(lp) * lp for lp in log_p)
            return select_row(log_p, action), entropy
        log_std = params["log_std"]
        z = [(action[a] - rows[a]) * jnp.exp(-log_std[a]) for a in range(self.num_actions)]
        norm = jnp.sum(log_std) + 0.5 * self.num_actions * math.log(2 * math.pi)
        log_prob = sum(-0.5 * za**2 for za in z) - norm
        entropy = jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e)) * jnp.ones_like(z[0])
        return log_prob, entropy


ACTOR_ONLY, CRITIC_ONLY = slice(ACTOR, ACTOR + 1), slice(CRITIC, CRITIC + 1)


class Parts(NamedTuple):
    """Everything static the fast path derives from the config and the env."""

    cfg: Any  # PPOConfig
    venv: Any
    policy: Policy
    obs_dim: int
    unravel: Any  # flat parameter vector -> pytree

    @property
    def action_rows(self) -> int:
        return 1 if self.policy.discrete else self.policy.num_actions

    @property
    def num_rows(self) -> int:
        """Numbers per sample in a batch: obs | action | log_prob | value | advantage | target."""
        return self.obs_dim + self.action_rows + 4


def act(parts: Parts, params, obs, key, greedy: bool):
    """Actions ``[B, ...]`` for observations ``[B, D]`` (parameters as a pytree): the mode
    (greedy) or a sample of the policy."""
    policy = parts.policy
    actor = policy.actor(params)
    if greedy:
        out = policy.outputs(actor, obs)
        return jnp.argmax(out, axis=-1).astype(jnp.int32) if policy.discrete else out
    draw = jax.random.gumbel if policy.discrete else jax.random.normal
    return policy.sample(actor, obs, draw(key, (obs.shape[0], policy.num_actions)))[0]


def permutations(key: jax.Array, n: int, count: int) -> jax.Array:
    """``count`` independent random permutations of ``range(n)``, ``[count, n]`` int32."""
    return permutations_from_bits(jax.random.bits(key, (count, n), jnp.uint32))


def permutations_from_bits(bits: jax.Array) -> jax.Array:
    """One random permutation of ``range(n)`` per row of random words ``[count, n]`` uint32.

    For ``n <= 4096`` each permutation is one sort of 32-bit words holding random high bits
    above the index: XLA:CPU sorts one primitive array several times faster than the
    key-value pairs ``jax.random.permutation`` sorts (4 permutations of 512: 40 us instead of
    203 us). Items whose >= 20 random bits tie keep their index order: ~``n^2 / 2^21`` pairs
    of a 4096-permutation, none in most small ones. Larger ``n`` use
    ``jax.random.permutation`` with a key made of each row's first words.
    """
    n = bits.shape[-1]
    width = max(1, (n - 1).bit_length())
    if width > 12:
        keys = jax.random.wrap_key_data(bits[:, :2])
        return jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    index = jnp.arange(n, dtype=jnp.uint32)
    words = (bits >> width << width) | index
    return (jnp.sort(words, axis=-1) & (2**width - 1)).astype(jnp.int32)


class UpdateDraws(NamedTuple):
    """Every random number of one update, from one call of the generator (each call costs
    XLA:CPU a loop of its own, whatever its size)."""

    next_key: jax.Array
    noise: jax.Array  # [T, E, A]: the rollout's action noise (see Policy.sample)
    step_keys: jax.Array  # [T, E]: the env's step keys
    reset_keys: jax.Array  # [T, E]: the env's reset keys
    permutation_bits: jax.Array  # [epochs, batch_size] uint32: the minibatch shuffles


def draw_update(parts: Parts, key: jax.Array) -> UpdateDraws:
    """The random numbers of one update (:class:`UpdateDraws`) from ``key``."""
    cfg, policy = parts.cfg, parts.policy
    key_shape = jax.random.key_data(key).shape
    key_words = math.prod(key_shape)
    t, e = cfg.num_steps, cfg.num_envs
    sizes = [key_words, t * e * policy.num_actions, t * e * key_words, t * e * key_words]
    sizes.append(cfg.update_epochs * cfg.batch_size)
    words = jax.random.bits(key, (sum(sizes),), jnp.uint32)
    parts = jnp.split(words, list(itertools.accumulate(sizes[:-1])))
    impl = jax.random.key_impl(key)

    def keys(w, shape):
        return jax.random.wrap_key_data(w.reshape(shape + key_shape), impl=impl)

    u = uniform_from_bits(parts[1]).reshape(t, e, policy.num_actions)
    if policy.discrete:  # Gumbel, as jax.random.gumbel
        noise = -jnp.log(-jnp.log(jnp.maximum(u, jnp.finfo(jnp.float32).tiny)))
    else:  # N(0, 1), as jax.random.normal
        low = jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0))
        noise = math.sqrt(2.0) * jax.lax.erf_inv(jnp.maximum(2.0 * u - 1.0, low))
    return UpdateDraws(keys(parts[0], ()), noise, keys(parts[2], (t, e)),
                       keys(parts[3], (t, e)), parts[4].reshape(cfg.update_epochs, -1))  # fmt: skip


def uniform_from_bits(bits: jax.Array) -> jax.Array:
    """Uniform floats in ``[0, 1)`` from random uint32 words (their 23 high bits)."""
    one = jnp.uint32(0x3F800000)  # the bits of 1.0f
    return jax.lax.bitcast_convert_type((bits >> 9) | one, jnp.float32) - 1.0


def ppo_loss(parts: Parts, params, mb: jax.Array, hp):
    """PPO's loss on one feature-major minibatch ``[num_rows, minibatch_size]``.

    Returns ``(total, [total, policy_loss, value_loss, entropy, approx_kl])``.
    """
    cfg, policy, d = parts.cfg, parts.policy, parts.obs_dim
    obs_t, rest = mb[:d], mb[d:]
    action = rest[: parts.action_rows]  # one row of indices, or the action vectors
    old_log_prob, old_value, adv, target = rest[parts.action_rows :]
    out = towers(select_towers(params), obs_t, cfg.activation)
    value = out[CRITIC, 0]
    if policy.discrete:  # the same terms, with fewer kernels per step on CPU
        terms = categorical_ppo_terms(out[ACTOR], value, action[0], old_log_prob, old_value,
                                      adv, target, hp.clip_eps, cfg.clip_value)  # fmt: skip
    else:
        log_prob, entropy = policy.log_prob_entropy(params, out[ACTOR], action)
        log_ratio = log_prob - old_log_prob
        ratio = jnp.exp(log_ratio)
        if cfg.clip_value:
            value_loss = clipped_value_loss(value, old_value, target, hp.clip_eps)
        else:
            value_loss = 0.5 * jnp.square(value - target)
        terms = jnp.stack([
            clipped_surrogate_loss(ratio, adv, hp.clip_eps),
            value_loss,
            entropy,
            (ratio - 1.0) - log_ratio,  # approximate KL(old || new)
        ])  # fmt: skip
    # Four means as one matrix-vector product (cheaper on CPU than four reductions).
    policy_loss, value_loss, ent, approx_kl = terms @ jnp.full(mb.shape[1], 1.0 / mb.shape[1])
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * ent
    return total, jnp.stack([total, policy_loss, value_loss, ent, approx_kl])


def collect_rollout(parts: Parts, params, env_state, obs, draws: UpdateDraws, env_params):
    """``num_steps`` steps of every env ``-> (env_state, obs, Transition [T, E, ...])``.

    Only the actor runs inside the time loop; the random numbers of the whole rollout
    (action noise, env keys, reset states) come drawn (:func:`draw_update`).
    """
    policy, venv = parts.policy, parts.venv
    prepared = venv.prepare_keys(draws.step_keys, draws.reset_keys, env_params)
    noise = draws.noise
    actor = policy.actor(params)

    def env_step(carry, xs):
        env_state, obs = carry
        noise_t, prepared_t = xs
        action, log_prob = policy.sample(actor, obs, noise_t)
        next_obs, env_state, reward, terminated, truncated, info = venv.step_prepared(
            prepared_t, env_state, action, env_params
        )
        done = jnp.logical_or(terminated, truncated)
        tr = Transition(obs, action, log_prob, reward, terminated, done,
                        info["final_observation"], info["episode_return"])  # fmt: skip
        return (env_state, next_obs), tr

    (env_state, obs), traj = scan_packed(env_step, (env_state, obs), (noise, prepared))
    return env_state, obs, traj


def evaluate_rollout(parts: Parts, params, traj: Transition, hp):
    """Log-probabilities, values, GAE advantages and value targets, ``[T, E]`` each.

    The log-probabilities are those the rollout recorded (the policy that acted; the
    parameters have not changed since). ``v(s_{t+1})`` is the value of each transition's final
    observation (the state it reached, before any reset), so truncated episodes bootstrap from
    their true last state. Where no episode ended, that is the next step's observation: the
    critic runs once on the batch of observations plus the final observations of the last
    step, and then only on truncated steps (see :func:`bootstrap_truncated`).
    """
    cfg = parts.cfg
    n, shape = cfg.batch_size, (cfg.num_steps, cfg.num_envs)
    critic = select_towers(params, CRITIC_ONLY)
    obs = jnp.concatenate([traj.obs.reshape(n, -1), traj.final_obs[-1]])
    v = towers(critic, obs.T, cfg.activation)[0, 0]
    value = v[:n].reshape(shape)
    v_tp1 = bootstrap_truncated(parts, transpose_towers(critic), traj, v[cfg.num_envs :])
    gae = jax.vmap(generalized_advantage_estimation, (1, 1, 1, 1, 1, None, None), 1)
    adv = gae(traj.reward, value, v_tp1, traj.terminated, traj.done, hp.gamma,
              hp.gae_lambda)  # fmt: skip
    return traj.log_prob, value, adv, adv + value


def bootstrap_truncated(parts: Parts, critic_t, traj: Transition, v_next: jax.Array):
    """``v_next`` (values of the next observations, flat ``[T * E]``) with the values of the
    final observations put in at truncated steps ``-> [T, E]``.

    The critic (``critic_t``, as :func:`transpose_towers` gives it) runs on the truncated
    steps' final observations ``num_envs`` at a time, batch-major: one small pass in a
    rollout with few truncations, none in one without.
    """
    cfg = parts.cfg
    n, k = cfg.batch_size, cfg.num_envs
    todo = jnp.logical_and(traj.done, jnp.logical_not(traj.terminated)).reshape(n)
    final = traj.final_obs.reshape(n, -1)

    def evaluate_some(carry):
        v, todo = carry
        rank = jnp.cumsum(todo.astype(jnp.int32)) - 1  # order among the remaining ones
        pick = jnp.logical_and(todo, rank < k)
        # The index of the j-th remaining one (0 where there is none: evaluated, unused).
        idx = jnp.argmax(jnp.logical_and(todo, rank == jnp.arange(k)[:, None]), axis=1)
        v_k = towers_batch_major(critic_t, final[idx], cfg.activation)[0, :, 0]
        v = jnp.where(pick, v_k[jnp.clip(rank, 0, k - 1)], v)
        return v, jnp.logical_and(todo, jnp.logical_not(pick))

    v_next, _ = jax.lax.while_loop(lambda c: jnp.any(c[1]), evaluate_some, (v_next, todo))
    return v_next.reshape(cfg.num_steps, cfg.num_envs)


def make_batch(parts: Parts, traj: Transition, log_prob, value, adv, target) -> jax.Array:
    """The training batch as one array ``[batch_size, num_rows]`` (one gather shuffles it)."""
    n = parts.cfg.batch_size
    columns = [traj.obs.reshape(n, -1), traj.action.astype(jnp.float32).reshape(n, -1)]
    columns += [x.reshape(n, 1) for x in (log_prob, value, adv, target)]
    return jnp.concatenate(columns, axis=1)


def minibatches(parts: Parts, batch: jax.Array, perms: jax.Array) -> jax.Array:
    """Shuffled feature-major minibatches of every epoch, ``[epochs * minibatches, num_rows,
    size]``, from a batch ``[batch_size, num_rows]`` and one permutation of it per epoch
    ``[epochs, batch_size]``."""
    cfg = parts.cfg
    steps = cfg.update_epochs * cfg.num_minibatches
    mbs = batch[perms.reshape(-1)].reshape(steps, cfg.minibatch_size, parts.num_rows)
    mbs = mbs.transpose(0, 2, 1)
    if cfg.normalize_advantages:
        # Each minibatch's advantages are normalised by their own mean and std; these do not
        # depend on the parameters, so every minibatch is normalised here at once.
        row = parts.num_rows - 2
        adv = mbs[:, row]
        adv = (adv - adv.mean(-1, keepdims=True)) / (adv.std(-1, keepdims=True) + 1e-8)
        mbs = mbs.at[:, row].set(adv)
    return mbs


def sgd_epochs(parts: Parts, tx, flat_params, opt_state, mbs: jax.Array, hp):
    """One gradient step per minibatch ``-> (flat_params, opt_state, mean losses [5])``.

    The optimiser sees flat vectors: a few fused loops over all the parameters instead of
    several small ones per layer.
    """
    grad_fn = jax.grad(functools.partial(ppo_loss, parts), has_aux=True)

    def sgd_step(carry, mb):
        flat_params, opt_state = carry
        grads, aux = grad_fn(parts.unravel(flat_params), mb, hp)
        updates, opt_state = tx.update(ravel_pytree(grads)[0], opt_state, flat_params)
        return (optax.apply_updates(flat_params, updates), opt_state), aux

    (flat_params, opt_state), aux = jax.lax.scan(sgd_step, (flat_params, opt_state), mbs)
    return flat_params, opt_state, aux.mean(axis=0)


def update(parts: Parts, tx, hp, env_params, state):
    """One PPO update: rollout, advantages, epochs of minibatch SGD ``-> (state, metrics)``.

    ``state`` is a :class:`jaxrl.agents.onpolicy.ppo.PPOState` whose ``params`` is the flat
    parameter vector (``parts.unravel`` gives the pytree) and ``opt_state`` the optimiser's
    state over it.
    """
    draws = draw_update(parts, state.key)
    params = parts.unravel(state.params)
    env_state, obs, traj = collect_rollout(
        parts, params, state.env_state, state.obs, draws, env_params
    )
    batch = make_batch(parts, traj, *evaluate_rollout(parts, params, traj, hp))
    mbs = minibatches(parts, batch, permutations_from_bits(draws.permutation_bits))
    flat_params, opt_state, losses = sgd_epochs(parts, tx, state.params, state.opt_state, mbs, hp)
    last_return, episodes = latest_return(state.last_return, traj.episode_return, traj.done)
    metrics = {"episode_return": last_return, "episodes": episodes}
    metrics.update(zip(LOSS_NAMES, losses, strict=True))
    state = state.replace(params=flat_params, opt_state=opt_state, env_state=env_state,
                          obs=obs, key=draws.next_key, last_return=last_return)  # fmt: skip
    return state, metrics


LOSS_NAMES = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl")
