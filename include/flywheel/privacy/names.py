"""Person names and street addresses by rules, not a model.

An NER model (spaCy, a BERT tagger) would cost tens to hundreds of microseconds per string and a large
dependency, against a budget of a few microseconds per record; these rules cost one regex search on most
strings. A name is taken where the text announces it: "my name is …", "I'm …", "this is …", "call me …",
an honorific (Mr, Mrs, Ms, Dr, …), a sign-off ("Regards, …"), or a common first name followed by a
capitalised word ("Maria Gonzalez"). A street address is a house number, one to four words and a street
type ("123 Main St", "4 rue …" is not covered), with an optional unit and ", City, ST 12345"; also
"P.O. Box 12" and German "…straße 5". Names that nothing announces ("ask Zephyrine") are missed: the
recall figures in docs/privacy.md say how often on the test corpus. Keyed values (``"name": …``,
``address=…``) are caught by the key, not here.
"""

from __future__ import annotations

import re

from flywheel.privacy.spans import Span


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Common given names (US and European), used only as "given name + capitalised surname" and after cues.
_GIVEN_SET = _words(
    "James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony "
    "Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan "
    "Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander "
    "Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Douglas Zachary Peter Kyle "
    "Noah Ethan Jeremy Walter Christian Keith Roger Terry Austin Sean Gerald Carl Harold Dylan Arthur Lawrence "
    "Jordan Jesse Bryan Billy Bruce Gabriel Joe Logan Albert Willie Alan Eugene Russell Vincent Philip Bobby "
    "Johnny Bradley Liam Lucas Oliver Elijah Mason Leo Hans Klaus Jan Luca Marco Pierre Jean Carlos Juan Luis "
    "Miguel Pedro Ahmed Mohammed Ali Omar Raj Arjun Wei Hiroshi Kenji Ivan Dmitri Sven Lars "
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Margaret Sandra "
    "Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah Stephanie Rebecca Sharon Laura "
    "Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma Nicole Helen Samantha Katherine Christine "
    "Debra Rachel Carolyn Janet Catherine Maria Heather Diane Ruth Julie Olivia Joyce Virginia Victoria Kelly "
    "Lauren Christina Joan Evelyn Judith Megan Andrea Cheryl Hannah Jacqueline Martha Gloria Teresa Ann Sara "
    "Madison Frances Kathryn Janice Jean Abigail Alice Julia Judy Sophia Grace Denise Amber Doris Marilyn "
    "Danielle Beverly Isabella Theresa Diana Natalie Brittany Charlotte Marie Kayla Alexis Lori Ava Mia Chloe "
    "Zoe Lily Sofia Elena Lucia Giulia Claire Sophie Camille Ingrid Astrid Priya Ananya Mei Yuki Aisha Fatima "
    "Olga Natasha Eva Nina Clara Alex Sam Chris Pat Jamie Taylor Morgan Casey Bob Jim Tom Mike Dave Steve Bill"
)
# Capitalised words that follow "I'm" / "this is" without being names.
_NOT_NAMES = _words(
    "A An The I It This That Here There Sorry Happy Glad Not Still Just Also Very So Really Going Looking "
    "Trying Calling Writing Interested Unable Back Your Our My His Her Their Order Ticket Customer Support "
    "Team Service Hello Hi Hey Thanks Thank Please Yes No Ok Okay Fine Good Great Sure Monday Tuesday "
    "Wednesday Thursday Friday Saturday Sunday January February March April May June July August "
    "September October November December Mr Mrs Ms Dr Prof Regards Best Cheers Sincerely Kind From With "
    "And Or But In On At To For Of By About Calling Waiting New Old Urgent Re Fwd Account Refund Order "
    "Premium Gold Silver Basic Admin Manager Agent Bot Assistant Visa Mastercard Amex Apple Google Amazon"
)
_CAP = r"[A-Z][a-z'’-]+(?:-[A-Z][a-z'’-]+)?"
_CUE = re.compile(
    r"(?:\b(?i:my name is|my name's|name is|i am|i'm|this is|call me|it's|signed|regards|sincerely|cheers|"
    r"thanks|thank you|best|yours|customer|from|dear|hi|hello|contact)[,:!.]?\s+)"
    r"(" + _CAP + r"(?:\s+" + _CAP + r"){0,2})"
)
_LOWER_CUE = re.compile(r"(?i)\bmy name is\s+([a-z'’-]+(?:\s+[a-z'’-]+)?)")
_HONORIFIC = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Mme|Mlle|Herr|Frau|Sr|Sra)\.?\s+(" + _CAP + r"(?:\s+" + _CAP + r"){0,2})"
)
_GIVEN_SURNAME = re.compile(r"\b(" + "|".join(sorted(_GIVEN_SET, key=len, reverse=True)) + r")\s+(" + _CAP + r")\b")
_LOWER_STOP = _words("and but i im from with at in on for to the a an is was please thanks calling")

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|"
    "Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Close|Row|Alley|Plaza|Loop|Path|Pike|Ridge"
)
_ADDRESS = re.compile(
    r"\b\d{1,6}[A-Za-z]?,?\s+(?:(?:[NSEW]|North|South|East|West)\.?\s+)?(?:[A-Z0-9][A-Za-z0-9'’.-]*\s+){0,3}"
    r"(?i:" + _STREET_TYPES + r")\b\.?"
    r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|floor|fl|#)\.?\s*#?[A-Za-z0-9-]+)?"
    r"(?:,\s*[A-Z][A-Za-z .'’-]{1,30},\s*[A-Z]{2}(?:\s+\d{5}(?:-\d{4})?)?)?"
    r"|\b(?i:p\.?\s?o\.?\s+box)\s+\d{1,6}"
    r"|\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)\s+\d{1,4}[a-z]?\b"
)
_ADDRESS_HINT = re.compile(r"\d[A-Za-z]?,?\s+\S|(?i:box)|(?:straße|strasse|str\.|weg|gasse|platz|allee)")


def person(text: str) -> list[Span]:
    out: list[Span] = []
    for m in _CUE.finditer(text):
        words = m.group(1).split()
        if words[0] in _NOT_NAMES:
            continue
        while words and words[-1] in _NOT_NAMES:
            words.pop()
        if not words:
            continue
        cue = m.group(0)[: m.start(1) - m.start()].strip().lower().rstrip(",:!.")
        if cue in _WEAK_CUES and words[0] not in _GIVEN_SET and len(words) < 2:
            continue  # "from Berlin", "hi Team": only a known given name or two capitalised words
        if cue in _WEAK_CUES and words[0] not in _GIVEN_SET and cue in _PLACE_CUES:
            continue  # "from New York"
        end = m.start(1) + len(" ".join(words))
        out.append(Span(m.start(1), end, text[m.start(1) : end].lower()))
    for m in _LOWER_CUE.finditer(text):
        words = []
        for w in m.group(1).split():
            if w.lower() in _LOWER_STOP:
                break
            words.append(w)
        if words:
            end = m.start(1) + len(" ".join(words))
            out.append(Span(m.start(1), end, text[m.start(1) : end].lower()))
    for m in _HONORIFIC.finditer(text):
        out.append(Span(m.start(1), m.end(1), m.group(1).lower()))
    for m in _GIVEN_SURNAME.finditer(text):
        if m.group(2) not in _NOT_NAMES:
            out.append(Span(m.start(), m.end(), m.group().lower()))
    return out


_WEAK_CUES = frozenset(("from", "customer", "hi", "hello", "dear", "best", "thanks", "contact", "it's", "yours"))
_PLACE_CUES = frozenset(("from",))


def address(text: str) -> list[Span]:
    if not _ADDRESS_HINT.search(text):
        return []
    return [Span(m.start(), m.end(), m.group().lower()) for m in _ADDRESS.finditer(text)]
