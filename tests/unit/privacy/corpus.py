"""A deterministic corpus of PII and secrets planted in every place a dataset line carries, with look-alikes
that must survive. Each record is a raw log line (tool-calling, OpenAI schema) with a list of what was
planted where: ``Plant(kind, value, place)``; ``look_alikes`` lists the strings that must be kept.

Values are generated, not copied from a list: valid checksums (Luhn cards, mod-97 IBANs), SSA-valid SSNs,
vendor key formats with random bodies, and several layouts of each."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from typing import Any

_ALNUM = string.ascii_letters + string.digits
_UPPER_DIGITS = string.ascii_uppercase + string.digits
GIVEN = ["Maria", "James", "Aisha", "Hiroshi", "Elena", "Robert", "Priya", "Lars", "Sophie", "Miguel", "Olga", "David"]
RARE_GIVEN = ["Zephyrine", "Thaddeus", "Ondine", "Bartholomew", "Ysolde", "Cassius"]
FAMILY = ["Gonzalez", "Whitaker", "Okafor", "Tanaka", "Novak", "Lindqvist", "Moreau", "Patel", "Brennan", "Kowalski"]
STREETS = ["Main", "Oak", "Maple", "Cedar", "Lakeview", "Washington", "Elm", "Sunset", "Pine Ridge", "Mill Creek"]
STREET_TYPES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Drive", "Court", "Way"]
CITIES = [
    ("Springfield", "IL", "62704"),
    ("Portland", "OR", "97205"),
    ("Austin", "TX", "78701"),
    ("Dayton", "OH", "45402"),
]


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)


def _iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


def _ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10000):04d}"


def email(rng: random.Random) -> str:
    user = rng.choice(["j.doe", "maria_g", "kim.lee+orders", "t.okafor", "support.team", "x9user"])
    domain = rng.choice(["example.com", "mail.example.org", "corp.example.co.uk", "example.io"])
    return f"{user}{rng.randrange(100)}@{domain}"


def phone(rng: random.Random) -> tuple[str, str]:
    """(value, how it is introduced in text): some layouts are phones only in context."""
    area, ex, line = rng.randrange(201, 990), rng.randrange(200, 1000), rng.randrange(10000)
    layouts = [
        (f"({area}) {ex}-{line:04d}", "{v}"),
        (f"{area}-{ex}-{line:04d}", "{v}"),
        (f"{area}.{ex}.{line:04d}", "{v}"),
        (f"+1 {area} {ex} {line:04d}", "{v}"),
        (f"+1{area}{ex}{line:04d}", "{v}"),
        (f"+44 20 {rng.randrange(7000, 8000)} {rng.randrange(1000, 10000)}", "{v}"),
        (f"+49 30 {rng.randrange(10000000, 99999999)}", "{v}"),
        (
            f"+33 1 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
            "{v}",
        ),
        (f"+91 {rng.randrange(70000, 99999)} {rng.randrange(10000, 99999)}", "{v}"),
        (f"0044 20 {rng.randrange(7000, 8000)} {rng.randrange(1000, 10000)}", "{v}"),
        (f"+1-{area}-{ex}-{line:04d}", "{v}"),
        (f"1-800-{ex}-{line:04d}", "dial {v}"),
        (f"+81 3-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}", "{v}"),
        (f"+49 (0)30 {rng.randrange(10000000, 99999999)}", "{v}"),
        (f"+61 2 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}", "{v}"),
        (f"555-01{rng.randrange(100):02d}", "call me at {v}"),
        (f"{area}{ex}{line:04d}", "my phone number is {v}"),
    ]
    return rng.choice(layouts)


def ssn(rng: random.Random) -> tuple[str, str]:
    s = _ssn(rng)
    return rng.choice(
        [
            (f"{s[:3]}-{s[3:5]}-{s[5:]}", "{v}"),
            (s, "my SSN is {v}"),
            (f"{s[:3]} {s[3:5]} {s[5:]}", "social security number: {v}"),
        ]
    )


def card(rng: random.Random) -> str:
    kind = rng.randrange(4)
    digits = (
        _luhn_complete("4", 16, rng)
        if kind == 0
        else _luhn_complete(rng.choice(["51", "52", "55"]), 16, rng)
        if kind == 1
        else _luhn_complete(rng.choice(["34", "37"]), 15, rng)
        if kind == 2
        else _luhn_complete("6011", 16, rng)
    )
    sep = rng.choice(["", " ", "-"])
    if len(digits) == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    return sep.join(digits[i : i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random) -> str:
    country = rng.choice(["DE", "GB", "FR", "NL"])
    if country == "DE":
        value = _iban("DE", _rand(rng, string.digits, 18))
    elif country == "GB":
        value = _iban("GB", _rand(rng, string.ascii_uppercase, 4) + _rand(rng, string.digits, 14))
    elif country == "FR":
        value = _iban(
            "FR", _rand(rng, string.digits, 10) + _rand(rng, _UPPER_DIGITS, 11) + _rand(rng, string.digits, 2)
        )
    else:
        value = _iban("NL", _rand(rng, string.ascii_uppercase, 4) + _rand(rng, string.digits, 10))
    if rng.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value.lower() if rng.random() < 0.3 else value


def ip(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    groups = [f"{rng.randrange(1, 65536):x}" for _ in range(6)]
    return "2001:db8:" + ":".join(groups) if rng.random() < 0.5 else "2001:db8::" + ":".join(groups[:2])


def secret(rng: random.Random) -> tuple[str, str]:
    aws_secret = _rand(rng, _ALNUM + "/+", 39) + rng.choice(string.digits)
    pem_body = "\n".join(_rand(rng, _ALNUM + "/+", 64) for _ in range(4))
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----"
    jwt = "eyJ" + _rand(rng, _ALNUM, 20) + ".eyJ" + _rand(rng, _ALNUM, 30) + "." + _rand(rng, _ALNUM + "-_", 43)
    choices = [
        ("AKIA" + _rand(rng, _UPPER_DIGITS, 16), "access key id {v}"),
        (aws_secret, "aws_secret_access_key={v}"),
        (aws_secret, "AWS secret key: {v}"),
        ("AIza" + _rand(rng, _ALNUM + "_-", 35), "google key {v}"),
        (_rand(rng, _ALNUM, 3) + "8Q~" + _rand(rng, _ALNUM + "_-", 34), "azure client secret {v}"),
        ("sk-proj-" + _rand(rng, _ALNUM, 40), "openai {v}"),
        ("sk-ant-api03-" + _rand(rng, _ALNUM + "-_", 60), "anthropic {v}"),
        ("ghp_" + _rand(rng, _ALNUM, 36), "{v}"),
        ("xoxb-" + _rand(rng, string.digits, 12) + "-" + _rand(rng, _ALNUM, 24), "slack {v}"),
        ("sk_live_" + _rand(rng, _ALNUM, 24), "stripe {v}"),
        ("hf_" + _rand(rng, _ALNUM, 34), "{v}"),
        (_rand(rng, _ALNUM + "._-", 32), "Authorization: Bearer {v}"),
        (jwt, "{v}"),
        (pem, "key:\n{v}"),
        (_rand(rng, _ALNUM, 24), "CLIENT_SECRET={v}"),
        (_rand(rng, _ALNUM + "!#%", 12), "DB_PASSWORD={v}"),
        ("ghp_" + _rand(rng, _ALNUM, 36), "GITHUB_TOKEN={v}"),
        (_rand(rng, string.ascii_lowercase, 6) + str(rng.randrange(10, 99)) + "!x", "password: {v}"),
        (_rand(rng, string.ascii_lowercase, 7) + str(rng.randrange(100, 999)), "my password is {v}"),
        (_rand(rng, string.ascii_letters, 8) + str(rng.randrange(1000, 9999)) + "!", "the password for the vpn is {v}"),
        ("sk-" + _rand(rng, _ALNUM, 48), "export OPENAI_API_KEY={v}"),
        (_rand(rng, "0123456789abcdef", 32), "x-api-key: {v}"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + pem_body + "\n-----END OPENSSH PRIVATE KEY-----", "{v}"),
    ]
    return rng.choice(choices)


def dob(rng: random.Random) -> tuple[str, str]:
    y, m, d = rng.randrange(1940, 2005), rng.randrange(1, 13), rng.randrange(1, 29)
    month = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"][m % 10]
    return rng.choice(
        [
            (f"{y}-{m:02d}-{d:02d}", "DOB: {v}"),
            (f"{m:02d}/{d:02d}/{y}", "date of birth {v}"),
            (f"{month} {d}, {y}", "I was born on {v}"),
            (f"{d:02d}.{m:02d}.{y}", "birthday: {v}"),
            (f"{month} {d}th, {y}", "birthday {v}"),
        ]
    )


def person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(GIVEN), rng.choice(FAMILY)
    rare = rng.choice(RARE_GIVEN)
    return rng.choice(
        [
            (f"{first} {last}", "my name is {v}"),
            (f"{rare} {last}", "My name is {v}"),
            (f"{first} {last}", "this is {v} from accounting"),
            (f"{last}", "Dear Mr. {v},"),
            (f"{rare} {last}", "Regards,\n{v}"),
            (f"{first} {last}", "{v} asked about it"),
            (f"{first.lower()} {last.lower()}", "hi, my name is {v}"),
            (f"{rare} {last}", "I'm {v} and I need help"),
            (f"{first} O'{last}", "please ask {v}"),
            (f"{first} {last}-{rng.choice(FAMILY)}", "{v} wrote"),
            (f"{first} {last}", "Customer {v} called"),
        ]
    )


def address(rng: random.Random) -> str:
    number = rng.randrange(1, 9999)
    street, kind = rng.choice(STREETS), rng.choice(STREET_TYPES)
    city, state, zipcode = rng.choice(CITIES)
    return rng.choice(
        [
            f"{number} {street} {kind}",
            f"{number} {street} {kind}, Apt {rng.randrange(1, 40)}{rng.choice('ABC')}",
            f"{number} {street} {kind}, {city}, {state} {zipcode}",
            f"{number} {street} {kind} NW, {city}, {state} {zipcode}",
            f"{rng.randrange(1, 99)} rue de la {rng.choice(['Paix', 'Gare', 'Fontaine'])}",
            f"P.O. Box {rng.randrange(10, 9999)}",
            f"{rng.choice(['Haupt', 'Linden', 'Goethe'])}straße {rng.randrange(1, 200)}",
        ]
    )


def user_id(rng: random.Random) -> str:
    return rng.choice([f"user-{_rand(rng, string.hexdigits.lower(), 10)}", email(rng), f"cust_{rng.randrange(10**8)}"])


GENERATORS = {
    "email": lambda r: (email(r), "{v}"),
    "phone": phone,
    "ssn": ssn,
    "card": lambda r: (card(r), "{v}"),
    "iban": lambda r: (iban(r), "{v}"),
    "ip": lambda r: (ip(r), "from {v}"),
    "secret": secret,
    "dob": dob,
    "person": person,
    "address": lambda r: (address(r), "ship to {v}"),
}
KEY_FOR = {
    "email": "email",
    "phone": "phone",
    "ssn": "ssn",
    "card": "card_number",
    "iban": "iban",
    "ip": "client_ip",
    "secret": "password",
    "dob": "date_of_birth",
    "person": "full_name",
    "address": "shipping_address",
}


# ------------------------------------------------------------------------------------------- look-alikes
def look_alike(rng: random.Random) -> str:
    y, m, d = rng.randrange(2019, 2027), rng.randrange(1, 13), rng.randrange(1, 29)
    hexs = string.hexdigits.lower()[:16]
    uuid = "-".join(_rand(rng, hexs, n) for n in (8, 4, 4, 4, 12))
    return rng.choice(
        [
            uuid,
            f"{y}-{m:02d}-{d:02d}",
            f"{m:02d}/{d:02d}/{y}",
            f"{y}-{m:02d}-{d:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
            str(1_600_000_000 + rng.randrange(10**8)),
            f"v{rng.randrange(1, 20)}.{rng.randrange(30)}.{rng.randrange(30)}",
            f"{rng.randrange(1, 20)}.{rng.randrange(30)}.{rng.randrange(30)}",
            f"${rng.randrange(1, 2000)}.{rng.randrange(100):02d}",
            f"€{rng.randrange(1, 99)},{rng.randrange(100, 999)}.{rng.randrange(100):02d}",
            f"ORD-{y}-{rng.randrange(10**6):06d}",
            f"#{rng.choice('ABCD')}-{rng.randrange(10000, 99999)}",
            f"order {rng.randrange(10**6):06d}",
            f"ticket {rng.randrange(10**7, 10**8)}",
            f"id {rng.randrange(10**10, 10**12)}",
            rng.choice(["meta/llama-3.3-70b-instruct", "gpt-4o-2024-08-06", "nvidia/llama-3.2-nv-embedqa-1b-v2"]),
            f"port {rng.randrange(1024, 65535)}",
            f"HTTP {rng.choice([200, 404, 503])}",
            f"{rng.randrange(1, 500)} items",
            f"chatcmpl-{_rand(rng, _ALNUM, 12)}",
            f"build {rng.randrange(1000, 9999)}.{rng.randrange(10)}",
            f"{rng.randrange(1, 99)}.{rng.randrange(10, 99)} kg",
        ]
    )


# ------------------------------------------------------------------------------------------------ records
@dataclass
class Plant:
    kind: str
    value: str
    place: str


@dataclass
class Example:
    record: dict[str, Any]
    plants: list[Plant] = field(default_factory=list)
    look_alikes: list[str] = field(default_factory=list)


PLACES = (
    "system message",
    "user message",
    "user content part",
    "assistant history message",
    "tool result",
    "tool result (JSON, keyed)",
    "response message",
    "tool-call arguments (keyed)",
    "tool-call arguments (free text)",
    "history tool-call arguments (keyed)",
    "request.user",
    "request.metadata (keyed)",
    "request.metadata (free text)",
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "update_customer",
            "description": "Update a customer record",
            "parameters": {"type": "object", "properties": {"note": {"type": "string"}}},
        },
    }
]


def _base(i: int) -> dict[str, Any]:
    return {
        "timestamp": 1_700_000_000 + i,
        "workload_id": "privacy",
        "client_id": "corpus",
        "request": {
            "model": "meta/llama-3.3-70b-instruct",
            "tools": TOOLS,
            "messages": [
                {"role": "system", "content": "You are the support assistant of an online shop."},
                {"role": "user", "content": f"Please update my account (request {i})."},
            ],
        },
        "response": {
            "id": f"chatcmpl-{i}",
            "object": "chat.completion",
            "model": "meta/llama-3.3-70b-instruct",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": f"call_{i}",
                                "type": "function",
                                "function": {"name": "update_customer", "arguments": json.dumps({"note": "ok"})},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        },
    }


def _history(rec: dict[str, Any], args: dict[str, Any], result: str) -> None:
    rec["request"]["messages"] += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "h1", "type": "function", "function": {"name": "update_customer", "arguments": json.dumps(args)}}
            ],
        },
        {"role": "tool", "tool_call_id": "h1", "name": "update_customer", "content": result},
    ]


def _plant(rec: dict[str, Any], kind: str, value: str, text: str, place: str, la: str) -> None:
    msgs = rec["request"]["messages"]
    call = rec["response"]["choices"][0]["message"]["tool_calls"][0]["function"]
    key = KEY_FOR.get(kind, "user")
    if place == "system message":
        msgs[0]["content"] += f" Escalations: {text}. Reference {la}."
    elif place == "user message":
        msgs[1]["content"] += f" {text}, see {la}."
    elif place == "user content part":
        msgs[1]["content"] = [
            {"type": "text", "text": msgs[1]["content"]},
            {"type": "text", "text": f"Also: {text} ({la})"},
        ]
    elif place == "assistant history message":
        msgs.insert(2, {"role": "assistant", "content": f"Noted {text} for {la}."})
        msgs.insert(3, {"role": "user", "content": "Thanks."})
    elif place == "tool result":
        _history(rec, {"note": la}, f"Customer record: {text}; updated {la}.")
    elif place == "tool result (JSON, keyed)":
        _history(rec, {"note": la}, json.dumps({"status": "ok", key: value, "ref": la}))
    elif place == "response message":
        rec["response"]["choices"][0] = {
            "index": 0,
            "message": {"role": "assistant", "content": f"I have updated it with {text} ({la})."},
            "finish_reason": "stop",
        }
    elif place == "tool-call arguments (keyed)":
        call["arguments"] = json.dumps({key: value, "note": la})
    elif place == "tool-call arguments (free text)":
        call["arguments"] = json.dumps({"note": f"customer gave {text} on {la}"})
    elif place == "history tool-call arguments (keyed)":
        _history(rec, {key: value, "note": la}, "updated")
    elif place == "request.user":
        rec["request"]["user"] = value
        msgs[1]["content"] += f" ({la})"
    elif place == "request.metadata (keyed)":
        rec["request"]["metadata"] = {key: value, "ref": la}
    elif place == "request.metadata (free text)":
        rec["request"]["metadata"] = {"notes": f"{text} - {la}", "session": {"ref": la}}


def corpus(n: int, seed: int = 7) -> list[Example]:
    """``n`` records; record i plants one value of kind i mod 10 in place (i // 10) mod 13 (each kind meets
    each place), plus one look-alike next to it and one in the user message."""
    rng = random.Random(seed)
    kinds = list(GENERATORS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        place = PLACES[(i // len(kinds)) % len(PLACES)]
        if place == "request.user":
            kind = "user"
            value = user_id(rng)
            text = value
        else:
            value, template = GENERATORS[kind](rng)
            text = template.format(v=value)
        rec = _base(i)
        la, la2 = look_alike(rng), look_alike(rng)
        _plant(rec, kind, value, text, place, la)
        msgs = rec["request"]["messages"]
        if isinstance(msgs[1]["content"], str):
            msgs[1]["content"] += f" My reference is {la2}."
        else:
            msgs[1]["content"].append({"type": "text", "text": f"My reference is {la2}."})
        out.append(Example(rec, [Plant(kind, value, place)], [la, la2]))
    return out


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value, tool-call arguments given as JSON text included as they are."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)] + [k for k in value if isinstance(k, str)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)]
    return []


def leaks(value: str, texts: list[str]) -> bool:
    """Whether ``value`` survives in any of ``texts``, as written or JSON-escaped (arguments kept as text)."""
    escaped = json.dumps(value)[1:-1]
    return any(value in t or escaped in t for t in texts)
