"""Deferrable operators for one NIM's experiments: thin adapters over the run core
(docs/contracts.md#the-dag and #the-gpu-lease).

The decisions live in :mod:`flywheel.run.experiment` (find → attach | create → observe, cancel, release) and
:mod:`flywheel.run.lease` (the GPU budget); an operator turns task context into a scope and a state store,
runs the step, and executes its decision: defer on the wait's trigger (inline when already over), fail,
skip or finish. ``DeployNimOperator`` claims the GPU lease inside the pool ``flywheel_gpu`` and waits for
the NIM; ``EvaluationOperator`` runs a base / ICL / customized evaluation; ``CustomizeOperator`` runs LoRA
customization and waits for the adapter to be served; ``TeardownNimOperator`` deletes what this run
created and waits until it is gone. A retry therefore never starts a second job. Each leaves a result
entry in XCom whatever the outcome (key ``entry`` on failure or skip, the return value on success).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from flywheel.airflow.connections import served_api_key
from flywheel.airflow.links import NemoJobLink, push_link
from flywheel.airflow.nemo_operator import NemoOperator, tolerates_outage
from flywheel.airflow.triggers import (
    DeploymentGoneTrigger,
    DeploymentReadyTrigger,
    ModelSyncTrigger,
    NemoJobTrigger,
    PlatformWaitTrigger,
)
from flywheel.platforms.marks import JobMark, OwnerMark
from flywheel.run.experiment import (
    Decision,
    Deployment,
    Entry,
    ExperimentStep,
    Fail,
    JobKind,
    LeaseTerms,
    Resource,
    Scope,
    Wait,
    WaitEvent,
    WaitKind,
    result_entry,
    seen_job,
)
from flywheel.run.lease import GpuLease
from flywheel.run.store import MemoryStore, StateStore, read_str

if TYPE_CHECKING:
    from flywheel.config import FlywheelConfig, WorkloadConfig
    from flywheel.platforms.port import Platform

GPU_POOL = "flywheel_gpu"

TRIGGERS: dict[WaitKind, type[PlatformWaitTrigger]] = {
    "deployment_ready": DeploymentReadyTrigger,
    "deployment_gone": DeploymentGoneTrigger,
    "job": NemoJobTrigger,
    "model_sync": ModelSyncTrigger,
}


class GpuStage(TypedDict):
    """How the DAG factory schedules a workload's GPU stage (``deploy_nim``) in the pool."""

    pool: str
    pool_slots: int
    priority_weight: int
    weight_rule: str


def gpu_stage(cfg: FlywheelConfig, workload: WorkloadConfig) -> GpuStage:
    """Pool slots = the GPUs of the workload's largest deployed candidate (a mapped task's slots cannot vary
    per NIM; the platform-side lease counts each NIM's own ``gpus``); the workload's ``priority`` as an
    absolute priority weight, so its claims are scheduled first when the budget is short."""
    deployed = [n.gpus for n in cfg.nims_for(workload) if not n.served_url]
    slots = min(max(deployed, default=1), cfg.platform.gpu_budget)
    return {"pool": GPU_POOL, "pool_slots": slots, "priority_weight": workload.priority, "weight_rule": "absolute"}


class Deployed(TypedDict, total=False):
    """``deploy_nim``'s output (XCom ``return_value``)."""

    nim: str
    deployment: str | None
    served_url: str | None
    ready_s: float


class Customized(TypedDict):
    """``customize``'s output: the job and the served LoRA model."""

    nim: str
    job_id: str | None
    output_model: str | None
    duration_s: float


class TornDown(TypedDict, total=False):
    """``teardown_nim``'s output."""

    nim: str
    deleted: str | None
    released: bool


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


entry = result_entry  # a result entry (docs/contracts.md#results)


class _ExperimentOperator(NemoOperator):
    """The adapter: context → scope and store, step → deferral; result entries, the final-failure cleanup."""

    template_fields: Sequence[str] = ("plan", "run")
    operator_extra_links = (NemoJobLink(),)
    experiment_label = "deploy"  # the result entry's ``experiment`` when this task fails

    def __init__(self, *, plan: Any, run: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan, self.run = plan, run

    # ---------------------------------------------------------------- context → core
    def nim_name(self) -> str:
        return str(self.plan["model_name"])

    def show_nim(self, context: Any) -> None:
        context["nim_label"] = self.nim_name()

    @staticmethod
    def store(context: Any) -> StateStore:
        store: StateStore = context["task_state_store"]
        return store

    def scope(self, context: Any) -> Scope:
        return Scope(context["dag"].dag_id, context["run_id"], self.task_id, context["ti"].map_index)

    def step(self, context: Any, client: Platform) -> ExperimentStep:
        self._scope = self.scope(context)
        return ExperimentStep(client, self.store(context), self._scope)

    def loose_step(self, client: Platform) -> ExperimentStep | None:
        """A step without task context (``on_kill``): only cancel / release, for the scope ``execute`` saw."""
        scope = getattr(self, "_scope", None)
        return ExperimentStep(client, MemoryStore(), scope) if scope is not None else None

    # ------------------------------------------------------------ the one resume decision
    @on_worker
    @tolerates_outage
    def execute(self, context: Any) -> Any:
        self.show_nim(context)
        self.check_plan(context)
        with self.client() as c:
            step = self.step(context, c)
            resource = self.resource(context, c, step)
            decision = step.run(resource)
            for note in step.trace.notes:
                self.log.info("%s", note)
        return self.carry_out(context, decision, resource)

    def carry_out(self, context: Any, decision: Decision, r: Resource) -> Any:
        """Execute the step's decision: publish what it found or created (XCom + link), then wait."""
        if isinstance(decision, Fail):
            self.fail(context, self.experiment_label, decision.message)
        if not isinstance(decision, Wait):
            raise TypeError(f"unexpected decision {decision!r}")
        if decision.kind == "lease":
            return self.wait_for_lease(context, decision)
        self._ref = decision.ref
        self.publish(context, decision.ref)
        push_link(context, self.hook().resource_url(r.kind, decision.ref))
        return self.wait_for(context, self.trigger(context, decision), decision.resume)

    def check_plan(self, context: Any) -> None:
        """Skip or fail before touching the platform when this task has nothing to do (default: go on)."""

    def resource(self, context: Any, client: Platform, step: ExperimentStep) -> Resource:
        raise NotImplementedError

    def publish(self, context: Any, ref: str) -> None:
        """XCom of the id, for the teardown and the report."""

    def wait_for_lease(self, context: Any, wait: Wait) -> Any:
        raise NotImplementedError

    def trigger(self, context: Any, wait: Wait, **kw: Any) -> PlatformWaitTrigger:
        """The trigger of ``wait``, with an absolute deadline fixed when any try first waited on it."""
        return self.deadline_trigger(context, TRIGGERS[wait.kind], wait.ref, wait.timeout_s, **kw)

    def elapsed(self, context: Any) -> float | None:
        started = self.store(context).get("started")
        return time.time() - float(str(started)) if started else None

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
        event: WaitEvent,
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

    job_type: JobKind = "evaluation"

    def job_resource(
        self,
        c: Platform,
        find: Callable[[str], str | None],
        create: Callable[[str], str],
        resume: str,
        timeout_s: float,
    ) -> Resource:
        read = c.get_customization if self.job_type == "customization" else c.get_evaluation
        return Resource(
            kind=self.job_type,
            find=find,
            observe=lambda ref: seen_job(read(ref)),
            create=create,
            wait=lambda ref: Wait("job", ref, timeout_s, resume),
        )

    def publish(self, context: Any, ref: str) -> None:
        context["ti"].xcom_push(key="job", value=ref)

    def trigger(self, context: Any, wait: Wait, **kw: Any) -> PlatformWaitTrigger:
        return super().trigger(context, wait, job_type=self.job_type, **kw)

    def cancel(self, job_id: str | None) -> None:
        if not job_id:
            return
        with self.client() as c:
            step = self.loose_step(c) or ExperimentStep(c, MemoryStore(), Scope("", "", self.task_id, -1))
            step.cancel(self.job_type, job_id)
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
            return self.served(context, WaitEvent(status="success"))
        timeout_s = self.cfg().platform.model_sync_timeout_s
        return self.wait_for(context, self.deadline_trigger(context, ModelSyncTrigger, wait, timeout_s), "served")

    @on_worker
    @tolerates_outage
    def served(self, context: Any, event: WaitEvent | None = None) -> Deployed:
        self.show_nim(context)
        event, nim = event or WaitEvent(), self.cfg().nim(self.nim_name())
        if event.get("status") != "success":
            owner = OwnerMark.candidate(self.run_key(context)).fields()

            def release(_: str) -> None:
                with self.client() as c:
                    c.release_candidate(nim, owner)

            self.fail_wait(context, "deploy", f"served candidate {nim.model_name}", event, release)
        ready_s = round(self.elapsed(context) or 0.0, 1)
        self.log.info("%s answers through the platform after %.0fs", nim.model_name, ready_s)
        return {"nim": nim.model_name, "deployment": None, "served_url": nim.served_url, "ready_s": ready_s}

    def resource(self, context: Any, c: Platform, step: ExperimentStep) -> Resource:
        cfg = self.cfg()
        p, nim = cfg.platform, cfg.nim(self.nim_name())
        lease = GpuLease(p.gpu_budget, {n.deployment_name: n.gpus for n in cfg.nims})
        terms = LeaseTerms(timeout_s=p.lease_timeout_s, poll_s=max(p.lease_poll_s, self.defer_floor_s()))
        self._deployment = Deployment(
            step,
            nim,
            lease,
            terms,
            wait=lambda ref: Wait("deployment_ready", ref, p.deployment_timeout_s, "ready"),
            url=lambda kind, ref: self.hook().resource_url(kind, ref),
        )
        return self._deployment.resource()

    def publish(self, context: Any, ref: str) -> None:
        if getattr(self, "_deployment", None) is not None and self._deployment.created:
            cfg = self.cfg()
            nim = cfg.nim(self.nim_name())
            self.log.info(
                "GPU lease taken (budget %d): created deployment %s/%s for %s (%d GPU)",
                cfg.platform.gpu_budget,
                cfg.platform.namespace,
                ref,
                nim.model_name,
                nim.gpus,
            )
        context["ti"].xcom_push(key="deployment", value={"name": ref, "owner": self.run_key(context)})

    def trigger(self, context: Any, wait: Wait, **kw: Any) -> PlatformWaitTrigger:
        p = self.cfg().platform
        return super().trigger(
            context,
            wait,
            pending_timeout_s=p.deployment_pending_timeout_s,
            model_id=self.nim_name(),
            sync_timeout_s=p.model_sync_timeout_s,
            owner=self.run_key(context),
            **kw,
        )

    def wait_for_lease(self, context: Any, wait: Wait) -> None:
        """Someone else holds the budget: defer (freeing the pool slot) and claim again after the poll."""
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        started = self.store(context).get("lease_wait_started")
        waited = time.time() - float(str(started)) if started is not None else 0.0
        self.log.info(
            "waiting for the GPU lease (budget %d GPUs, %d needed): %s holds it (waited %.0fs); re-checking in %.0fs",
            self.cfg().platform.gpu_budget,
            self.cfg().nim(self.nim_name()).gpus,
            wait.ref,
            waited,
            wait.timeout_s,
        )
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=wait.timeout_s)), method_name="claim")

    def _release(self, context: Any) -> None:
        """A failed setup gets no teardown: delete our own deployment here so the lease is not leaked."""
        name = read_str(self.store(context), "deployment")
        if name:
            self._delete_own(name, "deleted failed deployment %s (releases the GPU lease)", context)

    def _delete_own(self, name: str, message: str, context: Any = None) -> None:
        with self.client() as c:
            step = self.step(context, c) if context is not None else self.loose_step(c)
            if step is not None and step.release(name):
                self.log.info(message, name)

    def on_kill(self) -> None:
        """Killed between creating the deployment and deferring: nothing else would delete it."""
        deployment = getattr(self, "_deployment", None)
        if deployment is not None and deployment.created:
            self._delete_own(deployment.created, "deleted deployment %s (task killed before its wait started)")

    @on_worker
    @tolerates_outage
    def ready(self, context: Any, event: WaitEvent | None = None) -> Deployed:
        self.show_nim(context)
        event = event or WaitEvent()
        if event.get("status") != "success":
            self.fail_wait(
                context, "deploy", f"deployment of {self.nim_name()}", event, lambda _: self._release(context)
            )
        ready_s = round(self.elapsed(context) or 0.0, 1)
        self.log.info("%s ready and served after %.0fs", self.nim_name(), ready_s)
        return {"nim": self.nim_name(), "deployment": read_str(self.store(context), "deployment"), "ready_s": ready_s}


class EvaluationOperator(_JobOperator):
    """One evaluation job (base, icl or customized) through NeMo Evaluator."""

    job_type: JobKind = "evaluation"
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

    @property
    def experiment_label(self) -> str:  # type: ignore[override]
        return self.experiment

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

    def resource(self, context: Any, c: Platform, step: ExperimentStep) -> Resource:
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
        return self.job_resource(c, c.find_evaluation, create, "done", timeout_s)

    @on_worker
    @tolerates_outage
    def done(self, context: Any, event: WaitEvent | None = None) -> Entry:
        from flywheel.platforms.core.configs import read_scores

        self.show_nim(context)
        event = event or WaitEvent()
        job_id = event.get("ref") or read_str(self.store(context), "evaluation") or ""
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
        rows_url = self.store_rows(context, job_id)
        if rows_url is not None:
            out["rows_url"] = rows_url
        shown = ", ".join(f"{k}={v:.3f}" for k, v in scores.items())
        self.log.info(
            "RESULT %s %s: %s (job %s, %.0fs)", self.nim_name(), self.experiment, shown, job_id, out["duration_s"] or 0
        )
        return out

    def store_rows(self, context: Any, job_id: str) -> str | None:
        """The evaluation's per-row results as the experiment's rows artifact (its URI); None, with a warning,
        when the platform returned none: the report then says the paired figures are missing."""
        from flywheel.airflow.rows_store import write_rows
        from flywheel.run.rows import decision_rows

        try:
            with self.client() as c:
                rows = decision_rows(c.evaluation_rows(job_id))
            if not rows:
                raise ValueError("no rows")
            url = write_rows(self.cfg(), self.dag_id, context["run_id"], self.nim_name(), self.experiment, rows)
        except Exception as exc:
            self.log.warning("evaluation %s: per-row results not stored (%s)", job_id, exc)
            return None
        self.log.info("rows of evaluation %s: %d -> %s", job_id, len(rows), url)
        return url


class CustomizeOperator(_JobOperator):
    """LoRA customization through NeMo Customizer; done when the adapter is served by the NIM proxy."""

    job_type: JobKind = "customization"
    experiment_label = "customized"
    template_fields: Sequence[str] = ("plan", "run", "datasets")

    def __init__(self, *, datasets: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datasets = datasets

    def check_plan(self, context: Any) -> None:
        if not self.plan.get("customize"):
            self.skip(context, "customized", "customization not enabled for this NIM/run")

    def resource(self, context: Any, c: Platform, step: ExperimentStep) -> Resource:
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

        return self.job_resource(c, find, create, "trained", cfg.platform.customization_timeout_s)

    @on_worker
    @tolerates_outage
    def trained(self, context: Any, event: WaitEvent | None = None) -> Any:
        self.show_nim(context)
        event, store = event or WaitEvent(), self.store(context)
        job_id = read_str(store, "customization")
        if event.get("status") != "success":
            self.fail_wait(
                context, "customized", f"customization {job_id}", event, self.cancel_on_timeout(job_id), job_id
            )
        model = read_str(store, "output_model") or ""
        self.log.info("customization %s completed; waiting for %s to be served", job_id, model)
        timeout_s = self.cfg().platform.model_sync_timeout_s
        return self.wait_for(context, self.deadline_trigger(context, ModelSyncTrigger, model, timeout_s), "synced")

    @on_worker
    @tolerates_outage
    def synced(self, context: Any, event: WaitEvent | None = None) -> Customized:
        self.show_nim(context)
        event, store = event or WaitEvent(), self.store(context)
        if event.get("status") != "success":
            self.fail(
                context,
                "customized",
                f"customized model {store.get('output_model')} never served: {event.get('detail')}",
                job_id=read_str(store, "customization"),
                duration_s=self.elapsed(context),
            )
        return {
            "nim": self.nim_name(),
            "job_id": read_str(store, "customization"),
            "output_model": read_str(store, "output_model"),
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
            if not self.step(context, c).release(name):
                self.log.warning(
                    "deployment %s is not this run's candidate (%s); leaving it alone", name, info.custom_fields
                )
                return {"nim": self.nim_name(), "deleted": None}
        self.log.info("deleting deployment %s; waiting until it is gone (releases the GPU lease)", name)
        wait = Wait("deployment_gone", name, self.cfg().platform.deployment_timeout_s, "gone")
        return self.wait_for(context, self.trigger(context, wait, owner=self.run_key(context)), wait.resume)

    def _cancel_running_jobs(self, context: Any, client: Platform) -> list[str]:
        """Jobs of this experiment still running (e.g. the run was marked failed) are cancelled; returns the
        ones not yet terminal, which may still hold the GPU: the deployment goes only after they stop."""
        ti, step = context["ti"], self.step(context, client)
        stopping = []
        for task_id, kind in self.job_tasks.items():
            job_id = ti.xcom_pull(task_ids=task_id, key="job", map_indexes=ti.map_index)
            if not job_id:
                continue
            if not self._stop_job(step, "customization" if kind == "customization" else "evaluation", job_id):
                stopping.append(job_id)
        return stopping

    def _stop_job(self, step: ExperimentStep, kind: JobKind, job_id: str) -> bool:
        """Cancel the job unless it is terminal; True when it no longer runs (see ExperimentStep.cancel)."""
        stopped = step.cancel(kind, job_id)
        self.log.info("%s %s: %s", kind, job_id, "not running" if stopped else "cancelled, still stopping")
        return stopped

    def _wait_jobs_stopped(self, stopping: list[str]) -> None:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        p = self.cfg().platform
        every = max(p.poll_initial_s, self.defer_floor_s())
        self.log.info("waiting for %s to stop before deleting the deployment; re-checking in %.0fs", stopping, every)
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=every)), method_name="retry_step", kwargs={"step": "execute"}
        )

    @on_worker
    def gone(self, context: Any, event: WaitEvent | None = None) -> TornDown:
        self.show_nim(context)
        event, name = event or WaitEvent(), self.name()
        if event.get("status") != "success":
            raise AirflowFailException(f"deployment {name} not deleted: {event.get('detail') or event.get('state')}")
        self.log.info("deployment %s deleted; GPU lease released", name)
        return {"nim": self.nim_name(), "deleted": name}
