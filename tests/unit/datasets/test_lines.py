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


def test_the_es_loader_skips_an_over_long_line_and_names_where_a_gzip_breaks(tmp_path) -> None:
    import gzip
    import json
    from collections import Counter

    import pytest

    from flywheel.records.loader import UnreadableInput, _actions

    record = {"timestamp": 1, "workload_id": "w", "request": {}, "response": {}}
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps({**record, "pad": "x" * 5000}) + "\n")
    invalid: Counter[str] = Counter()
    assert len(list(_actions(path, "i", invalid, max_bytes=1024))) == 1
    assert invalid == {"record_too_large": 1}
    broken = tmp_path / "logs.jsonl.gz"
    whole = gzip.compress((json.dumps(record) + "\n").encode() * 5000)
    broken.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnreadableInput, match=r"cannot read past line \d+"):
        list(_actions(broken, "i", Counter()))
