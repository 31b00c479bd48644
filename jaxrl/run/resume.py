"""What a checkpoint belongs to: the run's fields, stored beside it and checked on resume.

A resumed run must be the same run: same algorithm, env, config, hyperparameters, seeds and
chunking. The fields that define it are stored in ``checkpoints/fingerprint.json`` when the
run starts; ``--resume`` compares them with the command's before anything is compiled, and
names every field that differs. Nothing here imports JAX.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

META = "fingerprint.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt or belongs to another run."""


def normalise(fields: dict) -> dict:
    """``fields`` as JSON reads them back (tuples as lists, numpy scalars as numbers)."""
    return json.loads(json.dumps(fields, sort_keys=True, default=_default))


def _default(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def fingerprint(fields: dict | str) -> str:
    """A digest of everything that must match for a checkpoint to be resumed."""
    if isinstance(fields, str):
        return fields
    text = json.dumps(normalise(fields), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_meta(directory: Path, fields: dict | str, num_chunks: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"fingerprint": fingerprint(fields), "chunks": num_chunks}
    if isinstance(fields, dict):
        meta["fields"] = normalise(fields)
    (directory / META).write_text(json.dumps(meta, indent=1) + "\n")


def read_meta(directory: Path) -> dict:
    path = Path(directory) / META
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable ({e})") from None


def differences(saved: dict, now: dict) -> list[str]:
    """``"name: A in the checkpoint, B now"`` for every field that differs. Nested dicts
    (``config``, ``hparams``, ``env_params``) are compared field by field, under their own
    names (the command line's flags)."""
    out = []

    def flat(d: dict, into: dict, prefix: str = "") -> dict:
        for k, v in d.items():
            if isinstance(v, dict) and k in ("config", "hparams"):
                flat(v, into)
            elif isinstance(v, dict) and v and k == "env_params":
                flat(v, into, "env_params.")
            else:
                into[prefix + k] = v
        return into

    a, b = flat(saved, {}), flat(normalise(now), {})
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            out.append(f"{k}: {_show(a.get(k))} in the checkpoint, {_show(b.get(k))} now")
    return out


def _show(v) -> str:
    if v is None:
        return "absent"
    return json.dumps(v) if not isinstance(v, str) else v


def check_resumable(directory: Path, fields: dict | str, num_chunks: int | None = None) -> None:
    """Raises :class:`CheckpointError` unless the checkpoints in ``directory`` belong to the
    run ``fields`` describes (and, if given, are cut into ``num_chunks`` chunks), naming each
    field that differs."""
    meta_path = Path(directory) / META
    saved = read_meta(directory)
    if isinstance(fields, dict) and isinstance(saved.get("fields"), dict):
        diff = differences(saved["fields"], fields)
        if diff:
            raise CheckpointError(
                f"{meta_path}: the checkpoint belongs to another run ({'; '.join(diff)}); "
                "resume with the same flags, or start a new run directory"
            )
    if saved.get("fingerprint") != fingerprint(fields):
        raise CheckpointError(
            f"{meta_path}: the checkpoint belongs to a run with another config, seeds or env; "
            "resume with the same flags, or start a new run directory"
        )
    if num_chunks is not None and saved.get("chunks") != num_chunks:
        raise CheckpointError(
            f"{meta_path}: chunks: {saved.get('chunks')} in the checkpoint, {num_chunks} now; "
            "resume with the same --chunks"
        )
