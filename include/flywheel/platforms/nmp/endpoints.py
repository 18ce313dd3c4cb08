"""Where the NeMo platform lives and how patiently to talk to it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flywheel.platforms.core.http import bearer

_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class NemoEndpoints:
    """Base URLs (no trailing slash), the namespace of every object we create, timeout and retries.

    ``api_key`` is sent as ``Authorization: Bearer`` and is excluded from ``repr``."""

    base_url: str
    nim_url: str
    datastore_url: str
    api_key: str | None = field(default=None, repr=False)
    namespace: str = "dfwbp"
    timeout_s: float = 30.0
    max_retries: int = 5

    def __post_init__(self) -> None:
        for name in ("base_url", "nim_url", "datastore_url"):
            value = str(getattr(self, name) or "").strip().rstrip("/")
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"NemoEndpoints.{name} must be an http(s) URL, got {value!r}")
            object.__setattr__(self, name, value)
        if not _NAMESPACE.match(self.namespace or ""):
            raise ValueError(f"NemoEndpoints.namespace {self.namespace!r} is not a valid namespace")
        if not self.timeout_s > 0:
            raise ValueError("NemoEndpoints.timeout_s must be > 0")
        if self.max_retries < 0:
            raise ValueError("NemoEndpoints.max_retries must be ≥ 0")

    def auth_headers(self) -> dict[str, str]:
        return bearer(self.api_key)
