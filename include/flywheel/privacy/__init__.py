"""PII and secret detection and redaction of log records before they become datasets (no Airflow, no network).

Every string of a record is visited except a short allowlist of structural fields
(:data:`flywheel.privacy.redact.STRUCTURAL`); values under sensitive keys are replaced whatever their form
(:mod:`flywheel.privacy.keys`); other strings go through pattern detectors validated by maintained libraries
where a check exists (``phonenumbers``, ``python-stdnum``, ``ipaddress``), secret formats of cloud and
vendor keys, and rules for person names and street addresses (:mod:`flywheel.privacy.names`). An NER model
can replace the ``person`` rules: :func:`register_detector`. What is covered and measured: docs/privacy.md.
"""

from flywheel.privacy.detectors import BUILTIN_KINDS, register_detector
from flywheel.privacy.detectors import detectors as detectors
from flywheel.privacy.redact import Redactor
from flywheel.privacy.spans import Detector, Span

__all__ = ["BUILTIN_KINDS", "Detector", "Redactor", "Span", "detectors", "register_detector"]
