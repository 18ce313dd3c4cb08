"""Latency measurement fidelity: what `measure_latency` reports vs what the emulator's model prescribes.

Starts the emulator (latency model: 1B scale 1.0, 3B scale 2.5, base 30 ms) on a free loopback port,
deploys both models and measures 40 prompts at concurrency 1, 4 and 8 with the flywheel's async measurer,
for short (base) and long (ICL-sized) prompts. Prints per case the measured p50, the modelled latency
(the baseline, computed in this process from the same settings), their ratio (the measurer's and HTTP's
overhead), the 3B/1B p50 ratio against the configured 2.5, and output tokens/s.

Run: .venv/bin/python benchmarks/latency.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from flywheel.emulator.nim_logic import ServedModel, latency_ms
from flywheel.emulator.settings import LatencySettings
from flywheel.localstack.processes import ManagedProcess, free_port, http_ok
from flywheel.nemo.latency import measure_sync

SMALL, LARGE = "meta/llama-3.2-1b-instruct", "meta/llama-3.2-3b-instruct"
SETTINGS = {"base_ms": 30.0, "scale": {SMALL: 1.0, LARGE: 2.5}}
N = 40


def prompt(words: int, i: int) -> dict:
    return {"messages": [{"role": "user", "content": " ".join(f"w{i}-{k}" for k in range(words))}]}


def deploy(http: httpx.Client, model: str) -> None:
    body = {
        "name": model.replace("/", "-"),
        "namespace": "bench",
        "config": {"model": model, "nim_deployment": {"image_name": f"nvcr.io/nim/{model}", "gpu": 1}},
    }
    http.post("/v1/deployment/model-deployments", json=body).raise_for_status()


def ready(http: httpx.Client, model: str) -> bool:
    return any(m["id"] == model for m in http.get("/v1/models").json()["data"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10 prompts, concurrency 1 and 4 (make bench)")
    args = ap.parse_args()
    n, levels = (10, (1, 4)) if args.quick else (N, (1, 4, 8))
    work = Path(tempfile.mkdtemp(prefix="flywheel-latency-"))
    (work / "emulator.yaml").write_text(yaml.safe_dump({"gpus": 2, "latency": SETTINGS}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).parent / "flywheel"), "emulator", "--port", str(port)]
    with ManagedProcess("emulator", [*cmd, "--config", str(work / "emulator.yaml")], work, ready=http_ok(url)):
        http = httpx.Client(base_url=url, timeout=30)
        for model in (SMALL, LARGE):
            deploy(http, model)
        deadline = time.monotonic() + 60
        while not (ready(http, SMALL) and ready(http, LARGE)) and time.monotonic() < deadline:
            time.sleep(0.5)
        model_settings = LatencySettings(**SETTINGS)
        print(f"{'case':<28} {'C':>2} {'p50 ms':>8} {'model ms':>9} {'p50/model':>9} {'3B/1B':>6} {'tok/s':>8}")
        for label, words in (("base prompt (40 words)", 40), ("ICL prompt (400 words)", 400)):
            prompts = [prompt(words, i) for i in range(n)]
            for c in levels:
                small = measure_sync(url, SMALL, prompts, concurrency=c, max_seconds=60)
                large = measure_sync(url, LARGE, prompts, concurrency=c, max_seconds=60)
                # the emulator answers ~10-20 words; the model time uses the mean it reported
                out_tokens = small.output_tokens_per_s * small.elapsed_s / max(small.requests, 1)
                modelled = latency_ms(ServedModel(SMALL, SMALL), words, round(out_tokens), c, model_settings)
                assert small.p50_ms and large.p50_ms
                print(
                    f"1B {label:<25} {c:>2} {small.p50_ms:>8.1f} {modelled:>9.1f} {small.p50_ms / modelled:>9.2f}"
                    f" {large.p50_ms / small.p50_ms:>6.2f} {small.output_tokens_per_s:>8.0f}"
                )
        http.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
