"""In-memory NeMo Data Store: HF-style dataset repos with regular and LFS files."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

from pydantic import JsonValue

from flywheel.emulator.util import now_iso


@dataclass
class Repo:
    namespace: str
    name: str
    created_at: str = field(default_factory=now_iso)
    files: dict[str, bytes] = field(default_factory=dict)
    lfs_paths: set[str] = field(default_factory=set)
    sha: str = "0" * 40

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"


class DataStore:
    def __init__(self) -> None:
        self.namespaces: set[str] = set()
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}

    def repo(self, namespace: str, name: str) -> Repo | None:
        return self.repos.get(f"{namespace}/{name}")

    def create_repo(self, namespace: str, name: str) -> Repo | None:
        """The new repo, or None if it already exists."""
        key = f"{namespace}/{name}"
        if key in self.repos:
            return None
        self.repos[key] = repo = Repo(namespace, name)
        repo.sha = hashlib.sha1(f"init:{key}".encode()).hexdigest()
        return repo

    def commit(self, repo: Repo, lines: list[JsonValue]) -> tuple[str, list[str]]:
        """Apply an HF ndjson commit; returns (new sha, changed paths). Raises ValueError on bad lines."""
        changed: list[str] = []
        staged: dict[str, bytes | None] = {}
        lfs: set[str] = set()
        for line in lines:
            if not isinstance(line, dict):
                raise ValueError("a commit line must be a JSON object")
            key, value = line.get("key"), line.get("value") or {}
            if key == "header":
                continue
            path = value.get("path") if isinstance(value, dict) else None
            if not isinstance(value, dict) or not isinstance(path, str) or not path:
                raise ValueError(f"commit line '{key}' has no path")
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise ValueError(f"{path}: unsupported encoding {value.get('encoding')!r}")
                encoded = value.get("content", "")
                if not isinstance(encoded, str):
                    raise ValueError(f"{path}: content must be a base64 string")
                staged[path] = base64.b64decode(encoded)
            elif key == "lfsFile":
                oid = value.get("oid")
                if not isinstance(oid, str) or oid not in self.lfs_objects:
                    raise ValueError(f"{path}: LFS object {oid} was not uploaded")
                staged[path] = self.lfs_objects[oid]
                lfs.add(path)
            elif key in ("deletedFile", "deletedFolder"):
                staged[path] = None
            else:
                raise ValueError(f"unsupported commit operation {key!r}")
        for path, content in staged.items():
            if content is None:
                for p in [p for p in repo.files if p == path or p.startswith(path.rstrip("/") + "/")]:
                    del repo.files[p]
                    repo.lfs_paths.discard(p)
            else:
                repo.files[path] = content
                repo.lfs_paths.discard(path)
                if path in lfs:
                    repo.lfs_paths.add(path)
            changed.append(path)
        digest = hashlib.sha1(repo.sha.encode() + json.dumps(sorted(changed)).encode())
        for p in sorted(repo.files):
            digest.update(p.encode() + hashlib.sha1(repo.files[p]).digest())
        repo.sha = digest.hexdigest()
        return repo.sha, changed

    @staticmethod
    def blob_oid(content: bytes) -> str:
        """Git blob id, as the Hub reports for regular files."""
        return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()

    def read_hf_url(self, files_url: str) -> tuple[Repo, list[str]]:
        """Resolve ``hf://datasets/<ns>/<name>[/<path>]`` to the repo and the file paths it designates."""
        prefix = "hf://datasets/"
        if not files_url.startswith(prefix):
            raise LookupError(f"files_url must start with {prefix}: {files_url}")
        parts = files_url[len(prefix) :].strip("/").split("/", 2)
        if len(parts) < 2:
            raise LookupError(f"files_url has no <namespace>/<dataset>: {files_url}")
        repo = self.repo(parts[0], parts[1])
        if repo is None:
            raise LookupError(f"dataset repo {parts[0]}/{parts[1]} does not exist in the Data Store")
        if len(parts) == 3 and parts[2]:
            path = parts[2]
            paths = [p for p in repo.files if p == path or p.startswith(path.rstrip("/") + "/")]
            if not paths:
                raise LookupError(f"{path} does not exist in dataset repo {repo.repo_id}")
            return repo, sorted(paths)
        return repo, sorted(repo.files)
