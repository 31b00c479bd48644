"""The env names :func:`jaxrl.envs.make` accepts, read without importing the simulators.

Importing gymnax (or brax, or MuJoCo Playground) takes seconds and starts JAX; the command
line checks an env name before that, so a typo is answered at once. The names come from the
registries' sources (gymnax's built-in ids, brax's and the Playground dm_control suite's env
tables), read with :mod:`ast`; :func:`names` returns ``None`` when a source cannot be read
that way, and the caller then asks the imported registries (a test holds both to the same
list).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

# Bernoulli bandit trials (jaxrl.envs.meta): any k >= 2 arms and n >= 1 pulls are accepted;
# the names listed are the RL² paper's table.
BANDIT_NAME = re.compile(r"^BernoulliBandit-k(\d+)-n(\d+)$")
BANDIT_NAMES = tuple(f"BernoulliBandit-k{k}-n{n}" for k in (2, 5, 10, 50) for n in (10, 100, 500))


def _package_file(package: str, relative: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)  # a top-level package: nothing is imported
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    return path if path.exists() else None


def _assigned(path: Path, name: str):
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])  # fmt: skip
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node.value
    raise LookupError(name)


def _string_list(node) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple):
        items = node.elts
    elif isinstance(node, ast.Dict):
        items = node.keys
    else:
        raise LookupError("not a literal")
    out = []
    for item in items:
        if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
            raise LookupError("not a string")
        out.append(item.value)
    return out


def _read(package: str, relative: str, name: str) -> list[str] | None:
    path = _package_file(package, relative)
    if path is None:
        return None
    try:
        return _string_list(_assigned(path, name))
    except (LookupError, SyntaxError, OSError):
        return None


@functools.cache
def names() -> tuple[str, ...] | None:
    """Every name ``make`` accepts, as :func:`jaxrl.envs.list_envs` orders them, or ``None``
    if a source could not be read (brax and Playground are optional: missing is empty)."""
    gymnax = _read("gymnax", "registration.py", "_BUILTIN_ENV_IDS")
    own = _read("jaxrl", "envs/registry.py", "OWN_ENVS")
    if gymnax is None or own is None:
        return None
    optional = []
    for prefix, package, relative in (
        ("brax", "brax", "envs/__init__.py"),
        ("playground", "mujoco_playground", "_src/dm_control_suite/__init__.py"),
    ):
        if importlib.util.find_spec(package) is None:
            continue
        found = _read(package, relative, "_envs")
        if found is None:
            return None
        optional += [f"{prefix}/{n}" for n in sorted(found)]
    return tuple(gymnax + own + list(BANDIT_NAMES) + optional)


def accepted(name: str, known: tuple[str, ...]) -> bool:
    """Whether ``make`` takes ``name``: a listed name or a name of a pattern."""
    return name in known or BANDIT_NAME.match(name) is not None
