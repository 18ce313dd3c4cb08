"""What an experiment step remembers between deferrals and tries: a small key/value store.

The Airflow adapter hands the task instance's ``task_state_store`` (it survives deferrals and retries of one
task instance); tests and other orchestrators use :class:`MemoryStore`. Values are JSON scalars.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias, runtime_checkable

Scalar: TypeAlias = str | int | float | bool | None


@runtime_checkable
class StateStore(Protocol):
    """The three calls the step makes (Airflow's task state store has them)."""

    def get(self, key: str) -> object: ...
    def set(self, key: str, value: Scalar) -> None: ...
    def delete(self, key: str) -> None: ...


class MemoryStore:
    """An in-process store (tests; a restart is a new step over the same store)."""

    def __init__(self) -> None:
        self.values: dict[str, Scalar] = {}

    def get(self, key: str) -> object:
        return self.values.get(key)

    def set(self, key: str, value: Scalar) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def read_str(store: StateStore, key: str) -> str | None:
    value = store.get(key)
    return str(value) if value is not None and value != "" else None


def read_float(store: StateStore, key: str) -> float | None:
    value = store.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(str(value))
    except ValueError:
        return None


def read_int(store: StateStore, key: str, default: int = 0) -> int:
    got = read_float(store, key)
    return int(got) if got is not None else default
