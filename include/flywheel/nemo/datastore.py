"""Data Store uploads through its Hugging Face compatible API (``<datastore>/v1/hf``).

The Data Store speaks the classic HF protocol (preupload → inline or LFS → commit), not Xet, so Xet is
switched off for this process (``huggingface_hub`` would otherwise use it for every LFS file whenever
``hf_xet`` is installed). ``huggingface_hub``'s shared HTTP client has no timeout by default; we give
it one, and progress bars are off. All files of a dataset go in one commit; the whole upload is
idempotent and retried on transient failures with the same policy as every other NeMo call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flywheel.nemo.errors import NemoConnectionError, NemoError, NemoTimeoutError, error_for_status, one_line
from flywheel.nemo.retry import RetryPolicy, retry_after_s, retryable_status

log = logging.getLogger("flywheel.nemo")
T = TypeVar("T")
_setup_lock = threading.Lock()
_timeout_s: float | None = None


def prepare_hf(timeout_s: float) -> Any:
    """Import ``huggingface_hub`` with Xet disabled and ``timeout_s`` on its shared HTTP client."""
    global _timeout_s
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # progress bars only clutter task logs
    import huggingface_hub
    import huggingface_hub.constants as constants
    from huggingface_hub.utils import _http

    with _setup_lock:
        constants.HF_HUB_DISABLE_XET = True  # read at call time by is_xet_available()
        _timeout_s = timeout_s
        if getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) is _http.default_client_factory:
            huggingface_hub.set_client_factory(_client_with_timeout)
        # the shared client may exist already (created by another caller): give it our timeout too
        _http.get_session().timeout = timeout_s
    return huggingface_hub


def _client_with_timeout() -> Any:
    from huggingface_hub.utils import _http

    client = _http.default_client_factory()
    client.timeout = _timeout_s
    return client


def _hf_error(exc: Exception, what: str) -> tuple[NemoError, bool, float | None]:
    """(typed error, retryable, retry-after) for an exception raised by huggingface_hub."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        body = getattr(response, "content", b"") or b""
        url = str(getattr(response, "url", "")) or None
        method = getattr(getattr(response, "request", None), "method", None)
        message = getattr(exc, "server_message", None) or str(exc).splitlines()[0]
        err = error_for_status(status, f"{what}: {one_line(message)}", method or "HF", url or what)
        return err, retryable_status(status, body), retry_after_s(getattr(response, "headers", {}).get("retry-after"))
    name = type(exc).__name__
    if "Timeout" in name:
        return NemoTimeoutError(f"{what}: {name}: {one_line(str(exc))}"), True, None
    if "Connect" in name or "Transport" in name or "Network" in name or "Protocol" in name or "Read" in name:
        return NemoConnectionError(f"{what}: {name}: {one_line(str(exc))}"), True, None
    return NemoError(f"{what}: {name}: {one_line(str(exc))}"), False, None


def with_retries(fn: Callable[[], T], what: str, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> T:
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # huggingface_hub / httpx2 errors: classified by HTTP status or type
            err, retry, after = _hf_error(exc, what)
        if not retry or attempt >= policy.max_retries:
            raise err
        wait = policy.delay(attempt, after)
        log.warning("Data Store %s retry %d/%d in %.1fs: %s", what, attempt + 1, policy.max_retries, wait, err)
        sleep(wait)
        attempt += 1


def upload_files(
    endpoint: str,
    token: str | None,
    repo_id: str,
    files: dict[str, Path],
    timeout_s: float,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Create the dataset repo (if absent) and commit all ``files`` ({path_in_repo: local file}) at once."""
    hf = prepare_hf(timeout_s)
    from huggingface_hub.errors import HfHubHTTPError

    api = hf.HfApi(endpoint=endpoint, token=token or "nothing")  # the Data Store ignores the token's value

    def commit() -> Any:
        operations = [
            hf.CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(local))
            for path, local in sorted(files.items())
        ]
        return api.create_commit(
            repo_id, operations, repo_type="dataset", commit_message=f"flywheel upload of {len(files)} file(s)"
        )

    def create_repo() -> None:
        try:
            api.create_repo(repo_id, repo_type="dataset")
        except HfHubHTTPError as exc:
            # "exists" is fine; not exist_ok=True, which needs a 'url' in the 409 body that the Data Store may omit
            if getattr(exc.response, "status_code", None) != 409:
                raise

    with_retries(create_repo, f"create repo {repo_id}", policy, sleep)
    with_retries(commit, f"commit to {repo_id}", policy, sleep)
