"""One detector per PII kind: ``text -> [Span]``. Candidates come from a pattern; a library validates them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import NamedTuple

import phonenumbers
from stdnum import iban, luhn
from stdnum.us import ssn


class Span(NamedTuple):
    start: int
    end: int
    canonical: str  # the same value written differently gets the same placeholder within a record


Detector = Callable[[str], list[Span]]

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])"
)


def email(text: str) -> list[Span]:
    if "@" not in text:
        return []
    return [Span(m.start(), m.end(), m.group().lower()) for m in _EMAIL.finditer(text)]


# International numbers in any layout (libphonenumber decides), national ones only in the 3-3-4 layout:
# a bare digit run is more often an order or ticket number than a phone number.
_PHONE = re.compile(
    r"(?<![\w/+.-])(?:\+\d[\d ().-]{6,20}\d|\(\d{3}\)\s?\d{3}[ .-]\d{4}|\d{3}[ .-]\d{3}[ .-]\d{4})(?![\w-]|\.\d)"
)


def phone_detector(region: str) -> Detector:
    def phone(text: str) -> list[Span]:
        out = []
        for m in _PHONE.finditer(text):
            try:
                number = phonenumbers.parse(m.group(), None if m.group().startswith("+") else region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                out.append(Span(m.start(), m.end(), phonenumbers.format_number(number, 0)))  # E.164
        return out

    return phone


_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")


def card(text: str) -> list[Span]:
    out = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
            out.append(Span(m.start(), m.end(), digits))
    return out


_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def iban_number(text: str) -> list[Span]:
    out = []
    for m in _IBAN.finditer(text):
        value = m.group()
        while len(value.replace(" ", "")) >= 15:  # the pattern may have taken a following word
            if iban.is_valid(value):
                out.append(Span(m.start(), m.start() + len(value), iban.compact(value)))
                break
            value = value[:-1].rstrip()
    return out


_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")


def us_ssn(text: str) -> list[Span]:
    return [Span(m.start(), m.end(), ssn.compact(m.group())) for m in _SSN.finditer(text) if ssn.is_valid(m.group())]


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_BEFORE = re.compile(r"\b(?:version|release|build|ver)\s*$", re.I)


def ip(text: str) -> list[Span]:
    out = []
    if "." in text:
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


_SECRET = re.compile(
    r"\b(?:sk|rk|pk)-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI / Stripe / Anthropic style
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}|\bgithub_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|\bnvapi-[A-Za-z0-9_-]{20,}"  # NVIDIA API key
    r"|\bhf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
)
_BEARER = re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)")
_ASSIGNED = re.compile(
    r"(?i)\b(?:api[_-]?key|secret|access[_-]?token|auth[_-]?token|token|password|passwd)\b[\"']?\s*[:=]\s*[\"']?"
    r"([A-Za-z0-9._~+/!@#$%^&*-]{8,})"
)


def secret(text: str) -> list[Span]:
    out = [Span(m.start(), m.end(), m.group()) for m in _SECRET.finditer(text)]
    for pattern in (_BEARER, _ASSIGNED):
        out += [Span(m.start(1), m.end(1), m.group(1)) for m in pattern.finditer(text)]
    return out


# Every built-in kind needs one of these; most texts have none and skip the detectors altogether.
_SECRET_HINTS = (
    *("sk-", "rk-", "pk-", "gh", "github_pat_", "AKIA", "ASIA", "xox", "AIza", "nvapi-", "hf_", "eyJ", "earer"),
    *("EARER", "key", "Key", "KEY", "oken", "OKEN", "ecret", "ECRET", "assw", "ASSW"),
)
_DIGITS = re.compile(r"\d(?:[ ().-]?\d){6}")  # phone, card, IBAN, SSN: at least 7 digits, single separators
_DOTTED = re.compile(r"\d\.\d{1,3}\.\d")


def maybe_builtin(text: str) -> bool:
    if "@" in text or "::" in text or text.count(":") >= 5:
        return True
    if "." in text and _DOTTED.search(text):
        return True
    for hint in _SECRET_HINTS:
        if hint in text:
            return True
    return _DIGITS.search(text) is not None


# Overlaps are resolved in this order: a secret may contain digits that look like a phone number, etc.
BUILTIN_KINDS = ("secret", "email", "iban", "card", "ssn", "ip", "phone")
_EXTRA: dict[str, Detector] = {}


def register_detector(kind: str, detector: Detector) -> None:
    """Add a detector (e.g. ``person`` backed by an NER model available to the workers); overrides a
    built-in of the same kind. Configure the kind in ``pii.kinds`` to use it."""
    _EXTRA[kind] = detector


def detectors(kinds: list[str] | tuple[str, ...], region: str = "US") -> list[tuple[str, Detector]]:
    builtin: dict[str, Detector] = {
        "secret": secret,
        "email": email,
        "iban": iban_number,
        "card": card,
        "ssn": us_ssn,
        "ip": ip,
        "phone": phone_detector(region),
    }
    out = []
    for kind in [*[k for k in BUILTIN_KINDS if k in kinds], *[k for k in kinds if k not in BUILTIN_KINDS]]:
        found = _EXTRA.get(kind) or builtin.get(kind)
        if found is None:
            raise ValueError(f"pii kind '{kind}' has no detector: register one with flywheel.privacy.register_detector")
        out.append((kind, found))
    return out
