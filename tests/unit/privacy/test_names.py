"""Recall of the rule-based person-name and street-address detection, per case, as docs/privacy.md reports it:
announced names and the corpus address layouts are found, and capitalised non-names are not taken."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from flywheel.privacy import Redactor
from tests.unit.privacy.corpus import FAMILY, GIVEN, RARE_GIVEN, address

REDACTOR = Redactor(["person", "address"])
CUES = ["my name is {v}", "this is {v} from accounting", "Regards,\n{v}", "I'm {v} and I need help", "Name: {v}"]
NO_CUE = ["{v} asked about the refund", "please forward this to {v} today", "the order was placed by {v}."]


def recall(make: Callable[[random.Random], tuple[str, str]], n: int = 600) -> float:
    rng = random.Random(5)
    found = 0
    for _ in range(n):
        value, template = make(rng)
        text = template.format(v=value)
        out = text
        for start, end, _, _ in reversed(REDACTOR.find(text)):
            out = out[:start] + "<X>" + out[end:]
        found += value not in out
    return found / n


CASES = {
    "cued, common given name": (lambda r: (f"{r.choice(GIVEN)} {r.choice(FAMILY)}", r.choice(CUES)), 1.0),
    "cued, rare given name": (lambda r: (f"{r.choice(RARE_GIVEN)} {r.choice(FAMILY)}", r.choice(CUES)), 1.0),
    "no cue, common given name": (lambda r: (f"{r.choice(GIVEN)} {r.choice(FAMILY)}", r.choice(NO_CUE)), 1.0),
    "address, corpus layouts": (lambda r: (address(r), r.choice(["ship to {v}", "my address is {v}.", "{v}"])), 1.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_recall(case):
    make, expected = CASES[case]
    assert recall(make) >= expected


def test_what_nothing_announces_is_missed_as_documented():
    assert recall(lambda r: (f"{r.choice(RARE_GIVEN)} {r.choice(FAMILY)}", r.choice(NO_CUE))) == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order?",
        "Thanks, that is all.",
        "New York is nice",
        "The Blue Running Shoes are great",
        "Hello Team, the Premium Plan renewal failed",
        "I'm Happy with it",
        "from Berlin with love",
        "Apple Pay did not work",
        "I have 2 items on the way",
    ],
)
def test_capitalised_words_that_are_not_names_are_kept(text):
    assert REDACTOR.find(text) == []
