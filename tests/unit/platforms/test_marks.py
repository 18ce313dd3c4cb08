"""Owner marks: the one place they are formatted, parsed and matched (flywheel.platforms.marks)."""

from __future__ import annotations

from flywheel.platforms.marks import (
    DESCRIPTION_PREFIX,
    JobMark,
    OwnerMark,
    is_candidate,
    is_own_candidate,
    mark_text,
    owner_of,
    read_marks,
    role_of,
    run_key,
)


def test_a_candidate_mark_round_trips_through_custom_fields() -> None:
    mark = OwnerMark.candidate(run_key("flywheel_tools", "manual__1"), 2)
    fields = mark.fields()
    assert fields == {
        "flywheel_role": "candidate",
        "flywheel_run": "flywheel_tools/manual__1",
        "flywheel_map_index": "2",
    }
    assert OwnerMark.read(fields) == mark
    assert OwnerMark.read({**fields, "flywheel_map_index": "-1"}) == OwnerMark.candidate(mark.run, -1)
    assert OwnerMark("judge", "d/r").fields() == {"flywheel_role": "judge", "flywheel_run": "d/r"}


def test_only_the_owning_run_owns_its_candidate() -> None:
    fields = OwnerMark.candidate("d/r1", 0).fields()
    assert is_candidate(fields) and is_own_candidate(fields, "d/r1")
    assert not is_own_candidate(fields, "d/r2")
    judge = OwnerMark("judge", "d/r1").fields()
    assert not is_candidate(judge) and not is_own_candidate(judge, "d/r1") and role_of(judge) == "judge"
    assert OwnerMark.read({}) is None and OwnerMark.read(None) is None and not is_candidate({"other": "x"})
    assert owner_of(fields) == "d/r1" and owner_of({}) == "?"


def test_job_marks_tell_experiments_and_runs_apart() -> None:
    mark = JobMark("tools", "manual__1", 3)
    fields = mark.fields()
    assert fields == {"flywheel_workload": "tools", "flywheel_run": "manual__1-3"}
    assert JobMark.is_job_mark(fields) and not JobMark.is_job_mark({"flywheel_run": "x"})
    assert JobMark.of_experiment(fields, "manual__1", 3) and not JobMark.of_experiment(fields, "manual__1", 0)
    assert JobMark.of_run(fields, "tools", "manual__1")
    assert not JobMark.of_run(fields, "other", "manual__1") and not JobMark.of_run(fields, "tools", "manual__2")
    # a run id with dashes: only the last one separates the map index
    assert JobMark.of_run(JobMark("w", "scheduled__2025-01-02", 0).fields(), "w", "scheduled__2025-01-02")


def test_description_marks_round_trip_and_foreign_descriptions_are_not_ours() -> None:
    marks = {"flywheel_run": "dag/run-1", "flywheel_role": "candidate"}
    assert read_marks(mark_text(marks)) == marks
    assert OwnerMark.candidate("dag/run-1").owns(read_marks(mark_text(marks)))
    assert read_marks("created by another team") is None
    assert read_marks(None) is None
    assert read_marks(DESCRIPTION_PREFIX + "{not json") is None
