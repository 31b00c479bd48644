"""The fields of an algorithm's config and hyperparameters, with their descriptions.

The command line builds its flags from these: a field's one-line docstring is its help, and
the algorithm's ``HPARAM_RANGES`` give each hyperparameter's valid range. They are read from
the algorithm module's source with :mod:`ast`, without importing it, so ``jaxrl train ALGO
--help`` answers without loading JAX; when the source cannot be read that way (an algorithm
registered as an object, a base class it cannot follow) they come from the imported classes.
Either way the result is the same (a test holds the two to each other).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import typing
from pathlib import Path
from typing import Any, NamedTuple


class FieldSpec(NamedTuple):
    name: str
    type: Any  # a type tyro can parse: int, float, str, bool, tuple[int, ...], int | None
    default: Any
    doc: str  # the field's docstring ("" if none)


class AlgorithmFields(NamedTuple):
    config_name: str
    config_doc: str
    config: tuple[FieldSpec, ...]
    hparams_name: str
    hparams_doc: str
    hparams: tuple[FieldSpec, ...]
    ranges: dict[str, str]


# Annotations are evaluated with these names only (nothing from the module is executed).
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "tuple": tuple, "None": None,
          "list": list}  # fmt: skip


class _Unreadable(Exception):
    pass


def algorithm_fields(module: str | Any) -> AlgorithmFields:
    """The config and hyperparameter fields of an algorithm module (an import path, read
    from source without importing it when possible, or a module object)."""
    if isinstance(module, str):
        try:
            return _from_source(module)
        except _Unreadable:
            module = importlib.import_module(module)
    return from_module(module)


# ---- from source, without importing ------------------------------------------------------


def _source_path(modname: str) -> Path:
    try:
        spec = importlib.util.find_spec(modname)  # imports the parent packages only
    except (ImportError, ValueError) as e:
        raise _Unreadable(modname) from e
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise _Unreadable(modname)
    return Path(spec.origin)


_TREES: dict[str, ast.Module] = {}


def _tree(modname: str) -> ast.Module:
    if modname not in _TREES:
        _TREES[modname] = ast.parse(_source_path(modname).read_text())
    return _TREES[modname]


def _absolute(modname: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = modname.rsplit(".", node.level)[0]
    return f"{package}.{node.module}" if node.module else package


def _lookup(modname: str, name: str, depth: int = 0):
    """``(module, node)`` defining ``name`` at the top of ``modname``: a ClassDef, the value
    of an assignment, or a module (``("module", path)``) bound by an import."""
    if depth > 10:
        raise _Unreadable(name)
    found = None
    for node in _tree(modname).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            found = (modname, node)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            found = (modname, node.value)
        elif isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
            found = (modname, node.value)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(modname, node)
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    if _has_submodule(source, alias.name):
                        found = ("module", f"{source}.{alias.name}")
                    else:
                        found = _lookup(source, alias.name, depth + 1)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname == name:
                    found = ("module", alias.name)
    if found is None:
        raise _Unreadable(f"{modname}.{name}")
    where, value = found
    if where != "module" and isinstance(value, ast.Name):
        return _lookup(where, value.id, depth + 1)
    if where != "module" and isinstance(value, ast.Attribute):
        return _attribute(where, value, depth)
    return found


def _attribute(modname: str, node: ast.Attribute, depth: int):
    if not isinstance(node.value, ast.Name):
        raise _Unreadable(ast.unparse(node))
    where, target = _lookup(modname, node.value.id, depth + 1)
    if where != "module":
        raise _Unreadable(ast.unparse(node))
    return _lookup(target, node.attr, depth + 1)


def _has_submodule(package: str, name: str) -> bool:
    """Whether ``package.name`` is a module, found on disk: ``find_spec`` of a dotted name
    would import its parent, which may be a module that imports JAX."""
    try:
        spec = importlib.util.find_spec(package)  # imports package's parents only
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(d) / f"{name}.py").exists() or (Path(d) / name / "__init__.py").exists()
               for d in spec.submodule_search_locations)  # fmt: skip


def _class(modname: str, name: str) -> tuple[str, ast.ClassDef]:
    where, node = _lookup(modname, name)
    if not isinstance(node, ast.ClassDef):
        raise _Unreadable(name)
    return where, node


def _docstrings(body: list[ast.stmt]) -> dict[str, str]:
    """Attribute docstrings: the string right after ``name: type = value``."""
    docs = {}
    for stmt, nxt in zip(body, body[1:] + [None], strict=True):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):  # fmt: skip
            docs[stmt.target.id] = _one_line(nxt.value.value)
    return docs


def _one_line(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split())


def _class_fields(modname: str, node: ast.ClassDef) -> list[FieldSpec]:
    fields: list[FieldSpec] = []
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in ("NamedTuple", "object"):
            continue
        if isinstance(base, ast.Name):
            where, cls = _class(modname, base.id)
        elif isinstance(base, ast.Attribute):
            where, cls = _attribute(modname, base, 0)
            if not isinstance(cls, ast.ClassDef):
                raise _Unreadable(ast.unparse(base))
        else:
            raise _Unreadable(ast.unparse(base))
        fields = _merge(fields, _class_fields(where, cls))
    docs = _docstrings(node.body)
    own = []
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        annotation = ast.unparse(stmt.annotation)
        if "ClassVar" in annotation:
            continue
        if stmt.value is None:
            raise _Unreadable(f"{node.name}.{stmt.target.id} has no default")
        try:
            default = ast.literal_eval(stmt.value)
            kind = eval(annotation, {"__builtins__": {}}, dict(_TYPES))  # names above only
        except Exception as e:
            raise _Unreadable(f"{node.name}.{stmt.target.id}") from e
        own.append(FieldSpec(stmt.target.id, kind, default, docs.get(stmt.target.id, "")))
    return _merge(fields, own)


def _merge(base: list[FieldSpec], own: list[FieldSpec]) -> list[FieldSpec]:
    """Dataclass inheritance: a redefined field keeps its place, takes the new default and
    type, and keeps the base's docstring unless it has its own."""
    out = list(base)
    index = {f.name: i for i, f in enumerate(out)}
    for f in own:
        if f.name in index:
            old = out[index[f.name]]
            out[index[f.name]] = f._replace(doc=f.doc or old.doc)
        else:
            index[f.name] = len(out)
            out.append(f)
    return out


def _literal(modname: str, node, depth: int = 0):
    """A literal, where a dict may unpack other module-level dicts (``{**BASE, "k": v}``)."""
    if isinstance(node, ast.Dict) and any(k is None for k in node.keys):
        out = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                if not isinstance(value, ast.Name | ast.Attribute) or depth > 10:
                    raise _Unreadable(ast.unparse(value))
                where, found = (_lookup(modname, value.id) if isinstance(value, ast.Name)
                                else _attribute(modname, value, 0))  # fmt: skip
                if where == "module":
                    raise _Unreadable(ast.unparse(value))
                out.update(_literal(where, found, depth + 1))
            else:
                out[ast.literal_eval(key)] = ast.literal_eval(value)
        return out
    try:
        return ast.literal_eval(node)
    except ValueError as e:
        raise _Unreadable(ast.unparse(node)) from e


def _class_doc(node: ast.ClassDef) -> str:
    doc = ast.get_docstring(node) or ""
    return _one_line(doc.split("\n\n")[0]) if doc else ""


def _from_source(modname: str) -> AlgorithmFields:
    try:
        c_mod, c_node = _class(modname, "CONFIG")
        h_mod, h_node = _class(modname, "HPARAMS")
        try:
            where, value = _lookup(modname, "HPARAM_RANGES")
            ranges = _literal(where, value) if where != "module" else None
        except _Unreadable:
            ranges = {}
        if not isinstance(ranges, dict):
            raise _Unreadable("HPARAM_RANGES")
        return AlgorithmFields(c_node.name, _class_doc(c_node), tuple(_class_fields(c_mod, c_node)),
                               h_node.name, _class_doc(h_node), tuple(_class_fields(h_mod, h_node)),
                               dict(ranges))  # fmt: skip
    except (OSError, SyntaxError, ValueError, _Unreadable) as e:
        raise _Unreadable(modname) from e


# ---- from the imported classes -----------------------------------------------------------


def _mro_docs(cls) -> dict[str, str]:
    docs: dict[str, str] = {}
    # hyperparameters extended with jaxrl.learner.hyperparameters keep the classes they were
    # written in (their fields' docstrings are there)
    for klass in getattr(cls, "__hparams_sources__", None) or reversed(cls.__mro__):
        if klass in (object, tuple):
            continue
        try:
            node = ast.parse(inspect.cleandoc("\n" + inspect.getsource(klass))).body[0]
        except (OSError, TypeError, SyntaxError, IndexError):
            continue
        for name, doc in _docstrings(node.body).items():
            docs[name] = doc
    return docs


def from_module(module) -> AlgorithmFields:
    """:class:`AlgorithmFields` from an imported algorithm module (or object)."""
    config_cls, hparams_cls = module.CONFIG, module.HPARAMS
    hints = typing.get_type_hints(config_cls)
    docs = _mro_docs(config_cls)
    config = tuple(
        FieldSpec(
            f.name,
            hints[f.name],
            f.default if f.default is not dataclasses.MISSING else f.default_factory(),
            docs.get(f.name, ""),
        )  # fmt: skip
        for f in dataclasses.fields(config_cls)
    )
    hints = typing.get_type_hints(hparams_cls)
    docs = _mro_docs(hparams_cls)
    hparams = tuple(
        FieldSpec(
            name, hints.get(name, float), hparams_cls._field_defaults[name], docs.get(name, "")
        )  # fmt: skip
        for name in hparams_cls._fields
    )
    return AlgorithmFields(config_cls.__name__, _doc_of(config_cls), config,
                           hparams_cls.__name__, _doc_of(hparams_cls), hparams,
                           dict(getattr(module, "HPARAM_RANGES", {})))  # fmt: skip


def _doc_of(cls) -> str:
    doc = cls.__dict__.get("__doc__") or ""
    if doc.startswith(f"{cls.__name__}("):  # made by dataclass or NamedTuple, not written
        return ""
    return _one_line(doc.split("\n\n")[0]) if doc else ""
