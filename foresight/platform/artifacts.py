"""Model artifact files: written once, checksummed, verified on every load."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from foresight.platform.backends import backend
from foresight.platform.errors import ArtifactCorrupted


class ArtifactStore(Protocol):
    """Where model artifacts live; the registry stores the relative path and checksum."""

    def save(self, relative: str, obj: Any) -> str: ...
    def load(self, relative: str, sha256: str) -> Any: ...


class LocalArtifactStore:
    """Artifacts under a local folder; the path stored in the registry is relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, relative: str, obj: Any) -> str:
        """Pickle ``obj`` to ``relative`` and return its SHA-256."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a file
        return hashlib.sha256(data).hexdigest()

    def load(self, relative: str, sha256: str) -> Any:
        """Load and verify; a missing or altered file raises :class:`ArtifactCorrupted`."""
        path = self.root / relative
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArtifactCorrupted(f"artifact {relative} cannot be read: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactCorrupted(f"artifact {relative} does not match its checksum")
        try:
            # Only files this instance wrote and checksummed are unpickled.
            return pickle.loads(data)
        except Exception as exc:
            raise ArtifactCorrupted(f"artifact {relative} cannot be unpickled: {exc}") from exc


# Backends by type string (``FORESIGHT_ARTIFACT_BACKEND``); an object store joins here.
ARTIFACT_BACKENDS: dict[str, Callable[[Path], ArtifactStore]] = {"local": LocalArtifactStore}


def artifact_store_from_kind(kind: str, root: Path) -> ArtifactStore:
    """The artifact store of backend ``kind`` rooted at ``root``."""
    return backend(ARTIFACT_BACKENDS, kind, "artifact")(root)
