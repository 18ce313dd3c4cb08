"""Write the golden digests of every case with whatever ``flywheel`` is importable (see the package doc)."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from flywheel.config import IclConfig, SplitConfig
from flywheel.datasets import BuildOptions, build_datasets
from tests.unit.datasets.golden.corpus import CASES

FILES = ("eval.jsonl", "train.jsonl", "val.jsonl", "icl.jsonl")


def run_case(name: str, work: Path) -> dict[str, Any]:
    corpus, workload_id, split, icl = CASES[name]
    src = corpus(work / f"{name}.jsonl")
    opts = BuildOptions(workload_id, None, "auto", SplitConfig(min_total_records=1, **split), IclConfig(**icl), 8192)
    out = work / name
    build_datasets(src, opts, out)
    digests = {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in FILES if (out / f).exists()}
    return {"files": digests, "stats": json.loads((out / "stats.json").read_text())}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = {name: run_case(name, Path(tmp)) for name in CASES}
    Path(sys.argv[1]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
