"""The judge-scored sample workload (``support``): a generic workload whose answers are specific enough that
the emulator's judge tells a right answer from a wrong one, and that passes the product's own validation
and PII redaction untouched."""

from __future__ import annotations

from collections import Counter

from flywheel.config import BUILTIN_PII_KINDS
from flywheel.emulator.nim_logic import RecordIndex, ServedModel, answer, similarity_1_10
from flywheel.privacy.redact import Redactor
from flywheel.records.validation import Rejected, validate
from flywheel.sampledata import DEFAULT_IDS, WORKLOAD_TYPES, generate
from flywheel.sampledata.support import TOPICS


def _records(n: int, seed: int = 4) -> list[dict]:
    lines = generate("support", n, seed=seed, bad_fraction=0.0, duplicate_fraction=0.0)
    return [r for r in lines if isinstance(r, dict)]


def test_support_is_a_generic_workload_with_its_own_ids() -> None:
    assert WORKLOAD_TYPES["support"] == "generic"
    assert DEFAULT_IDS["support"] == ("support_answers", "support-desk")
    assert set(WORKLOAD_TYPES) == set(DEFAULT_IDS)


def test_answers_are_varied_and_cover_every_topic() -> None:
    rows = _records(1000)
    answers = [r["response"]["choices"][0]["message"]["content"] for r in rows]
    questions = [r["request"]["messages"][-1]["content"] for r in rows]
    assert len(set(answers)) > 700 and len(set(questions)) > 500
    first_words = Counter(" ".join(a.split()[:2]) for a in answers)
    assert len(first_words) >= len(TOPICS)  # every topic answers in its own way
    assert all(a.count(".") + a.count(";") >= 2 for a in answers)  # a few sentences, not a label


def test_records_pass_validation_and_pii_redaction_unchanged() -> None:
    redactor = Redactor(BUILTIN_PII_KINDS)
    for r in _records(300):
        assert not isinstance(validate(r), Rejected)
        _, counts = redactor.redact(r)
        assert counts == {}, (counts, r["response"]["choices"][0]["message"]["content"])


def test_the_emulators_judge_separates_right_from_wrong_answers() -> None:
    """Served by the emulator, a 1B model answers some rows right (similarity 10), some partly (half the
    answer) and some with an unrelated reply (1): the judge-scored mean sits between, with room both ways."""
    rows = _records(400)
    index = RecordIndex()
    assert sum(index.add_record(r) for r in rows) == 400
    model = ServedModel("meta/llama-3.2-1b-instruct", "meta/llama-3.2-1b-instruct")
    ratings = []
    for r in rows:
        reply = answer(model, r["request"]["messages"], None, index, seed=1, icl_marker="<<ICL>>")
        ratings.append(similarity_1_10(r["response"]["choices"][0]["message"]["content"], reply["content"] or ""))
    share = Counter(10 if x == 10 else 1 if x == 1 else 5 for x in ratings)
    assert share[10] > 100 and share[1] > 40 and share[5] > 40
    unit = sum((x - 1) / 9 for x in ratings) / len(ratings)
    assert 0.5 < unit < 0.8
