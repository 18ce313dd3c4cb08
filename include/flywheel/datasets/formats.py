"""Dataset file formats expected by NeMo Evaluator and Customizer.

- eval: one logged record per line; history tool-call arguments as JSON *strings* (the OpenAI request
  schema), response tool-call arguments as JSON *objects* (the tool-calling metric's ground truth);
- train / val: ``{"messages": [...history, assistant]}`` (+ ``"tools"``); arguments as objects throughout,
  assistant ``content`` is ``""`` rather than null.
"""

from __future__ import annotations

import json

from flywheel.datasets.keys import answer
from flywheel.records import jsonio
from flywheel.records.shape import Message, Record

EVAL_KEYS = ("timestamp", "workload_id", "client_id", "request", "response")


def _msg(m: Message, args_as_string: bool) -> dict[str, object]:
    out: dict[str, object] = {k: v for k, v in m.items() if k != "tool_calls"}
    if m.get("tool_calls"):
        out["tool_calls"] = [
            {
                **c,
                "function": {
                    "name": c["function"]["name"],
                    "arguments": json.dumps(c["function"]["arguments"], sort_keys=True)
                    if args_as_string
                    else c["function"]["arguments"],
                },
            }
            for c in m["tool_calls"]
        ]
    return out


def eval_line(record: Record, messages: list[Message] | None = None) -> dict[str, object]:
    request: dict[str, object] = dict(record["request"])
    request["messages"] = [_msg(m, args_as_string=True) for m in (messages or record["request"]["messages"])]
    out: dict[str, object] = {k: v for k, v in record.items() if k in EVAL_KEYS}
    out["request"] = request
    return out


def train_line(record: Record, workload_type: str) -> dict[str, object]:
    """The train / val line of a normalised record (:mod:`flywheel.records.validation`: every tool call is
    ``{id, type, function: {name, arguments}}`` with object arguments). It shares the record's unchanged
    parts instead of copying them: it is built for every record during the scan."""
    history: list[Message] = [
        {**m, "content": ""} if m["role"] == "assistant" and m.get("content") is None else m
        for m in record["request"]["messages"]
    ]
    a = answer(record)
    target: dict[str, object] = {
        k: v for k, v in a.items() if k in ("role", "content", "tool_calls") and (k != "tool_calls" or v)
    }
    if target.get("content") is None or target.get("tool_calls"):
        target["content"] = target.get("content") or ""
    out: dict[str, object] = {"messages": [*history, target]}
    if workload_type == "tool_calling" and record["request"].get("tools"):
        out["tools"] = record["request"]["tools"]
    return out


def dumps_bytes(obj: dict[str, object]) -> bytes:
    return jsonio.dumps_sorted(obj)


def dumps(obj: dict[str, object]) -> str:
    return jsonio.dumps_sorted(obj).decode()
