"""Planning with tree search (mctx): MuZero with a learned model, AlphaZero with the true
simulator.

Both share :mod:`selfplay` (search-guided self-play, replay from :mod:`jaxrl.buffers`,
n-step value targets from :mod:`jaxrl.losses`); the search itself is
:mod:`jaxrl.planning`. AlphaZero's policy acts on env states (a planner); MuZero's on
observations. Modules here import the contract and the shared parts, never :mod:`jaxrl.run`.
"""
