"""PII detection and redaction of log records before they become datasets (no Airflow, no network).

Detection is candidate patterns + validation by maintained libraries, the approach of Presidio's pattern
recognizers without its spaCy dependency: ``phonenumbers`` (Google's libphonenumber metadata) decides what
is a phone number, ``python-stdnum`` checks card numbers (Luhn), IBANs (ISO 13616 mod-97, per-country
length) and US SSNs (SSA rules), the standard library's ``ipaddress`` checks IP addresses, and secrets are
the published token formats of major providers plus ``Bearer`` headers and ``api_key=...`` assignments.
Person names need an NER model, which this package does not ship: register one with
:func:`register_detector` (kind ``person``) to enable it.
"""

from flywheel.privacy.detectors import BUILTIN_KINDS, Detector, Span, detectors, register_detector
from flywheel.privacy.redact import Redactor

__all__ = ["BUILTIN_KINDS", "Detector", "Redactor", "Span", "detectors", "register_detector"]
