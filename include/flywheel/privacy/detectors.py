"""Text detectors: ``text -> [Span]`` per kind. Candidates come from a pattern; a checksum or a library
validates them where one exists (Luhn for cards, ISO 13616 mod-97 for IBANs via ``python-stdnum``,
``phonenumbers`` for international phone numbers, ``ipaddress`` for IPs). Context-dependent values (an
undashed SSN, a 7-digit ``555-0100``, a date of birth, an AWS secret key) are taken only after a cue word.
Cheap substring checks decide which families run at all: most strings skip most of them."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import phonenumbers
from stdnum import iban, luhn

from flywheel.privacy.gate import (
    ADDRESS,
    ALL,
    DOB_CUE,
    IBAN,
    IP,
    NUMERIC,
    PERSON,
    PHONE_CUE,
    SECRET,
    SSN_CUE,
    Gate,
    native_gate,
)
from flywheel.privacy.keys import key_kind
from flywheel.privacy.names import address, person
from flywheel.privacy.spans import Detector, Span

# ------------------------------------------------------------------------------------------------ e-mail
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])"
)


def email(text: str) -> list[Span]:
    if "@" not in text:
        return []
    return [Span(m.start(), m.end(), m.group().lower()) for m in _EMAIL.finditer(text)]


# ------------------------------------------------------------------------------------------------ numbers
# One leading character class (so the engine jumps from candidate to candidate instead of trying every
# position), the token boundary checked by a look-behind after it, then the layouts; every branch is linear.
_NUMERIC = re.compile(
    r"[+(\d](?<![\w/+.-].)(?:"
    r"(?<=\+)(?P<intl>)[1-9]\d{0,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{4,16}\d"
    r"|(?<=0)(?P<intl00>)0[1-9]\d{0,3}[ .-](?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{4,16}\d"
    r"|(?<=\()(?P<nanp_paren>)\d{3}\)[ ]?\d{3}[ .-]\d{4}"
    r"|(?<=\d)(?:"
    r"(?P<ssn>)\d{2}-\d{2}-\d{4}"
    r"|(?P<nanp>)(?:(?<=1)[ .-]?(?:\(\d{3}\)[ ]?|\d{3}[ .-])|\d{2}[ .-])\d{3}[ .-]\d{4}"
    r"|(?P<card>)(?:[ -]?\d){12,18}"
    r"|(?P<short>)(?<=5)55[ .-]\d{4}"
    r")"
    r")(?![\w-]|\.\d)"
)
_KINDS = {"intl00": "intl", "nanp_paren": "nanp"}
_NON_DIGIT = re.compile(r"\D")
_CARD_IIN = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6(?:011|5|4[4-9]|2)")


def _card_ok(digits: str) -> bool:  # 14 (Diners), 15 (Amex), 16, 19: 13-digit runs are mostly EAN barcodes
    return (
        (len(digits) in (15, 16, 19) or (len(digits) == 14 and digits[0] == "3"))
        and _CARD_IIN.match(digits) is not None
        and luhn.is_valid(digits)
    )


def _ssn_ok(digits: str) -> bool:  # 9xx areas are ITINs: taxpayer numbers, as sensitive
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and group != "00" and serial != "0000"


def numeric(text: str, region: str, kinds: frozenset[str]) -> list[tuple[str, Span]]:
    """Phone numbers (international ``+``/``00`` in any layout, NANP 3-3-4, ``555-0100``), dashed SSNs and
    Luhn-valid card numbers."""
    out: list[tuple[str, Span]] = []
    for m in _NUMERIC.finditer(text):
        kind = _KINDS.get(m.lastgroup or "", m.lastgroup)
        value = m.group()
        digits = _NON_DIGIT.sub("", value)
        if kind == "card" or (kind == "intl" and len(digits) >= 13 and _card_ok(digits)):
            if "card" in kinds and _card_ok(digits):
                out.append(("card", Span(m.start(), m.end(), digits)))
            continue
        if kind == "ssn":
            if "ssn" in kinds and _ssn_ok(digits):
                out.append(("ssn", Span(m.start(), m.end(), digits)))
            continue
        if "phone" not in kinds:
            continue
        if kind == "intl":
            found = _international(value)
            if found is not None:
                length, canonical = found
                out.append(("phone", Span(m.start(), m.start() + length, canonical)))
        elif kind == "nanp":
            national = digits[-10:]
            if national[0] in "23456789" and national[3] in "23456789":
                out.append(("phone", Span(m.start(), m.end(), ("+1" if region == "US" else "") + national)))
        else:
            out.append(("phone", Span(m.start(), m.end(), digits)))
    return out


_LAST_GROUP = re.compile(r"[ .-]+\d+$")


@lru_cache(maxsize=4096)
def _international(value: str) -> tuple[int, str] | None:
    """(length, E.164) of the longest prefix of ``value`` that libphonenumber calls a possible number: the
    pattern may have run on into a following date or id ("+33 1 86 19 23 17 - 2024-03-05"). Cached: one
    ``phonenumbers.parse`` costs ~15 us, and a customer's number comes back in many of their calls."""
    for _ in range(5):
        try:
            number = phonenumbers.parse("+" + value[2:] if value.startswith("00") else value, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            return len(value), f"+{number.country_code}{number.national_number}"
        cut = _LAST_GROUP.search(value)
        if cut is None or cut.start() < 6:
            return None
        value = value[: cut.start()]
    return None


_AFTER_PHONE_CUE = re.compile(
    r"(?:[\s:#.,]|(?:me|us|him|her|them|at|on|is|was|number|no|nr|my|our)\b){0,8}"
    r"((?:\+|00)?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{5,18}\d)(?![\w-]|\.\d)",
    re.I,
)
_SSN_CUE = re.compile(
    r"(?i)\b(?:ssn|social security(?: number| no\.?| #)?|ss#|ss no\.?)"
    r"(?:[\s:#=.,]|\b(?:is|was|number|no|nr|my)\b){0,6}(\d{3}[ -]?\d{2}[ -]?\d{4})(?!\d)"
)
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"(?i)\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|" + _MONTHS + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTHS + r",?\s+\d{4}"
)
_DOB_CUE = re.compile(
    r"(?i)\b(?:dob|d\.o\.b\.?|date of birth|birth ?date|birthday|born(?: on)?|geburtsdatum)"
    r"(?:[\s:#=.,]|\b(?:is|was|on|my|the)\b){0,6}(?=\d|[a-z]{3})"
)


_PHONE_WORDS = (
    "phone",
    "tel",
    "mobile",
    "cell",
    "fax",
    "call",
    "text",
    "whatsapp",
    "sms",
    "reach",
    "dial",
    "ring",
    "number",
)


def in_context(text: str, low: str, kinds: frozenset[str]) -> list[tuple[str, Span]]:
    out: list[tuple[str, Span]] = []
    if "phone" in kinds:
        for cue in _PHONE_WORDS:
            i = low.find(cue)
            while i >= 0:
                end = i + len(cue)
                if (i == 0 or not low[i - 1].isalpha()) and (end == len(low) or not low[end].isalpha()):
                    m = _AFTER_PHONE_CUE.match(text, end)
                    if m is not None:
                        digits = _NON_DIGIT.sub("", m.group(1))
                        if 7 <= len(digits) <= 15:
                            out.append(("phone", Span(m.start(1), m.end(1), digits)))
                i = low.find(cue, end)
    if "ssn" in kinds and ("ssn" in low or "social" in low or "ss#" in low or "ss no" in low):
        for m in _SSN_CUE.finditer(text):
            out.append(("ssn", Span(m.start(1), m.end(1), _NON_DIGIT.sub("", m.group(1)))))
    if "dob" in kinds and ("birth" in low or "dob" in low or "born" in low or "d.o.b" in low or "geburt" in low):
        for m in _DOB_CUE.finditer(text):
            d = _DATE.match(text, m.end())
            if d:
                out.append(("dob", Span(d.start(), d.end(), d.group().lower())))
    return out


# ------------------------------------------------------------------------------------------------ IBAN, IP
# Led by the check digits (a digit-led pattern skips ahead fast), the country code checked by a look-behind.
_IBAN = re.compile(r"\d(?<=[A-Za-z]{2}\d)\d(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])")


# A gate with the same head as an IBAN (two letters, two check digits, two groups of four) but led by the
# character before it (the text padded with a space): in digit-heavy text this is tried at the few word
# starts instead of at every digit. Every IBAN the detector reports matches it, so a miss skips nothing.
_IBAN_HEAD = re.compile(r"[^A-Za-z0-9][A-Za-z]{2}\d\d(?: ?[A-Za-z0-9]{4}){2}")


def iban_number(text: str) -> list[Span]:
    out: list[Span] = []
    if _IBAN_HEAD.search(" " + text) is None:
        return out
    for m in _IBAN.finditer(text):
        begin = m.start() - 2
        if begin and text[begin - 1].isalnum():
            continue
        value = text[begin : m.end()]
        while len(value.replace(" ", "")) >= 15:  # the pattern may have taken a following word
            if iban.is_valid(value.upper()):
                out.append(Span(begin, begin + len(value), iban.compact(value.upper())))
                break
            value = value[:-1].rstrip()
    return out


_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_BEFORE = re.compile(r"\b(?:version|release|build|ver|v)\s*$", re.I)
_DOTTED = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")  # a gate only: led by a literal, the engine skips to each dot


def ip(text: str) -> list[Span]:
    out = []
    if "." in text and _DOTTED.search(text):
        for m in _IPV4.finditer(text):
            if _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
                continue  # "version 10.4.1.2"
            try:
                out.append(Span(m.start(), m.end(), str(ipaddress.IPv4Address(m.group()))))
            except ValueError:
                continue
    if "::" in text or text.count(":") >= 5:
        for m in _IPV6.finditer(text):
            try:
                out.append(Span(m.start(), m.end(), str(ipaddress.IPv6Address(m.group()))))
            except ValueError:
                continue
    return out


# ------------------------------------------------------------------------------------------------ secrets
_VENDOR = re.compile(  # no leading look-behind (it would disable the first-character scan): checked after
    r"(?:"
    r"sk-ant-[A-Za-z0-9_-]{20,}"  # Anthropic
    r"|(?:sk|rk|pk)-(?:proj-|live-|test-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"  # OpenAI and others
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}"  # Stripe
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}(?![0-9A-Z])"  # AWS key ids
    r"|xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/[A-Za-z0-9/]+"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[A-Za-z0-9_-]{20,}"  # Google
    r"|nvapi-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r")"
)
_VENDOR_PREFIXES = (
    *("sk-", "sk_", "rk-", "rk_", "pk-", "pk_", "whsec_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    *("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "xox", "xapp-", "hooks.slack.com", "AIza"),
    *("ya29.", "GOCSPX-", "nvapi-", "hf_", "glpat-", "npm_", "eyJ"),
)
_VENDOR_PREFIX = re.compile("|".join(re.escape(p) for p in _VENDOR_PREFIXES))  # one search, not 31 ``in``s
_AZURE_CLIENT_SECRET = re.compile(r"[A-Za-z0-9_~.-]{3}8Q~[A-Za-z0-9_~.-]{31,34}")
_BEARER = re.compile(r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/-]{16,}=*)")
_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY|[A-Z0-9 ]*PRIVATE KEY BLOCK)-----"
    r"(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)"
)
_AZURE = re.compile(r"(?i)(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)=([A-Za-z0-9%+/]{20,}={0,2})")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]{1,64}:([^\s@/]{1,128})@")
_PASSWORD_IS = re.compile(
    r"(?i)\b(?:password|passcode|passphrase|pin|pwd)\b[^.\n:=\"']{0,30}?\b(?:is|was)\s*:?\s+[\"']?([^\s\"',;]{4,})"
)


def secret(text: str, low: str | None = None, words: list[str] | None = None) -> list[Span]:
    low = text.lower() if low is None else low
    out = []
    longs = " ".join(w for w in (text.split() if words is None else words) if len(w) >= 16)
    if longs and _VENDOR_PREFIX.search(longs) is not None:
        out += [
            Span(m.start(), m.end(), m.group())
            for m in _VENDOR.finditer(text)
            if m.start() == 0 or not text[m.start() - 1].isalnum()
        ]
    if "8Q~" in text:
        out += [Span(m.start(), m.end(), m.group()) for m in _AZURE_CLIENT_SECRET.finditer(text)]
    if "bearer" in low or "basic" in low or "token" in low:
        out += [Span(m.start(1), m.end(1), m.group(1)) for m in _BEARER.finditer(text)]
    if "=" in text and ("key=" in low or "sig=" in low or "signature=" in low):
        out += [Span(m.start(1), m.end(1), m.group(1)) for m in _AZURE.finditer(text)]
    if "pass" in low or "pin " in low or "pwd" in low:
        out += [Span(m.start(1), m.end(1), m.group(1)) for m in _PASSWORD_IS.finditer(text)]
    if "-----begin" in low:
        out += [Span(m.start(), m.end(), m.group()) for m in _PEM.finditer(text)]
    if "://" in text:
        out += [Span(m.start(1), m.end(1), m.group(1)) for m in _URL_CREDENTIALS.finditer(text)]
    if "aws" in low or "secret" in low:  # a 40-character AWS secret access key, only where the text says so
        for m in _AWS_SECRET.finditer(text):
            v = m.group()
            if any(c.isdigit() for c in v) and any(c.isupper() for c in v) and any(c.islower() for c in v):
                out.append(Span(m.start(), m.end(), v))
    return out


# ------------------------------------------------------------------------------------- keyed text values
# ``"password": "x"``, ``DB_PASSWORD=x``, ``SSN: 536904399``, ``Name: Jane Doe``: the label decides the kind.
# Driven by the separators (``:``, ``=``): the label is the one to three words before one.
_VALUE = re.compile(r"[ \t]*(?:\"([^\"\n]{1,400})\"|'([^'\n]{1,400})'|([^\s\"',;}\]]+(?:[ \t]+[^\s\"',;}\]:]+){0,5}))")
_NOT_VALUES = frozenset(("null", "none", "true", "false", "required", "optional", "string", "redacted", "n/a", "-"))
_TEXT_ONLY_KEYS = frozenset(("user",))  # "User: I need help" is a transcript, not an end-user id
_AUTH_SCHEMES = frozenset(("bearer", "basic", "token", "digest", "apikey"))
_NUMERIC_TOKEN = re.compile(r"\+?\(?\d[\d().-]*")
_MAX_DIGITS = {"phone": 15, "ssn": 9, "card": 19}
_LABEL_STRIP = " \t\"'"
_WORD_STRIP = "{[(\"',;*#>-"


def _label_kind(text: str, sep: int) -> str | None:
    head = text[max(0, sep - 60) : sep].rstrip(_LABEL_STRIP)
    if not head or not head[-1].isalnum():
        return None
    words = head.rsplit(None, 3)[-3:]
    words[0] = words[0].lstrip(_WORD_STRIP)
    last = words[-1].lstrip(_WORD_STRIP)
    if last.lower() == last.upper():  # no letter: "09:16", "2024-05-17T10:30"
        return None
    kind = key_kind(last)
    if kind is None and len(words) > 1:
        kind = key_kind("_".join(words[-2:])) or (key_kind("_".join(words)) if len(words) > 2 else None)
    return kind


def _separators(text: str) -> list[int]:
    out = []
    for ch in (":", "="):
        i = text.find(ch)
        while i >= 0:
            out.append(i)
            i = text.find(ch, i + 1)
    if len(out) > 1:
        out.sort()
    return out


def keyed(text: str, kinds: frozenset[str]) -> list[tuple[str, Span]]:
    out: list[tuple[str, Span]] = []
    done = 0
    for sep in _separators(text):
        if sep < done:
            continue
        kind = _label_kind(text, sep)
        if kind is None or kind in _TEXT_ONLY_KEYS or kind not in kinds:
            continue
        at = sep + 1
        if text.startswith(">", at):
            at += 1
        if at < len(text) and text[at] in "\"'" and sep > 0 and text[sep - 1] not in "\"'" and text[at - 1] != " ":
            pass
        m = _VALUE.match(text, at)
        if m is None:
            continue
        group = 1 if m.group(1) is not None else 2 if m.group(2) is not None else 3
        start, end = m.start(group), m.end(group)
        value = m.group(group)
        if group == 3:
            tokens = value.split()
            if kind == "dob":
                d = _DATE.match(text, start)
                end = d.end() if d else start + len(tokens[0])
            elif kind in _MAX_DIGITS:
                n = digits = 0
                for t in tokens:
                    digits += sum(c.isdigit() for c in t)
                    if not _NUMERIC_TOKEN.fullmatch(t) or digits > _MAX_DIGITS[kind]:
                        break
                    n += 1
                end = start + len(" ".join(tokens[: max(n, 1)]))
            elif kind == "iban":
                n = 1
                while n < len(tokens) and len(tokens[n]) <= 4 and tokens[n].isalnum():
                    n += 1
                end = start + len(" ".join(tokens[:n]))
            elif kind == "person":
                n = 0
                while n < min(3, len(tokens)) and tokens[n][:1].isupper():
                    n += 1
                end = start + len(" ".join(tokens[: max(n, 1)]))
            elif kind == "secret" and len(tokens) > 1 and tokens[0].lower() in _AUTH_SCHEMES:
                start = start + len(tokens[0]) + value[len(tokens[0]) :].find(tokens[1])
                end = start + len(tokens[1])
            elif kind != "address":
                end = start + len(tokens[0])
            value = text[start:end]
        if value.lower() in _NOT_VALUES or (value.startswith("<") and value.endswith(">")):
            continue
        out.append((kind, Span(start, end, value.strip().lower())))
        done = end
    return out


# ------------------------------------------------------------------------------------------------ registry
BUILTIN_KINDS = ("secret", "email", "iban", "card", "ssn", "dob", "ip", "phone", "address", "person", "user")
_EXTRA: dict[str, Detector] = {}


def register_detector(kind: str, detector: Detector) -> None:
    """Add a detector (e.g. ``person`` backed by an NER model available to the workers); overrides a
    built-in of the same kind. Configure the kind in ``pii.kinds`` to use it."""
    _EXTRA[kind] = detector


def _standalone(kind: str, region: str) -> Detector:
    """One built-in kind as a plain ``text -> [Span]`` (for tests and for callers outside a record)."""
    kinds = frozenset((kind,))

    def detect(text: str) -> list[Span]:
        return [s for k, s in Scanner(kinds, region).scan(text) if k == kind]

    return detect


def detectors(kinds: list[str] | tuple[str, ...], region: str = "US") -> list[tuple[str, Detector]]:
    out = []
    for kind in [*[k for k in BUILTIN_KINDS if k in kinds], *[k for k in kinds if k not in BUILTIN_KINDS]]:
        found = _EXTRA.get(kind) or (_standalone(kind, region) if kind in BUILTIN_KINDS else None)
        if found is None:
            raise ValueError(f"pii kind '{kind}' has no detector: register one with flywheel.privacy.register_detector")
        out.append((kind, found))
    return out


class Scanner:
    """Every configured kind over one string, the families chosen by cheap checks first. ``scan`` returns
    (kind, span) candidates, possibly overlapping, in priority order (earlier wins an overlap)."""

    def __init__(self, kinds: frozenset[str] | set[str], region: str = "US") -> None:
        self.kinds = frozenset(kinds)
        self.region = region
        self.extra = [(k, d) for k, d in _EXTRA.items() if k in self.kinds]
        self.builtin = self.kinds - {k for k, _ in self.extra}

    def scan(self, text: str) -> list[tuple[str, Span]]:
        kinds = self.builtin
        found: list[tuple[str, Span]] = []
        if ":" in text or "=" in text:
            found += keyed(text, kinds)
        raw = text.encode("utf-8", "surrogatepass")
        gate = _gate() if text.isascii() else None
        families = gate.families(raw) if gate is not None else ALL  # which families may find anything
        if not families:  # most strings: what is left is what the gate does not cover, in the same order
            if "@" in text and "email" in kinds:
                found += [("email", s) for s in email(text)]
            for kind, detect in self.extra:
                found += [(kind, s) for s in detect(text)]
            return found
        low = text.lower()
        if "secret" in kinds and families & SECRET:
            words = text.split()
            if _maybe_secret(words, low):
                found += [("secret", s) for s in secret(text, low, words)]
        if "@" in text and "email" in kinds:
            found += [("email", s) for s in email(text)]
        digits = len(raw) - len(raw.translate(None, b"0123456789"))  # C speed, unlike a regex over the text
        if digits:
            context = (  # in_context's parts that may find anything
                kinds
                if families == ALL
                else kinds.intersection(k for k, bit in _CUE_BITS if families & bit)
                if families & _CUES
                else _NONE
            )
            if (
                digits >= 7
                and (families & (NUMERIC | IBAN) or "phone" in context or "ssn" in context)
                and _SEVEN_DIGITS.search(text) is not None
            ):
                if "iban" in kinds and digits >= 10 and families & IBAN:
                    found += [("iban", s) for s in iban_number(text)]
                if families & NUMERIC:
                    found += numeric(text, self.region, kinds)
                if context:
                    found += in_context(text, low, context)
            elif "dob" in context and digits >= 4:
                found += in_context(text, low, _DOB_ONLY)
            if "ip" in kinds and digits >= 4 and families & IP and (text.count(".") >= 3 or ":" in text):
                found += [("ip", s) for s in ip(text)]
            if "address" in kinds and families & ADDRESS:
                found += [("address", s) for s in address(text, low)]
        elif "ip" in kinds and families & IP and "::" in text:
            found += [("ip", s) for s in ip(text)]
        if "person" in kinds and families & PERSON:
            found += [("person", s) for s in person(text, low)]
        for kind, detect in self.extra:
            found += [(kind, s) for s in detect(text)]
        return found


_CUE_BITS = (("phone", PHONE_CUE), ("ssn", SSN_CUE), ("dob", DOB_CUE))
_CUES = PHONE_CUE | SSN_CUE | DOB_CUE
_NONE: frozenset[str] = frozenset()
_GATE: list[Gate | None] = []


def _gate() -> Gate | None:
    """The native gate, compiled once per process on first use (~0.2 s)."""
    if not _GATE:
        _GATE.append(native_gate())
    return _GATE[0]


_DOB_ONLY = frozenset(("dob",))
_SECRET_WORDS = ("pass", "secret", "token", "bearer", "basic", "-----begin", "://", "aws", "pwd", "pin ", "sig=", "8q~")


def _maybe_secret(words: list[str], low: str) -> bool:
    for word in _SECRET_WORDS:
        if word in low:
            return True
    return bool(words) and max(map(len, words)) >= 16  # every vendor format is a long token


_SEVEN_DIGITS = re.compile(r"\d(?<!\d\d)(?:(?:[ ().-]?\d){6}|\d{2}-\d{4})")  # from a run's first digit
