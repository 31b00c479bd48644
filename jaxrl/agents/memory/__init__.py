"""Learners with memory: recurrent PPO.

- :mod:`ppo_rnn`: PPO with a GRU or LSTM core whose hidden state is the policy's carry,
  reset where episodes end, trained on whole env sequences (truncated backpropagation
  through time over each rollout).

Modules here import the contract (:mod:`jaxrl.learner`), the on-policy family's PPO pieces
(:mod:`jaxrl.agents.onpolicy.ppo`: its optimiser, objective and SGD loop) and the shared
parts (``envs``, ``networks``, ``losses``, ``distributions``), never :mod:`jaxrl.run`.
"""
