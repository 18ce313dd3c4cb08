"""Deterministic sample logs for demos, tests and benchmarks."""

from flywheel.sampledata.generator import DEFAULT_IDS, WORKLOAD_TYPES, generate, write

__all__ = ["DEFAULT_IDS", "WORKLOAD_TYPES", "generate", "write"]
