"""The emulator's in-memory platform: entities, deployments on a GPU pool, jobs and their clocks.

Lifecycles are computed from elapsed time by :meth:`Platform.tick`, which every request and a background
ticker call; GPU claims (deployments and customization jobs) are granted first come, first served
wherever they fit, so a claim beyond capacity stays ``pending`` (as a pod waits for a node on a cluster).
"""

from __future__ import annotations

import base64
import time
from collections import Counter

from pydantic import BaseModel, JsonValue

from flywheel.emulator.datastore import DataStore, Repo
from flywheel.emulator.faults import FaultBook
from flywheel.emulator.jobs import (
    TERMINAL,
    AutomodelJob,
    CustomizationJob,
    Deployment,
    DmsDeployment,
    EvaluationJob,
    HelixDeployment,
    NmpCustomizationJob,
    StatusLog,
)
from flywheel.emulator.nim_logic import RecordIndex, ServedModel
from flywheel.emulator.resources import CustomizationConfig, Dataset, DeploymentConfig, ModelEntity, Namespace, Peft
from flywheel.emulator.settings import EmulatorSettings
from flywheel.emulator.util import now_iso


class Stats(BaseModel):
    """``GET /emulator/stats``: the GPU pool now and at most, deployments, jobs, requests, faults."""

    gpus_total: int
    gpus_in_use: int
    max_gpus_in_use: int
    live_deployments: int
    pending_deployments: int
    live_flywheel_deployments: int
    max_live_flywheel_deployments: int
    jobs: dict[str, dict[str, int]]
    jobs_created: dict[str, int]
    requests: dict[str, int]
    refused_keys: int
    faults_fired: dict[str, int]


class Platform:
    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.faults = FaultBook(settings.faults, seed=settings.seed)
        self.chat_in_flight = 0  # requests inside the latency model now (not reset: they are still running)
        self.reset()

    def reset(self) -> None:
        self.namespaces: dict[str, Namespace] = {}
        self.datasets: dict[str, Dataset] = {}
        self.model_entities: dict[str, ModelEntity] = {}
        self.store = DataStore()
        self.index = RecordIndex()
        self.deployments: dict[str, DmsDeployment] = {}
        self.custom_configs: dict[str, CustomizationConfig] = {}
        self.custom_jobs: dict[str, NmpCustomizationJob] = {}
        self.eval_jobs: dict[str, EvaluationJob] = {}
        # Helix v2 (``ws/name`` keys): deployment configs, deployments on the same GPU pool, automodel jobs
        self.v2_configs: dict[str, DeploymentConfig] = {}
        self.v2_deployments: dict[str, HelixDeployment] = {}
        self.v2_jobs: dict[str, AutomodelJob] = {}
        self.requests: Counter[str] = Counter()
        self.refused_keys = 0  # chat calls answered 401 for a missing or wrong key
        self.created: Counter[str] = Counter()
        self.max_gpus_in_use = 0
        self.max_live_flywheel = 0
        self.faults.fired.clear()

    def reset_max(self) -> None:
        """Start the maxima again from what is in use now (the state stays)."""
        self.max_gpus_in_use = self.gpus_in_use()
        self.max_live_flywheel = self.live_flywheel()

    # ------------------------------------------------------------------ GPU pool
    def all_deployments(self) -> list[Deployment]:
        return [*self.deployments.values(), *self.v2_deployments.values()]

    def all_custom_jobs(self) -> list[CustomizationJob]:
        return [*self.custom_jobs.values(), *self.v2_jobs.values()]

    def gpus_in_use(self) -> int:
        used = sum(d.gpus for d in self.all_deployments() if d.holds_gpus)
        if self.settings.customization_uses_gpus:
            used += sum(j.gpus for j in self.all_custom_jobs() if j.holds_gpus)
        return used

    def live_flywheel(self) -> int:
        return sum(1 for d in self.all_deployments() if d.live_candidate)

    def _note_usage(self) -> None:
        self.max_gpus_in_use = max(self.max_gpus_in_use, self.gpus_in_use())
        self.max_live_flywheel = max(self.max_live_flywheel, self.live_flywheel())

    def _schedule(self, now: float) -> None:
        claims: list[tuple[float, Deployment | CustomizationJob]] = []
        for d in self.all_deployments():
            if d.waits_for_gpus and not self.faults.stuck("deployment", {d.model}):
                claims.append((d.created, d))
        if self.settings.customization_uses_gpus:
            for j in self.all_custom_jobs():
                if j.allocated is None and j.status == "pending" and not self.faults.stuck("customization", j.models):
                    claims.append((j.created, j))
        free = self.settings.gpus - self.gpus_in_use()
        for _, claim in sorted(claims, key=lambda c: c[0]):
            if claim.gpus <= free:
                claim.allocated = now
                free -= claim.gpus
        self._note_usage()

    # ------------------------------------------------------------------ lifecycles
    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for j in self.all_custom_jobs():
            if j.status == "created" and now - j.created >= self.settings.job_created_s:
                self._custom_status(j, "pending", "PENDING", "Waiting for resources")
        self._schedule(now)
        for d in self.all_deployments():
            self._advance_deployment(d, now)
        for j in self.all_custom_jobs():
            self._advance_customization(j, now)
        for e in self.eval_jobs.values():
            self._advance_evaluation(e, now)
        self._note_usage()

    def _advance_deployment(self, d: Deployment, now: float) -> None:
        if d.status in ("failed", "ready"):
            return
        if d.allocated is None:
            stuck = self.faults.stuck("deployment", {d.model})
            new = (
                "pending",
                "Pending: waiting for the pod to be scheduled"
                if stuck
                else f"Pending: needs {d.gpus} GPU(s), {self.settings.gpus - self.gpus_in_use()} of "
                f"{self.settings.gpus} free",
            )
        else:
            ready_s = d.slow.seconds if d.slow else self.settings.deployment_ready_s
            elapsed = now - d.allocated
            if elapsed >= ready_s:
                if d.failure:
                    new = ("failed", d.failure.message or "NIM container failed to start (injected fault)")
                else:
                    new = ("ready", "Deployment is ready")
            else:
                new = (
                    ("pending", "Pulling image and loading the model")
                    if elapsed < ready_s / 2
                    else ("running", "Model is loading")
                )
        if (d.status, d.status_message) != new:
            d.status, d.status_message = new
            d.updated_at = now_iso()

    def _custom_status(self, j: CustomizationJob, status: str, message: str, detail: str | None = None) -> None:
        if j.status != status or not j.logs or j.logs[-1].message != message:
            j.logs.append(StatusLog(message, detail))
        j.status, j.updated_at = status, now_iso()

    def _advance_customization(self, j: CustomizationJob, now: float) -> None:
        if j.status in TERMINAL or j.status == "created":
            return
        if j.status == "pending":
            if not self.settings.customization_uses_gpus and not self.faults.stuck("customization", j.models):
                j.allocated = j.allocated or now
            if j.allocated is None:
                if j.logs[-1].message != "NotEnoughResources" and not self.faults.stuck("customization", j.models):
                    j.logs.append(StatusLog("NotEnoughResources", f"Waiting for {j.gpus} GPU(s)"))
                return
            self._custom_status(j, "running", "Training started")
        if j.allocated is None:
            return
        duration = j.slow.seconds if j.slow else self.settings.customization_s
        pct = 100.0 if duration <= 0 else min(100.0, 100.0 * (now - j.allocated) / duration)
        if j.failure and pct >= j.failure.at_percent:
            j.percentage = j.failure.at_percent
            j.finished = now
            self._custom_status(
                j,
                "failed",
                "Training failed",
                j.failure.message or "Training process exited with an error (injected fault)",
            )
            return
        j.percentage, j.updated_at = pct, now_iso()
        if pct >= 100.0:
            j.finished = now
            self._custom_status(j, "completed", "Training completed", "Model saved")
            if j.output_model:
                ns, _, name = j.output_model.partition("/")
                self.model_entities[j.output_model] = ModelEntity(
                    id=j.output_model,
                    name=name,
                    namespace=ns,
                    created_at=now_iso(),
                    base_model=j.target.base_model,
                    description=f"LoRA adapter from {j.id}",
                    peft=Peft(finetuning_type=j.finetuning_type),
                    custom_fields={"customization_job": j.id},
                )

    def _advance_evaluation(self, e: EvaluationJob, now: float) -> None:
        if e.status in TERMINAL:
            return
        if e.status == "created":
            if now - e.created < self.settings.job_created_s or self.faults.stuck("evaluation", e.models):
                return
            self._start_evaluation(e, now)
            if e.status != "running":
                return
        if e.started is None:
            return
        duration = e.slow.seconds if e.slow else self.settings.evaluation_s
        pct = 100.0 if duration <= 0 else min(100.0, 100.0 * (now - e.started) / duration)
        if e.failure and pct >= e.failure.at_percent:
            e.status, e.progress = "failed", e.failure.at_percent
            e.message = e.failure.message or "Evaluation failed: inference errors (injected fault)"
        elif pct >= 100.0:
            e.status, e.progress, e.message = "completed", 100.0, "Job completed successfully."
        else:
            e.progress = round(pct, 1)
            e.message = "Job is running."
        e.updated_at = now_iso()

    def _start_evaluation(self, e: EvaluationJob, now: float) -> None:
        from flywheel.emulator.metrics import EvaluationError, run_evaluation

        served = self.served_models()
        target = served.get(e.target_model)
        e.started, e.updated_at = now, now_iso()
        if target is None:
            e.status, e.progress = "failed", 0.0
            e.message = f"Model {e.target_model} is not available on the NIM proxy (not deployed or not ready)"
            return
        try:
            e.results, e.samples = run_evaluation(self, e.body["config"], target, served)
        except EvaluationError as exc:
            e.status, e.progress, e.message = "failed", 0.0, str(exc)
            return
        e.status, e.progress = "running", 0.0

    # ------------------------------------------------------------------ Data Store
    def commit(self, repo: Repo, lines: list[JsonValue]) -> str:
        """Apply an HF commit and index the eval records it brings (ValueError on a bad commit)."""
        sha, changed = self.store.commit(repo, lines)
        for path in changed:
            if path.endswith(".jsonl") and path in repo.files:
                self.index.add_jsonl(repo.files[path])
        return sha

    def upload(self, namespace: str, name: str, files: dict[str, bytes]) -> str:
        """Create the repo if needed and commit ``files`` (used to seed data without an HTTP client)."""
        repo = self.store.repo(namespace, name) or self.store.create_repo(namespace, name)
        assert repo is not None  # create_repo answers None only for an existing repo
        lines: list[JsonValue] = [
            {"key": "file", "value": {"path": p, "content": base64.b64encode(c).decode(), "encoding": "base64"}}
            for p, c in files.items()
        ]
        return self.commit(repo, lines)

    # ------------------------------------------------------------------ NIM proxy
    def served_models(self) -> dict[str, ServedModel]:
        out: dict[str, ServedModel] = {}
        if self.settings.hosted_shared_models:
            for name in self.settings.judge_models:
                out[name] = ServedModel(name, name, judge=True)
            for name in self.settings.embedding_models:
                out[name] = ServedModel(name, name)
        for name in self.settings.hosted_models:
            out[name] = ServedModel(name, name, judge=name in self.settings.judge_models)
        ready = {d.model for d in self.all_deployments() if d.status == "ready"} | set(self.settings.hosted_models)
        for d in self.all_deployments():
            if d.status == "ready":
                for m in d.served_ids:
                    out.setdefault(m, ServedModel(m, m, judge=m in self.settings.judge_models))
        now = time.monotonic()
        for j in self.all_custom_jobs():
            if (
                j.status == "completed"
                and j.output_model in self.model_entities
                and j.target.base_model in ready
                and j.finished is not None
                and now - j.finished >= self.settings.model_sync_s
                and not self.faults.never_sync(j.models)
            ):
                out[j.output_model] = ServedModel(j.output_model, j.target.base_model, adapter=True)
        return out

    # ------------------------------------------------------------------ stats
    def stats(self) -> Stats:
        jobs: dict[str, dict[str, int]] = {
            "customization": dict(Counter(j.status for j in self.all_custom_jobs())),
            "evaluation": dict(Counter(e.status for e in self.eval_jobs.values())),
        }
        return Stats(
            gpus_total=self.settings.gpus,
            gpus_in_use=self.gpus_in_use(),
            max_gpus_in_use=self.max_gpus_in_use,
            live_deployments=len(self.deployments) + len(self.v2_deployments),
            pending_deployments=sum(1 for d in self.all_deployments() if d.waits_for_gpus),
            live_flywheel_deployments=self.live_flywheel(),
            max_live_flywheel_deployments=self.max_live_flywheel,
            jobs=jobs,
            jobs_created={k: self.created.get(k, 0) for k in ("deployment", "customization", "evaluation")},
            requests=dict(sorted(self.requests.items())),
            refused_keys=self.refused_keys,
            faults_fired=dict(self.faults.fired),
        )
