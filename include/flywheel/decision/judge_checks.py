"""Check an LLM judge before believing it.

Every run scores a small probe set built from its own eval rows, whose right verdicts are known:

- ``identical``: the reference answer as the candidate → must score high;
- ``other_answer``: another row's (clearly different) reference as the candidate → must score low;
- ``reordered``: the reference with its fields (tool-call arguments, JSON keys) in another order → high;
- ``position_swap``: the other row's answer in the reference position and this row's in the candidate
  position → low (a judge that favours whatever stands in one position fails it).

The judge is injected (:data:`JudgeFn`: a probe in, the judge's score on the unit scale out), so the checks
run against any judge: the Airflow side renders the probe with the evaluation's own judge prompt
(:meth:`Probe.item`, :meth:`Probe.sample`) and calls the judge NIM. Where a judge metric and an exact metric
were both scored on the same rows (tool calling: ``correctness`` and ``function_name_and_args_accuracy``)
their agreement is measured too, and optional human labels give Cohen's κ. A judge below
``selection.min_judge_agreement`` on any of them withholds the recommendation, with the reason.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import JsonValue as Json  # the recursive JSON type pydantic validates (ours is for plain code)

from flywheel.decision.rows import EvalRow, metric_values
from flywheel.jsontypes import JsonObject

ProbeKind = Literal["identical", "other_answer", "reordered", "position_swap"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("identical", "other_answer", "reordered", "position_swap")
EXPECT_HIGH: dict[ProbeKind, bool] = {
    "identical": True,
    "other_answer": False,
    "reordered": True,
    "position_swap": False,
}
# per workload type: (the judge's metric, the exact metric scored on the same rows, if any)
JUDGE_METRICS: dict[str, tuple[str, str | None]] = {
    "tool_calling": ("correctness", "function_name_and_args_accuracy"),
    "generic": ("similarity", None),
}
DEFAULT_PROBE_ROWS = 20
PASS_THRESHOLD = 0.5  # unit-scale score at or above which a verdict reads "high"
_OTHER_DRAWS = 8  # other rows looked at when choosing the most different answer
_MAX_OVERLAP = 0.5  # an "other answer" sharing more of its tokens than this is not clearly wrong


class ToolCall(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    arguments: dict[str, Json] = Field(default_factory=dict)


class Answer(BaseModel):
    """An assistant answer as a judge sees it: text and/or tool calls."""

    model_config = ConfigDict(frozen=True)

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    def message(self) -> JsonObject:
        """The OpenAI assistant message (tool arguments as JSON text, as logs and NIMs carry them)."""
        msg: JsonObject = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for i, c in enumerate(self.tool_calls)
            ]
        return msg

    def text(self) -> str:
        """A canonical text of the answer (what "different answers" is measured on)."""
        calls = " ".join(f"{c.name} {json.dumps(c.arguments, sort_keys=True)}" for c in self.tool_calls)
        return " ".join(part for part in (self.content or "", calls) if part)


class ProbeItem(BaseModel):
    """One eval row as the probes need it: the task's conversation and the reference answer."""

    model_config = ConfigDict(frozen=True)

    row_id: str
    messages: tuple[dict[str, Json], ...]
    reference: Answer


class Probe(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ProbeKind
    row_id: str
    messages: tuple[dict[str, Json], ...]
    reference: Answer
    candidate: Answer

    @property
    def expect_high(self) -> bool:
        return EXPECT_HIGH[self.kind]

    def item(self) -> JsonObject:
        """The probe as an eval item (``item.*`` of the evaluation's judge template)."""
        return {
            "request": {"messages": list(self.messages)},
            "response": {"choices": [{"message": self.reference.message()}]},
        }

    def sample(self) -> JsonObject:
        """The probe's candidate as a model output (``sample.*`` of the judge template)."""
        return {
            "output_text": self.candidate.content or "",
            "response": {"choices": [{"message": self.candidate.message()}]},
        }


JudgeFn = Callable[[Probe], float | None]
"""The judge's score of a probe on the unit scale (0 = wrong, 1 = right), None when its answer was unparsable."""


class ProbeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ProbeKind
    row_id: str
    expect_high: bool
    score: float | None
    passed: bool


class KindTally(BaseModel):
    model_config = ConfigDict(frozen=True)

    probes: int
    passed: int


class JudgeCheck(BaseModel):
    """What the report carries about one judge: its probes, its agreement, and whether it is believed."""

    model_config = ConfigDict(frozen=True)

    judge: str
    probes: int
    passed: int
    probe_accuracy: float | None
    by_kind: dict[str, KindTally]
    exact_metric: str | None
    judge_metric: str | None
    agreement: float | None  # share of rows where judge and exact metric give the same verdict
    agreement_rows: int
    unparsed_rows: int  # rows with a judge answer but no judge score
    human_labels: int
    human_agreement: float | None
    human_kappa: float | None
    min_agreement: float
    trusted: bool
    reason: str | None  # why it is not believed (starts with "withhold:"), None when trusted


# ------------------------------------------------------------------------------------------ probe items
def _text(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return None


def _tool_calls(raw: object) -> tuple[ToolCall, ...]:
    calls = []
    for call in raw if isinstance(raw, list) else []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = {"_raw": args}
        calls.append(ToolCall(name=str(fn["name"]), arguments=args if isinstance(args, dict) else {}))
    return tuple(calls)


def item_from_record(row_id: str, record: Mapping[str, object]) -> ProbeItem | None:
    """A probe item from an eval record in the log-record schema (``request.messages``,
    ``response.choices[0].message``); None when the record has no usable conversation or answer."""
    request, response = record.get("request"), record.get("response")
    messages = request.get("messages") if isinstance(request, dict) else None
    choices = response.get("choices") if isinstance(response, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(messages, list) or not isinstance(message, dict):
        return None
    answer = Answer(content=_text(message.get("content")), tool_calls=_tool_calls(message.get("tool_calls")))
    if not answer.text():
        return None
    turns = tuple(m for m in messages if isinstance(m, dict))
    return ProbeItem(row_id=row_id, messages=turns, reference=answer) if turns else None


# ------------------------------------------------------------------------------------------ probes
def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _overlap(a: Answer, b: Answer) -> float:
    ta, tb = _tokens(a.text()), _tokens(b.text())
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0


def _reordered(answer: Answer) -> Answer | None:
    """The same answer with its fields in reverse order, or None when it has fewer than two fields."""
    if any(len(c.arguments) > 1 for c in answer.tool_calls):
        calls = tuple(ToolCall(name=c.name, arguments=dict(reversed(c.arguments.items()))) for c in answer.tool_calls)
        return Answer(content=answer.content, tool_calls=calls)
    try:
        parsed = json.loads(answer.content or "")
    except ValueError:
        return None
    if isinstance(parsed, dict) and len(parsed) > 1:
        return Answer(content=json.dumps(dict(reversed(parsed.items()))), tool_calls=answer.tool_calls)
    return None


def _other(item: ProbeItem, items: Sequence[ProbeItem], rng: random.Random) -> Answer | None:
    """The most different of a few other rows' answers, or None when none is clearly different."""
    others = [o for o in items if o.row_id != item.row_id]
    drawn = rng.sample(others, min(_OTHER_DRAWS, len(others)))
    scored = sorted(((_overlap(item.reference, o.reference), o.row_id, o) for o in drawn), key=lambda t: t[:2])
    if not scored or scored[0][0] > _MAX_OVERLAP:
        return None
    return scored[0][2].reference


def _probe(kind: ProbeKind, item: ProbeItem, reference: Answer, candidate: Answer) -> Probe:
    return Probe(kind=kind, row_id=item.row_id, messages=item.messages, reference=reference, candidate=candidate)


def build_probes(items: Sequence[ProbeItem], rows: int = DEFAULT_PROBE_ROWS, seed: int = 0) -> list[Probe]:
    """Probes from up to ``rows`` eval rows drawn with ``seed`` (same items and seed, same probes)."""
    rng = random.Random(seed)
    ordered = sorted(items, key=lambda i: i.row_id)
    chosen = sorted(rng.sample(ordered, min(rows, len(ordered))), key=lambda i: i.row_id)
    probes: list[Probe] = []
    for item in chosen:
        probes.append(_probe("identical", item, item.reference, item.reference))
        other = _other(item, ordered, rng)
        if other is not None:
            probes.append(_probe("other_answer", item, item.reference, other))
            probes.append(_probe("position_swap", item, other, item.reference))
        shuffled = _reordered(item.reference)
        if shuffled is not None:
            probes.append(_probe("reordered", item, item.reference, shuffled))
    return probes


def run_probes(probes: Iterable[Probe], judge: JudgeFn, threshold: float = PASS_THRESHOLD) -> list[ProbeResult]:
    """Score every probe with ``judge``; an unparsable answer (None) fails its probe."""
    results = []
    for probe in probes:
        score = judge(probe)
        passed = score is not None and (score >= threshold) == probe.expect_high
        results.append(
            ProbeResult(kind=probe.kind, row_id=probe.row_id, expect_high=probe.expect_high, score=score, passed=passed)
        )
    return results


# ------------------------------------------------------------------------------------------ agreement
def exact_agreement(
    rows: Sequence[EvalRow], judge_metric: str, exact_metric: str, threshold: float = PASS_THRESHOLD
) -> tuple[float | None, int]:
    """(share of rows where the judge metric and the exact metric give the same pass/fail, rows compared)."""
    judged, exact = metric_values(rows, judge_metric), metric_values(rows, exact_metric)
    common = sorted(set(judged) & set(exact))
    if not common:
        return None, 0
    same = sum((judged[r] >= threshold) == (exact[r] >= threshold) for r in common)
    return same / len(common), len(common)


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's κ of two raters' yes/no labels on the same items: (p_o − p_e) / (1 − p_e). None when κ is
    undefined (no items, or both raters gave one and the same label to everything: p_e = 1)."""
    if len(a) != len(b):
        raise ValueError(f"kappa needs labels for the same items, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def _tally(results: Sequence[ProbeResult]) -> dict[str, KindTally]:
    out: dict[str, KindTally] = {}
    for kind in PROBE_KINDS:
        mine = [r for r in results if r.kind == kind]
        if mine:
            out[kind] = KindTally(probes=len(mine), passed=sum(r.passed for r in mine))
    return out


def check_judge(
    judge: str,
    results: Sequence[ProbeResult],
    min_agreement: float,
    rows: Sequence[EvalRow] = (),
    judge_metric: str | None = None,
    exact_metric: str | None = None,
    human_labels: Mapping[str, bool] | None = None,
    threshold: float = PASS_THRESHOLD,
) -> JudgeCheck:
    """The verdict on ``judge``: its probe results, its agreement with ``exact_metric`` on ``rows`` (when both
    metrics were scored) and with ``human_labels`` (row id → the person's "this answer is right"). It is
    believed only when every available measure reaches ``min_agreement``; a judge without probes is not."""
    passed = sum(r.passed for r in results)
    accuracy = passed / len(results) if results else None
    agreement, compared = (None, 0)
    if judge_metric and exact_metric:
        agreement, compared = exact_agreement(rows, judge_metric, exact_metric, threshold)
    unparsed = sum(1 for r in rows if r.judge_raw is not None and judge_metric and judge_metric not in r.metrics)
    judged = metric_values(rows, judge_metric) if judge_metric else {}
    labelled = sorted(set(human_labels or {}) & set(judged))
    human = [(judged[r] >= threshold, bool((human_labels or {})[r])) for r in labelled]
    human_agreement = sum(j == h for j, h in human) / len(human) if human else None
    kappa = cohen_kappa([j for j, _ in human], [h for _, h in human]) if human else None

    reason = None
    where = f"selection.min_judge_agreement {min_agreement:g}"
    if accuracy is None:
        reason = f"withhold: judge {judge} was not checked: no probe could be built from the eval rows"
    elif accuracy < min_agreement:
        reason = f"withhold: judge {judge} failed its probes ({passed}/{len(results)}; {where})"
    elif agreement is not None and agreement < min_agreement:
        reason = (
            f"withhold: judge {judge} agrees with {exact_metric} on only {round(agreement * compared)}/{compared} "
            f"rows ({where})"
        )
    elif rows and judge_metric and unparsed / len(rows) > 1 - min_agreement:
        reason = f"withhold: judge {judge} gave no parsable score on {unparsed}/{len(rows)} rows ({where})"
    elif human_agreement is not None and human_agreement < min_agreement:
        kappa_text = f", κ {kappa:.2f}" if kappa is not None else ""
        reason = (
            f"withhold: judge {judge} agrees with the human labels on only "
            f"{sum(j == h for j, h in human)}/{len(human)} rows{kappa_text} ({where})"
        )
    return JudgeCheck(
        judge=judge,
        probes=len(results),
        passed=passed,
        probe_accuracy=accuracy,
        by_kind=_tally(results),
        exact_metric=exact_metric,
        judge_metric=judge_metric,
        agreement=agreement,
        agreement_rows=compared,
        unparsed_rows=unparsed,
        human_labels=len(human),
        human_agreement=human_agreement,
        human_kappa=kappa,
        min_agreement=min_agreement,
        trusted=reason is None,
        reason=reason,
    )
