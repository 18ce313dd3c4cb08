"""One native pass over an ASCII string that tells which detector families may find something in it.

Each family's Python checks (substring tests, gate regexes, then the detector's own patterns) cost a
microsecond or more per string, and on most strings every one of them finds nothing. Here a single Hyperscan
database holds, per family, a pattern that matches wherever that family could report a span: a *necessary*
condition, looser than the detector (no look-arounds, no checksums, no word lists beyond what is literal).
The scanner runs a family only when its bit is set, and then exactly as before, so the output is the same;
a family whose bit is clear would have found nothing.

Only ASCII strings take this path: there Python's ``\\d``, ``\\w``, ``\\s`` and ``str.lower`` are the ASCII
ones these byte patterns spell out. Other strings (and machines without the ``hyperscan`` wheel) run every
family's Python gates as before. Why each pattern is necessary is written next to it; the unit tests check
gated against ungated scanning on the recall corpora and their look-alikes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from threading import get_ident
from typing import cast

from flywheel.privacy.names import _CUES, _GIVEN_SET, _HONORIFICS, _ROMANCE_TYPES, _STREET_TYPES

SECRET, NUMERIC, IBAN, PHONE_CUE, SSN_CUE, DOB_CUE, ADDRESS, PERSON, IP = (1 << i for i in range(9))
ALL = (1 << 9) - 1

_WS = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"  # str.split()'s whitespace within ASCII
_BEFORE_NUMBER = r"(?:^|[^A-Za-z0-9_/+.\-])"  # _NUMERIC's look-behind: the character before its first one


def _alt(words: Iterable[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words)) + ")"


# (family, pattern, caseless). Every pattern is ASCII and tried on the string's bytes.
PATTERNS: list[tuple[int, str, bool]] = [
    # secret(): each branch starts with a literal test, on the text (vendor prefixes, "8Q~", "://") or on
    # its lower-case form (the rest: caseless here, which is the same on ASCII).
    (
        SECRET,
        _alt(
            (
                *("sk-", "sk_", "rk-", "rk_", "pk-", "pk_", "whsec_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
                *("github_pat_", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "xox", "xapp-"),
                *("hooks.slack.com", "AIza", "ya29.", "GOCSPX-", "nvapi-", "hf_", "glpat-", "npm_", "eyJ", "8Q~"),
                "://",
            )
        ),
        False,
    ),
    (
        SECRET,
        _alt(("bearer", "basic", "token", "key=", "sig=", "signature=", "pass", "pin ", "pwd", "-----begin")),
        True,
    ),
    (SECRET, _alt(("aws", "secret")), True),
    # numeric(): a span comes from a match of one of _NUMERIC's branches (card: only 14 to 19 digits pass
    # _card_ok), led by a character that the look-behind allows; the look-ahead at the end is left out.
    (NUMERIC, _BEFORE_NUMBER + r"\+[1-9][0-9]{0,3}[ .\-]?(?:\([0-9]{1,4}\)[ .\-]?)?[0-9][0-9 .\-]{4,16}[0-9]", False),
    (NUMERIC, _BEFORE_NUMBER + r"00[1-9][0-9]{0,3}[ .\-](?:\([0-9]{1,4}\)[ .\-]?)?[0-9][0-9 .\-]{4,16}[0-9]", False),
    (NUMERIC, _BEFORE_NUMBER + r"\([0-9]{3}\) ?[0-9]{3}[ .\-][0-9]{4}", False),
    (NUMERIC, _BEFORE_NUMBER + r"[0-9]{3}\-[0-9]{2}\-[0-9]{4}", False),
    (NUMERIC, _BEFORE_NUMBER + r"1[ .\-]?(?:\([0-9]{3}\) ?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}", False),
    (NUMERIC, _BEFORE_NUMBER + r"[0-9]{3}[ .\-][0-9]{3}[ .\-][0-9]{4}", False),
    (NUMERIC, _BEFORE_NUMBER + r"[0-9](?:[ \-]?[0-9]){13,18}", False),
    (NUMERIC, _BEFORE_NUMBER + r"555[ .\-][0-9]{4}", False),
    # iban_number(): its own gate, _IBAN_HEAD on " " + text.
    (IBAN, r"(?:^|[^A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2}", False),
    # ip(): IPv4 only where _DOTTED matches; IPv6 only with "::" or five colons.
    (IP, r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]", False),
    (IP, r"::|:[^:]*:[^:]*:[^:]*:[^:]*:", False),
    # in_context(): each kind's part starts with cue words found in the lower-case text.
    (PHONE_CUE, _alt(("phone", "tel", "mobile", "cell", "fax", "call", "text", "whatsapp", "sms", "reach")), True),
    (PHONE_CUE, _alt(("dial", "ring", "number")), True),
    (SSN_CUE, _alt(("ssn", "social", "ss#", "ss no")), True),
    (DOB_CUE, _alt(("birth", "dob", "born", "d.o.b", "geburt")), True),
    # address(): a street type as a whole word of the lower-case text (with the punctuation _STREET_WORDS
    # allows after it), a romance street word, "box", or a German street suffix ("straße" is not ASCII).
    (ADDRESS, f"(?:^|{_WS})(?:{_STREET_TYPES})(?:,|\\.|;|:|\\)|!|\\?|\\.,)?(?:{_WS}|$)", True),
    (ADDRESS, f"(?:^|{_WS})(?:{_ROMANCE_TYPES})(?:{_WS}|$)", True),
    (ADDRESS, "box", True),
    (ADDRESS, _alt(("strasse", "str.", "weg ", "gasse", "platz", "allee", "ring ", "damm")), False),
    # person(): a given name or an honorific that is a whole capitalised word (nothing of [a-z'-] after it)
    # before [ \t]+ and a capital; or a cue, then only " \t\n,:!." characters, then a capitalised word;
    # or "name is" / "name's" anywhere.
    (PERSON, _alt(_GIVEN_SET | _HONORIFICS) + r"\.?[ \t]+[A-Z]", False),
    (PERSON, "(?i:" + _alt(_CUES) + r")[ \t\n,:!.]*[A-Z][a-z'\-]", False),
    (PERSON, _alt(("name is", "name's")), True),
]


class Gate:
    """``families(raw)``: the bits of the families that may match in ``raw`` (an ASCII string's bytes).
    Safe across threads: each thread scans with its own scratch space."""

    def __init__(self) -> None:
        import hyperscan

        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        single, caseless = hyperscan.HS_FLAG_SINGLEMATCH, hyperscan.HS_FLAG_CASELESS
        db.compile(
            expressions=[p.encode() for _, p, _ in PATTERNS],
            ids=[family for family, _, _ in PATTERNS],
            elements=len(PATTERNS),
            flags=[single | (caseless if nocase else 0) for _, _, nocase in PATTERNS],
        )
        self._db = db
        self._first = hyperscan.Scratch(db)
        self._scratch: dict[int, hyperscan.Scratch] = {get_ident(): self._first}

    def families(self, raw: bytes) -> int:
        scratch = self._scratch.get(get_ident())
        if scratch is None:
            scratch = self._scratch[get_ident()] = self._first.clone()
        found = [0]
        self._db.scan(raw, _on_match, 0, found, scratch)  # positional: keywords cost ~0.4 us a call
        return found[0]


def _on_match(family: int, start: int, end: int, flags: int, found: object) -> None:
    cast(list[int], found)[0] |= family


def native_gate() -> Gate | None:
    """The gate, or None where the ``hyperscan`` wheel is missing (every family then runs its own checks)."""
    try:
        return Gate()
    except ImportError:
        return None
