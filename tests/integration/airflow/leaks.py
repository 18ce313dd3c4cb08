"""The leak check every fault scenario ends with, and the table of scenario → outcome → time to cleanup.

A scenario calls :func:`leak_check` once its run has ended. The check polls the emulator (no fixed sleep)
until no candidate deployment is live and no customization/evaluation job is still running, then checks
that no experiment has two customization jobs and that the shared NIMs are still there. Each call adds a
row to :data:`ROWS`; ``conftest.py`` writes them as a markdown table (``.cache/fault-table.md``, or
``$FLYWHEEL_FAULT_TABLE``) at the end of the session and prints it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from flywheel.localstack.stack import LocalStack

from .stack import ROOT

TERMINAL = {"completed", "failed", "cancelled"}
ROWS: list[dict[str, str]] = []


def table_path() -> Path:
    return Path(os.environ.get("FLYWHEEL_FAULT_TABLE") or ROOT / ".cache" / "fault-table.md")


def leftovers(stack: LocalStack, shared: tuple[str, ...] = ()) -> list[str]:
    """What a finished run left on the platform (empty when clean)."""
    stats = stack.stats()
    problems = [
        f"{n} {kind} job(s) {state}"
        for kind in ("customization", "evaluation")
        for state, n in stats["jobs"][kind].items()
        if state not in TERMINAL
    ]
    if stats["live_flywheel_deployments"]:
        problems.append(f"{stats['live_flywheel_deployments']} live candidate deployment(s)")
    names = {d["name"] for d in stack.emulator("GET", "/v1/deployment/model-deployments")["data"]}
    problems += [f"shared NIM {name} is gone" for name in shared if name not in names]
    return problems


def duplicate_customizations(stack: LocalStack) -> dict[tuple[str, str], int]:
    """(run, customization config) → job count, for every experiment that got more than one job."""
    jobs = stack.emulator("GET", "/v1/customization/jobs")["data"]
    counts = Counter(((j.get("custom_fields") or {}).get("flywheel_run", "?"), str(j.get("config"))) for j in jobs)
    return {k: n for k, n in counts.items() if n > 1}


def outcome_of(stack: LocalStack, dag_id: str, rid: str) -> str:
    """The report's experiment statuses in one line, with the first failure's error."""
    try:
        results = stack.api.xcom(dag_id, rid, "report")["results"]
    except Exception as e:  # no report (its task never ran): say so instead of failing the check
        return f"no report ({type(e).__name__})"
    counts = Counter(r["status"] for r in results)
    line = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    failed = next((r for r in results if r["status"] == "failed"), None)
    if failed:
        error = " ".join(str(failed.get("error") or "").split())
        line += f"; {failed['experiment']}: {error[:90]}"
    return line or "no experiments"


def leak_check(
    stack: LocalStack,
    scenario: str,
    dag_id: str,
    rid: str,
    *,
    shared: tuple[str, ...] = (),
    within: float = 60,
    note: str = "",
) -> float:
    """The platform is clean within ``within`` s of the run's end; returns (and records) the seconds it took."""
    run = stack.api.run(dag_id, rid)
    row = {"scenario": scenario, "run": str(run["state"]), "outcome": "", "cleanup_s": "-"}
    ROWS.append(row)
    ended = datetime.fromisoformat(run["end_date"]).timestamp() if run.get("end_date") else time.time()
    deadline = ended + within
    problems = leftovers(stack, shared)
    clean_at_first_look = not problems  # then it may have been clean before the run ended: an upper bound
    while problems and time.time() < deadline:
        time.sleep(0.5)
        problems = leftovers(stack, shared)
    cleanup_s = max(0.0, time.time() - ended)
    row["outcome"] = " · ".join(p for p in (outcome_of(stack, dag_id, rid), note) if p)
    if problems:
        row["outcome"] = f"LEAK: {'; '.join(problems)} · {row['outcome']}"
        raise AssertionError(f"{scenario}: not clean {within:.0f}s after the run ended: {problems}")
    row["cleanup_s"] = f"{'≤ ' if clean_at_first_look else ''}{cleanup_s:.1f}"
    duplicates = duplicate_customizations(stack)
    if duplicates:
        row["outcome"] = f"DUPLICATE JOBS: {duplicates} · {row['outcome']}"
        raise AssertionError(f"{scenario}: more than one customization job for one experiment: {duplicates}")
    return cleanup_s


def markdown_table(rows: list[dict[str, str]]) -> str:
    lines = [
        "| scenario | run state | outcome | cleanup s |",
        "|---|---|---|---:|",
        *(f"| {r['scenario']} | {r['run']} | {r['outcome'].replace('|', '/')} | {r['cleanup_s']} |" for r in rows),
    ]
    return "\n".join(lines) + "\n"
