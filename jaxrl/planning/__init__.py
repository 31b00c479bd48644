"""Planning with ``mctx``: search wrappers, true-simulator and learned-model recurrences."""

from jaxrl.planning.search import (
    DETERMINISTIC_ENVS,
    SEARCH_POLICIES,
    EnvEmbedding,
    SearchConfig,
    check_deterministic,
    env_root,
    make_env_recurrent_fn,
    require_discrete,
    root_value,
    run_search,
)
from jaxrl.planning.targets import n_step_returns

__all__ = [
    "DETERMINISTIC_ENVS",
    "SEARCH_POLICIES",
    "EnvEmbedding",
    "SearchConfig",
    "check_deterministic",
    "env_root",
    "make_env_recurrent_fn",
    "n_step_returns",
    "require_discrete",
    "root_value",
    "run_search",
]
