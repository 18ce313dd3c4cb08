"""The log-record shape the sample workloads write (OpenAI ``request`` / ``response`` plus ids and time)."""

from __future__ import annotations

import random
from typing import NotRequired, TypedDict

BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z
TEACHER = "meta/llama-3.3-70b-instruct"


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text, as OpenAI logs it


class ToolCall(TypedDict):
    id: str
    type: str
    function: FunctionCall


class Message(TypedDict):
    role: str
    content: str | None
    tool_calls: NotRequired[list[ToolCall]]


class Request(TypedDict):
    model: str
    messages: list[Message]
    tools: NotRequired[list[dict[str, object]]]
    tool_choice: NotRequired[str]
    temperature: NotRequired[float]
    max_tokens: NotRequired[int]


class Choice(TypedDict):
    index: int
    message: Message
    finish_reason: str


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Response(TypedDict):
    id: str
    object: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class LogRecord(TypedDict):
    timestamp: int
    request: Request
    response: Response
    workload_id: NotRequired[str]
    client_id: NotRequired[str]


def envelope(rng: random.Random, i: int, request: Request, message: Message, finish: str) -> LogRecord:
    """The record of one logged call: its time, the request, and the response with a token count."""
    created = BASE_TIME + i * 37 + rng.randint(0, 30)
    prompt_tokens = sum(len(m["content"] or "") for m in request["messages"]) // 4 + 8
    calls = message.get("tool_calls") or []
    answer_chars = len(message["content"] or "") + sum(len(c["function"]["arguments"]) + 24 for c in calls)
    completion_tokens = answer_chars // 4 + 1
    return {
        "timestamp": created,
        "request": request,
        "response": {
            "id": f"chatcmpl-{rng.getrandbits(64):016x}",
            "object": "chat.completion",
            "created": created,
            "model": request["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    }
