"""Deterministic, realistic sample logs in the log-record schema (no downloads).

Workloads:
- ``tool_calling``: a customer-service agent for an online store routing between four tools (product
  questions, order status, returns, small talk) with varied phrasing, realistic arguments and some
  history turns;
- ``classification``: a financial-news headline classifier whose teacher answers carry a bracketed label
  (13 classes with a realistic skew);
- ``generic``: short question answering.

A small share of lines are deliberately bad (not JSON, missing response, a call to a function that was not
offered, no label, ...) and a few records are exact or near duplicates, so validation has something to count.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_IDS = {
    "tool_calling": ("customer_service", "aiva-1"),
    "classification": ("news_classifier", "news-classifier"),
    "generic": ("generic_qa", "qa-1"),
}
TEACHER = "meta/llama-3.3-70b-instruct"
BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z

# ----------------------------------------------------------------------------------------- tool calling
PRODUCTS = ["Jetson Orin Nano developer kit", "RTX 5090 Founders Edition", "GeForce hoodie", "Shield TV Pro",
            "DGX Spark", "noise-cancelling headset", "mechanical keyboard", "4K gaming monitor",
            "travel mug", "water bottle", "laptop sleeve", "wireless mouse"]
REASONS = ["arrived damaged", "wrong size", "no longer needed", "stopped working after a week",
           "not as described", "ordered twice by mistake"]
TOOLS = [
    {"type": "function", "function": {
        "name": "ToProductQAAssistant", "description": "Answer questions about products, specs and availability.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "ToOrderStatusAssistant", "description": "Look up the status of a customer's order.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "order_id": {"type": "string"},
                                                         "user_id": {"type": "string"}},
                       "required": ["query", "user_id"]}}},
    {"type": "function", "function": {
        "name": "ToReturnProcessing", "description": "Start or check a return for an order.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"},
                                                         "reason": {"type": "string"},
                                                         "user_id": {"type": "string"}},
                       "required": ["order_id", "user_id"]}}},
    {"type": "function", "function": {
        "name": "HandleOtherTalk", "description": "Small talk and anything outside the store's scope.",
        "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}}},
]
PRODUCT_Q = ["Does the {p} come with a warranty?", "Is the {p} in stock right now?",
             "what's the difference between the {p} and the cheaper model", "How much does the {p} weigh?",
             "Can you tell me the specs of the {p}?", "is the {p} compatible with linux", "Any deals on the {p}?"]
ORDER_Q = ["Where is my order {o}?", "has order {o} shipped yet", "When will {o} arrive?",
           "I ordered a {p} last week, order {o}, what's the status?", "tracking info for {o} please"]
RETURN_Q = ["I want to return order {o}, it {r}.", "The {p} from order {o} {r}, how do I send it back?",
            "please start a return for {o}: {r}", "can I get a refund for {o}? it {r}"]
TALK_Q = ["hi there!", "thanks, that's all", "what's the weather like today?", "tell me a joke",
          "who won the game last night?", "you're very helpful", "good morning"]
SYSTEM_AGENT = ("You are the primary assistant of an online electronics store. Route every customer message to "
                "exactly one tool. The current user id is {u}.")


def _call(name: str, args: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return {"id": f"call_{rng.getrandbits(48):012x}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}


def _tool_record(rng: random.Random, i: int) -> dict[str, Any]:
    user = f"user-{rng.randint(1000, 9999)}"
    order = f"ORD-{rng.randint(100000, 999999)}"
    product, reason = rng.choice(PRODUCTS), rng.choice(REASONS)
    kind = rng.choices(["product", "order", "return", "talk"], weights=[40, 30, 18, 12])[0]
    if kind == "product":
        text = rng.choice(PRODUCT_Q).format(p=product)
        call = ("ToProductQAAssistant", {"query": text})
    elif kind == "order":
        text = rng.choice(ORDER_Q).format(o=order, p=product)
        call = ("ToOrderStatusAssistant", {"query": text, "order_id": order, "user_id": user})
    elif kind == "return":
        text = rng.choice(RETURN_Q).format(o=order, p=product, r=reason)
        call = ("ToReturnProcessing", {"order_id": order, "reason": reason, "user_id": user})
    else:
        text = rng.choice(TALK_Q)
        call = ("HandleOtherTalk", {"message": text})
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_AGENT.format(u=user)}]
    if rng.random() < 0.25:  # an earlier turn in the conversation
        messages += [{"role": "user", "content": "hello"},
                     {"role": "assistant", "content": "Hi! How can I help you today?"}]
    messages.append({"role": "user", "content": text})
    message = {"role": "assistant", "content": None, "tool_calls": [_call(call[0], call[1], rng)]}
    request = {"model": TEACHER, "messages": messages, "tools": TOOLS, "tool_choice": "auto", "temperature": 0.2}
    return _envelope(rng, i, request, message, "tool_calls")


# ----------------------------------------------------------------------------------------- classification
LABELS = {  # realistic skew: market-moving news dominates
    "Stock price movement": 22, "OTHER": 18, "Earnings": 11, "Price Targets": 9, "Analyst Rating": 9,
    "Products-Services": 7, "Guidance": 5, "Mergers and Acquisitions": 5, "Regulatory": 5, "Labour Issues": 3,
    "Dividends": 3, "Product Approval": 2, "Credit Ratings": 1,
}
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Holdings", "Stark Industries", "Wayne Enterprises",
             "Hooli", "Soylent", "Vandelay Industries", "Cyberdyne", "Tyrell", "Wonka Foods", "Aperture Labs"]
HEADLINES = {
    "Stock price movement": ["{c} shares jump {n}% in early trading", "{c} stock slides {n}% after session",
                             "{c} hits 52-week high on heavy volume"],
    "OTHER": ["{c} to host investor day in {m}", "{c} opens new office in Austin", "{c} CEO speaks at conference"],
    "Earnings": ["{c} Q{q} EPS ${e} beats estimates", "{c} reports Q{q} revenue of ${b}B, misses forecast"],
    "Price Targets": ["{c} price target raised to ${t} at Morgan", "Analyst cuts {c} target to ${t}"],
    "Analyst Rating": ["{c} upgraded to Buy at Jefferies", "{c} downgraded to Neutral by UBS"],
    "Products-Services": ["{c} launches new cloud platform", "{c} unveils subscription service"],
    "Guidance": ["{c} raises full-year outlook", "{c} lowers FY revenue guidance to ${b}B"],
    "Mergers and Acquisitions": ["{c} to acquire rival for ${b}B", "{c} agrees to merge with {c2}"],
    "Regulatory": ["SEC opens probe into {c}", "EU fines {c} over data practices"],
    "Labour Issues": ["{c} workers vote to strike", "{c} to cut {n}00 jobs"],
    "Dividends": ["{c} declares quarterly dividend of ${d}", "{c} raises dividend {n}%"],
    "Product Approval": ["FDA approves {c} treatment", "{c} wins approval for new device"],
    "Credit Ratings": ["Moody's downgrades {c} debt", "S&P affirms {c} at BBB"],
}
MONTHS = ["January", "March", "May", "June", "September", "November"]
CLASSIFIER_PROMPT = ("Classify the financial news headline into exactly one event class: "
                     + ", ".join(LABELS) + ". Answer only with the class in triple square brackets.\n"
                     "### START HEADLINE ###\n{h}\n### END HEADLINE ###")


def _classification_record(rng: random.Random, i: int) -> dict[str, Any]:
    label = rng.choices(list(LABELS), weights=list(LABELS.values()))[0]
    c, c2 = rng.sample(COMPANIES, 2)
    headline = rng.choice(HEADLINES[label]).format(
        c=c, c2=c2, n=rng.randint(2, 19), m=rng.choice(MONTHS), q=rng.randint(1, 4), e=f"{rng.uniform(0.1, 4):.2f}",
        b=f"{rng.uniform(0.5, 90):.1f}", t=rng.randint(20, 900), d=f"{rng.uniform(0.05, 2):.2f}")
    request = {"model": TEACHER, "messages": [
        {"role": "system", "content": "You are a financial news classifier."},
        {"role": "user", "content": CLASSIFIER_PROMPT.format(h=headline)}], "temperature": 0.0, "max_tokens": 16}
    message = {"role": "assistant", "content": f"[[[{label}]]]"}
    return _envelope(rng, i, request, message, "stop")


# ----------------------------------------------------------------------------------------- generic
FACTS = [("What is the capital of France?", "The capital of France is Paris."),
         ("How many days are in a leap year?", "A leap year has 366 days."),
         ("What does CPU stand for?", "CPU stands for central processing unit."),
         ("Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice."),
         ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
         ("How many continents are there?", "There are seven continents."),
         ("What gas do plants absorb?", "Plants absorb carbon dioxide."),
         ("What is 12 times 12?", "12 times 12 is 144.")]
GENERIC_PREFIX = ["", "Quick question: ", "Can you tell me: ", "I was wondering, ", "Please answer: "]


def _generic_record(rng: random.Random, i: int) -> dict[str, Any]:
    q, a = rng.choice(FACTS)
    text = rng.choice(GENERIC_PREFIX) + q + (f" (ticket {rng.randint(1, 99999)})" if rng.random() < 0.9 else "")
    request = {"model": TEACHER, "messages": [{"role": "system", "content": "You are a concise assistant."},
                                              {"role": "user", "content": text}]}
    return _envelope(rng, i, request, {"role": "assistant", "content": a}, "stop")


# ----------------------------------------------------------------------------------------- envelope
def _envelope(rng: random.Random, i: int, request: dict[str, Any], message: dict[str, Any],
              finish: str) -> dict[str, Any]:
    created = BASE_TIME + i * 37 + rng.randint(0, 30)
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in request["messages"]) * 4 // 3 + 8
    completion_tokens = len(json.dumps(message)) // 4
    return {"timestamp": created, "request": request, "response": {
        "id": f"chatcmpl-{rng.getrandbits(64):016x}", "object": "chat.completion", "created": created,
        "model": request["model"], "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}}}


MAKERS = {"tool_calling": _tool_record, "classification": _classification_record, "generic": _generic_record}


def _break(rng: random.Random, record: dict[str, Any], workload: str) -> tuple[str, str | dict[str, Any]]:
    """A deliberately invalid line: (kind, line-or-record)."""
    kinds = ["not_json", "missing_response", "no_messages"]
    kinds += ["unknown_function"] if workload == "tool_calling" else []
    kinds += ["missing_label"] if workload == "classification" else []
    kind = rng.choice(kinds)
    if kind == "not_json":
        return kind, json.dumps(record)[: rng.randint(20, 120)]
    bad = json.loads(json.dumps(record))
    if kind == "missing_response":
        bad.pop("response")
    elif kind == "no_messages":
        bad["request"]["messages"] = []
    elif kind == "unknown_function":
        bad["response"]["choices"][0]["message"]["tool_calls"][0]["function"]["name"] = "DeleteAllOrders"
    else:
        bad["response"]["choices"][0]["message"]["content"] = "Probably earnings news."
    return kind, bad


def generate(workload: str, records: int, seed: int, workload_id: str | None = None, client_id: str | None = None,
             bad_fraction: float = 0.02, duplicate_fraction: float = 0.02) -> Iterator[dict[str, Any] | str]:
    """Yield ``records`` lines: dicts for records (good, duplicate or broken) and strings for non-JSON lines."""
    if workload not in MAKERS:
        raise ValueError(f"unknown workload '{workload}' (one of {', '.join(MAKERS)})")
    if records < 0 or not 0 <= bad_fraction < 1 or not 0 <= duplicate_fraction < 1:
        raise ValueError("records must be ≥ 0 and fractions in [0, 1)")
    wid, cid = workload_id or DEFAULT_IDS[workload][0], client_id or DEFAULT_IDS[workload][1]
    rng = random.Random(f"{workload}:{seed}")
    recent: list[dict[str, Any]] = []
    for i in range(records):
        roll = rng.random()
        if recent and roll < duplicate_fraction:
            source = rng.choice(recent)
            dup = json.loads(json.dumps(source))
            dup["timestamp"] = BASE_TIME + i * 37
            if rng.random() < 0.5:  # near duplicate: same text, different case and spacing
                msg = dup["request"]["messages"][-1]
                msg["content"] = "  " + str(msg["content"]).upper() + " "
            yield dup
            continue
        record = {**MAKERS[workload](rng, i), "workload_id": wid, "client_id": cid}
        if duplicate_fraction <= roll < duplicate_fraction + bad_fraction:
            _, bad = _break(rng, record, workload)
            yield bad
            continue
        recent = [*recent[-49:], record]
        yield record


def write(path: str | Path, workload: str, records: int, seed: int, **kw: Any) -> dict[str, Any]:
    """Write JSONL to ``path``; returns a summary with counts."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    with out.open("w", encoding="utf-8") as f:
        for line in generate(workload, records, seed, **kw):
            counts["lines"] += 1
            if isinstance(line, str):
                counts["not_json"] += 1
                f.write(line + "\n")
            else:
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
    return {"path": str(out), "workload": workload, **counts}
