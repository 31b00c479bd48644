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

__all__ = [
    "DETERMINISTIC_ENVS",
    "SEARCH_POLICIES",
    "EnvEmbedding",
    "SearchConfig",
    "check_deterministic",
    "env_root",
    "make_env_recurrent_fn",
    "require_discrete",
    "root_value",
    "run_search",
]
