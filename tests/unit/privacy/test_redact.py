"""PII redaction, table-driven: every kind in every place, JSON validity, stable numbering, look-alikes kept."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from flywheel.config import BUILTIN_PII_KINDS
from flywheel.datasets import formats
from flywheel.privacy import Redactor, Span, register_detector
from flywheel.records.validation import validate

PLANTED = [
    ("email", "alice.smith@example.com"),
    ("email", "Bob_Jones+shop@mail.example.co.uk"),
    ("phone", "+1 415-555-2671"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "(415) 555-2671"),
    ("phone", "212.555.0198"),
    ("card", "4111 1111 1111 1111"),
    ("card", "5500-0000-0000-0004"),
    ("card", "378282246310005"),
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB82WEST12345698765432"),
    ("ssn", "536-22-1234"),
    ("ip", "192.168.10.20"),
    ("ip", "2001:db8::8a2e:370:7334"),
    ("secret", "sk-proj-abcdefghijklmnopqrstuvwx123"),
    ("secret", "ghp_" + "a1B2c3D4e5" * 4),
    ("secret", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "nvapi-" + "Zq9" * 10),
]

LOOK_ALIKES = [
    "order 000123",
    "order ORD-2024-000123",
    "order #A-77812",
    "ticket 12345678",
    "delivered on 2024-05-17",
    "at 2024-05-17T10:30:00Z",
    "at 12:30:45",
    "upgrade to v1.2.3",
    "version 10.4.1.2",
    "release 1.2.3",
    "a total of $1,234,567.89",
    "EUR 12.50 or 1 234,50 €",
    "tracking 1Z999AA10123456784",
    "SKU 4006381333931",  # an EAN-13 barcode: fails the Luhn check
    "pi is 3.14159265",
    "call me at extension 4412",
]


def record(user: str = "hi", args: object = None, tool_result: str | None = None, answer: str | None = None) -> dict:
    messages: list[dict] = [{"role": "system", "content": "You help customers."}, {"role": "user", "content": user}]
    if tool_result is not None:
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c0", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c0", "content": tool_result},
        ]
    message: dict = {"role": "assistant", "content": answer or "done"}
    if args is not None:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": args}}],
        }
    raw = {
        "timestamp": 1,
        "workload_id": "w",
        "client_id": "c",
        "request": {
            "messages": messages,
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        },
        "response": {"choices": [{"message": message, "finish_reason": "stop"}]},
    }
    rec = validate(raw)
    assert isinstance(rec, dict)
    return rec


PLACES = {
    "user message": lambda v: record(user=f"Please use {v} for the refund."),
    "assistant message": lambda v: record(answer=f"I have noted {v}."),
    "tool arguments (string)": lambda v: record(args=json.dumps({"contact": f"{v}", "note": "as asked"})),
    "tool arguments (nested)": lambda v: record(args={"customer": {"contacts": [f"primary: {v}"]}}),
    "tool result": lambda v: record(tool_result=json.dumps({"status": "ok", "on_file": v})),
}

REDACTOR = Redactor(BUILTIN_PII_KINDS)


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize(("kind", "value"), PLANTED, ids=[f"{k}:{v[:14]}" for k, v in PLANTED])
def test_each_kind_is_redacted_in_each_place(kind, value, place):
    rec = PLACES[place](value)
    before = copy.deepcopy(rec)
    out, counts = REDACTOR.redact(rec)
    assert rec == before  # the input is not mutated
    dumped = json.dumps(out, ensure_ascii=False)
    assert value not in dumped
    assert f"<{kind.upper()}_1>" in dumped
    assert counts == {kind: 1}
    for line in (formats.eval_line(out), formats.train_line(out, "tool_calling")):  # files stay valid JSON
        text = formats.dumps(line)
        assert json.loads(text) == json.loads(text.encode())
        for m in json.loads(text)["request"]["messages"] if "request" in line else line["messages"]:
            for call in m.get("tool_calls") or []:
                args = call["function"]["arguments"]
                assert isinstance(json.loads(args) if isinstance(args, str) else args, dict)
        if place == "tool result":
            tool_msg = next(m for m in out["request"]["messages"] if m["role"] == "tool")
            assert json.loads(tool_msg["content"])["on_file"] == f"<{kind.upper()}_1>"


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_kept(text):
    rec = record(user=f"Hello, {text}.", args={"q": text})
    out, counts = REDACTOR.redact(rec)
    assert counts == {}
    assert out is rec


def test_numbering_is_typed_stable_and_in_order_of_appearance():
    rec = record(
        user="Mail a@example.com, then b@example.com, then A@Example.com again; call +1 415-555-2671.",
        args={"to": "b@example.com", "cc": ["a@example.com"], "phone": "+14155552671"},
    )
    out, counts = REDACTOR.redact(rec)
    user = out["request"]["messages"][1]["content"]
    assert user == "Mail <EMAIL_1>, then <EMAIL_2>, then <EMAIL_1> again; call <PHONE_1>."
    args = out["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert args == {"to": "<EMAIL_2>", "cc": ["<EMAIL_1>"], "phone": "<PHONE_1>"}
    assert counts == {"email": 5, "phone": 2}


def test_numbers_logged_as_json_numbers_are_redacted():
    out, counts = REDACTOR.redact(record(args={"card": 4111111111111111, "quantity": 2, "order": 1234567}))
    args = out["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert args == {"card": "<CARD_1>", "quantity": 2, "order": 1234567}
    assert counts == {"card": 1}


def test_bearer_tokens_and_assigned_keys_keep_their_label():
    out, counts = REDACTOR.redact(
        record(user="header Authorization: Bearer abcDEF1234567890xyz== and api_key=Zx9kk22ppQ")
    )
    assert out["request"]["messages"][1]["content"] == "header Authorization: Bearer <SECRET_1> and api_key=<SECRET_2>"
    assert counts == {"secret": 2}


def test_only_configured_kinds_are_redacted():
    out, counts = Redactor(["email"]).redact(record(user="a@example.com or +1 415-555-2671"))
    assert out["request"]["messages"][1]["content"] == "<EMAIL_1> or +1 415-555-2671"
    assert counts == {"email": 1}


def test_redaction_is_deterministic():
    rec = record(user=" and ".join(v for _, v in PLANTED), args={"all": [v for _, v in PLANTED]})
    first, second = Redactor(BUILTIN_PII_KINDS).redact(rec), Redactor(BUILTIN_PII_KINDS).redact(rec)
    assert first == second
    assert sum(first[1].values()) == 2 * len(PLANTED)


def test_a_kind_without_a_detector_is_refused_and_a_registered_one_replaces_the_rules():
    with pytest.raises(ValueError, match="register_detector"):
        Redactor(["passport"])
    register_detector("person", lambda text: [Span(m, m + 5, "Alice") for m in [text.find("Alice")] if m >= 0])
    try:
        out, counts = Redactor(["person", "email"]).redact(record(user="Alice wrote from alice@example.com"))
        assert out["request"]["messages"][1]["content"] == "<PERSON_1> wrote from <EMAIL_1>"
        assert counts == {"person": 1, "email": 1}
    finally:
        sys.modules["flywheel.privacy.detectors"]._EXTRA.pop("person", None)


def test_a_value_redacted_by_its_key_is_replaced_wherever_else_it_stands() -> None:
    """The user id of a tool call's ``user_id`` also stands in the system prompt: one placeholder for both, so
    the prompt and the expected answer still agree and the id survives nowhere."""
    from flywheel.privacy.redact import Redactor

    record = {
        "workload_id": "w",
        "request": {
            "messages": [
                {"role": "system", "content": "The current user id is user-7262."},
                {"role": "user", "content": "where is order 55 of user-72620?"},
            ]
        },
        "response": {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "lookup", "arguments": {"user_id": "user-7262"}}}],
                    }
                }
            ]
        },
    }
    out, counts, places = Redactor(["user", "email"]).redact_record(record)
    system, user = out["request"]["messages"]
    args = out["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert system["content"] == f"The current user id is {args['user_id']}." and args["user_id"] == "<USER_1>"
    assert user["content"] == "where is order 55 of user-72620?"  # a longer id is another id
    assert counts == {"user": 2} and places["request.messages[].content user"] == 1
    assert "user-7262" not in repr(out).replace("user-72620", "")
