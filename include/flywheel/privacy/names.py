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
_GIVEN_SET |= _words(
    "Aaron Adrian Aimee Alejandro Alexandra Alicia Allen Allison Alyssa Andre Angel Angelica Anita Anne Antonio "
    "Ariel Ashlee Audrey Becky Belinda Ben Bernard Beth Bethany Bianca Blake Bonnie Brad Brandi Brandy Brendan "
    "Brent Brett Briana Brianna Bridget Brittney Brooke Caitlin Caleb Calvin Cameron Candace Carla Carmen "
    "Caroline Carrie Cassandra Cathy Chad Charlene Chelsea Christy Cindy Clarence Claudia Clayton Clifford "
    "Clinton Cody Colin Colleen Connie Connor Corey Cory Courtney Craig Cristina Curtis Dale Dalton Dana Danny "
    "Darlene Darren Darrell Darryl Deanna Debbie Derek Derrick Devin Dominic Dominique Don Duane Dustin Dwayne "
    "Earl Ebony Eddie Edgar Eduardo Edwin Elaine Eleanor Ellen Erica Erik Erika Erin Ernest Evan Felicia "
    "Fernando Francis Francisco Gabriela Gabrielle Gail Gavin Gene Geoffrey Gina Glen Glenda Glenn Gordon Greg "
    "Haley Harry Hayden Heidi Holly Howard Ian Isaac Isabel Jackie Jackson Jaime Jane Janet Jared Jasmine "
    "Javier Jeanette Jeffery Jenna Jenny Jeremiah Jerome Jill Jillian Jimmy Joanna Joanne Jodi Jody Joel "
    "Johnathan Jon Jorge Julian Kaitlyn Kara Kari Karina Karl Katelyn Kathy Katie Katrina Kelli Kellie Kelsey "
    "Ken Kendra Kerry Kim Kristen Kristi Kristin Kristina Kristine Kristy Krystal Kurt Lacey Laurie Leah "
    "Leonard Leslie Lindsay Lindsey Louis Luke Lynn Makayla Mallory Mandy Marc Marcia Marcus Mariah Mario "
    "Marissa Marvin Meghan Melanie Melinda Melvin Meredith Michaela Michele Mindy Miranda Mitchell Molly "
    "Monica Monique Nathaniel Neil Norma Oscar Pam Paula Peggy Philip Phillip Priscilla Rachael Ralph Randall "
    "Randy Regina Renee Rhonda Ricardo Ricky Riley Rita Roberta Roberto Robin Rodney Ronnie Ross Roy Ruben "
    "Sabrina Sergio Seth Shane Shannon Shari Shawn Shawna Sheila Shelby Shelley Sherri Sherry Stacey Stacy "
    "Stanley Sue Suzanne Sylvia Tabitha Tamara Tammy Tanner Tanya Tara Terri Theodore Tiffany Tina Todd Tommy "
    "Toni Tony Tonya Tracey Traci Tracy Travis Trevor Tricia Troy Tyrone Valerie Vanessa Veronica Vicki Vickie "
    "Victor Wanda Wayne Wendy Wesley Whitney Xavier Yesenia Yolanda Yvonne Ahmad Hassan Hussein Yusuf Mustafa "
    "Ibrahim Khalid Tariq Layla Noor Amir Reza Ravi Vijay Sanjay Rahul Amit Anil Deepak Sunil Neha Pooja Anjali "
    "Kavya Li Ming Jun Hao Xin Yan Lei Chen Hiro Takashi Yuto Sakura Haruka Min Ji Seo Hyun Minh Linh Thanh "
    "Mateo Santiago Diego Alejandra Valentina Camila Lucas Gabriel Rafael Joao Francesca Giuseppe Alessandro "
    "Matteo Chiara Anke Jens Jurgen Uwe Katrin Petra Sabine Ingo Bjorn Erik Nils Anders Sofie Freya Anja Pieter "
    "Sven Tomasz Piotr Katarzyna Agnieszka Jakub Marek Ondrej Pavel Andrei Sergei Alexei Nikolai Tatiana "
    "Svetlana Oksana Irina Yuri Emeka Chinedu Ngozi Oluwaseun Kwame Kofi Amara Zanele Thabo Sipho"
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
_CAP = r"[A-Z](?:[a-z]+(?:['’-]?[A-Z]?[a-z]+)*|['’][A-Z][a-z]+)"  # Smith, Johnson-Lee, McDonald, O'Brien
_AFTER_CUE = re.compile(r"[,:!.]?\s+(" + _CAP + r"(?:[ \t]+" + _CAP + r"){0,2})")
_AFTER_NAME_IS = re.compile(r"[,:]?\s+([A-Za-z'’-]+(?:[ \t]+[A-Za-z'’-]+)?)")
_NEXT_CAP = re.compile(r"[ \t]+(" + _CAP + r")")
_LOWER_STOP = _words("and but i im from with at in on for to the a an is was please thanks calling")
_CUES = (  # longest first: the first that ends the text before a capitalised word is the cue
    *("my name is", "my name's", "thank you", "sincerely", "this is", "call me", "name is", "regards"),
    *("customer", "contact", "signed", "cheers", "thanks", "hello", "yours", "i'm", "i am", "it's", "dear"),
    *("best", "from", "hi"),
)
_WEAK_CUES = _words("from customer hi hello dear best thanks contact it's yours")
_PLACE_CUES = _words("from")
_HONORIFICS = _words("Mr Mrs Ms Miss Mx Dr Prof Sir Madam Mme Mlle Herr Frau Sr Sra")
_CAPWORD = re.compile(r"[A-Z][a-z'’-]+")
_CUE_PUNCT = " \t\n,:!."

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|"
    "Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Close|Row|Alley|Plaza|Loop|Path|Pike|Ridge"
)
_ADDRESS = re.compile(  # no leading \b (it would disable the first-character scan): checked after
    r"\d{1,6}[A-Za-z]?,?\s+(?:(?:[NSEW]|North|South|East|West)\.?\s+)?(?:[A-Z0-9][A-Za-z0-9'’.-]*\s+){0,3}"
    r"(?i:" + _STREET_TYPES + r")\b\.?(?:\s+(?:NE|NW|SE|SW|N|S|E|W)\b\.?)?"
    r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|floor|fl|#)\.?\s*#?[A-Za-z0-9-]+)?"
    r"(?:,\s*[A-Z][A-Za-z.'’-]+(?:\s[A-Z][A-Za-z.'’-]+)?(?:,\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?)?"
)
_ROMANCE_TYPES = "rue|avenue|av\\.|boulevard|bd|place|chemin|impasse|quai|calle|via|viale|piazza|corso|avenida|rua"
_ADDRESS_ROMANCE = re.compile(
    r"\d{1,4}(?:\s?bis)?,?\s+(?i:" + _ROMANCE_TYPES + r")\s+(?:(?:de|du|des|la|le|del|della|di|da|do|d['’])\s*){0,2}"
    r"[A-ZÀ-Ý][\w'’-]+(?:\s+[A-ZÀ-Ý][\w'’-]+){0,3}"
)
_PO_BOX = re.compile(r"(?i)\bp\.?\s?o\.?\s+box\s+\d{1,6}")
_GERMAN = re.compile(r"[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)\s+\d{1,4}[a-z]?\b")
_STREET_SET = frozenset(_STREET_TYPES.lower().split("|"))
_ROMANCE_SET = frozenset(t.replace("\\", "") for t in _ROMANCE_TYPES.split("|"))
_STREET_WORDS = frozenset(w + p for w in _STREET_SET for p in ("", ",", ".", ";", ":", ")", "!", "?", ".,"))
_ADDRESS_HINT = re.compile(
    r"\d[A-Za-z]?,?\s+(?:[NSEW]\.?\s+)?(?:[A-Z]|\d+(?:st|nd|rd|th)\s|(?:" + _ROMANCE_TYPES + r")\s)"
)
_ADDRESS_WORDS = ("straße", "strasse", "str.", "weg ", "gasse", "platz", "allee", "ring ", "damm")


def person(text: str, low: str | None = None) -> list[Span]:
    """One pass over the capitalised words: a given name or an honorific before another one, or a cue
    ("my name is", "regards", ...) just before one."""
    out: list[Span] = []
    low = text.lower() if low is None else low
    for m in _CAPWORD.finditer(text):
        start, end = m.span()
        word = m.group()
        nxt = (  # the next capitalised word, looked for only after a given name or an honorific
            _NEXT_CAP.match(text, end + (text[end : end + 1] == "."))
            if word in _GIVEN_SET or word in _HONORIFICS
            else None
        )
        if nxt is not None and nxt.group(1) not in _NOT_NAMES:
            if word in _HONORIFICS:  # "Mr. Smith", "Dr Jane Doe"
                start, end = nxt.span(1)
                more = _NEXT_CAP.match(text, end)
                if more is not None and more.group(1) not in _NOT_NAMES:
                    end = more.end(1)
            else:  # "Maria Gonzalez"
                end = nxt.end(1)
            out.append(Span(start, end, text[start:end].lower()))
            continue
        window = low[max(0, start - 16) : start]
        before = window.rstrip(_CUE_PUNCT)
        if before.endswith(_CUES):
            cue = next(c for c in _CUES if before.endswith(c))
            cue_start = start - len(window) + len(before) - len(cue)
            if cue_start == 0 or not low[cue_start - 1].isalnum():
                span = _after_cue(text, cue, cue_start + len(cue))
                if span is not None:
                    out.append(span)
    if "name is" in low or "name's" in low:  # "my name is john smith": lower case
        for cue in ("my name is", "my name's", "name is"):
            i = low.find(cue)
            if i >= 0:
                span = _after_cue(text, cue, i + len(cue))
                if span is not None:
                    out.append(span)
                break
    return out


def _after_cue(text: str, cue: str, at: int) -> Span | None:
    m = _AFTER_CUE.match(text, at)
    if m is None:
        if cue.endswith("name is"):  # "my name is john smith"
            lower = _AFTER_NAME_IS.match(text, at)
            if lower:
                words = []
                for w in lower.group(1).split():
                    if w.lower() in _LOWER_STOP:
                        break
                    words.append(w)
                if words:
                    end = lower.start(1) + len(" ".join(words))
                    return Span(lower.start(1), end, text[lower.start(1) : end].lower())
        return None
    words = m.group(1).split()
    if words[0] in _NOT_NAMES:
        return None
    while words and words[-1] in _NOT_NAMES:
        words.pop()
    if cue in _WEAK_CUES and words[0] not in _GIVEN_SET and (len(words) < 2 or cue in _PLACE_CUES):
        return None  # "from Berlin", "hi Team": only a known given name or two capitalised words
    end = m.start(1) + len(" ".join(words))
    return Span(m.start(1), end, text[m.start(1) : end].lower())


def address(text: str, low: str | None = None) -> list[Span]:
    out = []
    low = text.lower() if low is None else low
    words = low.split()
    street, romance = not _STREET_WORDS.isdisjoint(words), not _ROMANCE_SET.isdisjoint(words)
    if (street or romance) and _ADDRESS_HINT.search(text) is not None:  # a number before a word
        if street:
            for m in _ADDRESS.finditer(text):
                if m.start() == 0 or not text[m.start() - 1].isalnum():
                    out.append(Span(m.start(), m.end(), m.group().lower()))
        if romance:
            out += [Span(m.start(), m.end(), m.group().lower()) for m in _ADDRESS_ROMANCE.finditer(text)]
    if "box" in text or "Box" in text or "BOX" in text:
        out += [Span(m.start(), m.end(), m.group().lower()) for m in _PO_BOX.finditer(text)]
    for w in _ADDRESS_WORDS:
        if w in text:
            out += [Span(m.start(), m.end(), m.group().lower()) for m in _GERMAN.finditer(text)]
            break
    return out
