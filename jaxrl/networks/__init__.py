"""Networks as explicit parameter pytrees and pure apply functions."""

from jaxrl.networks.actor_critic import ACTIVATIONS, apply_actor_critic, init_actor_critic
from jaxrl.networks.mlp import apply_ensemble, apply_mlp, init_ensemble, init_mlp
from jaxrl.networks.transformer import Block, causal_mask, segment_causal_mask

__all__ = [
    "ACTIVATIONS",
    "Block",
    "apply_actor_critic",
    "apply_ensemble",
    "apply_mlp",
    "causal_mask",
    "init_actor_critic",
    "init_ensemble",
    "init_mlp",
    "segment_causal_mask",
]
