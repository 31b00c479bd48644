"""Networks as explicit parameter pytrees and pure apply functions."""

from jaxrl.networks.actor_critic import ACTIVATIONS, apply_actor_critic, init_actor_critic

__all__ = ["ACTIVATIONS", "apply_actor_critic", "init_actor_critic"]
