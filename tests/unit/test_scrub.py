"""The one credential scrubber of errors, logs and CLI lines (flywheel.scrub)."""

from __future__ import annotations

import base64

import pytest

from flywheel.scrub import has_credentials, scrub

SECRET = "p@ss#w/rd:1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET http://elastic:p%40ss%23w%2Frd%3A1@es:9200/_bulk -> 401", "GET http://***@es:9200/_bulk -> 401"),
        ("cannot reach http://elastic:p@ss#w/rd:1@es:9200", "cannot reach http://***@es:9200"),
        ("mongodb://u:p%40ss%23w%2Frd%3A1@mongo:27017/db refused", "mongodb://***@mongo:27017/db refused"),
        ("Authorization: Basic " + base64.b64encode(f"elastic:{SECRET}".encode()).decode(), "Authorization: Basic ***"),
        ("{'authorization': 'Bearer sk-123'}", "{'authorization': 'Bearer ***'}"),
        ("https://h/_search?api_key=abc&size=1", "https://h/_search?api_key=***&size=1"),
        ("the key p@ss#w/rd:1 was refused", "the key *** was refused"),
        ("quoted p%40ss%23w%2Frd%3A1 and plus-quoted p%40ss%23w%2Frd%3A1", "quoted *** and plus-quoted ***"),
    ],
)
def test_scrub_removes_userinfo_keys_headers_and_known_values(text: str, expected: str) -> None:
    assert scrub(text, [SECRET], ["elastic"]) == expected


def test_scrub_keeps_what_is_not_a_credential() -> None:
    text = "GET http://nemo:8000/v1/customization/configs/meta/llama-3.2-1b-instruct@2.0 -> 404: not found"
    assert scrub(text, [None, ""]) == text
    assert scrub("index flywheel", ["x"]) == "index flywheel"  # a short value is replaced only standing alone
    assert scrub("pw x here", ["x"]) == "pw *** here"


def test_has_credentials() -> None:
    assert has_credentials("http://u:pa#ss@host") and has_credentials("https://h/?password=1")
    assert not has_credentials("https://es.example.com:9200/prefix") and not has_credentials("")


def test_nemo_errors_carry_no_url_credentials() -> None:
    from flywheel.nemo.errors import NemoAuthError

    url = "https://u:k3y@nemo/v1/jobs?api_key=k3y"
    err = NemoAuthError("rejected Authorization: Bearer sk-live-123", status=401, url=url, method="GET")
    assert str(err) == "GET https://***@nemo/v1/jobs?api_key=*** -> 401: rejected Authorization: Bearer ***"
