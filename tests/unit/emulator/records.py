"""Synthetic logged records (the shape the flywheel exports) for the emulator tests."""

from __future__ import annotations

import json
from typing import Any

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": desc,
            "parameters": {"type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]},
        },
    }
    for name, desc, arg in (
        ("get_order_status", "Look up an order", "order_id"),
        ("cancel_order", "Cancel an order", "order_id"),
        ("track_package", "Track a parcel", "tracking_number"),
    )
]
LABELS = ["earnings", "analyst rating", "merger", "dividend", "lawsuit"]
ICL_MARKER = "Here are examples of how to respond:"


def tool_record(i: int, workload: str = "customer_service") -> dict[str, Any]:
    tool = TOOLS[i % len(TOOLS)]["function"]
    arg = next(iter(tool["parameters"]["properties"]))
    return {
        "request": {
            "model": "teacher",
            "tools": TOOLS,
            "messages": [
                {"role": "system", "content": "You are a customer service agent."},
                {"role": "user", "content": f"Request number {i}: please help with {arg} X{i:04d}"},
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
                                "id": f"call_{i}",
                                "type": "function",
                                "function": {"name": tool["name"], "arguments": {arg: f"X{i:04d}"}},
                            }
                        ],
                    }
                }
            ]
        },
        "workload_id": workload,
        "client_id": "aiva-1",
        "timestamp": 1_700_000_000 + i,
    }


def classification_record(i: int, workload: str = "news_classifier") -> dict[str, Any]:
    return {
        "request": {
            "model": "teacher",
            "messages": [
                {"role": "system", "content": "You are a financial news classifier."},
                {"role": "user", "content": f"Classify headline {i}: company {i} reports news. Answer as [[class]]."},
            ],
        },
        "response": {"choices": [{"message": {"role": "assistant", "content": f"[[{LABELS[i % len(LABELS)]}]]"}}]},
        "workload_id": workload,
        "client_id": "news",
        "timestamp": 1_700_000_000 + i,
    }


def generic_record(i: int, workload: str = "assistant") -> dict[str, Any]:
    return {
        "request": {"model": "teacher", "messages": [{"role": "user", "content": f"Explain topic number {i}."}]},
        "response": {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": f"Topic {i} is about the steady growth of item {i} "
                        "in a well managed system over time.",
                    }
                }
            ]
        },
        "workload_id": workload,
        "client_id": "c",
        "timestamp": 1_700_000_000 + i,
    }


def with_icl(record: dict[str, Any]) -> dict[str, Any]:
    rec = json.loads(json.dumps(record))
    msgs = rec["request"]["messages"]
    if msgs and msgs[0]["role"] == "system":
        msgs[0]["content"] = f"{ICL_MARKER}\n\nFor example ...\n\n{msgs[0]['content']}"
    else:
        msgs.insert(0, {"role": "system", "content": f"{ICL_MARKER}\n\nFor example ..."})
    return rec


def train_line(record: dict[str, Any]) -> dict[str, Any]:
    out = {"messages": [*record["request"]["messages"], record["response"]["choices"][0]["message"]]}
    if "tools" in record["request"]:
        out["tools"] = record["request"]["tools"]
    return out


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


def tool_calling_config(
    files_url: str, judge: Any = "meta/llama-3.3-70b-instruct", limit: int = 1000, correctness: bool = True
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "tool-calling-accuracy": {
            "type": "tool-calling",
            "params": {"tool_calls_ground_truth": "{{ item.response.choices[0].message.tool_calls | tojson }}"},
        }
    }
    if correctness:
        metrics["correctness"] = {
            "type": "llm-judge",
            "params": {
                "model": judge,
                "template": {
                    "messages": [
                        {"role": "system", "content": "Compare tool calls."},
                        {"role": "user", "content": "*Ground Truth*: ... *Prediction*: ..."},
                    ]
                },
                "scores": {"rating": {"type": "int", "parser": {"type": "regex", "pattern": r"RATING:\s*(\d+)"}}},
            },
        }
    return {
        "type": "custom",
        "tasks": {
            "custom-tool-calling": {
                "type": "chat-completion",
                "dataset": {"files_url": files_url, "limit": limit},
                "params": {
                    "template": {
                        "messages": "{{ item.request.messages | tojson }}",
                        "tools": "{{ item.request.tools | tojson }}",
                        "tool_choice": "required",
                    }
                },
                "metrics": metrics,
            }
        },
    }


def classification_config(files_url: str) -> dict[str, Any]:
    return {
        "type": "custom",
        "tasks": {
            "chat-completion": {
                "type": "chat-completion",
                "dataset": {"files_url": files_url},
                "params": {"template": {"messages": "{{ item.request.messages | tojson }}"}},
                "metrics": {
                    "f1": {
                        "type": "f1",
                        "params": {"ground_truth": "{{ item.response.choices[0].message.content | trim }}"},
                    }
                },
            }
        },
    }


def similarity_config(
    files_url: str, pattern: str = r"(\d+)", judge: Any = "meta/llama-3.3-70b-instruct"
) -> dict[str, Any]:
    return {
        "type": "custom",
        "tasks": {
            "llm-as-judge": {
                "type": "chat-completion",
                "dataset": {"files_url": files_url},
                "params": {"template": {"messages": "{{ item.request.messages | tojson }}"}},
                "metrics": {
                    "llm-judge": {
                        "type": "llm-judge",
                        "params": {
                            "model": judge,
                            "template": {
                                "messages": [
                                    {"role": "system", "content": "Score similarity 1-10."},
                                    {"role": "user", "content": "REFERENCE ... CANDIDATE ..."},
                                ]
                            },
                            "scores": {"similarity": {"type": "int", "parser": {"type": "regex", "pattern": pattern}}},
                        },
                    }
                },
            }
        },
    }
