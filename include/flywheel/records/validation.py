"""One logged LLM call -> a normalised record, or a named rejection reason.

A record is ``{"timestamp": epoch seconds, "workload_id", "client_id", "request": <chat.completions
payload>, "response": <ChatCompletion>}`` (extra top-level fields are kept). Validation never mutates its
input: it returns a new, normalised dict in which every tool-call ``arguments`` is a JSON *object*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flywheel.jsontypes import JsonObject
from flywheel.records import jsonio
from flywheel.records.shape import Message, Record, Request, ToolCall

# Reasons a record is rejected (stats.json "invalid").
NOT_JSON = "not_json"
NOT_OBJECT = "not_object"
NO_MESSAGES = "no_messages"
BAD_MESSAGE = "bad_message"
NO_ASSISTANT_CHOICE = "no_assistant_choice"
EMPTY_RESPONSE = "empty_response"
BAD_TOOL_ARGUMENTS = "tool_arguments_not_json"
UNKNOWN_FUNCTION = "tool_call_to_unoffered_function"


_TEXT_OR_PARTS = (str, list)  # tuples, not ``str | list``: a union is built again at every call (~0.2 us)
_NUMBER = (int, float)


def missing(field: str) -> str:
    return f"missing_{field}"


def wrong_type(field: str) -> str:
    return f"wrong_type_{field}"


@dataclass(frozen=True)
class Rejected:
    """A line or record that cannot be used, with a named reason (never silently dropped)."""

    reason: str
    detail: str = ""


class Invalid(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason, self.detail = reason, detail


def parse_line(line: str | bytes) -> JsonObject | Rejected:
    try:
        value = jsonio.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return Rejected(NOT_JSON, str(exc)[:200])
    if not isinstance(value, dict):
        return Rejected(NOT_OBJECT, type(value).__name__)
    return value


def _args_object(args: object) -> JsonObject:
    if isinstance(args, dict):
        return dict(args)
    if isinstance(args, str):
        try:
            parsed = jsonio.loads(args) if args.strip() else {}
        except ValueError as exc:
            raise Invalid(BAD_TOOL_ARGUMENTS, str(exc)[:200]) from None
        if isinstance(parsed, dict):
            return parsed
    raise Invalid(BAD_TOOL_ARGUMENTS, f"arguments must be a JSON object, got {type(args).__name__}")


def _tool_calls(calls: object) -> list[ToolCall]:
    if calls in (None, []):
        return []
    if not isinstance(calls, list):
        raise Invalid(wrong_type("tool_calls"))
    out: list[ToolCall] = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise Invalid(BAD_MESSAGE, "tool call without a function name")
        out.append(
            {
                "id": str(call.get("id") or ""),
                "type": "function",
                "function": {"name": fn["name"], "arguments": _args_object(fn.get("arguments"))},
            }
        )
    return out


def _message(m: object) -> Message:
    if not isinstance(m, dict) or not isinstance(m.get("role"), str):
        raise Invalid(BAD_MESSAGE, "message without a role")
    content = m.get("content")
    if content is not None and not isinstance(content, _TEXT_OR_PARTS):
        raise Invalid(BAD_MESSAGE, "content must be a string, a list of parts or null")
    out: Message = {"role": m["role"], "content": content}
    calls = m.get("tool_calls")
    if calls is not None and calls != []:
        out["tool_calls"] = _tool_calls(calls)
    if m.get("tool_call_id"):
        out["tool_call_id"] = m["tool_call_id"]
    if m.get("name"):
        out["name"] = m["name"]
    return out


def offered_functions(request: Request | JsonObject) -> set[str]:
    names = set()
    tools = request.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict):
            fn = tool.get("function")
            name = (fn if isinstance(fn, dict) else tool).get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def normalise(raw: JsonObject) -> Record:
    """Validate and return a new normalised record; raise :class:`Invalid` with a reason."""
    for field in ("request", "response", "workload_id"):
        if raw.get(field) is None:
            raise Invalid(missing(field))
    request, response = raw["request"], raw["response"]
    if not isinstance(request, dict):
        raise Invalid(wrong_type("request"))
    if not isinstance(response, dict):
        raise Invalid(wrong_type("response"))
    ts = raw.get("timestamp")
    if ts is None:
        raise Invalid(missing("timestamp"))
    if isinstance(ts, bool) or not isinstance(ts, _NUMBER):
        raise Invalid(wrong_type("timestamp"), "timestamp must be epoch seconds")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid(NO_MESSAGES)
    history = [_message(m) for m in messages]
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Invalid(NO_ASSISTANT_CHOICE)
    answer = _message(choices[0].get("message"))
    if answer["role"] != "assistant":
        raise Invalid(NO_ASSISTANT_CHOICE, f"choice role is {answer['role']!r}")
    content = answer.get("content")
    if not answer.get("tool_calls") and (content is None or (isinstance(content, str) and not content.strip())):
        raise Invalid(EMPTY_RESPONSE)
    calls = answer.get("tool_calls")
    offered = offered_functions(request) if calls else set()
    for call in calls or ():
        if call["function"]["name"] not in offered:
            raise Invalid(UNKNOWN_FUNCTION, call["function"]["name"])
    out_request: dict[str, object] = {k: v for k, v in request.items() if k != "messages"}
    out_request["messages"] = history
    out_response: dict[str, object] = {k: v for k, v in response.items() if k != "choices"}
    out_response["choices"] = [{"index": 0, "message": answer, "finish_reason": choices[0].get("finish_reason")}]
    record: dict[str, object] = {k: v for k, v in raw.items() if k not in ("request", "response")}
    record.update(timestamp=int(ts), request=out_request, response=out_response)
    return cast(Record, record)  # the checks above made it one


def validate(raw: JsonObject | Rejected) -> Record | Rejected:
    if isinstance(raw, Rejected):
        return raw
    try:
        return normalise(raw)
    except Invalid as exc:
        return Rejected(exc.reason, exc.detail)
