"""The shape of a normalised record (:func:`flywheel.records.validation.normalise`), for the type checker.

Only what the build reads is typed; the rest of a logged request or response (``model``, ``user``,
``metadata``, ...) and extra top-level fields are kept as logged (open JSON, narrowed before use).
"""

from __future__ import annotations

from typing import Required, TypedDict

from flywheel.jsontypes import JsonObject, JsonValue


class Function(TypedDict):
    name: str
    arguments: JsonObject  # always an object once normalised


class ToolCall(TypedDict):
    id: str
    type: str
    function: Function


class Message(TypedDict, total=False):
    role: Required[str]
    content: Required[str | list[JsonValue] | None]
    tool_calls: list[ToolCall]
    tool_call_id: JsonValue
    name: JsonValue


class Choice(TypedDict):
    index: int
    message: Message
    finish_reason: JsonValue


class Request(TypedDict, total=False):
    messages: Required[list[Message]]
    tools: list[JsonValue]


class Response(TypedDict, total=False):
    choices: Required[list[Choice]]


class Record(TypedDict, total=False):
    timestamp: Required[int]
    workload_id: Required[str]
    client_id: JsonValue
    request: Required[Request]
    response: Required[Response]
