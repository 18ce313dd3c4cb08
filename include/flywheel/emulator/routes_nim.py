"""NIM proxy: ``/v1/models`` (OpenAI list), chat completions and embeddings."""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from flywheel.emulator.nim_logic import AssistantMessage, answer, conversation_key, embed, judge_chat_reply, latency_ms
from flywheel.emulator.resources import JsonFields
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.util import Page, http_error, new_id, paged

router = APIRouter(route_class=EmulatorRoute)
CREATED = int(time.time())


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[JsonFields], Field(min_length=1)]
    tools: list[JsonFields] | None = None
    tool_choice: JsonValue = None


class EmbeddingIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Annotated[str, Field(min_length=1)]
    input: str | Annotated[list[str], Field(min_length=1)]
    input_type: str | None = None


class ModelCard(BaseModel):
    """An OpenAI model entry, with the Entity Store's ``name``/``namespace``."""

    id: str
    object: Literal["model"] = "model"
    created: int = CREATED
    owned_by: str
    root: str
    parent: str | None
    name: str
    namespace: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt: int, completion: int) -> Usage:
        return cls(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float]


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


@router.get("/v1/models", name="nim.models")
async def list_models(
    request: Request, page_no: Annotated[int, Query(alias="page")] = 1, page_size: int = 1000
) -> Page[ModelCard]:
    """OpenAI model list; entries also carry ``name``/``namespace`` and the list is paged (``page``,
    ``page_size``) so that the Entity Store's ``GET /v1/models`` (same path, same port) parses too."""
    data = []
    for m in platform_of(request).served_models().values():
        ns, _, name = m.id.partition("/")
        parent = m.base if m.adapter else None
        data.append(
            ModelCard(id=m.id, owned_by=ns or "system", root=m.base, parent=parent, name=name or m.id, namespace=ns)
        )
    return paged(data, page_no, page_size)


def _authorized(request: Request, key: str) -> bool:
    """The request carries ``Authorization: Bearer <key>`` (compared in constant time)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode())


@router.post("/v1/chat/completions", name="nim.chat")
async def chat(body: ChatIn, request: Request) -> ChatCompletion:
    p = platform_of(request)
    model = p.served_models().get(body.model)
    if model is None or body.model in p.settings.embedding_models:
        raise http_error(404, f"The model `{body.model}` does not exist or is not ready.")
    if model.judge and p.settings.judge_api_key and not _authorized(request, p.settings.judge_api_key):
        p.refused_keys += 1
        raise http_error(401, f"Invalid or missing API key for {body.model} (send Authorization: Bearer <key>).")
    message: AssistantMessage
    if model.judge and conversation_key(body.messages) not in p.index.records:
        # a judge asked something that is not an eval item: a judging prompt or a health check
        reply = judge_chat_reply(body.messages, always_top=p.faults.judge_always_top(body.model))
        message = {"role": "assistant", "content": reply}
    else:
        message = answer(model, body.messages, body.tools, p.index, p.settings.seed, p.settings.icl_marker)
    if p.faults.wrong_answer(body.model):
        message = {"role": "assistant", "content": "Sorry, I cannot help with that (degraded by a fault)."}
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body.messages)
    tool_calls = message.get("tool_calls")
    n_calls = len(tool_calls) if isinstance(tool_calls, list) else 0
    completion_tokens = len(str(message.get("content") or "").split()) + 8 * n_calls
    p.chat_in_flight += 1
    try:
        delay = latency_ms(model, prompt_tokens, completion_tokens, p.chat_in_flight, p.settings.latency)
        if delay:
            await asyncio.sleep(delay / 1000.0)
    finally:
        p.chat_in_flight -= 1
    return ChatCompletion(
        id=new_id("chatcmpl"),
        created=int(time.time()),
        model=body.model,
        choices=[Choice(message=message, finish_reason="tool_calls" if tool_calls else "stop")],
        usage=Usage.of(prompt_tokens, completion_tokens),
    )


@router.post("/v1/embeddings", name="nim.embeddings")
async def embeddings(body: EmbeddingIn, request: Request) -> EmbeddingList:
    p = platform_of(request)
    served = p.served_models()
    if body.model not in served:
        raise http_error(404, f"The model `{body.model}` does not exist or is not ready.")
    texts = [body.input] if isinstance(body.input, str) else body.input
    dims = p.settings.embedding_dims
    data = [Embedding(index=i, embedding=embed(t, dims, body.model)) for i, t in enumerate(texts)]
    tokens = sum(len(t.split()) for t in texts)
    return EmbeddingList(data=data, model=body.model, usage=Usage.of(tokens, 0))
