"""Deferrable operators for one NIM's experiments (design §2–§3).

``DeployNimOperator`` claims the GPU lease inside the single-slot pool and waits (deferred) for the NIM;
``EvaluationOperator`` runs a base / ICL / customized evaluation; ``CustomizeOperator`` runs LoRA
customization and waits for the adapter to be served; ``TeardownNimOperator`` deletes what this run
created and waits until it is gone. Each stores its NMP ids in the task state store before waiting, so a
retry re-attaches instead of starting a second job, and each leaves a result entry in XCom whatever the
outcome (key ``entry`` on failure or skip, the return value on success).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from flywheel.airflow.links import NemoJobLink, push_link
from flywheel.airflow.nemo_operator import NemoOperator, tolerates_outage
from flywheel.airflow.triggers import is_own_candidate

GPU_POOL = "flywheel_gpu"
ROLE_CANDIDATE = "candidate"


def on_worker(method: Callable[..., Any]) -> Callable[..., Any]:
    """Account the time a method holds a worker slot (XCom ``worker_s``, summed over deferrals and tries)."""

    @functools.wraps(method)
    def wrapper(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return method(self, context, *args, **kwargs)
        finally:
            store = context["task_state_store"]
            total = round(float(store.get("worker_s") or 0.0) + time.monotonic() - started, 3)
            store.set("worker_s", total)
            context["ti"].xcom_push(key="worker_s", value=total)

    return wrapper


def entry(nim: str, experiment: str, status: str, **kw: Any) -> dict[str, Any]:
    """A result entry (design §5)."""
    return {
        "nim": nim,
        "experiment": experiment,
        "status": status,
        "scores": kw.get("scores") or {},
        "error": kw.get("error"),
        "job_id": kw.get("job_id"),
        "duration_s": round(float(kw["duration_s"]), 1) if kw.get("duration_s") is not None else None,
    }


class _ExperimentOperator(NemoOperator):
    """Shared plumbing: the task state store, sibling XComs, result entries."""

    template_fields = ("plan", "run")
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

    def sibling(self, name: str) -> str:
        group = self.task_id.rsplit(".", 1)[0] if "." in self.task_id else ""
        return f"{group}.{name}" if group else name

    def pull(self, context: Any, task: str, key: str = "return_value") -> Any:
        ti = context["ti"]
        return ti.xcom_pull(task_ids=self.sibling(task), key=key, map_indexes=ti.map_index)

    def base_url(self) -> str:
        return str(self.hook().endpoints().base_url).rstrip("/")

    # ------------------------------------------------------------ the one resume decision
    def request_id(self, context: Any) -> str:
        """Deterministic id of the job this task instance creates: the same for every try (so a try that
        crashed between "created" and "stored the id" is found again), new only after a job ended failed."""
        ti, store = context["ti"], self.store(context)
        key = (
            f"{context['dag'].dag_id}/{context['run_id']}/{self.task_id}/{ti.map_index}/{store.get('generation') or 0}"
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def attach_or_create(
        self,
        context: Any,
        kind: str,
        find: Callable[[str], str | None],
        state_of: Callable[[str], Any],
        create: Callable[[str], str],
    ) -> tuple[str, Any]:
        """Look up the job this try or an earlier try created (stored id, else the deterministic request id)
        and re-attach to it unless it ended failed; else create one. Always records the id and publishes it
        (XCom ``job`` + link) before the caller defers. Returns (job id, its state, or None when new)."""
        store = self.store(context)
        job_id = store.get("job_id") or find(self.request_id(context))
        if job_id:
            state = state_of(job_id)
            if state.succeeded or not state.terminal:
                self.log.info("re-attaching to %s %s (%s) created by an earlier try", kind, job_id, state.status)
                store.set("job_id", job_id)
                if store.get("started") is None:
                    store.set("started", time.time())
                self.announce(context, kind, job_id)
                return job_id, state
            self.log.warning("earlier %s %s ended '%s'; submitting a new one", kind, job_id, state.status)
            store.set("generation", int(store.get("generation") or 0) + 1)
        job_id = create(self.request_id(context))
        store.set("job_id", job_id)
        store.set("started", time.time())
        self.announce(context, kind, job_id)
        self.log.info("%s %s created: %s", kind, job_id, state_of(job_id).status)
        return job_id, None

    def announce(self, context: Any, kind: str, job_id: str) -> None:
        """Every try that waits on a job publishes it: the teardown cancels the jobs it finds in XCom ``job``."""
        context["ti"].xcom_push(key="job", value=job_id)
        push_link(context, f"{self.base_url()}/v1/{kind}/jobs/{job_id}")

    def fail(self, context: Any, experiment: str, message: str, **kw: Any) -> None:
        context["ti"].xcom_push(key="entry", value=entry(self.nim_name(), experiment, "failed", error=message, **kw))
        self.log.error("%s %s failed: %s", self.nim_name(), experiment, message)
        raise AirflowFailException(message)

    def skip(self, context: Any, experiment: str, reason: str) -> None:
        context["ti"].xcom_push(key="entry", value=entry(self.nim_name(), experiment, "skipped", error=reason))
        self.log.info("%s %s skipped: %s", self.nim_name(), experiment, reason)
        raise AirflowSkipException(reason)


class DeployNimOperator(_ExperimentOperator):
    """Claim the GPU lease (check-and-create while holding the one pool slot), then wait for the NIM."""

    @on_worker
    @tolerates_outage
    def execute(self, context: Any) -> Any:
        return self._claim(context)

    @on_worker
    @tolerates_outage
    def claim(self, context: Any, event: Any = None) -> Any:
        return self._claim(context)

    def _claim(self, context: Any) -> Any:
        self.show_nim(context)
        cfg, nim, owner = self.cfg(), self.cfg().nim(self.nim_name()), self.run_key(context)
        store, self._owner = self.store(context), owner
        with self.client() as c:
            live = [d for d in c.list_deployments() if d.custom_fields.get("flywheel_role") == ROLE_CANDIDATE]
            mine = [d for d in live if d.name == nim.deployment_name and is_own_candidate(d.custom_fields, owner)]
            others = [d for d in live if d not in mine]
            if others:
                holder = others[0]
                return self._wait_for_lease(
                    context,
                    f"deployment {holder.namespace}/{holder.name}",
                    holder.custom_fields.get("flywheel_run", "?"),
                    f"curl -X DELETE <nemo>/v1/deployment/model-deployments/{holder.namespace}/{holder.name}",
                )
            # a cancelled or still running customization of another experiment may still hold its GPU
            run_tag = f"{context['run_id']}-{context['ti'].map_index}"
            training = [
                (job_id, fields)
                for job_id, state, fields in c.list_customizations()
                if not state.terminal and "flywheel_workload" in fields and fields.get("flywheel_run") != run_tag
            ]
            if training and not mine:
                job_id, fields = training[0]
                return self._wait_for_lease(
                    context,
                    f"customization job {job_id}",
                    fields.get("flywheel_run", "?"),
                    f"curl -X POST <nemo>/v1/customization/jobs/{job_id}/cancel",
                )
            if not mine:
                squatter = c.get_deployment(nim.deployment_name)
                if squatter is not None:
                    # never adopt a deployment we did not create as a candidate (e.g. a shared judge NIM)
                    self.fail(
                        context,
                        "deploy",
                        f"deployment {squatter.namespace}/{squatter.name} already exists and is not this run's "
                        f"candidate (custom_fields {squatter.custom_fields}); a candidate NIM must not share its "
                        "model with the judge or embedding NIM (flywheel check-config reports this)",
                    )
            if store.get("lease_wait_started") is not None:
                store.delete("lease_wait_started")
            if mine:
                self.log.info("re-attaching to deployment %s (created earlier by this run)", nim.deployment_name)
            else:
                fields = {
                    "flywheel_role": ROLE_CANDIDATE,
                    "flywheel_run": owner,
                    "flywheel_map_index": str(context["ti"].map_index),
                }
                self._created = nim.deployment_name
                c.create_deployment(nim, fields)
                self.log.info(
                    "GPU lease taken: created deployment %s/%s for %s (%d GPU)",
                    cfg.platform.namespace,
                    nim.deployment_name,
                    nim.model_name,
                    nim.gpus,
                )
        store.set("deployment", nim.deployment_name)
        push_link(
            context, f"{self.base_url()}/v1/deployment/model-deployments/{cfg.platform.namespace}/{nim.deployment_name}"
        )
        context["ti"].xcom_push(key="deployment", value={"name": nim.deployment_name, "owner": owner})
        if store.get("deploy_started") is None:
            store.set("deploy_started", time.time())
        self.defer(
            trigger=self.wait_trigger(
                "deployment_ready",
                nim.deployment_name,
                cfg.platform.deployment_timeout_s,
                model_id=nim.model_name,
                end_time=self.deadline(context, "deploy", cfg.platform.deployment_timeout_s),
                owner=owner,
            ),
            method_name="ready",
        )

    def _release(self, context: Any) -> None:
        """A failed setup gets no teardown: delete our own deployment here so the lease is not leaked."""
        name = self.store(context).get("deployment")
        if not name:
            return
        with self.client() as c:
            info = c.get_deployment(name)
            if info is not None and is_own_candidate(info.custom_fields, self.run_key(context)):
                c.delete_deployment(name)
                self.log.info("deleted failed deployment %s (releases the GPU lease)", name)

    def on_kill(self) -> None:
        """Killed between creating the deployment and deferring: nothing else would delete it."""
        name, owner = getattr(self, "_created", None), getattr(self, "_owner", None)
        if not name or not owner:
            return
        with self.client() as c:
            info = c.get_deployment(name)
            if info is not None and is_own_candidate(info.custom_fields, owner):
                c.delete_deployment(name)
                self.log.info("deleted deployment %s (task killed before its wait started)", name)

    def _wait_for_lease(self, context: Any, holder: str, who: str, remedy: str) -> Any:
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

    @on_worker
    @tolerates_outage
    def ready(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event = event or {}
        started = float(self.store(context).get("deploy_started") or time.time())
        if event.get("status") != "success":
            self._release(context)
            self.fail(
                context,
                "deploy",
                f"deployment of {self.nim_name()} {event.get('status')}: {event.get('detail') or event.get('state')}",
                duration_s=time.time() - started,
            )
        self.log.info("%s ready and served after %.0fs", self.nim_name(), time.time() - started)
        return {
            "nim": self.nim_name(),
            "deployment": self.store(context).get("deployment"),
            "ready_s": round(time.time() - started, 1),
        }


class EvaluationOperator(_ExperimentOperator):
    """One evaluation job (base, icl or customized) through NeMo Evaluator."""

    template_fields = ("plan", "run", "datasets", "judge", "built")

    def __init__(self, *, experiment: str, datasets: Any, judge: Any, built: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if experiment not in ("base", "icl", "customized"):
            raise ValueError(f"unknown experiment '{experiment}'")
        self.experiment, self.datasets, self.judge, self.built = experiment, datasets, judge, built

    @property
    def workload_type(self) -> str:
        return str(self.built["workload_type"])

    def _target_and_data(self, context: Any) -> tuple[str, str]:
        if self.experiment == "icl":
            if not self.plan.get("icl") or not (self.datasets or {}).get("icl"):
                self.skip(context, "icl", "ICL disabled or not applicable to this workload")
            return self.nim_name(), self.datasets["icl"]["files_url"]
        if self.experiment == "customized":
            if not self.plan.get("customize"):
                self.skip(context, "customized", "customization not enabled for this NIM/run")
            custom = self.pull(context, "customize") or {}
            if not custom.get("output_model"):
                self.fail(context, "customized", "no customized model: the customize task produced none")
            return custom["output_model"], self.datasets["eval"]["files_url"]
        return self.nim_name(), self.datasets["eval"]["files_url"]

    @on_worker
    @tolerates_outage
    def execute(self, context: Any) -> Any:
        from flywheel.airflow.connections import judge_endpoint
        from flywheel.nemo.configs import evaluation_config, evaluation_target, judge_ref

        self.show_nim(context)
        model, files_url = self._target_and_data(context)
        with self.client() as c:

            def create(request_id: str) -> str:
                cfg = self.cfg()
                judge = judge_endpoint(cfg) if self.judge else None
                ref = judge_ref(judge.mode, judge.model_name, judge.url, judge.api_key) if judge else None
                limit = cfg.platform.evaluation_limit or int(self.datasets["eval"]["records"])
                config = evaluation_config(str(self.workload_type), f"{files_url}/eval_data.jsonl", ref, limit)
                job_id = c.create_evaluation(config, evaluation_target(model), request_id)
                self.log.info("%s eval of %s: job %s on %s", self.experiment, model, job_id, files_url)
                return job_id

            job_id, state = self.attach_or_create(context, "evaluation", c.find_evaluation, c.get_evaluation, create)
        if state is not None and state.succeeded:
            self.log.info("evaluation %s already completed (earlier try); reading results", job_id)
            return self._finish(context, job_id)
        return self._defer(context, job_id)

    def _defer(self, context: Any, job_id: str) -> None:
        timeout_s = self.cfg().platform.evaluation_timeout_s
        self.defer(
            trigger=self.wait_trigger(
                "evaluation", job_id, timeout_s, end_time=self.deadline(context, f"evaluation:{job_id}", timeout_s)
            ),
            method_name="done",
        )

    @on_worker
    @tolerates_outage
    def done(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event = event or {}
        job_id = event.get("ref") or self.store(context).get("job_id")
        if event.get("status") != "success":
            if event.get("status") == "timeout":
                with self.client() as c:  # the final failure: stop the GPU work this run started
                    c.cancel_evaluation(job_id)
            self.fail(
                context,
                self.experiment,
                f"evaluation {job_id} {event.get('status')}: {event.get('detail') or event.get('state')}",
                job_id=job_id,
                duration_s=self._elapsed(context),
            )
        return self._finish(context, job_id)

    def _finish(self, context: Any, job_id: str) -> dict[str, Any]:
        from flywheel.nemo.configs import read_scores

        with self.client() as c:
            results = c.evaluation_results(job_id)
        try:
            scores = read_scores(str(self.workload_type), results)
        except Exception as exc:
            self.fail(context, self.experiment, f"evaluation {job_id} results unreadable: {exc}", job_id=job_id)
        out = entry(
            self.nim_name(),
            self.experiment,
            "completed",
            scores=scores,
            job_id=job_id,
            duration_s=self._elapsed(context),
        )
        shown = ", ".join(f"{k}={v:.3f}" for k, v in scores.items())
        self.log.info(
            "RESULT %s %s: %s (job %s, %.0fs)", self.nim_name(), self.experiment, shown, job_id, out["duration_s"] or 0
        )
        return out

    def _elapsed(self, context: Any) -> float | None:
        started = self.store(context).get("started")
        return time.time() - float(started) if started else None


class CustomizeOperator(_ExperimentOperator):
    """LoRA customization through NeMo Customizer; done when the adapter is served by the NIM proxy."""

    template_fields = ("plan", "run", "datasets")

    def __init__(self, *, datasets: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datasets = datasets
        self._job_id: str | None = None

    @on_worker
    @tolerates_outage
    def execute(self, context: Any) -> Any:
        from flywheel.airflow.run_settings import RunSettings
        from flywheel.nemo.configs import customization_job

        self.show_nim(context)
        if not self.plan.get("customize"):
            self.skip(context, "customized", "customization not enabled for this NIM/run")
        store, cfg = self.store(context), self.cfg()
        nim = cfg.nim(self.nim_name())
        settings = RunSettings.model_validate(self.run["settings"])
        with self.client() as c:

            def find(request_id: str) -> str | None:
                found = c.find_customization(request_id)
                if found:
                    store.set("output_model", found[1])
                return found[0] if found else None

            def create(request_id: str) -> str:
                config_ref = c.ensure_customization_config(nim, settings.training)
                run_tag = f"{context['run_id']}-{context['ti'].map_index}"
                payload = customization_job(
                    settings.workload_id,
                    run_tag,
                    nim,
                    config_ref,
                    self.datasets["train"]["name"],
                    cfg.platform.namespace,
                    settings.training,
                    settings.lora,
                )
                job_id, output_model = c.create_customization(payload, request_id)
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
                return job_id

            job_id, state = self.attach_or_create(context, "customization", find, c.get_customization, create)
        self._job_id = job_id
        if state is not None and state.succeeded:
            return self._wait_sync(store.get("output_model"))
        return self._wait_job(context, job_id)

    def _wait_job(self, context: Any, job_id: str) -> None:
        timeout_s = self.cfg().platform.customization_timeout_s
        self.defer(
            trigger=self.wait_trigger(
                "customization",
                job_id,
                timeout_s,
                end_time=self.deadline(context, f"customization:{job_id}", timeout_s),
            ),
            method_name="trained",
        )

    def _wait_sync(self, output_model: str) -> None:
        self.defer(
            trigger=self.wait_trigger("model_sync", output_model, self.cfg().platform.model_sync_timeout_s),
            method_name="synced",
        )

    @on_worker
    @tolerates_outage
    def trained(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        self.show_nim(context)
        event, store = event or {}, self.store(context)
        job_id = store.get("job_id")
        if event.get("status") != "success":
            if event.get("status") == "timeout":
                with self.client() as c:  # the final failure: stop the GPU work this run started
                    c.cancel_customization(job_id)
            self.fail(
                context,
                "customized",
                f"customization {job_id} {event.get('status')}: {event.get('detail') or event.get('state')}",
                job_id=job_id,
                duration_s=self._elapsed(context),
            )
        self.log.info("customization %s completed; waiting for %s to be served", job_id, store.get("output_model"))
        return self._wait_sync(store.get("output_model"))

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
                job_id=store.get("job_id"),
                duration_s=self._elapsed(context),
            )
        return {
            "nim": self.nim_name(),
            "job_id": store.get("job_id"),
            "output_model": store.get("output_model"),
            "duration_s": round(self._elapsed(context) or 0.0, 1),
        }

    def _elapsed(self, context: Any) -> float | None:
        started = self.store(context).get("started")
        return time.time() - float(started) if started else None

    def on_kill(self) -> None:
        if self._job_id:
            with self.client() as c:
                c.cancel_customization(self._job_id)
            self.log.info("cancelled customization %s", self._job_id)


class TeardownNimOperator(_ExperimentOperator):
    """Delete the deployment this run created (never anyone else's) and wait until it is gone."""

    JOB_TASKS = ("customize", "base_eval", "icl_eval", "customized_eval")

    @on_worker
    @tolerates_outage
    def execute(self, context: Any) -> Any:
        self.show_nim(context)
        deployment = self.pull(context, "deploy_nim", key="deployment")
        if not deployment:
            self.log.info("nothing to tear down: %s was never deployed by this run", self.nim_name())
            return {"nim": self.nim_name(), "deleted": None}
        name = deployment["name"]
        with self.client() as c:
            stopping = self._cancel_running_jobs(context, c)
            if stopping and time.time() < self.deadline(context, "jobs_stop", self.cfg().platform.deployment_timeout_s):
                return self._wait_jobs_stopped(stopping)
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
        timeout_s = self.cfg().platform.deployment_timeout_s
        self.defer(
            trigger=self.wait_trigger(
                "deployment_gone",
                name,
                timeout_s,
                end_time=self.deadline(context, "gone", timeout_s),
                owner=self.run_key(context),
            ),
            method_name="gone",
        )

    def _cancel_running_jobs(self, context: Any, client: Any) -> list[str]:
        """Jobs of this experiment still running (e.g. the run was marked failed) are cancelled; returns the
        ones not yet terminal, which may still hold the GPU: the deployment goes only after they stop."""
        stopping = []
        for task in self.JOB_TASKS:
            job_id = self.pull(context, task, key="job")
            if not job_id:
                continue
            kind = "customization" if task == "customize" else "evaluation"
            read = client.get_customization if kind == "customization" else client.get_evaluation
            if read(job_id).terminal:
                continue
            (client.cancel_customization if kind == "customization" else client.cancel_evaluation)(job_id)
            self.log.info("cancelled %s %s", kind, job_id)
            if not read(job_id).terminal:
                stopping.append(job_id)
        return stopping

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
        event = event or {}
        name = (self.pull(context, "deploy_nim", key="deployment") or {}).get("name")
        if event.get("status") != "success":
            raise AirflowFailException(f"deployment {name} not deleted: {event.get('detail') or event.get('state')}")
        self.log.info("deployment %s deleted; GPU lease released", name)
        return {"nim": self.nim_name(), "deleted": name}
