"""Datasets from production logs: validation, dedup, workload type, stratified split, ICL, formats."""

from flywheel.datasets.icl import ICL_HEADER, Embedder
from flywheel.datasets.pipeline import BuildOptions, BuildResult, DatasetError, build_datasets

__all__ = ["ICL_HEADER", "BuildOptions", "BuildResult", "DatasetError", "Embedder", "build_datasets"]
