"""Hierarchical learners: temporally extended behaviour (options) and subgoals.

- :mod:`option_critic`: option-critic (Bacon et al. 2017): intra-option policies, learned
  terminations and a policy over options, learned end to end; tabular (a linear function
  of one-hot states) or deep (an MLP over vectorised envs, A2OC-style n-step updates). The
  current option is the policy's memory (the contract's ``Policy.init_carry``).
- :mod:`hiro`: HIRO (Nachum et al. 2018): a manager proposing state-space subgoals every
  ``c`` steps to a goal-reaching worker, both TD3 agents from
  :mod:`jaxrl.agents.offpolicy.td3` trained by the off-policy loop's ``train_phase``, with
  the off-policy correction of the manager's subgoals.

Modules here import the contract (:mod:`jaxrl.learner`), the shared parts (``envs``,
``networks``, ``distributions``, ``buffers``) and :mod:`jaxrl.agents.offpolicy` (TD3's
agent and the replay loop's train phase), never :mod:`jaxrl.run`.
"""
