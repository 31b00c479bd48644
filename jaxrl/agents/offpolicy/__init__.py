"""Off-policy learners: replay-based value and actor-critic methods.

:mod:`loop` holds the shared machinery (vectorised env, functional replay from
:mod:`jaxrl.buffers`, n-step targets, warm-up, metrics) as module-level steps, so offline
learners reuse its train phase over a pre-filled buffer; :mod:`dqn`, :mod:`sac`,
:mod:`sac_discrete`, :mod:`td3` and :mod:`ddpg` each supply an ``OffPolicyAgent``. Modules
here import the contract (:mod:`jaxrl.learner`) and the shared parts, never :mod:`jaxrl.run`.
"""
