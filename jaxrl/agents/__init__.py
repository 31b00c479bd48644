"""Learners, one folder per family, each built on the contract of :mod:`jaxrl.learner`.

- :mod:`jaxrl.agents.onpolicy`: PPO (reference and CPU layouts), A2C.
- :mod:`jaxrl.agents.offpolicy`: the replay loop (:mod:`~jaxrl.agents.offpolicy.loop`) and
  DQN, SAC (continuous and discrete), TD3 and DDPG on it.
- :mod:`jaxrl.agents.search`: MuZero (learned model) and AlphaZero (true simulator) with mctx.
- :mod:`jaxrl.agents.evolution`: CMA-ES and OpenAI-ES policy search with evosax.
- :mod:`jaxrl.agents.memory`: recurrent PPO (GRU or LSTM) and RL² on it; the bandit
  strategies RL² is compared with.
- :mod:`jaxrl.agents.world_models`: Dreamer-style and IRIS-style agents that train in the
  imagination of a learned model.

Every algorithm module has ``CONFIG`` (static, a frozen dataclass), ``HPARAMS`` (traced, a
NamedTuple), ``make_learner(config, env, env_params) -> Learner`` and ``make_train``. Agents
import the contract and the shared parts below them (``envs``, ``networks``, ``losses``,
``buffers``, ``distributions``, ``planning``), never :mod:`jaxrl.run`; the names the command
line knows live in :mod:`jaxrl.registry`, above both.
"""
