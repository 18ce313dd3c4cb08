"""Who keeps the shared embedding NIM alive: the per-run rule behind the last-run-out teardown."""

from __future__ import annotations

from flywheel.airflow.shared_nims import runs_using_embedder


def states(prepare: str | None, teardown: str | None) -> dict[str, str | None]:
    return {"prepare_embedder": prepare, "teardown_embedder": teardown}


def test_a_run_counts_from_prepare_scheduled_until_its_teardown_ends() -> None:
    runs = {
        "own": states("success", "running"),
        "not-started": states(None, None),
        "preparing": states("deferred", None),
        "prepare-queued": states("scheduled", None),
        "between-prepare-and-build": states("success", None),
        "tearing-down": states("success", "deferred"),
        "done": states("success", "success"),
        "teardown-failed": states("success", "failed"),
        "prepare-failed": states("failed", "success"),
        "skipped": states("skipped", "skipped"),
        "prepare-retrying": states("up_for_retry", None),
    }
    assert runs_using_embedder(runs, "own") == [
        "between-prepare-and-build",
        "prepare-queued",
        "prepare-retrying",
        "preparing",
        "tearing-down",
    ]


def test_own_run_never_counts_and_no_runs_means_last_out() -> None:
    assert runs_using_embedder({"own": states("success", None)}, "own") == []
    assert runs_using_embedder({}, "own") == []
