"""Test-side name for the managed-process helpers (they live in the product: ``flywheel.localstack``)."""

from flywheel.localstack.processes import ManagedProcess, free_port, http_ok, port_open

__all__ = ["ManagedProcess", "free_port", "http_ok", "port_open"]
