"""Which PII kind a JSON key (or a ``NAME=value`` label) announces: a value under such a key is redacted
whatever its form. Keys are split into lower-case parts on ``_ - .``, spaces and camelCase humps
(``DB_PASSWORD`` -> db, password; ``clientIp`` -> client, ip) and matched part by part, then as a whole with
the separators removed (``apiKey`` -> apikey, ``date_of_birth`` -> dateofbirth)."""

from __future__ import annotations

import re
from functools import lru_cache

# One part of the key is enough.
PART_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "password",
            "passwd",
            "pwd",
            "passphrase",
            "passcode",
            "secret",
            "token",
            "apikey",
            "credential",
            "credentials",
            "authorization",
            "cookie",
            "otp",
            "cvv",
            "cvc",
        ),
        "secret",
    ),
    "ssn": "ssn",
    "sin": "ssn",
    **dict.fromkeys(("email", "mail"), "email"),
    **dict.fromkeys(("phone", "mobile", "tel", "telephone", "fax", "msisdn", "cell"), "phone"),
    "iban": "iban",
    **dict.fromkeys(("card", "pan"), "card"),
    **dict.fromkeys(("dob", "birthday", "birthdate", "birth"), "dob"),
    **dict.fromkeys(("address", "street", "addr", "zip", "zipcode", "postcode", "postal"), "address"),
    **dict.fromkeys(("ip", "ipv4", "ipv6"), "ip"),
    **dict.fromkeys(("user", "username", "userid"), "user"),
    **dict.fromkeys(("surname", "firstname", "lastname", "fullname"), "person"),
}
# The whole key, separators removed.
WHOLE_KINDS: dict[str, str] = {
    **dict.fromkeys(
        ("apikey", "accesskey", "privatekey", "secretkey", "signingkey", "encryptionkey", "sessionid", "pin"),
        "secret",
    ),
    **dict.fromkeys(("socialsecuritynumber", "socialsecurity"), "ssn"),
    **dict.fromkeys(("creditcard", "cardnumber", "ccnumber"), "card"),
    **dict.fromkeys(("dateofbirth",), "dob"),
    **dict.fromkeys(("remoteaddr", "clientaddr"), "ip"),
    **dict.fromkeys(
        (
            "name",
            "firstname",
            "lastname",
            "fullname",
            "givenname",
            "familyname",
            "middlename",
            "customername",
            "contactname",
            "displayname",
            "recipient",
            "recipientname",
            "cardholder",
            "cardholdername",
            "holdername",
            "accountholder",
        ),
        "person",
    ),
}
# A part that decides before the others (``ip_address`` is an IP, ``email_address`` an e-mail).
_FIRST = ("secret", "email", "ip", "phone", "ssn", "card", "iban", "dob")
_HUMPS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[_\-.\s/]+")


@lru_cache(maxsize=16384)
def key_kind(key: str) -> str | None:
    """The kind a key announces, or None (``token_count``, ``max_tokens`` and ``order_id`` announce none)."""
    if not key or len(key) > 64:
        return None
    parts = [p for p in _SPLIT.split(_HUMPS.sub("_", key).lower()) if p]
    whole = "".join(parts)
    if whole in WHOLE_KINDS:
        return WHOLE_KINDS[whole]
    found = {PART_KINDS[p] for p in parts if p in PART_KINDS}
    if "key" in parts and parts.index("key") > 0 and parts[parts.index("key") - 1] in _KEY_OWNERS:
        found.add("secret")
    if not found:
        return None
    if found == {"secret"} and parts[-1] in _COUNTS:
        return None  # token_count, password_length, secret_version...
    for kind in _FIRST:
        if kind in found:
            return kind
    return sorted(found)[0]


_KEY_OWNERS = frozenset(("api", "access", "private", "secret", "signing", "encryption", "ssh", "master", "account"))
_COUNTS = frozenset(("count", "length", "len", "size", "limit", "version", "type", "expiry", "expires", "ttl"))
