"""NIM proxy: ``/v1/models`` (OpenAI list), chat completions and embeddings."""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from flywheel.emulator.nim_logic import AssistantMessage, answer, conversation_key, embed, judge_chat_reply, latency_ms
from flywheel.emulator.routing import EmulatorRoute
from flywheel.emulator.util import http_error, new_id, page

router = APIRouter(route_class=EmulatorRoute)
CREATED = int(time.time())


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[dict[str, Any]], Field(min_length=1)]
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None


class EmbeddingIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Annotated[str, Field(min_length=1)]
    input: str | Annotated[list[str], Field(min_length=1)]
    input_type: str | None = None


def _platform(request: Request) -> Any:
    return request.app.state.platform


@router.get("/v1/models", name="nim.models")
async def list_models(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 1000
) -> dict[str, Any]:
    """OpenAI model list; entries also carry ``name``/``namespace`` and the list is paged (``page``,
    ``page_size``) so that the Entity Store's ``GET /v1/models`` (same path, same port) parses too."""
    data = []
    for m in _platform(request).served_models().values():
        ns, _, name = m.id.partition("/")
        data.append(
            {
                "id": m.id,
                "object": "model",
                "created": CREATED,
                "owned_by": ns or "system",
                "root": m.base,
                "parent": m.base if m.adapter else None,
                "name": name or m.id,
                "namespace": ns,
            }
        )
    return page(data, page_no, page_size)


def _authorized(request: Request, key: str) -> bool:
    """The request carries ``Authorization: Bearer <key>`` (compared in constant time)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode())


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@router.post("/v1/chat/completions", name="nim.chat")
async def chat(body: ChatIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    model = p.served_models().get(body.model)
    if model is None or body.model in p.settings.embedding_models:
        raise http_error(404, f"The model `{body.model}` does not exist or is not ready.")
    if model.judge and p.settings.judge_api_key and not _authorized(request, p.settings.judge_api_key):
        p.refused_keys += 1
        raise http_error(401, f"Invalid or missing API key for {body.model} (send Authorization: Bearer <key>).")
    if model.judge and conversation_key(body.messages) not in p.index.records:
        # a judge asked something that is not an eval item: a judging prompt or a health check
        reply = judge_chat_reply(body.messages, always_top=p.faults.judge_always_top(body.model))
        message: AssistantMessage = {"role": "assistant", "content": reply}
    else:
        message = answer(model, body.messages, body.tools, p.index, p.settings.seed, p.settings.icl_marker)
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body.messages)
    completion_tokens = len(str(message.get("content") or "").split()) + 8 * len(message.get("tool_calls") or [])
    p.chat_in_flight += 1
    try:
        delay = latency_ms(model, prompt_tokens, completion_tokens, p.chat_in_flight, p.settings.latency)
        if delay:
            await asyncio.sleep(delay / 1000.0)
    finally:
        p.chat_in_flight -= 1
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}
        ],
        "usage": _usage(prompt_tokens, completion_tokens),
    }


@router.post("/v1/embeddings", name="nim.embeddings")
async def embeddings(body: EmbeddingIn, request: Request) -> dict[str, Any]:
    p = _platform(request)
    served = p.served_models()
    if body.model not in served:
        raise http_error(404, f"The model `{body.model}` does not exist or is not ready.")
    texts = [body.input] if isinstance(body.input, str) else body.input
    dims = p.settings.embedding_dims
    data = [{"object": "embedding", "index": i, "embedding": embed(t, dims, body.model)} for i, t in enumerate(texts)]
    tokens = sum(len(t.split()) for t in texts)
    return {"object": "list", "data": data, "model": body.model, "usage": _usage(tokens, 0)}
