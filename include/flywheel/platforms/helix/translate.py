"""The port's names as Helix names them.

- datasets: a Helix fileset per flywheel dataset; its reference ``ws/fileset`` is the dataset's
  ``files_url``, and ``ws/fileset/<file>`` (what the operators append) becomes ``ws/fileset#<file>``;
- jobs: named from the DAG's request id, which also rides in their ``custom_fields``.
"""

from __future__ import annotations

import re

from flywheel.platforms.helix.payloads import helix_name
from flywheel.platforms.marks import REQUEST_ID, WORKLOAD_TYPE

__all__ = ["REQUEST_ID", "WORKLOAD_TYPE", "file_ref", "fileset_name"]

FILE_REF = re.compile(r"^(?P<ws>[^/#:]+)/(?P<fileset>[^/#:]+)/(?P<path>[^#]+)$")


def fileset_name(dataset: str) -> str:
    return helix_name(dataset)


def file_ref(files_url: str) -> str:
    """``ws/fileset/<path>`` → ``ws/fileset#<path>`` (what Helix jobs take)."""
    m = FILE_REF.match(files_url)
    if m is None:
        raise ValueError(f"not a Helix fileset file reference (ws/fileset/<path>): {files_url!r}")
    return f"{m['ws']}/{m['fileset']}#{m['path']}"
