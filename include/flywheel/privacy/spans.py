"""What a detector returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class Span(NamedTuple):
    start: int
    end: int
    canonical: str  # the same value written differently gets the same placeholder within a record


Detector = Callable[[str], list[Span]]
