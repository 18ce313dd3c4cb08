"""The native gate (flywheel/privacy/gate.py) only skips detector families that would find nothing: scanning
with it gives the same spans as scanning without it, on the recall corpus, its look-alikes and variants."""

from __future__ import annotations

import random
import sys

import pytest

from flywheel.config import BUILTIN_PII_KINDS
from flywheel.privacy.detectors import Scanner
from flywheel.privacy.gate import ALL, PERSON, native_gate
from tests.unit.privacy.corpus import GENERATORS, corpus, look_alike, strings

detectors_module = sys.modules["flywheel.privacy.detectors"]
pytestmark = pytest.mark.skipif(native_gate() is None, reason="no hyperscan wheel on this platform")

BY_HAND = [
    "Where is my order 262306? (ticket 10225)",
    "Where is my order 262306? (ticket 10225) Placed 2025-08-03 11:46:03, paid $72.28 (invoice INV-2025-987872,"
    " 2 items, SKU 2290851828415), ticket 50395832, tracking 1Z3177237045003801, ref b5c0fbaf-f2b4-8ecd-2458-"
    "3c7e6bd8a611, app v3.3.2, delivered 08/03/2025.",
    "You can reach me at customer12@example.com or +1 415-555-0012.",
    "call 555-0100",
    "tel:+33 1 86 19 23 17 - 2024-03-05",
    "0044 20 7946 0958",
    "(415) 555-2671",
    "1 (415) 555-2671",
    "536-22-1234",
    "my ssn is 536221234",
    "social security no. 536 22 1234",
    "DOB: 03/04/1985",
    "born on March 4th, 1985",
    "4111 1111 1111 1111",
    "x4111111111111111",
    "36700102000000",
    "GB82WEST12345698765432",
    "DE89 3704 0044 0532 0130 00",
    "hiJohn",
    "Hi, Maria",
    "Thanks!\nJames",
    "regards,  Dr. Jane Doe",
    "Mr. Smith called",
    "my name is john smith",
    "I'm Zephyrine",
    "123 Main St.",
    "12 N. Oak Ave, Apt 4, Springfield, IL 62704",
    "4 rue de la Paix",
    "P.O. Box 12",
    "Hauptstrasse 5",
    "Bearer abcdefghijklmnopqrstu",
    "password is hunter22",
    "AccountKey=abcdefghijklmnopqrstuvwxyz0123==",
    "postgres://app:s3cr3t@db:5432/x",
    "aws secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "sk-proj-abcdefghijklmnopqrstuvwx123",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "10.0.0.12",
    "version 10.4.1.2",
    "fe80::1",
    "user: jdoe42",
    "phone=4155552671",
]


def _texts() -> list[str]:
    rng = random.Random(11)
    texts: set[str] = set(BY_HAND)
    for example in corpus(260):  # every kind in every place twice
        texts.update(s for s in strings(example.record) if isinstance(s, str))
        texts.update(example.look_alikes)
        texts.update(p.value for p in example.plants)
    for _ in range(200):
        texts.add(look_alike(rng))
        for generate in GENERATORS.values():
            value = generate(rng)
            texts.add(value if isinstance(value, str) else value[0])
    base = sorted(texts)
    variants = []
    for t in base:
        variants += [t.upper(), t.lower(), t.title(), f"{t} {rng.choice(base)[:60]}"]
        if len(t) > 8:
            a = rng.randrange(len(t))
            variants.append(t[a : rng.randrange(a, len(t) + 1)])
    return base + variants


def test_gated_scan_equals_ungated_scan(monkeypatch):
    scanner = Scanner(frozenset(BUILTIN_PII_KINDS))
    texts = _texts()
    gated = [scanner.scan(t) for t in texts]
    monkeypatch.setattr(detectors_module, "_GATE", [None])  # as on a machine without the wheel
    plain = [scanner.scan(t) for t in texts]
    differ = [(t, g, p) for t, g, p in zip(texts, gated, plain, strict=True) if g != p]
    assert not differ, differ[:5]
    assert sum(1 for p in plain if p) > len(texts) // 4  # the comparison covers many findings


def test_plain_text_sets_no_family():
    gate = native_gate()
    assert gate is not None
    assert gate.families(b"Where is my order 262306? (ticket 10225)") == 0
    assert gate.families(b"Hi, Maria") == PERSON


def test_non_ascii_text_runs_every_family(monkeypatch):
    scanner = Scanner(frozenset(BUILTIN_PII_KINDS))
    calls = []
    monkeypatch.setattr(detectors_module, "person", lambda text, low: calls.append(text) or [])
    scanner.scan("Bestellung für Müller")
    assert calls == ["Bestellung für Müller"]
    assert ALL.bit_count() == 9


def test_threads_scan_with_their_own_scratch():
    from concurrent.futures import ThreadPoolExecutor

    gate = native_gate()
    assert gate is not None
    texts = [b"Hi, Maria", b"order 262306", b"call me at +1 415-555-0100"] * 200
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(gate.families, texts)) == [gate.families(t) for t in texts]
