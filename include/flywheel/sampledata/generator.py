"""Deterministic, realistic sample logs in the log-record schema (no downloads).

Workloads:
- ``tool_calling``: a customer-service agent for an online store routing between four tools (product
  questions, order status, returns, small talk) with varied phrasing, realistic arguments and some
  history turns;
- ``classification``: a financial-news headline classifier whose teacher answers carry a bracketed label
  (13 classes with a realistic skew);
- ``generic``: short question answering;
- ``support``: a store's support assistant answering in a few sentences (a ``generic`` workload, scored by
  the LLM judge: :mod:`flywheel.sampledata.support`).

A small share of lines are deliberately bad (not JSON, missing response, a call to a function that was not
offered, no label, ...) and a few records are exact or near duplicates, so validation has something to count.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate
from pathlib import Path
from typing import TypedDict

from flywheel.sampledata.records import BASE_TIME, TEACHER, LogRecord, Message, Request, ToolCall, envelope
from flywheel.sampledata.support import support_record

DEFAULT_IDS = {
    "tool_calling": ("customer_service", "aiva-1"),
    "classification": ("news_classifier", "news-classifier"),
    "generic": ("generic_qa", "qa-1"),
    "support": ("support_answers", "support-desk"),
}
# the workload_type each sample workload is (config ``workloads[].workload_type``)
WORKLOAD_TYPES = {
    "tool_calling": "tool_calling",
    "classification": "classification",
    "generic": "generic",
    "support": "generic",
}

# ----------------------------------------------------------------------------------------- tool calling
PRODUCTS = [
    "Jetson Orin Nano developer kit",
    "RTX 5090 Founders Edition",
    "GeForce hoodie",
    "Shield TV Pro",
    "DGX Spark",
    "noise-cancelling headset",
    "mechanical keyboard",
    "4K gaming monitor",
    "travel mug",
    "water bottle",
    "laptop sleeve",
    "wireless mouse",
]
REASONS = [
    "arrived damaged",
    "wrong size",
    "no longer needed",
    "stopped working after a week",
    "not as described",
    "ordered twice by mistake",
]
TOOLS: list[dict[str, object]] = [
    {
        "type": "function",
        "function": {
            "name": "ToProductQAAssistant",
            "description": "Answer questions about products, specs and availability.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "ToOrderStatusAssistant",
            "description": "Look up the status of a customer's order.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "order_id": {"type": "string"},
                    "user_id": {"type": "string"},
                },
                "required": ["query", "user_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "ToReturnProcessing",
            "description": "Start or check a return for an order.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "reason": {"type": "string"},
                    "user_id": {"type": "string"},
                },
                "required": ["order_id", "user_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "HandleOtherTalk",
            "description": "Small talk and anything outside the store's scope.",
            "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
        },
    },
]
PRODUCT_Q = [
    "Does the {p} come with a warranty?",
    "Is the {p} in stock right now?",
    "what's the difference between the {p} and the cheaper model",
    "How much does the {p} weigh?",
    "Can you tell me the specs of the {p}?",
    "is the {p} compatible with linux",
    "Any deals on the {p}?",
]
ORDER_Q = [
    "Where is my order {o}?",
    "has order {o} shipped yet",
    "When will {o} arrive?",
    "I ordered a {p} last week, order {o}, what's the status?",
    "tracking info for {o} please",
]
RETURN_Q = [
    "I want to return order {o}, it {r}.",
    "The {p} from order {o} {r}, how do I send it back?",
    "please start a return for {o}: {r}",
    "can I get a refund for {o}? it {r}",
]
TALK_Q = [
    "hi there!",
    "thanks, that's all",
    "what's the weather like today?",
    "tell me a joke",
    "who won the game last night?",
    "you're very helpful",
    "good morning",
]
SYSTEM_AGENT = (
    "You are the primary assistant of an online electronics store. Route every customer message to "
    "exactly one tool. The current user id is {u}."
)


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_TOOLS_JSON = _ENCODE(TOOLS)
_TOOLS_MARK = "\x00offered-tools\x00"  # placeholder spliced with the pre-encoded tool list when writing
KINDS, KIND_WEIGHTS = ["product", "order", "return", "talk"], list(accumulate([40, 30, 18, 12]))


def _call(name: str, args: dict[str, str], rng: random.Random) -> ToolCall:
    return {
        "id": f"call_{rng.getrandbits(48):012x}",
        "type": "function",
        "function": {"name": name, "arguments": _ENCODE(args)},
    }


def _tool_record(rng: random.Random, i: int) -> LogRecord:
    user = f"user-{rng.randint(1000, 9999)}"
    order = f"ORD-{rng.randint(100000, 999999)}"
    product, reason = rng.choice(PRODUCTS), rng.choice(REASONS)
    kind = rng.choices(KINDS, cum_weights=KIND_WEIGHTS)[0]
    call: tuple[str, dict[str, str]]
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
    messages: list[Message] = [{"role": "system", "content": SYSTEM_AGENT.format(u=user)}]
    if rng.random() < 0.25:  # an earlier turn in the conversation
        messages += [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "Hi! How can I help you today?"},
        ]
    messages.append({"role": "user", "content": text})
    message: Message = {"role": "assistant", "content": None, "tool_calls": [_call(call[0], call[1], rng)]}
    request: Request = {
        "model": TEACHER,
        "messages": messages,
        "tools": TOOLS,
        "tool_choice": "auto",
        "temperature": 0.2,
    }
    return envelope(rng, i, request, message, "tool_calls")


# ----------------------------------------------------------------------------------------- classification
LABELS = {  # realistic skew: market-moving news dominates
    "Stock price movement": 22,
    "OTHER": 18,
    "Earnings": 11,
    "Price Targets": 9,
    "Analyst Rating": 9,
    "Products-Services": 7,
    "Guidance": 5,
    "Mergers and Acquisitions": 5,
    "Regulatory": 5,
    "Labour Issues": 3,
    "Dividends": 3,
    "Product Approval": 2,
    "Credit Ratings": 1,
}
_NAME_STEMS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Soylent",
    "Vandelay",
    "Cyberdyne",
    "Tyrell",
    "Wonka",
    "Aperture",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Oscorp",
    "Nakatomi",
    "Blue Sun",
    "Monarch",
    "Gringotts",
    "Massive Dynamic",
    "Pied Piper",
    "Dunder Mifflin",
]
_NAME_SUFFIXES = ["Corp", "Holdings", "Group", "Technologies", "Pharma", "Energy", "Financial", "Motors"]
COMPANIES = [f"{stem} {suffix}" for stem in _NAME_STEMS for suffix in _NAME_SUFFIXES]
HEADLINES = {
    "Stock price movement": [
        "{c} shares jump {n}% in early trading",
        "{c} stock slides {n}% after the bell",
        "{c} hits 52-week high on heavy volume",
        "{c} shares fall {n}% as {c2} rallies",
        "Why {c} stock is soaring today",
        "{c} drops {n}% in premarket trading",
    ],
    "OTHER": [
        "{c} to host investor day in {m}",
        "{c} opens new office in {city}",
        "{c} CEO to speak at {city} summit",
        "{c} names new chief financial officer",
        "{c} sponsors {city} marathon",
    ],
    "Earnings": [
        "{c} Q{q} EPS ${e} beats estimates",
        "{c} reports Q{q} revenue of ${b}B, misses forecast",
        "{c} posts Q{q} loss of ${e} per share",
        "{c} Q{q} profit rises {n}% on strong demand",
    ],
    "Price Targets": [
        "{c} price target raised to ${t} at {broker}",
        "{broker} cuts {c} target to ${t}",
        "{broker} lifts {c} price target to ${t} from ${t2}",
    ],
    "Analyst Rating": [
        "{c} upgraded to {rating} at {broker}",
        "{c} downgraded to {rating} by {broker}",
        "{broker} initiates {c} at {rating}",
    ],
    "Products-Services": [
        "{c} launches {product}",
        "{c} unveils {product} in {city}",
        "{c} expands {product} to Europe",
    ],
    "Guidance": [
        "{c} raises full-year outlook",
        "{c} lowers FY revenue guidance to ${b}B",
        "{c} sees Q{q} EPS ${e}, above consensus",
        "{c} cuts {m} quarter forecast",
    ],
    "Mergers and Acquisitions": [
        "{c} to acquire {c2} for ${b}B",
        "{c} agrees to merge with {c2}",
        "{c} explores sale of {product} unit",
        "{c2} rejects {c} takeover bid",
    ],
    "Regulatory": [
        "SEC opens probe into {c}",
        "EU fines {c} ${b}M over data practices",
        "FTC sues to block {c} deal",
        "{c} settles with regulators for ${b}M",
    ],
    "Labour Issues": ["{c} workers vote to strike", "{c} to cut {n}00 jobs", "{c} union reaches deal in {city}"],
    "Dividends": ["{c} declares quarterly dividend of ${d}", "{c} raises dividend {n}%", "{c} suspends dividend"],
    "Product Approval": [
        "FDA approves {c} treatment for {drug}",
        "{c} wins EU approval for {drug} drug",
        "{c} gets FDA clearance for new device",
    ],
    "Credit Ratings": ["{agency} downgrades {c} to {grade}", "{agency} affirms {c} at {grade}, outlook stable"],
}
LABEL_NAMES, LABEL_WEIGHTS = list(LABELS), list(accumulate(LABELS.values()))
_FILLERS: dict[str, Callable[[random.Random], object]] = {
    "n": lambda r: r.randint(2, 19),
    "q": lambda r: r.randint(1, 4),
    "t": lambda r: r.randint(20, 900),
    "t2": lambda r: r.randint(20, 900),
    "e": lambda r: f"{r.uniform(0.1, 4):.2f}",
    "b": lambda r: f"{r.uniform(0.5, 90):.1f}",
    "d": lambda r: f"{r.uniform(0.05, 2):.2f}",
    "m": lambda r: r.choice(["January", "March", "May", "June", "September", "November"]),
    "city": lambda r: r.choice(["Austin", "London", "Singapore", "Toronto", "Munich", "Tokyo", "Denver"]),
    "broker": lambda r: r.choice(["Morgan Stanley", "Jefferies", "UBS", "Citi", "Barclays", "Piper Sandler"]),
    "rating": lambda r: r.choice(["Buy", "Neutral", "Overweight", "Underperform", "Hold", "Outperform"]),
    "product": lambda r: r.choice(
        [
            "a cloud platform",
            "a subscription service",
            "an AI assistant",
            "a payments app",
            "a budget airline route",
            "an electric pickup",
        ]
    ),
    "drug": lambda r: r.choice(["migraine", "psoriasis", "type 2 diabetes", "asthma", "hypertension"]),
    "agency": lambda r: r.choice(["Moody's", "S&P", "Fitch"]),
    "grade": lambda r: r.choice(["BBB", "BBB-", "BB+", "A-", "A", "Baa2"]),
}


class _Fill(dict[str, object]):
    """str.format_map mapping that draws a placeholder's value only when the template uses it."""

    def __init__(self, rng: random.Random, **given: str) -> None:
        super().__init__(given)
        self.rng = rng

    def __missing__(self, key: str) -> object:
        self[key] = value = _FILLERS[key](self.rng)
        return value


CLASSIFIER_PROMPT = (
    "Classify the financial news headline into exactly one event class: "
    + ", ".join(LABELS)
    + ". Answer only with the class in triple square brackets.\n"
    "### START HEADLINE ###\n{h}\n### END HEADLINE ###"
)


def _classification_record(rng: random.Random, i: int) -> LogRecord:
    label = rng.choices(LABEL_NAMES, cum_weights=LABEL_WEIGHTS)[0]
    c, c2 = rng.sample(COMPANIES, 2)
    headline = rng.choice(HEADLINES[label]).format_map(_Fill(rng, c=c, c2=c2))
    request: Request = {
        "model": TEACHER,
        "messages": [
            {"role": "system", "content": "You are a financial news classifier."},
            {"role": "user", "content": CLASSIFIER_PROMPT.format(h=headline)},
        ],
        "temperature": 0.0,
        "max_tokens": 16,
    }
    return envelope(rng, i, request, {"role": "assistant", "content": f"[[[{label}]]]"}, "stop")


# ----------------------------------------------------------------------------------------- generic
CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Brazil", "Brasília"),
    ("Kenya", "Nairobi"),
    ("Norway", "Oslo"),
    ("Peru", "Lima"),
    ("Egypt", "Cairo"),
    ("Vietnam", "Hanoi"),
    ("Poland", "Warsaw"),
    ("Chile", "Santiago"),
    ("Turkey", "Ankara"),
]
FACTS = [
    ("How many days are in a leap year?", "A leap year has 366 days."),
    ("What does CPU stand for?", "CPU stands for central processing unit."),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("How many continents are there?", "There are seven continents."),
    ("What gas do plants absorb?", "Plants absorb carbon dioxide for photosynthesis."),
    ("What is the largest planet in the solar system?", "Jupiter is the largest planet."),
]
GENERIC_PREFIX = ["", "Quick question: ", "Can you tell me: ", "I was wondering, ", "Please answer: ", "hey, "]


_GENERIC_WEIGHTS = list(accumulate([4, 38, 22, 16, 16, 4]))  # capitals, products, miles, °F, seconds, facts


def _generic_qa(rng: random.Random) -> tuple[str, str]:
    kind = rng.choices(range(6), cum_weights=_GENERIC_WEIGHTS)[0]
    if kind == 0:
        country, city = rng.choice(CAPITALS)
        return f"What is the capital of {country}?", f"The capital of {country} is {city}."
    if kind == 1:
        x, y = rng.randint(3, 99), rng.randint(3, 99)
        return f"What is {x} times {y}?", f"{x} times {y} is {x * y}."
    if kind == 2:
        km = rng.randint(1, 3000)
        return f"How many miles is {km} km?", f"{km} km is about {km * 0.621371:.1f} miles."
    if kind == 3:
        f = rng.randint(-40, 450)
        return f"What is {f} °F in Celsius?", f"{f} °F is {(f - 32) * 5 / 9:.1f} °C."
    if kind == 4:
        minutes = rng.randint(2, 5000)
        return f"How many seconds are in {minutes} minutes?", f"{minutes} minutes are {minutes * 60} seconds."
    return rng.choice(FACTS)


def _generic_record(rng: random.Random, i: int) -> LogRecord:
    q, a = _generic_qa(rng)
    text = rng.choice(GENERIC_PREFIX) + q
    request: Request = {
        "model": TEACHER,
        "messages": [{"role": "system", "content": "You are a concise assistant."}, {"role": "user", "content": text}],
    }
    return envelope(rng, i, request, {"role": "assistant", "content": a}, "stop")


MAKERS: dict[str, Callable[[random.Random, int], LogRecord]] = {
    "tool_calling": _tool_record,
    "classification": _classification_record,
    "generic": _generic_record,
    "support": support_record,
}


# Names match the rejection reasons of flywheel.records.validation and flywheel.datasets.types.
NOT_JSON, MISSING_RESPONSE, NO_MESSAGES = "not_json", "missing_response", "no_messages"
BAD_ARGUMENTS, UNOFFERED_FUNCTION = "tool_arguments_not_json", "tool_call_to_unoffered_function"
MISSING_LABEL, TRUNCATED = "classification_label_missing", "truncated_response"
BAD_KINDS = {
    "tool_calling": [NOT_JSON, MISSING_RESPONSE, NO_MESSAGES, BAD_ARGUMENTS, UNOFFERED_FUNCTION],
    "classification": [NOT_JSON, MISSING_RESPONSE, NO_MESSAGES, MISSING_LABEL, TRUNCATED],
    "generic": [NOT_JSON, MISSING_RESPONSE, NO_MESSAGES, TRUNCATED],
    "support": [NOT_JSON, MISSING_RESPONSE, NO_MESSAGES, TRUNCATED],
}
Line = LogRecord | Mapping[str, object] | str  # a record, a broken record, or a line that is not JSON


def _break(rng: random.Random, record: LogRecord, workload: str) -> tuple[str, Line]:
    """A deliberately invalid line: (reason, line-or-record)."""
    kind = rng.choice(BAD_KINDS[workload])
    if kind == NOT_JSON:
        return kind, _dumps(record)[: rng.randint(20, 120)]
    bad = json.loads(_dumps(record))
    message = bad["response"]["choices"][0]["message"]
    if kind == MISSING_RESPONSE:
        bad.pop("response")
    elif kind == NO_MESSAGES:
        bad["request"]["messages"] = []
    elif kind == BAD_ARGUMENTS:
        message["tool_calls"][0]["function"]["arguments"] = '{"order_id": "ORD-1'
    elif kind == UNOFFERED_FUNCTION:
        message["tool_calls"][0]["function"]["name"] = rng.choice(["DeleteAllOrders", "ToBillingAssistant"])
    elif kind == MISSING_LABEL:
        message["content"] = rng.choice(["Probably earnings news.", "I am not sure.", "Stock price movement"])
    else:
        message["content"] = str(message["content"])[: max(1, len(str(message["content"])) // 3)]
        bad["response"]["choices"][0]["finish_reason"] = "length"
    return kind, bad


def _dumps(line: LogRecord | Mapping[str, object]) -> str:
    request = line.get("request")
    if isinstance(request, dict) and request.get("tools") is TOOLS:  # shared list: encode it once, not per line
        encoded = _ENCODE({**line, "request": {**request, "tools": _TOOLS_MARK}})
        return encoded.replace(f'"{_ENCODE(_TOOLS_MARK)[1:-1]}"', _TOOLS_JSON, 1)
    return _ENCODE(line)


def _check(workload: str, records: int, bad_fraction: float, duplicate_fraction: float) -> None:
    if workload not in MAKERS:
        raise ValueError(f"unknown workload '{workload}' (one of {', '.join(MAKERS)})")
    if records < 0:
        raise ValueError(f"records must be >= 0, got {records}")
    if not 0 <= bad_fraction < 1 or not 0 <= duplicate_fraction < 1 or bad_fraction + duplicate_fraction >= 1:
        raise ValueError(
            f"bad and duplicate fractions must be in [0, 1) and sum below 1, got {bad_fraction}"
            f" and {duplicate_fraction}"
        )


def _lines(
    workload: str,
    records: int,
    seed: int,
    workload_id: str | None,
    client_id: str | None,
    bad_fraction: float,
    duplicate_fraction: float,
) -> Iterator[tuple[str, Line]]:
    """(kind, line) pairs; kind is "good", "duplicate", "near_duplicate" or a rejection reason."""
    _check(workload, records, bad_fraction, duplicate_fraction)
    wid, cid = workload_id or DEFAULT_IDS[workload][0], client_id or DEFAULT_IDS[workload][1]
    rng = random.Random(f"{workload}:{seed}")
    make = MAKERS[workload]
    recent: list[LogRecord] = []
    for i in range(records):
        roll = rng.random()
        if recent and roll < duplicate_fraction:
            dup = json.loads(_dumps(rng.choice(recent)))
            dup["timestamp"] = BASE_TIME + i * 37
            if workload == "tool_calling":
                dup["request"]["tools"] = TOOLS
            if rng.random() < 0.5:  # near duplicate: same text, different case and spacing
                msg = dup["request"]["messages"][-1]
                msg["content"] = "  " + str(msg["content"]).upper() + " "
                yield "near_duplicate", dup
            else:
                yield "duplicate", dup
            continue
        record = make(rng, i)
        record["workload_id"], record["client_id"] = wid, cid
        if duplicate_fraction <= roll < duplicate_fraction + bad_fraction:
            yield _break(rng, record, workload)
            continue
        recent.append(record)
        if len(recent) > 50:
            del recent[0]
        yield "good", record


def generate(
    workload: str,
    records: int,
    seed: int,
    workload_id: str | None = None,
    client_id: str | None = None,
    bad_fraction: float = 0.02,
    duplicate_fraction: float = 0.02,
) -> Iterator[Line]:
    """Yield ``records`` lines: dicts for records (good, duplicate or broken) and strings for non-JSON lines.

    Raises ValueError for an unknown workload, negative ``records`` or fractions outside [0, 1)."""
    for _, line in _lines(workload, records, seed, workload_id, client_id, bad_fraction, duplicate_fraction):
        yield line


class WriteSummary(TypedDict):
    path: str
    workload: str
    workload_id: str
    lines: int
    good: int
    duplicates: int
    near_duplicates: int
    invalid: dict[str, int]  # rejection reason -> lines


def write(
    path: str | Path,
    workload: str,
    records: int,
    seed: int,
    workload_id: str | None = None,
    client_id: str | None = None,
    bad_fraction: float = 0.02,
    duplicate_fraction: float = 0.02,
) -> WriteSummary:
    """Write JSONL to ``path`` and say what it holds; same arguments give a byte-identical file."""
    _check(workload, records, bad_fraction, duplicate_fraction)  # before the file is created
    lines = _lines(workload, records, seed, workload_id, client_id, bad_fraction, duplicate_fraction)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    with out.open("w", encoding="utf-8") as f:
        for kind, line in lines:
            counts[kind] += 1
            f.write((line if isinstance(line, str) else _dumps(line)) + "\n")
    invalid = {k: n for k, n in sorted(counts.items()) if k not in ("good", "duplicate", "near_duplicate")}
    return {
        "path": str(out),
        "workload": workload,
        "workload_id": workload_id or DEFAULT_IDS[workload][0],
        "lines": sum(counts.values()),
        "good": counts["good"],
        "duplicates": counts["duplicate"],
        "near_duplicates": counts["near_duplicate"],
        "invalid": invalid,
    }
