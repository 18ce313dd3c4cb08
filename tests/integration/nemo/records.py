"""Small synthetic flywheel records (tool calling, generic, classification) written as dataset files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": n,
            "description": d,
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    }
    for n, d in (("get_order", "Look up an order"), ("cancel_order", "Cancel an order"), ("refund", "Refund"))
]
LABELS = ["earnings", "merger", "dividend", "lawsuit"]


def tool_record(i: int) -> dict[str, Any]:
    name = TOOLS[i % 3]["function"]["name"]
    return {
        "request": {
            "model": "teacher",
            "tools": TOOLS,
            "messages": [
                {"role": "system", "content": "You help customers with orders."},
                {"role": "user", "content": f"Please {name.replace('_', ' ')} for order A{i:03d}"},
            ],
        },
        "response": {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {
                                "id": f"c{i}",
                                "type": "function",
                                "function": {"name": name, "arguments": {"order_id": f"A{i:03d}"}},
                            }
                        ],
                    }
                }
            ]
        },
        "workload_id": "orders",
        "client_id": "shop",
        "timestamp": 1_700_000_000 + i,
    }


def generic_record(i: int) -> dict[str, Any]:
    return {
        "request": {"model": "teacher", "messages": [{"role": "user", "content": f"Summarise note {i}."}]},
        "response": {
            "choices": [
                {"message": {"role": "assistant", "content": f"Note {i} says the shipment {i} arrived on time."}}
            ]
        },
        "workload_id": "notes",
        "client_id": "c",
        "timestamp": 1_700_000_000 + i,
    }


def classification_record(i: int) -> dict[str, Any]:
    return {
        "request": {
            "model": "teacher",
            "messages": [
                {"role": "system", "content": "Classify financial news. Answer as [[class]]."},
                {"role": "user", "content": f"Headline {i}: company {i} announces news"},
            ],
        },
        "response": {"choices": [{"message": {"role": "assistant", "content": f"[[{LABELS[i % 4]}]]"}}]},
        "workload_id": "news",
        "client_id": "c",
        "timestamp": 1_700_000_000 + i,
    }


def train_line(record: dict[str, Any]) -> dict[str, Any]:
    line: dict[str, Any] = {"messages": [*record["request"]["messages"], record["response"]["choices"][0]["message"]]}
    if "tools" in record["request"]:
        line["tools"] = record["request"]["tools"]
    return line


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def dataset_files(tmp: Path, make: Any, n_eval: int = 12, n_train: int = 24) -> dict[str, dict[str, Path]]:
    """{"eval": {path in repo: file}, "train": {...}} like the flywheel's upload plan."""
    records = [make(i) for i in range(n_eval + n_train + 4)]
    evals, train, val = records[:n_eval], records[n_eval : n_eval + n_train], records[n_eval + n_train :]
    return {
        "eval": {"eval_data.jsonl": write_jsonl(tmp / "eval.jsonl", evals)},
        "train": {
            "training/train_data.jsonl": write_jsonl(tmp / "train.jsonl", [train_line(r) for r in train]),
            "validation/val_data.jsonl": write_jsonl(tmp / "val.jsonl", [train_line(r) for r in val]),
        },
    }
