"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint: the NIM proxy or a remote API.

Any failed batch raises, so ICL selection never silently loses records (reference defect §16.24), and
vectors of different sizes are refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flywheel.jsontypes import JsonValue
from flywheel.platforms.core.errors import NemoError, NemoResponseError
from flywheel.platforms.core.http import Reply, SyncHttp, bearer
from flywheel.platforms.core.retry import RetryPolicy


def embed_texts(http: SyncHttp, url: str, model: str, texts: list[str], batch_size: int = 32) -> list[list[float]]:
    """Embeddings of ``texts`` in input order, ``batch_size`` texts per request."""
    if batch_size < 1:
        raise ValueError("batch_size must be ≥ 1")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"text {i} is empty or not a string: embeddings need non-empty text")
    out: list[list[float]] = []
    dims: int | None = None
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        reply = http.call("POST", url, json_body={"model": model, "input": batch, "input_type": "query"})
        for v in _vectors(reply, len(batch)):
            dims = dims or len(v)
            if len(v) != dims:
                raise NemoResponseError(f"embedding sizes differ ({dims} vs {len(v)})", url=reply.url)
            out.append(v)
    return out


def _vectors(reply: Reply, expected: int) -> list[list[float]]:
    data = reply.data.get("data") if isinstance(reply.data, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        got = len(data) if isinstance(data, list) else "no"
        raise NemoResponseError(f"embeddings: asked for {expected}, got {got} vectors", url=reply.url)

    def index(d: JsonValue) -> int:
        i = d.get("index", 0) if isinstance(d, dict) else 0
        return i if isinstance(i, int) else 0

    vectors = []
    for item in sorted(data, key=index):
        vec = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(vec, list) or not vec:
            raise NemoResponseError("embeddings: an item has no numeric 'embedding'", url=reply.url)
        numbers = [float(x) for x in vec if isinstance(x, int | float) and not isinstance(x, bool)]
        if len(numbers) != len(vec):
            raise NemoResponseError("embeddings: an item has no numeric 'embedding'", url=reply.url)
        vectors.append(numbers)
    return vectors


class RemoteEmbedder:
    """Embeddings from a hosted endpoint (full ``.../v1/embeddings`` URL, optional bearer key)."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        *,
        batch_size: int = 32,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise NemoError(f"embedding URL must be the full http(s) embeddings URL, got {url!r}")
        self.url, self.model, self.batch_size = url, model, batch_size
        headers = bearer(api_key)
        self._http_args: tuple[Any, ...] = (timeout_s, RetryPolicy(max_retries=max_retries), headers, sleep)

    def embed(self, texts: list[str]) -> list[list[float]]:
        http = SyncHttp(*self._http_args)
        try:
            return embed_texts(http, self.url, self.model, texts, self.batch_size)
        finally:
            http.close()
