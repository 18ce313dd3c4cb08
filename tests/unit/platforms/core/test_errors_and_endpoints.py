"""Typed errors (one line, platform message, no secrets), endpoint validation, and no ``assert`` in the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flywheel.platforms
from flywheel.platforms.core.errors import (
    NemoAuthError,
    NemoBadRequestError,
    NemoConflictError,
    NemoNotFoundError,
    NemoRateLimitedError,
    NemoServerError,
    error_for_status,
    platform_message,
)
from flywheel.platforms.nmp.endpoints import NemoEndpoints


def test_platform_message_shapes() -> None:
    assert platform_message(b'{"detail": "Dataset \'a/b\' not found"}') == "Dataset 'a/b' not found"
    assert (
        platform_message(b'{"detail": [{"loc": ["body", "config", "model"], "msg": "field required"}]}')
        == "config.model: field required"
    )
    assert platform_message(b'{"message": "boom"}') == "boom"
    assert platform_message(b"<html>\n<h1>Bad gateway</h1>\n</html>") == "<html> <h1>Bad gateway</h1> </html>"
    assert platform_message(b"") == "(empty body)"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, NemoNotFoundError),
        (409, NemoConflictError),
        (401, NemoAuthError),
        (403, NemoAuthError),
        (422, NemoBadRequestError),
        (429, NemoRateLimitedError),
        (503, NemoServerError),
    ],
)
def test_error_classes_carry_status_url_and_one_line(status: int, cls: type) -> None:
    err = error_for_status(status, "line one\nline two", "GET", "http://h/v1/x")
    assert isinstance(err, cls) and err.status == status and err.url == "http://h/v1/x"
    assert str(err) == f"GET http://h/v1/x -> {status}: line one line two"


def test_endpoints_validate_and_hide_the_key() -> None:
    ep = NemoEndpoints(
        base_url="http://nemo.test/",
        nim_url="http://nim.test",
        datastore_url="https://ds.test//",
        api_key="sk-very-secret",
    )
    assert ep.base_url == "http://nemo.test" and ep.datastore_url == "https://ds.test"
    assert "sk-very-secret" not in repr(ep) and "sk-very-secret" not in str(ep)
    assert ep.auth_headers() == {"Authorization": "Bearer sk-very-secret"}
    assert NemoEndpoints(base_url="http://a", nim_url="http://a", datastore_url="http://a").auth_headers() == {}
    with pytest.raises(ValueError, match="base_url must be an http"):
        NemoEndpoints(base_url="nemo.test", nim_url="http://a", datastore_url="http://a")
    with pytest.raises(ValueError, match="namespace"):
        NemoEndpoints(base_url="http://a", nim_url="http://a", datastore_url="http://a", namespace="a/b")
    with pytest.raises(ValueError, match="timeout_s"):
        NemoEndpoints(base_url="http://a", nim_url="http://a", datastore_url="http://a", timeout_s=0)


def test_no_assert_statements_in_the_package() -> None:
    """Reference defect §16.11: checks done with ``assert`` vanish under ``python -O``."""
    package = Path(flywheel.platforms.__file__).parent
    offenders = [
        f"{path.name}:{node.lineno}"
        for path in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert offenders == []
