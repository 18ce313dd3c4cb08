"""Bounded line reading: a line over the limit is reported by its size, never held whole."""

from __future__ import annotations

import io

from flywheel.records.lines import bounded_lines, skip_line


def lines(data: bytes, max_bytes: int, start: int = 0, end: int | None = None) -> list[bytes | int]:
    f = io.BufferedReader(io.BytesIO(data), buffer_size=64)
    f.seek(start)
    return list(bounded_lines(f, max_bytes, end))


def test_lines_within_the_limit_are_whole_with_their_newline() -> None:
    assert lines(b"ab\ncd\n\nef", 4) == [b"ab\n", b"cd\n", b"\n", b"ef"]
    assert lines(b"abcd\nabcde\n", 4) == [b"abcd\n", 5]  # the limit does not count the newline


def test_an_over_long_line_is_its_size_and_the_next_line_follows() -> None:
    data = b"ok\n" + b"x" * 200_000 + b"\nafter\n" + b"y" * 300_000
    assert lines(data, 100) == [b"ok\n", 200_000, b"after\n", 300_000]


def test_a_byte_range_ends_with_the_line_that_starts_before_its_end() -> None:
    data = b"aa\nbb\ncc\n"
    assert lines(data, 10, 0, 4) == [b"aa\n", b"bb\n"]
    assert lines(data, 10, 6, None) == [b"cc\n"]
    assert lines(b"a\n" + b"z" * 50 + b"\nb\n", 10, 0, 3) == [b"a\n", 50]


def test_skip_line_reads_past_a_huge_line() -> None:
    f = io.BytesIO(b"z" * 500_000 + b"\nnext\n")
    skip_line(f)
    assert f.readline() == b"next\n"
