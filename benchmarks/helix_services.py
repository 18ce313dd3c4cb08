"""NeMo Helix on this machine: install time (fresh venv, then the cached no-op), time to /health/ready,
resident memory idle and while one evaluation job runs, and the end-to-end time of that job.

    .venv/bin/python benchmarks/helix_services.py [--skip-install]

The fresh install goes into a temporary HELIX_HOME with the uv cache the Makefile uses (so it measures a
CI runner whose cache is warm, not a download); the cached figure is ``make helix`` on the repo's install.
Ratios are printed against the emulator started in the same process (the stand-in Helix replaces).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from flywheel.localstack.helix import HelixServices  # noqa: E402
from flywheel.localstack.processes import ManagedProcess, free_port, http_ok  # noqa: E402
from flywheel.platforms.helix import payloads as P  # noqa: E402
from flywheel.platforms.helix.client import HelixClient  # noqa: E402
from tests.unit.emulator.records import jsonl, tool_record  # noqa: E402


def timed_install(helix_home: Path) -> float:
    env = {**os.environ, "HELIX_HOME": str(helix_home), "UV": str(REPO / ".cache/uv/bin/uv")}
    t0 = time.monotonic()
    subprocess.run(["bash", str(REPO / "scripts/helix-install.sh")], check=True, env=env, cwd=REPO)
    return time.monotonic() - t0


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-install", action="store_true")
    ap.add_argument("--quick", action="store_true", help="--skip-install (make bench)")
    args = ap.parse_args()
    args.skip_install = args.skip_install or args.quick
    if not args.skip_install:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = timed_install(Path(tmp))
        t0 = time.monotonic()
        subprocess.run(["make", "-s", "helix"], check=True, cwd=REPO, capture_output=True)
        cached = time.monotonic() - t0
        print(f"install: fresh venv (warm uv cache) {fresh:.1f} s; cached (make helix again) {cached:.2f} s")

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        t0 = time.monotonic()
        flywheel = str(Path(sys.executable).parent / "flywheel")
        emu = ManagedProcess(
            "emu",
            [flywheel, "emulator", "--port", str(port)],
            Path(tmp),
            ready=http_ok(f"http://127.0.0.1:{port}/emulator/stats"),
        )
        with emu:
            emu_ready = time.monotonic() - t0
            emu_rss = rss_mb(emu.pid)
            with HelixServices(Path(tmp) / "helix") as helix:
                assert helix.ready_s is not None
                time.sleep(5)
                idle = helix.rss_mb()
                ratio = helix.ready_s / emu_ready
                print(f"ready: Helix {helix.ready_s:.1f} s vs emulator {emu_ready:.1f} s ({ratio:.0f}x)")
                print(f"RSS idle: Helix {idle:.0f} MB vs emulator {emu_rss:.0f} MB ({idle / emu_rss:.1f}x)")
                with HelixClient(helix.url, "bench") as c:
                    c.ensure_workspace()
                    c.register_provider(
                        P.provider_body("emu", f"http://127.0.0.1:{port}", ["meta/llama-3.3-70b-instruct"], {"b": "1"})
                    )
                    deadline = time.monotonic() + 90
                    entity = None
                    while entity is None and time.monotonic() < deadline:
                        entity = c.served_entity("emu", "meta/llama-3.3-70b-instruct")
                        time.sleep(0.5)
                    assert entity, "provider never served"
                    ref = c.upload_files("eval", {"eval_data.jsonl": jsonl([tool_record(i) for i in range(20)])})
                    spec = P.evaluation_spec("tool_calling", ref, c.target(entity), None, None)
                    t0 = time.monotonic()
                    name = c.start_evaluation(P.evaluation_job("bench-eval", spec, {"b": "1"}))
                    peak = idle
                    while not c.evaluation_state(name).terminal:
                        peak = max(peak, helix.rss_mb())
                        time.sleep(0.5)
                    took = time.monotonic() - t0
                    status = c.evaluation_state(name).status
                    print(f"evaluation job (20 rows, tool-calling): {took:.1f} s end to end, {status}")
                    ratio = peak / idle
                    print(
                        f"RSS with one evaluation job (service + job process): peak {peak:.0f} MB ({ratio:.2f}x idle)"
                    )


if __name__ == "__main__":
    main()
