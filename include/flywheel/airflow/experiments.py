"""Deferrable operators for one NIM's experiments (docs/contracts.md#the-dag and #the-gpu-lease).

``DeployNimOperator`` claims the GPU lease inside the single-slot pool and waits (deferred) for the NIM;
``EvaluationOperator`` runs a base / ICL / customized evaluation; ``CustomizeOperator`` runs LoRA
customization and waits for the adapter to be served; ``TeardownNimOperator`` deletes what this run
created and waits until it is gone.

Deploy, customize and evaluate share one resumable decision (``_ExperimentOperator.attach_or_create``):
look up what this try or an earlier try created (stored id, deterministic request id, or the candidate
owner mark) → re-attach, else create → always publish the id (XCom + link) → wait (``wait_for``: inline
when already over, else deferred). A retry therefore never starts a second job. Each leaves a result entry
in XCom whatever the outcome (key ``entry`` on failure or skip, the return value on success).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from flywheel.airflow.connections import served_api_key
from flywheel.airflow.links import NemoJobLink, push_link
from flywheel.airflow.nemo_operator import NemoOperator, tolerates_outage
from flywheel.airflow.triggers import (
    DeploymentGoneTrigger,
    DeploymentReadyTrigger,
    ModelSyncTrigger,
    NemoJobTrigger,
)
from flywheel.platforms.marks import JobMark, OwnerMark, is_candidate, is_own_candidate, owner_of

GPU_POOL = "flywheel_gpu"


def on_worker(method: Callable[..., Any]) -> Callable[..., Any]:
    """Account the time a method holds a worker slot (XCom ``worker_s``, summed over deferrals and tries)."""

    @functools.wraps(method)
    def wrapper(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        if context.get("flywheel_on_worker"):  # a step continued inline by another: counted by the outer one
            return method(self, context, *args, **kwargs)
        context["flywheel_on_worker"] = True
        started = time.monotonic()
        try:
            return method(self, context, *args, **kwargs)
        finally:
            context["flywheel_on_worker"] = False
            store = context["task_state_store"]
            total = round(float(store.get("worker_s") or 0.0) + time.monotonic() - started, 3)
            store.set("worker_s", total)
            context["ti"].xcom_push(key="worker_s", value=total)

    return wrapper


def entry(nim: str, experiment: str, status: str, **kw: Any) -> dict[str, Any]:
    """A result entry (docs/contracts.md#results)."""
    return {
        "nim": nim,
        "experiment": experiment,
        "status": status,
        "scores": kw.get("scores") or {},
        "error": kw.get("error"),
        "job_id": kw.get("job_id"),
        "duration_s": round(float(kw["duration_s"]), 1) if kw.get("duration_s") is not None else None,
    }


@dataclass
class Resource:
    """What the resumable operator needs to know about the platform object one task instance owns."""

    kind: str  # "deployment" | "customization" | "evaluation": logs, and where the id goes
    find: Callable[[str], str | None]  # deterministic request id -> the object an earlier try created
    create: Callable[[str], str]  # deterministic request id -> the id of a new object
    wait: Callable[[str], Any]  # id -> the trigger that waits for it
    resume: str  # the method that takes the wait's event
    link: Callable[[str], str]  # id -> its URL on the platform
    publish: Callable[[str], None]  # id -> XCom for the teardown and the report
    stored: bool = True  # look up the id an earlier try stored before asking the platform
    renew_failed: bool = True  # an earlier try's object that ended failed is replaced by a new one


class _ExperimentOperator(NemoOperator):
    """Shared plumbing: the one resume decision, result entries, the final-failure cleanup."""

    template_fields: Sequence[str] = ("plan", "run")
    operator_extra_links = (NemoJobLink(),)

    def __init__(self, *, plan: Any, run: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan, self.run = plan, run

    # ---------------------------------------------------------------- helpers
    def nim_name(self) -> str:
        return str(self.plan["model_name"])

    def show_nim(self, context: Any) -> None:
        context["nim_label"] = self.nim_name()

    @staticmethod
    def store(context: Any) -> Any:
        return context["task_state_store"]

    # ------------------------------------------------------------ the one resume decision
    def request_id(self, context: Any) -> str:
        """Deterministic id of the object this task instance creates: the same for every try (so a try that
        crashed between "created" and "stored the id" finds it again), new only after one ended failed."""
        ti, store = context["ti"], self.store(context)
        key = (
            f"{context['dag'].dag_id}/{context['run_id']}/{self.task_id}/{ti.map_index}/{store.get('generation') or 0}"
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @on_worker
    @tolerates_outage
    def execute(self, context: Any) -> Any:
        self.show_nim(context)
        self.check_plan(context)
        with self.client() as c:
            resource = self.resource(context, c)
            ref = self.attach_or_create(context, c, resource)
        return self.wait_for(context, resource.wait(ref), resource.resume)

    def check_plan(self, context: Any) -> None:
        """Skip or fail before touching the platform when this task has nothing to do (default: go on)."""

    def resource(self, context: Any, client: Any) -> Resource:
        raise NotImplementedError

    def attach_or_create(self, context: Any, client: Any, r: Resource) -> str:
        """Look up what this try or an earlier try created (stored id, else the deterministic request id /
        owner mark) and re-attach to it (unless it ended failed and may be renewed); else create one.
        Always records the id and publishes it (XCom + link) before the caller waits."""
        store = self.store(context)
        ref = (store.get(r.kind) if r.stored else None) or r.find(self.request_id(context))
        if ref:
            seen = asyncio.run(r.wait(ref).observe(client))
            if r.renew_failed and seen.terminal and not seen.succeeded:
                self.log.warning("earlier %s %s ended '%s'; submitting a new one", r.kind, ref, seen.state)
                store.set("generation", int(store.get("generation") or 0) + 1)
                ref = None
            else:
                self.log.info("re-attaching to %s %s (%s) created by an earlier try", r.kind, ref, seen.state)
        if not ref:
            ref = r.create(self.request_id(context))
            store.set("started", time.time())
            self.log.info("%s %s created", r.kind, ref)
        elif store.get("started") is None:
            store.set("started", time.time())
        store.set(r.kind, ref)
        self._ref = ref
        r.publish(ref)
        push_link(context, r.link(ref))
        return ref

    def elapsed(self, context: Any) -> float | None:
        started = self.store(context).get("started")
        return time.time() - float(started) if started else None

    def deadline_trigger(self, context: Any, cls: Any, ref: str, timeout_s: float, **kw: Any) -> Any:
        """A wait on ``ref`` whose absolute deadline was fixed when any try first waited on it."""
        return self.platform_wait(cls, ref, self.deadline(context, f"{cls.__name__}:{ref}", timeout_s), **kw)

    def fail(self, context: Any, experiment: str, message: str, **kw: Any) -> NoReturn:
        context["ti"].xcom_push(key="entry", value=entry(self.nim_name(), experiment, "failed", error=message, **kw))
        self.log.error("%s %s failed: %s", self.nim_name(), experiment, message)
        raise AirflowFailException(message)

    def fail_wait(
        self,
        context: Any,
        experiment: str,
        what: str,
        event: dict[str, Any],
        undo: Callable[[str], None],
        job_id: str | None = None,
    ) -> None:
        """The wait did not succeed. A timeout is the final failure: ``undo`` stops the GPU work this run
        started; the platform saying failed needs no cleanup beyond what ``undo`` does for deployments."""
        status = event.get("status", "failed")
        undo(status)
        self.fail(
            context,
            experiment,
            f"{what} {status}: {event.get('detail') or event.get('state')}",
            job_id=job_id,
            duration_s=self.elapsed(context),
        )

    def skip(self, context: Any, experiment: str, reason: str) -> None:
        context["ti"].xcom_push(key="entry", value=entry(self.nim_name(), experiment, "skipped", error=reason))
        self.log.info("%s %s skipped: %s", self.nim_name(), experiment, reason)
        raise AirflowSkipException(reason)


class _JobOperator(_ExperimentOperator):
    """A customization or evaluation job: request-id lookup, XCom ``job``, cancel on the final failure."""

    job_type: str = ""

    def job_resource(self, context: Any, find: Any, create: Any, resume: str, timeout_s: float) -> Resource:
        return Resource(
            kind=self.job_type,
            find=find,
            create=create,
            wait=lambda ref: self.deadline_trigger(context, NemoJobTrigger, ref, timeout_s, job_type=self.job_type),
            resume=resume,
            link=lambda ref: self.hook().resource_url(self.job_type, ref),
            publish=lambda ref: context["ti"].xcom_push(key="job", value=ref),
        )

    def cancel(self, job_id: str | None) -> None:
        if not job_id:
            return
        with self.client() as c:
            (c.cancel_customization if self.job_type == "customization" else c.cancel_evaluation)(job_id)
        self.log.info("cancelled %s %s", self.job_type, job_id)

    def cancel_on_timeout(self, job_id: str | None) -> Callable[[str], None]:
        return lambda status: self.cancel(job_id) if status == "timeout" else None

    def on_kill(self) -> None:
        """Killed between creating the job and deferring: the trigger's on_kill is not there yet."""
        self.cancel(getattr(self, "_ref", None))


class DeployNimOperator(_ExperimentOperator):
    """Claim the GPU lease (check-and-create while holding the one pool slot), then wait for the NIM."""

    def claim(self, context: Any, event: Any = None) -> Any:
        """Resume point of a lease wait: the same decision again."""
        return self.execute(context)

    def execute(self, context: Any) -> Any:
        nim = self.cfg().nim(self.nim_name())
        if nim.served_url:
            return self.use_served(context)
        return super().execute(context)

    @on_worker
    @tolerates_outage
    def use_served(self, context: Any) -> Any:
        """A candidate already served elsewhere: no deployment and no GPU lease; the platform is told where
        it answers (if it routes inference itself) and the run waits until it does."""
        self.show_nim(context)
        nim, owner, store = self.cfg().nim(self.nim_name()), self.run_key(context), self.store(context)
        fields = OwnerMark.candidate(owner, context["ti"].map_index).fields()
        if store.get("started") is None:
            store.set("started", time.time())
        try:
            api_key = served_api_key(nim)
        except ValueError as exc:
            self.fail(context, "deploy", str(exc))
        with self.client() as c:
            wait = c.serve_candidate(nim, fields, api_key)
        push_link(context, str(nim.served_url))
        self.log.info("%s is already served at %s: no deployment, no GPU lease", nim.model_name, nim.served_url)
        if wait is None:
            return self.served(context, {"status": "success"})
        timeout_s = self.cfg().platform.model_sync_timeout_s
        return self.wait_for(context, self.deadline_trigger(context, ModelSyncTrigger, wait, timeout_s), "served")

    @on_worker
    @tolerates_outage
    def served(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event, nim = event or {}, self.cfg().nim(self.nim_name())
        if event.get("status") != "success":
            owner = OwnerMark.candidate(self.run_key(context)).fields()

            def release(_: str) -> None:
                with self.client() as c:
                    c.release_candidate(nim, owner)

            self.fail_wait(context, "deploy", f"served candidate {nim.model_name}", event, release)
        ready_s = round(self.elapsed(context) or 0.0, 1)
        self.log.info("%s answers through the platform after %.0fs", nim.model_name, ready_s)
        return {"nim": nim.model_name, "deployment": None, "served_url": nim.served_url, "ready_s": ready_s}

    def resource(self, context: Any, c: Any) -> Resource:
        cfg, owner = self.cfg(), self.run_key(context)
        nim = cfg.nim(self.nim_name())
        self._owner = owner

        def find(_: str) -> str | None:
            info = c.get_deployment(nim.deployment_name)
            return nim.deployment_name if info is not None and is_own_candidate(info.custom_fields, owner) else None

        def create(_: str) -> str:
            self._check_lease(context, c, nim, owner)
            fields = OwnerMark.candidate(owner, context["ti"].map_index).fields()
            self._created = nim.deployment_name
            c.create_deployment(nim, fields)
            self.log.info(
                "GPU lease taken: created deployment %s/%s for %s (%d GPU)",
                cfg.platform.namespace,
                nim.deployment_name,
                nim.model_name,
                nim.gpus,
            )
            return str(nim.deployment_name)

        p = cfg.platform
        return Resource(
            kind="deployment",
            find=find,
            create=create,
            wait=lambda ref: self.deadline_trigger(
                context,
                DeploymentReadyTrigger,
                ref,
                p.deployment_timeout_s,
                pending_timeout_s=p.deployment_pending_timeout_s,
                model_id=nim.model_name,
                sync_timeout_s=p.model_sync_timeout_s,
                owner=owner,
            ),
            resume="ready",
            link=lambda ref: self.hook().resource_url("deployment", ref),
            publish=lambda ref: context["ti"].xcom_push(key="deployment", value={"name": ref, "owner": owner}),
            # the owner mark on the platform is the truth: a deleted deployment is created again
            stored=False,
            # a failed deployment of ours keeps its name: the wait reports the failure, the cleanup deletes it
            renew_failed=False,
        )

    def _check_lease(self, context: Any, c: Any, nim: Any, owner: str) -> None:
        """Before creating: wait (deferred) while another candidate holds the lease; never adopt a
        deployment we did not create as a candidate (e.g. a shared judge NIM)."""
        store = self.store(context)
        others = [d for d in c.list_deployments() if is_candidate(d.custom_fields)]
        if others:
            holder = others[0]
            self._wait_for_lease(
                context,
                f"deployment {holder.namespace}/{holder.name}",
                owner_of(holder.custom_fields),
                f"curl -X DELETE {self.hook().resource_url('deployment', holder.name)}",
            )
        # a cancelled or still running customization of another experiment may still hold its GPU
        run_id, map_index = context["run_id"], context["ti"].map_index
        for job_id, state, fields in c.list_customizations():
            if (
                not state.terminal
                and JobMark.is_job_mark(fields)
                and not JobMark.of_experiment(fields, run_id, map_index)
            ):
                self._wait_for_lease(
                    context,
                    f"customization job {job_id}",
                    owner_of(fields),
                    f"curl -X POST {self.hook().resource_url('customization', job_id)}/cancel",
                )
        squatter = c.get_deployment(nim.deployment_name)
        if squatter is not None:
            self.fail(
                context,
                "deploy",
                f"deployment {squatter.namespace}/{squatter.name} already exists and is not this run's "
                f"candidate (custom_fields {squatter.custom_fields}); a candidate NIM must not share its "
                "model with the judge or embedding NIM (flywheel check-config reports this)",
            )
        if store.get("lease_wait_started") is not None:
            store.delete("lease_wait_started")

    def _wait_for_lease(self, context: Any, holder: str, who: str, remedy: str) -> None:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        p, store = self.cfg().platform, self.store(context)
        started = store.get("lease_wait_started")
        if started is None:
            started = time.time()
            store.set("lease_wait_started", started)
        waited = time.time() - float(started)
        if waited > p.lease_timeout_s:
            self.fail(
                context,
                "deploy",
                (
                    f"GPU lease still held by {holder} (run {who}) after {waited:.0f}s. "
                    f"If that run is gone, remove it: {remedy}"
                ),
            )
        every = max(p.lease_poll_s, self.defer_floor_s())
        self.log.info(
            "waiting for the GPU lease: %s of run %s holds it (waited %.0fs); re-checking in %.0fs",
            holder,
            who,
            waited,
            every,
        )
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=every)), method_name="claim")

    def _release(self, context: Any) -> None:
        """A failed setup gets no teardown: delete our own deployment here so the lease is not leaked."""
        name = self.store(context).get("deployment")
        if name:
            self._delete_own(name, self.run_key(context), "deleted failed deployment %s (releases the GPU lease)")

    def _delete_own(self, name: str, owner: str, message: str) -> None:
        with self.client() as c:
            info = c.get_deployment(name)
            if info is not None and is_own_candidate(info.custom_fields, owner):
                c.delete_deployment(name)
                self.log.info(message, name)

    def on_kill(self) -> None:
        """Killed between creating the deployment and deferring: nothing else would delete it."""
        name, owner = getattr(self, "_created", None), getattr(self, "_owner", None)
        if name and owner:
            self._delete_own(name, owner, "deleted deployment %s (task killed before its wait started)")

    @on_worker
    @tolerates_outage
    def ready(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event = event or {}
        if event.get("status") != "success":
            self.fail_wait(
                context, "deploy", f"deployment of {self.nim_name()}", event, lambda _: self._release(context)
            )
        ready_s = round(self.elapsed(context) or 0.0, 1)
        self.log.info("%s ready and served after %.0fs", self.nim_name(), ready_s)
        return {"nim": self.nim_name(), "deployment": self.store(context).get("deployment"), "ready_s": ready_s}


class EvaluationOperator(_JobOperator):
    """One evaluation job (base, icl or customized) through NeMo Evaluator."""

    job_type = "evaluation"
    template_fields: Sequence[str] = ("plan", "run", "datasets", "judge", "built", "customized")

    def __init__(
        self, *, experiment: str, datasets: Any, judge: Any, built: Any, customized: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if experiment not in ("base", "icl", "customized"):
            raise ValueError(f"unknown experiment '{experiment}'")
        self.experiment, self.datasets, self.judge, self.built = experiment, datasets, judge, built
        self.customized = customized  # the customize task's output (customized experiment only)

    @property
    def workload_type(self) -> str:
        return str(self.built["workload_type"])

    def check_plan(self, context: Any) -> None:
        self._target_and_data(context)

    def _target_and_data(self, context: Any) -> tuple[str, str]:
        if self.experiment == "icl":
            if not self.plan.get("icl") or not (self.datasets or {}).get("icl"):
                self.skip(context, "icl", "ICL disabled or not applicable to this workload")
            return self.nim_name(), self.datasets["icl"]["files_url"]
        if self.experiment == "customized":
            if not self.plan.get("customize"):
                self.skip(context, "customized", "customization not enabled for this NIM/run")
            if not (self.customized or {}).get("output_model"):
                self.fail(context, "customized", "no customized model: the customize task produced none")
            return self.customized["output_model"], self.datasets["eval"]["files_url"]
        return self.nim_name(), self.datasets["eval"]["files_url"]

    def resource(self, context: Any, c: Any) -> Resource:
        from flywheel.airflow.connections import judge_endpoint
        from flywheel.platforms.core.configs import evaluation_config, evaluation_target, judge_ref

        model, files_url = self._target_and_data(context)

        def create(request_id: str) -> str:
            cfg = self.cfg()
            judge = judge_endpoint(cfg) if self.judge else None
            ref = judge_ref(judge.mode, judge.model_name, judge.url, judge.api_key) if judge else None
            limit = cfg.platform.evaluation_limit or int(self.datasets["eval"]["records"])
            config = evaluation_config(str(self.workload_type), f"{files_url}/eval_data.jsonl", ref, limit)
            nim = cfg.nim(self.nim_name())
            served = None if self.experiment == "customized" else nim.served_url
            target = evaluation_target(model, served, served_api_key(nim) if served else None)
            self._ref = c.create_evaluation(config, target, request_id)
            self.log.info("%s eval of %s: job %s on %s", self.experiment, model, self._ref, files_url)
            return str(self._ref)

        timeout_s = self.cfg().platform.evaluation_timeout_s
        return self.job_resource(context, c.find_evaluation, create, "done", timeout_s)

    @on_worker
    @tolerates_outage
    def done(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from flywheel.platforms.core.configs import read_scores

        self.show_nim(context)
        event = event or {}
        job_id = event.get("ref") or self.store(context).get("evaluation")
        if event.get("status") != "success":
            self.fail_wait(
                context, self.experiment, f"evaluation {job_id}", event, self.cancel_on_timeout(job_id), job_id
            )
        with self.client() as c:
            results = c.evaluation_results(job_id)
        try:
            scores = read_scores(str(self.workload_type), results)
        except Exception as exc:
            self.fail(context, self.experiment, f"evaluation {job_id} results unreadable: {exc}", job_id=job_id)
        elapsed = self.elapsed(context)
        out = entry(self.nim_name(), self.experiment, "completed", scores=scores, job_id=job_id, duration_s=elapsed)
        shown = ", ".join(f"{k}={v:.3f}" for k, v in scores.items())
        self.log.info(
            "RESULT %s %s: %s (job %s, %.0fs)", self.nim_name(), self.experiment, shown, job_id, out["duration_s"] or 0
        )
        return out


class CustomizeOperator(_JobOperator):
    """LoRA customization through NeMo Customizer; done when the adapter is served by the NIM proxy."""

    job_type = "customization"
    template_fields: Sequence[str] = ("plan", "run", "datasets")

    def __init__(self, *, datasets: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datasets = datasets

    def check_plan(self, context: Any) -> None:
        if not self.plan.get("customize"):
            self.skip(context, "customized", "customization not enabled for this NIM/run")

    def resource(self, context: Any, c: Any) -> Resource:
        from flywheel.airflow.run_settings import RunSettings
        from flywheel.platforms.core.configs import customization_job

        store, cfg = self.store(context), self.cfg()
        nim = cfg.nim(self.nim_name())
        settings = RunSettings.model_validate(self.run["settings"])

        def find(request_id: str) -> str | None:
            found = c.find_customization(request_id)
            if found:
                store.set("output_model", found[1])
            return found[0] if found else None

        def create(request_id: str) -> str:
            config_ref = c.ensure_customization_config(nim, settings.training)
            mark = JobMark(settings.workload_id, context["run_id"], context["ti"].map_index)
            payload = customization_job(
                settings.workload_id,
                mark.run_tag,
                nim,
                config_ref,
                self.datasets["train"]["name"],
                cfg.platform.namespace,
                settings.training,
                settings.lora,
            )
            job_id, output_model = c.create_customization(payload, request_id)
            self._ref = job_id
            store.set("output_model", output_model)
            self.log.info(
                "customization of %s: job %s -> %s (%d epochs, lr %s, LoRA dim %d)",
                nim.model_name,
                job_id,
                output_model,
                settings.training.epochs,
                settings.training.learning_rate,
                settings.lora.adapter_dim,
            )
            return str(job_id)

        return self.job_resource(context, find, create, "trained", cfg.platform.customization_timeout_s)

    @on_worker
    @tolerates_outage
    def trained(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        self.show_nim(context)
        event, store = event or {}, self.store(context)
        job_id = store.get("customization")
        if event.get("status") != "success":
            self.fail_wait(
                context, "customized", f"customization {job_id}", event, self.cancel_on_timeout(job_id), job_id
            )
        model = store.get("output_model")
        self.log.info("customization %s completed; waiting for %s to be served", job_id, model)
        timeout_s = self.cfg().platform.model_sync_timeout_s
        return self.wait_for(context, self.deadline_trigger(context, ModelSyncTrigger, model, timeout_s), "synced")

    @on_worker
    @tolerates_outage
    def synced(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event, store = event or {}, self.store(context)
        if event.get("status") != "success":
            self.fail(
                context,
                "customized",
                f"customized model {store.get('output_model')} never served: {event.get('detail')}",
                job_id=store.get("customization"),
                duration_s=self.elapsed(context),
            )
        return {
            "nim": self.nim_name(),
            "job_id": store.get("customization"),
            "output_model": store.get("output_model"),
            "duration_s": round(self.elapsed(context) or 0.0, 1),
        }


class TeardownNimOperator(_ExperimentOperator):
    """Delete the deployment this run created (never anyone else's) and wait until it is gone.

    ``deployment`` is the deploy task's output; ``job_tasks`` maps the tasks whose NMP jobs must stop first
    (their XCom ``job``) to the job type. Both are handed over by the DAG factory."""

    template_fields: Sequence[str] = ("plan", "run", "deployment")

    def __init__(self, *, deployment: Any, job_tasks: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deployment, self.job_tasks = deployment, job_tasks

    def name(self) -> str | None:
        return (self.deployment or {}).get("deployment")

    @on_worker
    @tolerates_outage
    def execute(self, context: Any) -> Any:
        self.show_nim(context)
        name, served = self.name(), self.cfg().nim(self.nim_name()).served_url
        if not name and not served:
            self.log.info("nothing to tear down: %s was never deployed by this run", self.nim_name())
            return {"nim": self.nim_name(), "deleted": None}
        with self.client() as c:
            stopping = self._cancel_running_jobs(context, c)
            if stopping and time.time() < self.deadline(context, "jobs_stop", self.cfg().platform.deployment_timeout_s):
                return self._wait_jobs_stopped(stopping)
            if served:
                owner = OwnerMark.candidate(self.run_key(context)).fields()
                released = c.release_candidate(self.cfg().nim(self.nim_name()), owner)
                self.log.info(
                    "%s is served at %s: nothing deployed; released our registration: %s",
                    self.nim_name(),
                    served,
                    released,
                )
                return {"nim": self.nim_name(), "deleted": None, "released": released}
            if name is None:  # not served and never deployed: returned above already
                return {"nim": self.nim_name(), "deleted": None}
            info = c.get_deployment(name)
            if info is None:
                self.log.info("deployment %s already gone", name)
                return {"nim": self.nim_name(), "deleted": name}
            if not is_own_candidate(info.custom_fields, self.run_key(context)):
                self.log.warning(
                    "deployment %s is not this run's candidate (%s); leaving it alone", name, info.custom_fields
                )
                return {"nim": self.nim_name(), "deleted": None}
            c.delete_deployment(name)
        self.log.info("deleting deployment %s; waiting until it is gone (releases the GPU lease)", name)
        trigger = self.deadline_trigger(
            context,
            DeploymentGoneTrigger,
            name,
            self.cfg().platform.deployment_timeout_s,
            owner=self.run_key(context),
        )
        return self.wait_for(context, trigger, "gone")

    def _cancel_running_jobs(self, context: Any, client: Any) -> list[str]:
        """Jobs of this experiment still running (e.g. the run was marked failed) are cancelled; returns the
        ones not yet terminal, which may still hold the GPU: the deployment goes only after they stop."""
        ti = context["ti"]
        stopping = []
        for task_id, kind in self.job_tasks.items():
            job_id = ti.xcom_pull(task_ids=task_id, key="job", map_indexes=ti.map_index)
            if not job_id:
                continue
            if not self._stop_job(client, kind, job_id):
                stopping.append(job_id)
        return stopping

    def _stop_job(self, client: Any, kind: str, job_id: str) -> bool:
        """Cancel the job unless it is terminal; True when it no longer runs. A job the platform no longer
        knows (404, e.g. it lost its state in a restart) is gone: the deployment is still deleted."""
        from flywheel.platforms.core.errors import NemoNotFoundError

        read = client.get_customization if kind == "customization" else client.get_evaluation
        try:
            if read(job_id).terminal:
                return True
            (client.cancel_customization if kind == "customization" else client.cancel_evaluation)(job_id)
            self.log.info("cancelled %s %s", kind, job_id)
            return bool(read(job_id).terminal)
        except NemoNotFoundError:
            self.log.warning("%s %s is unknown to the platform (404): treated as gone", kind, job_id)
            return True

    def _wait_jobs_stopped(self, stopping: list[str]) -> None:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        p = self.cfg().platform
        every = max(p.poll_initial_s, self.defer_floor_s())
        self.log.info("waiting for %s to stop before deleting the deployment; re-checking in %.0fs", stopping, every)
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=every)), method_name="retry_step", kwargs={"step": "execute"}
        )

    @on_worker
    def gone(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event, name = event or {}, self.name()
        if event.get("status") != "success":
            raise AirflowFailException(f"deployment {name} not deleted: {event.get('detail') or event.get('state')}")
        self.log.info("deployment %s deleted; GPU lease released", name)
        return {"nim": self.nim_name(), "deleted": name}
