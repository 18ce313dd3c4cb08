"""Deterministic NIM answers derived from the uploaded evaluation data.

Every JSONL record with ``request.messages`` and ``response.choices`` that reaches the Data Store is
indexed by its conversation without system messages. A chat request whose conversation is indexed gets
the logged (reference) answer with probability ``p(model)``, otherwise a plausible wrong one. ``p`` grows
with the model size parsed from the name (1b < 3b < 8b < 70b), is higher for an ICL prompt (a system
message carrying the ICL marker line) and for a LoRA adapter produced by a completed customization. The
random draw depends only on the seed and the conversation, so a variant with a higher ``p`` answers a
superset of the items a lower one answers correctly: larger/ICL/customized never score below base.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from typing_extensions import TypedDict  # pydantic validates TypedDicts from typing_extensions on 3.11

from flywheel.emulator.settings import LatencySettings

LABEL_RE = re.compile(r"\[\[+(.+?)\]\]+")
SIZE_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z0-9])")
ICL_BONUS, ADAPTER_BONUS, P_MAX = 0.12, 0.25, 0.97
UNRELATED = (
    "I'm not sure I understand the question. Could you share more details?",
    "Thanks for reaching out! Our team will get back to you shortly.",
    "Here is some general information that may or may not be relevant to your request.",
)


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text, as OpenAI sends it


class ToolCall(TypedDict):
    id: str
    type: str
    function: FunctionCall


class AssistantMessage(TypedDict, total=False):
    role: str
    content: str | None
    tool_calls: list[ToolCall]


Message = Mapping[str, object]  # a chat message as a client sent it (open JSON, narrowed where read)


@dataclass(frozen=True)
class ServedModel:
    """A model the NIM proxy serves: a deployed base model, a judge, or a LoRA adapter on a base."""

    id: str
    base: str
    adapter: bool = False
    judge: bool = False


def model_size_b(name: str) -> float | None:
    m = SIZE_RE.search(name.lower())
    return float(m.group(1)) if m else None


def correct_probability(model: ServedModel, icl: bool) -> float:
    size = model_size_b(model.base) or model_size_b(model.id)
    # 1b → 0.45, 3b → ~0.58, 8b → ~0.70, 70b → ~0.95 (log-linear in size); unknown size → 0.5
    p = 0.5 if size is None else 0.45 + 0.118 * math.log(max(size, 0.1))
    p += ICL_BONUS if icl else 0.0
    p += ADAPTER_BONUS if model.adapter else 0.0
    return max(0.05, min(P_MAX, p))


def latency_ms(
    model: ServedModel, prompt_tokens: int, completion_tokens: int, in_flight: int, latency: LatencySettings
) -> float:
    """The modelled time of one chat completion (see ``LatencySettings``); 0 for judges or when disabled."""
    if not latency.enabled or model.judge:
        return 0.0
    scale = latency.scale.get(model.base)
    if scale is None:
        size = model_size_b(model.base) or model_size_b(model.id)
        scale = 1.0 if size is None else max(size, 0.1) ** 0.75
    work = (
        latency.base_ms + latency.ms_per_prompt_token * prompt_tokens + latency.ms_per_output_token * completion_tokens
    )
    return scale * work * (1.0 + latency.concurrency_slowdown * max(in_flight - 1, 0))


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def conversation_key(messages: Sequence[object]) -> str:
    core = []
    for m in messages:
        if not isinstance(m, Mapping) or m.get("role") == "system":
            continue
        calls = [
            (_mapping(c.get("function")).get("name"), _args(_mapping(c.get("function")).get("arguments")))
            for c in _list(m.get("tool_calls"))
            if isinstance(c, Mapping)
        ]
        core.append([m.get("role"), _text(m.get("content")), calls])
    return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()


def _text(content: object) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else str(content)


def _args(arguments: object) -> object:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def unit_draw(*parts: object) -> float:
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


@dataclass
class IndexedRecord:
    reference: Message  # the logged assistant message
    workload: str


class RecordIndex:
    """Reference answers by conversation, plus label sets per workload for wrong classification answers."""

    def __init__(self) -> None:
        self.records: dict[str, IndexedRecord] = {}
        self.labels: dict[str, set[str]] = defaultdict(set)

    def clear(self) -> None:
        self.records.clear()
        self.labels.clear()

    def add_jsonl(self, content: bytes) -> int:
        added = 0
        for line in content.decode("utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, Mapping) and self.add_record(rec):
                added += 1
        return added

    def add_record(self, rec: Mapping[str, object]) -> bool:
        messages = _mapping(rec.get("request")).get("messages")
        choices = _list(_mapping(rec.get("response")).get("choices"))
        message = _mapping(choices[0]).get("message") if choices else None
        if not isinstance(messages, list) or not isinstance(message, Mapping):
            return False
        workload = str(rec.get("workload_id") or "")
        self.records.setdefault(conversation_key(messages), IndexedRecord(message, workload))
        label = bracket_label(_text(message.get("content")))
        if label:
            self.labels[workload].add(label)
        return True


def bracket_label(text: str) -> str | None:
    m = LABEL_RE.search(text or "")
    return m.group(1).strip().lower() if m else None


def is_icl(messages: Sequence[object], marker: str) -> bool:
    return any(
        isinstance(m, Mapping) and m.get("role") == "system" and marker in _text(m.get("content")) for m in messages
    )


def answer(
    model: ServedModel,
    messages: Sequence[object],
    tools: Sequence[object] | None,
    index: RecordIndex,
    seed: int,
    icl_marker: str,
) -> AssistantMessage:
    """The assistant message ``model`` answers to ``messages`` (OpenAI shape, tool arguments as JSON text)."""
    key = conversation_key(messages)
    found = index.records.get(key)
    if found is None:
        return _unknown_prompt(messages, tools, seed)
    p = correct_probability(model, is_icl(messages, icl_marker))
    u = unit_draw(seed, key)
    ref = found.reference
    if u < p:
        return _as_reply(ref.get("content"), ref.get("tool_calls"))
    return _wrong(ref, tools, index.labels.get(found.workload, set()), seed, key, partial=u < p + (1 - p) / 2)


def _as_reply(content: object, tool_calls: object) -> AssistantMessage:
    text = _text(content) if content is not None else None
    calls: list[ToolCall] = []
    for i, c in enumerate(_list(tool_calls)):
        call = _mapping(c)
        fn = _mapping(call.get("function"))
        args = fn.get("arguments")
        calls.append(
            {
                "id": str(call.get("id") or f"call_{i}"),
                "type": "function",
                "function": {
                    "name": str(fn.get("name", "")),
                    "arguments": args if isinstance(args, str) else json.dumps(args or {}),
                },
            }
        )
    if calls:
        return {"role": "assistant", "content": text or None, "tool_calls": calls}
    return {"role": "assistant", "content": "" if text is None else text}


def _wrong(
    ref: Message, tools: Sequence[object] | None, labels: set[str], seed: int, key: str, partial: bool
) -> AssistantMessage:
    calls = _list(ref.get("tool_calls"))
    text = _text(ref.get("content"))
    if calls:
        first = _mapping(_mapping(calls[0]).get("function"))
        found = {_mapping(t.get("function")).get("name") for t in tools or [] if isinstance(t, Mapping)}
        names = sorted(n for n in found if isinstance(n, str))
        others = [n for n in names if n != first.get("name")]
        if partial or not others:  # right tool, wrong arguments
            args = _args(first.get("arguments"))
            args = dict(args) if isinstance(args, dict) else {}
            if args:
                victim = sorted(args)[int(unit_draw(seed, key, "arg") * len(args))]
                args[victim] = f"{args[victim]}-x" if isinstance(args[victim], str) else None
            else:
                args = {"unexpected": "value"}
            return _as_reply(None, [{"function": {"name": first.get("name"), "arguments": args}}])
        wrong = others[int(unit_draw(seed, key, "tool") * len(others))]
        return _as_reply(None, [{"function": {"name": wrong, "arguments": {}}}])
    label = bracket_label(text)
    if label is not None:
        wrong_labels = sorted(labels - {label}) or ["other"]
        return _as_reply(f"[[{wrong_labels[int(unit_draw(seed, key, 'label') * len(wrong_labels))]}]]", None)
    words = text.split()
    if partial and len(words) > 3:
        return _as_reply(" ".join(words[: len(words) // 2]), None)
    return _as_reply(UNRELATED[int(unit_draw(seed, key, "text") * len(UNRELATED))], None)


def _unknown_prompt(messages: Sequence[object], tools: Sequence[object] | None, seed: int) -> AssistantMessage:
    if tools:
        name = _mapping(_mapping(tools[0]).get("function")).get("name", "tool")
        return _as_reply(None, [{"function": {"name": name, "arguments": {}}}])
    return _as_reply(UNRELATED[int(unit_draw(seed, conversation_key(messages)) * len(UNRELATED))], None)


# ---------------------------------------------------------------------------------------- judge stand-in
def similarity_1_10(reference: str, candidate: str) -> int:
    """Token-overlap F1 between the answers mapped to the judge's 1–10 scale (10 = same meaning)."""
    ref, cand = _tokens(reference), _tokens(candidate)
    if not cand:
        return 1
    if ref == cand:
        return 10
    common = sum(min(ref.count(t), cand.count(t)) for t in set(cand))
    if not common:
        return 1
    prec, rec = common / len(cand), common / len(ref) if ref else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return max(1, min(10, 1 + round(9 * f1)))


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", (text or "").lower())


def tool_calls_match(truth: Sequence[object], predicted: Sequence[object], args: bool) -> bool:
    t, p = _calls(truth), _calls(predicted)
    if [n for n, _ in t] != [n for n, _ in p]:
        return False
    return not args or all(_norm(a) == _norm(b) for (_, a), (_, b) in zip(t, p, strict=True))


def _calls(calls: object) -> list[tuple[str, object]]:
    out = []
    for c in _list(calls):
        if isinstance(c, Mapping):
            fn = _mapping(c.get("function")) or c
            out.append((str(fn.get("name")), _args(fn.get("arguments"))))
    return out


def _norm(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str):
        return " ".join(value.lower().split())
    return value


_LISTED_CALL = re.compile(r"^\s*([\w.\-]+)\((.*)\)\s*$")


def _listed_calls(block: str) -> list[tuple[str, object]]:
    """``name(arguments)`` lines as a prompt lists tool calls (arguments as JSON text or a Python dict)."""
    calls = []
    for line in block.splitlines():
        found = _LISTED_CALL.match(line)
        if found is None:
            continue
        raw, args = found.group(2), None
        try:
            args = json.loads(raw)
        except ValueError:
            try:
                args = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                args = raw
        if isinstance(args, dict):  # null arguments stand for absent ones (tabular datasets add them)
            args = {k: v for k, v in args.items() if v is not None}
        calls.append((found.group(1), _norm(args)))
    return calls


def _block_calls(block: str) -> list[tuple[str, object]]:
    """The tool calls a prompt block lists: a JSON list of OpenAI tool calls (``tojson``), or one
    ``name(arguments)`` line per call; null arguments stand for absent ones."""
    try:
        parsed = json.loads(block.strip())
    except ValueError:
        return _listed_calls(block)
    if parsed is not None and not isinstance(parsed, list):
        return _listed_calls(block)
    calls = []
    for name, args in _calls(parsed):
        if isinstance(args, Mapping):
            args = {k: v for k, v in args.items() if v is not None}
        calls.append((name, _norm(args)))
    return calls


def _listed_calls_agree(text: str) -> bool | None:
    """Whether the expected and predicted tool calls a correctness prompt lists agree; None if it lists none."""
    if "Expected tool calls:" not in text or "Predicted tool calls:" not in text:
        return None
    expected, predicted = text.split("Expected tool calls:", 1)[1].split("Predicted tool calls:", 1)
    return _block_calls(expected) == _block_calls(predicted)


_ANSWERS = re.compile(r"Reference answer:\s*(.*?)\s*Candidate answer:\s*(.*?)\s*(?:Score \(1-10\):\s*)?$", re.S)


def _compared_answers(text: str) -> tuple[str, str] | None:
    """(reference, candidate) of a similarity prompt, or None when the prompt holds no such pair."""
    found = _ANSWERS.search(text)
    return (found.group(1), found.group(2)) if found else None


def judge_chat_reply(messages: Sequence[object], always_top: bool = False) -> str:
    """What the judge model answers over chat: a 0/1 ``RATING`` when asked for one (tool calls compared
    argument by argument; answers by similarity ≥ 8), a 1–10 similarity when asked to compare a candidate
    answer with a reference, otherwise a short acknowledgement. ``always_top`` (the ``judge_always_top``
    fault) is a broken judge: the top rating to everything."""
    text = "\n".join(_text(m.get("content")) for m in messages if isinstance(m, Mapping))
    pair = _compared_answers(text)
    if "RATING" in text:
        ok = True if always_top else _listed_calls_agree(text)
        if ok is None and pair is not None:
            ok = similarity_1_10(*pair) >= 8
        if ok is False:
            return "RATING: 0\nEXPLANATION: the prediction differs from the ground truth."
        return "RATING: 1\nEXPLANATION: the prediction matches the ground truth."
    if pair is not None:
        return "10" if always_top else str(similarity_1_10(*pair))
    return "OK"


# ---------------------------------------------------------------------------------------- embeddings
def embed(text: str, dims: int, model: str) -> list[float]:
    """Hashed bag of words (+ a small per-text component), L2-normalised: similar texts → high cosine."""
    vec = [0.0] * dims
    for tok in _tokens(text) or ["<empty>"]:
        h = hashlib.blake2b(f"{model}|{tok}".encode(), digest_size=8).digest()
        idx = int.from_bytes(h[:4], "big") % dims
        vec[idx] += 1.0 if h[4] & 1 else -1.0
    h = hashlib.blake2b(f"{model}||{text}".encode(), digest_size=8).digest()
    vec[int.from_bytes(h[:4], "big") % dims] += 0.1
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]
