"""Judge checks: probes built from eval rows, a broken judge withheld with its reason, a good one believed,
agreement with exact metrics, Cohen's κ on a known table — and the emulator's judge asked with the
evaluation's own prompts (NMP and Helix) passes its probes, while under ``judge_always_top`` it fails them."""

from __future__ import annotations

import re

import pytest
from jinja2.sandbox import SandboxedEnvironment

from flywheel.decision.judge_checks import (
    Answer,
    JudgeFn,
    Probe,
    ProbeItem,
    ToolCall,
    build_probes,
    check_judge,
    cohen_kappa,
    exact_agreement,
    item_from_record,
    run_probes,
)
from flywheel.decision.rows import EvalRow
from flywheel.emulator.nim_logic import judge_chat_reply
from flywheel.platforms.core import configs as nmp
from flywheel.platforms.helix import payloads as helix
from flywheel.sampledata import generate

JUDGE = "meta/llama-3.3-70b-instruct"


def _items(workload: str, n: int = 120) -> list[ProbeItem]:
    records = generate(workload, n, seed=9, bad_fraction=0.0, duplicate_fraction=0.0)
    items = [item_from_record(f"row-{i}", r) for i, r in enumerate(records) if isinstance(r, dict)]
    return [i for i in items if i is not None]


SUPPORT, TOOLS = _items("support"), _items("tool_calling")


def _words(answer: Answer) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", answer.text().lower()))


def good_judge(probe: Probe) -> float:
    """A judge that compares meaning: the same words (in any order) = right."""
    return 1.0 if _words(probe.reference) == _words(probe.candidate) else 0.0


def always_top(probe: Probe) -> float:
    return 1.0


def answers_the_task(probe: Probe) -> float:
    """A position-biased judge: it rates whether the candidate is *some* right answer for the task and
    ignores the reference, so it misses the position swap."""
    own = next(i for i in SUPPORT + TOOLS if i.row_id == probe.row_id and i.messages == probe.messages)
    return 1.0 if _words(probe.candidate) == _words(own.reference) else 0.0


# ------------------------------------------------------------------------------------------ probes
def test_probes_from_eval_rows() -> None:
    probes = build_probes(SUPPORT, rows=20, seed=1)
    kinds = [p.kind for p in probes]
    assert kinds.count("identical") == 20
    assert kinds.count("other_answer") == kinds.count("position_swap") >= 18  # a clearly different answer found
    assert "reordered" not in kinds  # free-text answers have no fields to reorder
    for p in probes:
        if p.kind == "identical":
            assert p.candidate == p.reference and p.expect_high
        if p.kind == "other_answer":
            swap = next(q for q in probes if q.kind == "position_swap" and q.row_id == p.row_id)
            assert (swap.reference, swap.candidate) == (p.candidate, p.reference) and not p.expect_high
            ref, cand = _words(p.reference), _words(p.candidate)
            assert len(ref & cand) / len(ref | cand) <= 0.5
    assert build_probes(SUPPORT, rows=20, seed=1) == probes
    assert build_probes(list(reversed(SUPPORT)), rows=20, seed=1) == probes  # order of the items does not matter
    assert build_probes(SUPPORT, rows=20, seed=2) != probes


def test_tool_call_answers_get_reordered_argument_probes() -> None:
    probes = build_probes(TOOLS, rows=30, seed=1)
    reordered = [p for p in probes if p.kind == "reordered"]
    assert reordered and all(p.expect_high for p in reordered)
    for p in reordered:
        ref, cand = p.reference.tool_calls[0], p.candidate.tool_calls[0]
        assert ref.arguments == cand.arguments and list(ref.arguments) != list(cand.arguments)


def test_probe_renders_as_an_eval_item_and_a_sample() -> None:
    call = ToolCall(name="ToReturnProcessing", arguments={"order_id": "ORD-1", "user_id": "u"})
    probe = Probe(
        kind="identical",
        row_id="r",
        messages=({"role": "user", "content": "return ORD-1"},),
        reference=Answer(tool_calls=(call,)),
        candidate=Answer(content="text"),
    )
    item, sample = probe.item(), probe.sample()
    assert item["request"] == {"messages": [{"role": "user", "content": "return ORD-1"}]}
    message = item["response"]["choices"][0]["message"]
    assert message["tool_calls"][0]["function"] == {
        "name": "ToReturnProcessing",
        "arguments": '{"order_id": "ORD-1", "user_id": "u"}',
    }
    assert sample["output_text"] == "text"


def test_item_from_record_skips_unusable_records() -> None:
    assert item_from_record("a", {"request": {"messages": []}}) is None
    assert item_from_record("a", {"request": {"messages": [{"role": "user", "content": "q"}]}}) is None
    empty = {"choices": [{"message": {"role": "assistant", "content": ""}}]}
    record = {"request": {"messages": [{"role": "user", "content": "q"}]}, "response": empty}
    assert item_from_record("a", record) is None


# ------------------------------------------------------------------------------------------ verdicts
def test_an_always_top_judge_fails_its_probes_and_is_withheld() -> None:
    probes = build_probes(SUPPORT, rows=20, seed=1)
    results = run_probes(probes, always_top)
    passed = sum(p.kind == "identical" for p in probes)  # only "must score high" probes pass
    check = check_judge(JUDGE, results, min_agreement=0.8)
    assert not check.trusted and check.passed == passed and check.probes == len(probes)
    assert check.reason == (
        f"withhold: judge {JUDGE} failed its probes ({passed}/{len(probes)}; selection.min_judge_agreement 0.8)"
    )
    assert check.by_kind["other_answer"].passed == 0 and check.by_kind["identical"].passed == 20


def test_a_good_judge_passes_and_is_believed() -> None:
    for items in (SUPPORT, TOOLS):
        check = check_judge(JUDGE, run_probes(build_probes(items, seed=3), good_judge), min_agreement=0.8)
        assert check.trusted and check.reason is None and check.probe_accuracy == 1.0


def test_a_position_biased_judge_is_caught_by_the_swaps() -> None:
    check = check_judge(JUDGE, run_probes(build_probes(SUPPORT, seed=3), answers_the_task), min_agreement=0.8)
    assert check.by_kind["position_swap"].passed == 0 and check.by_kind["other_answer"].passed > 0
    assert not check.trusted and "failed its probes" in (check.reason or "")


def test_an_unparsable_answer_fails_its_probe() -> None:
    results = run_probes(build_probes(SUPPORT, rows=5, seed=1), lambda p: None)
    assert not any(r.passed for r in results)


def test_a_judge_without_probes_is_not_believed() -> None:
    check = check_judge(JUDGE, [], min_agreement=0.8)
    assert not check.trusted and check.reason == (
        f"withhold: judge {JUDGE} was not checked: no probe could be built from the eval rows"
    )


def _scored(pairs: list[tuple[float, float]], raw: str | None = "RATING: 1") -> list[EvalRow]:
    return [
        EvalRow(row_id=str(i), metrics={"correctness": j, "function_name_and_args_accuracy": e}, judge_raw=raw)
        for i, (j, e) in enumerate(pairs)
    ]


def test_agreement_with_the_exact_metric() -> None:
    rows = [*_scored([(1.0, 1.0)] * 7 + [(1.0, 0.0)] * 3), EvalRow(row_id="x", metrics={"correctness": 1.0})]
    assert exact_agreement(rows, "correctness", "function_name_and_args_accuracy") == (0.7, 10)
    good = run_probes(build_probes(TOOLS, seed=3), good_judge)
    check = check_judge(JUDGE, good, 0.8, rows, "correctness", "function_name_and_args_accuracy")
    assert not check.trusted and check.agreement == 0.7 and check.agreement_rows == 10
    assert check.reason == (
        f"withhold: judge {JUDGE} agrees with function_name_and_args_accuracy on only 7/10 rows "
        "(selection.min_judge_agreement 0.8)"
    )
    fine = check_judge(JUDGE, good, 0.8, _scored([(1.0, 1.0)] * 9 + [(0.0, 1.0)]), "correctness", "x")
    assert fine.trusted and fine.agreement is None  # no exact metric "x" on the rows: nothing to compare


def test_many_unparsable_judge_answers_withhold() -> None:
    good = run_probes(build_probes(TOOLS, seed=3), good_judge)
    rows = _scored([(1.0, 1.0)] * 7) + [EvalRow(row_id=f"u{i}", judge_raw="I think so") for i in range(3)]
    check = check_judge(JUDGE, good, 0.8, rows, "correctness", "function_name_and_args_accuracy")
    assert check.unparsed_rows == 3 and check.reason == (
        f"withhold: judge {JUDGE} gave no parsable score on 3/10 rows (selection.min_judge_agreement 0.8)"
    )


def test_cohen_kappa_on_a_known_table() -> None:
    """20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: p_o = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5, κ = 0.4."""
    a = [True] * 20 + [True] * 5 + [False] * 10 + [False] * 15
    b = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa([True, False], [False, True]) == pytest.approx(-1.0)
    assert cohen_kappa([True] * 4, [True] * 4) is None and cohen_kappa([], []) is None
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa([True], [])


def test_human_labels_give_kappa_and_can_withhold() -> None:
    good = run_probes(build_probes(SUPPORT, seed=3), good_judge)
    rows = _scored([(1.0, 1.0)] * 25 + [(0.0, 0.0)] * 25)
    labels = {str(i): i < 20 or 25 <= i < 35 for i in range(50)}  # table of the κ test: 0.7 agreement
    check = check_judge(JUDGE, good, 0.8, rows, "correctness", human_labels=labels)
    assert check.human_labels == 50 and check.human_kappa == pytest.approx(0.4)
    assert check.reason == (
        f"withhold: judge {JUDGE} agrees with the human labels on only 35/50 rows, κ 0.40 "
        "(selection.min_judge_agreement 0.8)"
    )
    agree = check_judge(JUDGE, good, 0.8, rows, "correctness", human_labels={str(i): i < 25 for i in range(50)})
    assert agree.trusted and agree.human_kappa == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ emulator judge
def _emulator_judge(system: str, user: str, pattern: str, top: int, bottom: int, broken: bool = False) -> JudgeFn:
    """The emulator's judge asked exactly as an evaluation asks it: the judge metric's prompt rendered with the
    probe as item and sample, the reply read with the metric's parser and mapped to the unit scale."""
    env = SandboxedEnvironment()

    def judge(probe: Probe) -> float | None:
        prompt = env.from_string(user).render(item=probe.item(), sample=probe.sample())
        reply = judge_chat_reply([{"role": "system", "content": system}, {"role": "user", "content": prompt}], broken)
        found = re.search(pattern, reply)
        return (int(found.group(1)) - bottom) / (top - bottom) if found else None

    return judge


@pytest.mark.parametrize("platform", [nmp, helix])
def test_the_emulators_judge_passes_its_probes_and_fails_them_when_broken(platform: object) -> None:
    similarity = (nmp.SIMILARITY_SYSTEM, platform.SIMILARITY_USER, nmp.SIMILARITY_PATTERN, 10, 1)
    correctness = (nmp.CORRECTNESS_SYSTEM, platform.CORRECTNESS_USER, nmp.RATING_PATTERN, 1, 0)
    for items, prompt in ((SUPPORT, similarity), (TOOLS, correctness)):
        probes = build_probes(items, seed=5)
        good = check_judge(JUDGE, run_probes(probes, _emulator_judge(*prompt)), min_agreement=0.8)
        assert good.trusted and good.probe_accuracy == 1.0, good
        broken = check_judge(JUDGE, run_probes(probes, _emulator_judge(*prompt, broken=True)), min_agreement=0.8)
        assert not broken.trusted and (broken.probe_accuracy or 1) <= 0.5
        assert (broken.reason or "").startswith(f"withhold: judge {JUDGE} failed its probes (")
