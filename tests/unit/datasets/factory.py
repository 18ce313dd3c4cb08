"""Small deterministic record builders for dataset tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
         for n in ("lookup", "refund", "chat")]


def chat(user: str, answer: str = "ok", ts: int = 1000, system: str = "Be helpful.", wid: str = "w",
         **extra: Any) -> dict[str, Any]:
    return {"timestamp": ts, "workload_id": wid, "client_id": "c",
            "request": {"model": "m", "messages": [{"role": "system", "content": system},
                                                   {"role": "user", "content": user}]},
            "response": {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                      "finish_reason": "stop"}]}, **extra}


def tool(user: str, name: str = "lookup", args: Any = None, ts: int = 1000, wid: str = "w") -> dict[str, Any]:
    rec = chat(user, ts=ts, wid=wid)
    rec["request"]["tools"] = TOOLS
    rec["response"]["choices"][0]["message"] = {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args or {"q": user})}}]}
    return rec


def labelled(user: str, label: str, ts: int = 1000) -> dict[str, Any]:
    return chat(user, answer=f"[[[{label}]]]", ts=ts)


def write(path: Path, rows: list[Any]) -> Path:
    with path.open("w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path
