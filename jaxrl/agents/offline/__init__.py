"""Offline learners: trained on a fixed dataset, never on their own env steps.

:mod:`common` holds the shared loop (a dataset as the learner's ``data``, gradient steps on
uniform batches through the off-policy loop's ``train_phase``, evaluation episodes through the
one episode loop); :mod:`bc` (behaviour cloning), :mod:`td3_bc`, :mod:`iql`, :mod:`cql`,
:mod:`sac_offline` and :mod:`td3_offline` (naive off-policy RL, the control) are replay-style
agents on it; :mod:`dt` is the Decision Transformer, a return-conditioned sequence model with
its own sampling of trajectory windows. Modules here import the contract, the shared parts
(``envs``, ``networks``, ``losses``, ``buffers``, ``distributions``, ``datasets``, the episode
loop) and the off-policy agents they extend, never :mod:`jaxrl.run`.
"""
