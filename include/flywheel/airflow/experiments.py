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
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from flywheel.airflow.links import NemoJobLink, push_link
from flywheel.airflow.nemo_operator import NemoOperator

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
        from flywheel.airflow.connections import nemo_endpoints

        return str(nemo_endpoints(self.cfg(), self.conn_id).base_url).rstrip("/")

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
    def execute(self, context: Any) -> Any:
        return self._claim(context)

    @on_worker
    def claim(self, context: Any, event: Any = None) -> Any:
        return self._claim(context)

    def _claim(self, context: Any) -> Any:
        self.show_nim(context)
        cfg, nim, owner = self.cfg(), self.cfg().nim(self.nim_name()), self.run_key(context)
        store = self.store(context)
        with self.client() as c:
            live = [d for d in c.list_deployments() if d.custom_fields.get("flywheel_role") == ROLE_CANDIDATE]
            mine = [d for d in live if d.name == nim.deployment_name and d.custom_fields.get("flywheel_run") == owner]
            others = [d for d in live if d not in mine]
            if others:
                return self._wait_for_lease(context, others)
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
        store.set("deploy_started", time.time())
        self.defer(
            trigger=self.wait_trigger(
                "deployment_ready", nim.deployment_name, cfg.platform.deployment_timeout_s, model_id=nim.model_name
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
            if info is not None and info.custom_fields.get("flywheel_run") == self.run_key(context):
                c.delete_deployment(name)
                self.log.info("deleted failed deployment %s (releases the GPU lease)", name)

    def _wait_for_lease(self, context: Any, others: list[Any]) -> Any:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        p, store = self.cfg().platform, self.store(context)
        started = store.get("lease_wait_started")
        if started is None:
            started = time.time()
            store.set("lease_wait_started", started)
        holder = others[0]
        who = holder.custom_fields.get("flywheel_run", "?")
        waited = time.time() - float(started)
        if waited > p.lease_timeout_s:
            self.fail(
                context,
                "deploy",
                (
                    f"GPU lease still held by deployment {holder.namespace}/{holder.name} (run {who}) after "
                    f"{waited:.0f}s. If that run is gone, remove the stale deployment: "
                    f"curl -X DELETE <nemo>/v1/deployment/model-deployments/{holder.namespace}/{holder.name}"
                ),
            )
        every = max(p.lease_poll_s, self.defer_floor_s())
        self.log.info(
            "waiting for the GPU lease: %s is held by run %s (waited %.0fs); re-checking in %.0fs",
            holder.name,
            who,
            waited,
            every,
        )
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=every)), method_name="claim")

    @on_worker
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
    def execute(self, context: Any) -> Any:
        from flywheel.airflow.connections import judge_endpoint
        from flywheel.nemo.configs import evaluation_config, evaluation_target, judge_ref

        self.show_nim(context)
        model, files_url = self._target_and_data(context)
        store = self.store(context)
        with self.client() as c:
            job_id = store.get("job_id")
            if job_id:
                state = c.get_evaluation(job_id)
                if state.succeeded:
                    self.log.info("evaluation %s already completed (earlier try); reading results", job_id)
                    return self._finish(context, job_id)
                if not state.terminal:
                    self.log.info("re-attaching to evaluation %s (%s)", job_id, state.status)
                    return self._defer(job_id)
                self.log.warning("earlier evaluation %s ended '%s'; submitting a new one", job_id, state.status)
            cfg = self.cfg()
            judge = judge_endpoint(cfg) if self.judge else None
            ref = judge_ref(judge.mode, judge.model_name, judge.url, judge.api_key) if judge else None
            limit = cfg.platform.evaluation_limit or int(self.datasets["eval"]["records"])
            config = evaluation_config(str(self.workload_type), f"{files_url}/eval_data.jsonl", ref, limit)
            job_id = c.create_evaluation(config, evaluation_target(model))
        store.set("job_id", job_id)
        store.set("started", time.time())
        context["ti"].xcom_push(key="job", value=job_id)
        push_link(context, f"{self.base_url()}/v1/evaluation/jobs/{job_id}")
        self.log.info("%s eval of %s: job %s on %s", self.experiment, model, job_id, files_url)
        return self._defer(job_id)

    def _defer(self, job_id: str) -> None:
        self.defer(
            trigger=self.wait_trigger("evaluation", job_id, self.cfg().platform.evaluation_timeout_s),
            method_name="done",
        )

    @on_worker
    def done(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event = event or {}
        job_id = event.get("ref") or self.store(context).get("job_id")
        if event.get("status") != "success":
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
            job_id, output_model = store.get("job_id"), store.get("output_model")
            if job_id:
                state = c.get_customization(job_id)
                if not state.terminal or state.succeeded:
                    self.log.info("re-attaching to customization %s (%s)", job_id, state.status)
                    self._job_id = job_id
                    return self._wait_job(job_id) if not state.succeeded else self._wait_sync(output_model)
                self.log.warning("earlier customization %s ended '%s'; submitting a new one", job_id, state.status)
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
            job_id, output_model = c.create_customization(payload)
            store.set("job_id", job_id)
            store.set("output_model", output_model)
            store.set("started", time.time())
            self._job_id = job_id
            context["ti"].xcom_push(key="job", value=job_id)
            push_link(context, f"{self.base_url()}/v1/customization/jobs/{job_id}")
            self.log.info(
                "customization of %s: job %s -> %s (%d epochs, lr %s, LoRA dim %d)",
                nim.model_name,
                job_id,
                output_model,
                settings.training.epochs,
                settings.training.learning_rate,
                settings.lora.adapter_dim,
            )
            state = c.get_customization(job_id)
            self.log.info("customization %s: %s", job_id, state.status)
        return self._wait_job(job_id)

    def _wait_job(self, job_id: str) -> None:
        self.defer(
            trigger=self.wait_trigger("customization", job_id, self.cfg().platform.customization_timeout_s),
            method_name="trained",
        )

    def _wait_sync(self, output_model: str) -> None:
        self.defer(
            trigger=self.wait_trigger("model_sync", output_model, self.cfg().platform.model_sync_timeout_s),
            method_name="synced",
        )

    @on_worker
    def trained(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        self.show_nim(context)
        event, store = event or {}, self.store(context)
        job_id = store.get("job_id")
        if event.get("status") != "success":
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
    def execute(self, context: Any) -> Any:
        self.show_nim(context)
        deployment = self.pull(context, "deploy_nim", key="deployment")
        if not deployment:
            self.log.info("nothing to tear down: %s was never deployed by this run", self.nim_name())
            return {"nim": self.nim_name(), "deleted": None}
        name = deployment["name"]
        with self.client() as c:
            self._cancel_running_jobs(context, c)
            info = c.get_deployment(name)
            if info is None:
                self.log.info("deployment %s already gone", name)
                return {"nim": self.nim_name(), "deleted": name}
            if info.custom_fields.get("flywheel_run") != self.run_key(context):
                self.log.warning(
                    "deployment %s now belongs to %s; leaving it alone", name, info.custom_fields.get("flywheel_run")
                )
                return {"nim": self.nim_name(), "deleted": None}
            c.delete_deployment(name)
        self.log.info("deleting deployment %s; waiting until it is gone (releases the GPU lease)", name)
        self.defer(
            trigger=self.wait_trigger("deployment_gone", name, self.cfg().platform.deployment_timeout_s),
            method_name="gone",
        )

    def _cancel_running_jobs(self, context: Any, client: Any) -> None:
        """Jobs of this experiment still running (e.g. the run was marked failed) stop before the NIM goes."""
        for task in self.JOB_TASKS:
            job_id = self.pull(context, task, key="job")
            if not job_id:
                continue
            if task == "customize":
                state = client.get_customization(job_id)
                if not state.terminal:
                    client.cancel_customization(job_id)
                    self.log.info("cancelled customization %s", job_id)
            else:
                state = client.get_evaluation(job_id)
                if not state.terminal:
                    client.cancel_evaluation(job_id)
                    self.log.info("cancelled evaluation %s", job_id)

    @on_worker
    def gone(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.show_nim(context)
        event = event or {}
        name = (self.pull(context, "deploy_nim", key="deployment") or {}).get("name")
        if event.get("status") != "success":
            raise AirflowFailException(f"deployment {name} not deleted: {event.get('detail') or event.get('state')}")
        self.log.info("deployment %s deleted; GPU lease released", name)
        return {"nim": self.nim_name(), "deleted": name}
