"""Hierarchical learners: temporally extended behaviour (options) and subgoals.

- :mod:`option_critic`: option-critic (Bacon et al. 2017): intra-option policies, learned
  terminations and a policy over options, learned end to end; tabular (a linear function
  of one-hot states) or deep (an MLP over vectorised envs, A2OC-style n-step updates). The
  current option is the policy's memory (the contract's ``Policy.init_carry``).

Modules here import the contract (:mod:`jaxrl.learner`), the shared parts (``envs``,
``networks``, ``distributions``, ``buffers``) and :mod:`jaxrl.agents.offpolicy` (TD3's
agent and the replay loop's train phase), never :mod:`jaxrl.run`.
"""
