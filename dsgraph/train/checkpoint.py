"""Atomic training checkpoints that hold tensors and plain data only, and never execute code.

A checkpoint is two files in one directory::

    ckpt-000000001000.pt     torch.save of {"format", "step", "config_hash", "state"}
    ckpt-000000001000.json   manifest: step, config hash, byte size and SHA-256 of the .pt

Both are written with :func:`dsgraph.storage.atomic.atomic_file` (temp file, fsync, rename), the
manifest last: a checkpoint is complete exactly when its manifest exists and matches. A crash at
any instant therefore leaves every earlier checkpoint loadable, and a half-written one invisible.
Loading verifies size and hash, then ``torch.load(weights_only=True)``: a file that smuggles in a
pickled object is refused, not executed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import torch

from dsgraph.errors import CheckpointError
from dsgraph.storage.atomic import atomic_file

__all__ = ["CheckpointError", "CheckpointInfo", "CheckpointManager", "config_hash"]

FORMAT_VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{12})\.json$")
_PLAIN_SCALARS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class CheckpointInfo:
    """Manifest of one complete checkpoint."""

    step: int
    path: Path
    config_hash: str
    sha256: str
    size: int


def config_hash(resolved_config: Mapping[str, Any]) -> str:
    """16 hex digits identifying a resolved run configuration (key order does not matter).

    Paths, enums, tuples, sets and pydantic models are canonicalised, so equal configurations
    hash equally across processes and machines.
    """
    text = json.dumps(
        _canonical(resolved_config), sort_keys=True, separators=(",", ":"), allow_nan=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "model_dump"):
        return _canonical(value.model_dump())
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def _check_plain(value: Any, where: str) -> None:
    """Raise CheckpointError unless ``value`` is tensors + plain data all the way down."""
    if isinstance(value, torch.Tensor):
        return
    if type(value) in _PLAIN_SCALARS:  # exact types: numpy scalars subclass float/int
        return
    if type(value) in (dict, OrderedDict):  # module state_dicts are OrderedDicts
        for k, v in value.items():
            if type(k) not in (str, int):
                raise CheckpointError(
                    f"checkpoint state {where}: key {k!r} of type {type(k).__name__} is not "
                    "allowed (keys must be str or int)"
                )
            _check_plain(v, f"{where}[{k!r}]")
        return
    if type(value) in (list, tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, torch.dtype | torch.Size):
        return
    hint = ""
    if type(value).__module__ == "numpy":
        hint = " (convert numpy arrays with torch.from_numpy, numpy scalars with int()/float())"
    raise CheckpointError(
        f"checkpoint state {where}: {type(value).__module__}.{type(value).__name__} is not "
        f"allowed; a checkpoint holds tensors, dicts, lists, tuples, str, int, float, bool, "
        f"None only{hint}"
    )


class _HashingWriter(io.RawIOBase):
    """A write-only file wrapper that hashes and counts the bytes passing through it."""

    def __init__(self, fh: io.BufferedWriter) -> None:
        super().__init__()
        self._fh = fh
        self._digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self._digest.update(view)
        self.size += view.nbytes
        return self._fh.write(view)

    def flush(self) -> None:
        self._fh.flush()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CheckpointManager:
    """Saves, lists, prunes and loads the checkpoints of one run in ``directory``.

    Args:
        directory: created on first save.
        keep_last: complete checkpoints kept after each save (older ones are deleted).
        config_hash: :func:`config_hash` of the run's resolved config; loading a checkpoint
            written under another hash is refused.
    """

    __slots__ = ("config_hash", "directory", "keep_last")

    def __init__(
        self, directory: str | os.PathLike[str], *, keep_last: int = 3, config_hash: str
    ) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.directory = Path(directory)
        self.keep_last = int(keep_last)
        self.config_hash = str(config_hash)

    def path_for(self, step: int) -> Path:
        return self.directory / f"ckpt-{int(step):012d}.pt"

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write ``state`` (tensors + plain data) as the checkpoint of ``step``; atomic.

        Re-saving a step replaces it. Prunes to ``keep_last`` afterwards. Returns the .pt path.
        """
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        _check_plain(state, "state")
        path = self.path_for(step)
        payload = {
            "format": FORMAT_VERSION,
            "step": int(step),
            "config_hash": self.config_hash,
            "state": state,
        }
        manifest_path = path.with_suffix(".json")
        # An older manifest for this step would vouch for the wrong bytes while the .pt changes.
        manifest_path.unlink(missing_ok=True)
        with atomic_file(path) as tmp, open(tmp, "wb") as fh:
            writer = _HashingWriter(fh)  # hash while writing: no second pass over the file
            torch.save(payload, writer)
            fh.flush()
        manifest = {
            "format": FORMAT_VERSION,
            "step": int(step),
            "config_hash": self.config_hash,
            "file": path.name,
            "size": writer.size,
            "sha256": writer.hexdigest(),
        }
        with atomic_file(manifest_path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        self._prune()
        return path

    def checkpoints(self) -> list[CheckpointInfo]:
        """Complete checkpoints (manifest present, .pt of the recorded size), oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            if not _NAME.match(entry.name):
                continue
            info = self._read_manifest(entry)
            if info is not None and info.path.is_file() and info.path.stat().st_size == info.size:
                found.append(info)
        return sorted(found, key=lambda i: i.step)

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        complete = self.checkpoints()
        return complete[-1].path if complete else None

    def load(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        fallback: bool = False,
        map_location: str | torch.device = "cpu",
    ) -> dict[str, Any]:
        """The state saved by :meth:`save` (the newest complete checkpoint when ``path`` is None).

        Raises :class:`CheckpointError` when the checkpoint is missing, truncated, corrupt, holds
        anything but tensors and plain data, or was written under another config hash. With
        ``fallback`` (and no explicit ``path``), a damaged checkpoint is skipped for the next
        older one; a config-hash mismatch is never skipped.
        """
        if path is not None:
            return self._load_one(Path(path), map_location)
        candidates = [c.path for c in reversed(self.checkpoints())]
        if not candidates:
            raise CheckpointError(f"no complete checkpoint in {self.directory}")
        errors = []
        for candidate in candidates:
            try:
                return self._load_one(candidate, map_location)
            except _DamagedCheckpoint as err:
                if not fallback:
                    raise
                errors.append(str(err))
        raise CheckpointError(
            f"every checkpoint in {self.directory} is damaged: " + "; ".join(errors)
        )

    def discard_after(self, step: int) -> None:
        """Delete checkpoints newer than ``step`` (after a rollback they describe a dead branch)."""
        for info in self.checkpoints():
            if info.step > step:
                self._delete(info.path)

    # -- internals -----------------------------------------------------------------------------
    def _read_manifest(self, manifest_path: Path) -> CheckpointInfo | None:
        try:
            data = json.loads(manifest_path.read_text())
            return CheckpointInfo(
                step=int(data["step"]),
                path=manifest_path.with_name(str(data["file"])),
                config_hash=str(data["config_hash"]),
                sha256=str(data["sha256"]),
                size=int(data["size"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _load_one(self, path: Path, map_location: str | torch.device) -> dict[str, Any]:
        manifest = self._read_manifest(path.with_suffix(".json"))
        if not path.is_file():
            raise _DamagedCheckpoint(f"checkpoint {path} does not exist")
        if manifest is None:
            raise _DamagedCheckpoint(
                f"checkpoint {path} has no valid manifest {path.with_suffix('.json').name} "
                "(the save did not complete)"
            )
        if manifest.config_hash != self.config_hash:
            raise CheckpointError(
                f"checkpoint {path} was written by another configuration (config hash "
                f"{manifest.config_hash}, this run {self.config_hash}); use a fresh output "
                "directory or the original config"
            )
        size = path.stat().st_size
        if size != manifest.size:
            raise _DamagedCheckpoint(
                f"checkpoint {path} is truncated or overwritten: {size} bytes, manifest says "
                f"{manifest.size}"
            )
        if _sha256(path) != manifest.sha256:
            raise _DamagedCheckpoint(f"checkpoint {path} is corrupt: SHA-256 does not match")
        try:
            payload = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # an unpickling error of any kind: refuse, never execute
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise _DamagedCheckpoint(
                f"checkpoint {path} holds more than tensors and plain data or is unreadable "
                f"(torch.load weights_only refused it: {first})"
            ) from err
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise _DamagedCheckpoint(f"checkpoint {path} is not a dsgraph checkpoint")
        if payload.get("config_hash") != self.config_hash:
            raise CheckpointError(
                f"checkpoint {path} was written by another configuration (config hash "
                f"{payload.get('config_hash')}, this run {self.config_hash})"
            )
        return payload["state"]

    def _prune(self) -> None:
        complete = self.checkpoints()
        for info in complete[: max(0, len(complete) - self.keep_last)]:
            self._delete(info.path)
        keep = {c.path.name for c in complete[-self.keep_last :]}
        for entry in self.directory.iterdir():
            name = entry.name
            # Leftovers of saves that crashed: temp files and .pt files that never got a manifest.
            stale_tmp = name.startswith(".ckpt-") and name.endswith(".tmp")
            orphan = name.startswith("ckpt-") and name.endswith(".pt") and name not in keep
            if stale_tmp or (orphan and not entry.with_suffix(".json").exists()):
                entry.unlink(missing_ok=True)

    @staticmethod
    def _delete(path: Path) -> None:
        # Manifest first: a crash in between leaves an orphan .pt, never a dangling manifest.
        path.with_suffix(".json").unlink(missing_ok=True)
        path.unlink(missing_ok=True)


class _DamagedCheckpoint(CheckpointError):
    """Truncated, corrupt, unsafe or incomplete: load(fallback=True) may try an older one."""
