"""Recall on the generated corpus (tests/unit/privacy/corpus.py): PII and secrets planted in every place of a
record, ≥ 99 % redacted overall and ≥ 95 % per kind and per place; look-alikes next to them ≥ 99 % kept."""

from __future__ import annotations

from collections import Counter

import pytest

from flywheel.config import BUILTIN_PII_KINDS
from flywheel.privacy import Redactor
from flywheel.records.validation import validate
from tests.unit.privacy.corpus import PLACES, corpus, leaks, strings

N = 2600  # every kind in every place 20 times


@pytest.fixture(scope="module")
def measured() -> tuple[Counter[str], Counter[str], int, list[str]]:
    redactor = Redactor(BUILTIN_PII_KINDS)
    planted: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    look_alikes, lost = 0, []
    for example in corpus(N):
        rec = validate(example.record)
        assert isinstance(rec, dict)
        out, _ = redactor.redact(rec)
        texts = strings(out)
        for p in example.plants:
            for key in ("all", f"kind {p.kind}", f"place {p.place}"):
                planted[key] += 1
                missed[key] += leaks(p.value, texts)
        for la in example.look_alikes:
            look_alikes += 1
            if not any(la in t for t in texts):
                lost.append(la)
    return planted, missed, look_alikes, lost


def recall(measured: tuple[Counter[str], Counter[str], int, list[str]], key: str) -> float:
    planted, missed, _, _ = measured
    assert planted[key] > 0, key
    return 1 - missed[key] / planted[key]


def test_overall_recall_is_at_least_99_percent(measured):
    assert recall(measured, "all") >= 0.99


@pytest.mark.parametrize("kind", [*BUILTIN_PII_KINDS])
def test_recall_per_kind_is_at_least_95_percent(measured, kind):
    assert recall(measured, f"kind {kind}") >= 0.95


@pytest.mark.parametrize("place", PLACES)
def test_recall_per_place_is_at_least_95_percent(measured, place):
    assert recall(measured, f"place {place}") >= 0.95


def test_look_alikes_are_kept(measured):
    _, _, total, lost = measured
    assert total == 2 * N
    assert 1 - len(lost) / total >= 0.99, lost[:20]
