"""Small deterministic record builders for dataset tests."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
    for n in ("lookup", "refund", "chat")
]


def chat(
    user: str, answer: str = "ok", ts: int = 1000, system: str = "Be helpful.", wid: str = "w", **extra: Any
) -> dict[str, Any]:
    return {
        "timestamp": ts,
        "workload_id": wid,
        "client_id": "c",
        "request": {
            "model": "m",
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        },
        "response": {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]
        },
        **extra,
    }


def tool(user: str, name: str = "lookup", args: Any = None, ts: int = 1000, wid: str = "w") -> dict[str, Any]:
    rec = chat(user, ts=ts, wid=wid)
    rec["request"]["tools"] = TOOLS
    rec["response"]["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(args or {"q": user})}}
        ],
    }
    return rec


def labelled(user: str, label: str, ts: int = 1000) -> dict[str, Any]:
    return chat(user, answer=f"[[[{label}]]]", ts=ts)


def write(path: Path, rows: list[Any]) -> Path:
    with path.open("w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


# ------------------------------------------------------------------------------------------ bulk logs
_SYSTEM = (
    "You are the customer-service assistant of an online shop. Answer briefly, call a tool whenever the "
    "customer asks about an order, a refund or a product, and never invent order numbers."
)
_BULK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    }
    for name in ("get_order_status", "request_refund", "search_products", "update_address")
]
_ASKS = (
    "Where is my order {n}?",
    "I want a refund for order {n}, it arrived broken.",
    "Do you sell blue running shoes size {n}?",
    "Please change the delivery address of order {n}.",
    "Thanks, that is all for order {n}.",
)


def bulk_record(
    i: int, rng: random.Random, workload_id: str = "customer_service", client_id: str = "aiva-1"
) -> dict[str, Any]:
    """One realistic (~1.3 KB) tool-calling log record; the fifth kind of question gets a plain answer."""
    kind = rng.randrange(len(_ASKS))
    order = f"{rng.randrange(10**6):06d}"
    message: dict[str, Any] = {"role": "assistant", "content": f"You are welcome! Order {order} is all set."}
    if kind < 4:
        name = _BULK_TOOLS[kind]["function"]["name"]
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": json.dumps({"order_id": order, "reason": "customer asked"}),
                    },
                }
            ],
        }
    return {
        "timestamp": 1_700_000_000 + i,
        "workload_id": workload_id,
        "client_id": client_id,
        "request": {
            "model": "meta/llama-3.3-70b-instruct",
            "tools": _BULK_TOOLS,
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": _ASKS[kind].format(n=order) + f" (ticket {i})"},
            ],
        },
        "response": {
            "id": f"chatcmpl-{i}",
            "object": "chat.completion",
            "model": "meta/llama-3.3-70b-instruct",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 310, "completion_tokens": 24, "total_tokens": 334},
        },
    }


def write_logs(path: Path, n: int, seed: int = 0, bad_every: int = 0, dup_every: int = 0, pii_every: int = 0) -> Path:
    """``n`` lines of deterministic tool-calling logs, out of time order; every ``bad_every``-th line is not JSON,
    every ``dup_every``-th line repeats the previous record's request with other spacing and case, and every
    ``pii_every``-th record carries a customer's e-mail address and phone number (message and tool arguments)."""
    rng = random.Random(seed)
    previous: dict[str, Any] | None = None
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            if bad_every and i % bad_every == bad_every - 1:
                f.write('{"timestamp": 1, "request": {broken\n')
                continue
            if dup_every and previous is not None and i % dup_every == dup_every - 1:
                rec = json.loads(json.dumps(previous))
                user = rec["request"]["messages"][1]
                user["content"] = "  " + user["content"].upper().replace(" ", "   ")
            else:
                rec = bulk_record(i, rng)
            rec["timestamp"] = 1_700_000_000 + rng.randrange(10 * n)
            if pii_every and i % pii_every == 0:
                _plant_pii(rec, i)
            previous = rec
            f.write(json.dumps(rec) + "\n")
    return path


def _plant_pii(rec: dict[str, Any], i: int) -> None:
    mail, phone = f"customer{i}@example.com", f"+1 415-555-{i % 10_000:04d}"
    rec["request"]["messages"][1]["content"] += f" You can reach me at {mail} or {phone}."
    for call in rec["response"]["choices"][0]["message"].get("tool_calls") or []:
        call["function"]["arguments"] = json.dumps({**json.loads(call["function"]["arguments"]), "contact": mail})
