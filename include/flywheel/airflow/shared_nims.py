"""Deferrable setup of the NIMs that live outside the GPU lease (docs/contracts.md#the-dag and #the-gpu-lease).

``PrepareJudgeOperator`` health-checks a remote LLM judge, or deploys the shared local judge NIM if it is
absent and waits for it *deferred* (a 70B judge can take many minutes to pull and load). A run never
deletes the judge: other runs may be using it (``flywheel judge-down`` removes it deliberately).

``PrepareEmbedderOperator`` / ``TeardownEmbedderOperator`` bracket ``build_datasets`` when ICL selects
examples by semantic similarity with a local embedding NIM: the setup deploys it if absent and waits
deferred; the teardown of the last flywheel run using it deletes it and waits until it is gone.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

from airflow.sdk.exceptions import AirflowFailException

from flywheel.airflow.connections import judge_endpoint
from flywheel.airflow.nemo_operator import NemoOperator
from flywheel.airflow.run_settings import RunSettings
from flywheel.airflow.triggers import DeploymentGoneTrigger, DeploymentReadyTrigger
from flywheel.platforms.core.chat import check_chat_endpoint
from flywheel.platforms.marks import EMBEDDING, JUDGE, OwnerMark, owner_of, role_of
from flywheel.run.experiment import WaitEvent

ACTIVE_STATES = frozenset(
    {"scheduled", "queued", "running", "deferred", "up_for_retry", "up_for_reschedule", "restarting"}
)


class SharedNim(TypedDict):
    """The embedding NIM a run deployed or found (XCom of ``prepare_embedder``)."""

    model_name: str
    deployment: str


def runs_using_embedder(task_states: dict[str, dict[str, str | None]], own_run_id: str) -> list[str]:
    """Other runs between ``prepare_embedder`` starting and ``teardown_embedder`` finishing.

    ``task_states`` is ``{run_id: {task_id: state}}`` as the Task SDK's ``get_task_states`` returns it. A run
    counts from the moment its prepare is scheduled until its own teardown has ended, which also covers the
    scheduler's gap between a finished prepare and a not yet scheduled ``build_datasets``.
    """
    users = []
    for run_id, states in task_states.items():
        prepare, teardown = states.get("prepare_embedder"), states.get("teardown_embedder")
        if (
            run_id != own_run_id
            and (prepare in ACTIVE_STATES or prepare == "success")
            and (teardown is None or teardown in ACTIVE_STATES)
        ):
            users.append(run_id)
    return sorted(users)


def judge_needed(workload_type: str, cfg: Any) -> bool:
    """Generic workloads are scored by the judge; tool calling adds judge correctness unless mode is none."""
    if workload_type == "generic":
        return True
    return workload_type == "tool_calling" and cfg.judge.mode != "none"


def embedder_needed(settings: Any, cfg: Any) -> bool:
    """A local embedding NIM is needed only for semantic-similarity ICL selection in local mode."""
    icl = settings.icl
    return bool(icl.enabled and icl.selection == "semantic_similarity" and cfg.embedding.mode == "local")


class _SharedNimOperator(NemoOperator):
    def ensure_served(self, context: Any, nim: Any, role: str, method_name: str) -> bool:
        """Deploy ``nim`` if it is absent, then defer until it is served. Returns True when it is served
        already (no wait). Ownership lives on the platform: the deployment is marked with this run."""
        with self.client() as c:
            info = c.get_deployment(nim.deployment_name)
            if info is None:
                c.create_deployment(nim, OwnerMark(role, self.run_key(context)).fields())
                self.log.info(
                    "deployed %s NIM %s as %s (%d GPU); waiting for it deferred",
                    role,
                    nim.model_name,
                    nim.deployment_name,
                    nim.gpus,
                )
            elif nim.model_name in c.list_models():
                self.log.info("%s %s is served (deployment %s)", role, nim.model_name, nim.deployment_name)
                return True
            else:
                self.log.info(
                    "%s deployment %s exists (%s); waiting for it deferred", role, nim.deployment_name, info.status
                )
        self.defer_wait(context, "deployment_ready", nim, method_name)
        return False  # not reached: defer raises

    def defer_wait(self, context: Any, kind: str, nim: Any, method_name: str) -> None:
        """Hand the wait for ``nim``'s deployment (ready and served, or gone) to the triggerer."""
        context["task_state_store"].set("wait_started", time.time())
        p = self.cfg().platform
        end_time = self.deadline(context, f"{kind}:{nim.deployment_name}", p.deployment_timeout_s)
        if kind == "deployment_ready":
            trigger = self.platform_wait(
                DeploymentReadyTrigger,
                nim.deployment_name,
                end_time,
                pending_timeout_s=p.deployment_pending_timeout_s,
                model_id=nim.model_name,
                sync_timeout_s=p.model_sync_timeout_s,
            )
        else:
            trigger = self.platform_wait(DeploymentGoneTrigger, nim.deployment_name, end_time)
        trigger.not_before = time.time() + self.defer_floor_s()
        self.defer(trigger=trigger, method_name=method_name)

    def check_event(self, context: Any, event: WaitEvent | None, what: str, hint: str = "") -> None:
        event = event or WaitEvent()
        waited = time.time() - float(context["task_state_store"].get("wait_started") or time.time())
        if event.get("status") != "success":
            raise AirflowFailException(
                f"{what} {event.get('status', 'failed')}: {event.get('detail') or event.get('state')}{hint}"
            )
        self.log.info("%s: %s after %.0fs (%s status polls)", what, event.get("state"), waited, event.get("polls"))


class PrepareJudgeOperator(_SharedNimOperator):
    """Make sure the LLM judge answers before any evaluation needs it (None when no metric needs it)."""

    template_fields = ("built",)

    def __init__(self, *, built: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = built

    def execute(self, context: Any) -> dict[str, object] | None:
        cfg = self.cfg()
        wtype = str(self.built["workload_type"])
        if not judge_needed(wtype, cfg):
            self.log.info("no LLM judge needed for a %s workload", wtype)
            return None
        judge = judge_endpoint(cfg)
        if judge.mode == "none":
            raise AirflowFailException("generic workloads are scored by an LLM judge, but judge.mode is 'none'")
        if judge.mode == "remote":
            if not judge.url:
                raise AirflowFailException(
                    "judge.mode is remote but no URL: define connection 'flywheel_judge' (host = chat-completions URL)"
                )
            check_chat_endpoint(judge.url, judge.model_name, judge.api_key, timeout_s=cfg.platform.request_timeout_s)
            self.log.info("remote judge %s at %s answers", judge.model_name, judge.url)
            return judge.public()
        if self.ensure_served(context, cfg.judge.as_nim(), JUDGE, "judge_ready"):
            return judge.public()
        return None  # not reached

    def judge_ready(self, context: Any, event: WaitEvent | None = None) -> dict[str, object]:
        cfg = self.cfg()
        name = cfg.judge.as_nim().deployment_name
        self.check_event(
            context,
            event,
            f"local judge {cfg.judge.model_name}",
            f" (if deployment {name} is broken, remove it with `flywheel judge-down` and retry)",
        )
        return judge_endpoint(cfg).public()


class PrepareEmbedderOperator(_SharedNimOperator):
    """Deploy the local embedding NIM for semantic-similarity ICL selection (None when not needed)."""

    template_fields = ("run",)

    def __init__(self, *, run: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run

    def _result(self) -> SharedNim:
        nim = self.cfg().embedding.as_nim()
        return {"model_name": nim.model_name, "deployment": nim.deployment_name}

    def execute(self, context: Any) -> SharedNim | None:
        cfg = self.cfg()
        settings = RunSettings.model_validate(self.run["settings"])
        if not embedder_needed(settings, cfg):
            self.log.info(
                "no embedding NIM to deploy (ICL selection %s, embedding mode %s)",
                settings.icl.selection if settings.icl.enabled else "off",
                cfg.embedding.mode,
            )
            return None
        if self.ensure_served(context, cfg.embedding.as_nim(), EMBEDDING, "embedder_ready"):
            return self._result()
        return None  # not reached

    def embedder_ready(self, context: Any, event: WaitEvent | None = None) -> SharedNim | None:
        if (event or {}).get("state") == "deleted":
            self.log.warning(
                "embedding deployment was deleted while this run waited (another run's teardown); deploying it again"
            )
            return self.execute(context)
        self.check_event(context, event, f"embedding NIM {self.cfg().embedding.model_name}")
        return self._result()


class TeardownEmbedderOperator(_SharedNimOperator):
    """The last run out deletes the embedding NIM: if a flywheel run deployed it (``flywheel_role:
    embedding``) and no other flywheel run is preparing or using it, delete it and wait until it is gone.
    A deployment made by someone else (no mark) is never touched."""

    def users_elsewhere(self, context: Any) -> list[str]:
        """``dag_id/run_id`` of the other flywheel runs that are deploying or using the embedder right now."""
        ti, own = context["ti"], context["run_id"]
        return [
            f"{w.dag_id}/{run_id}"
            for w in self.cfg().workloads
            for run_id in runs_using_embedder(
                ti.get_task_states(dag_id=w.dag_id, task_ids=["prepare_embedder", "teardown_embedder"]),
                own if w.dag_id == ti.dag_id else "",
            )
        ]

    def execute(self, context: Any) -> str:
        nim = self.cfg().embedding.as_nim()
        with self.client() as c:
            info = c.get_deployment(nim.deployment_name)
            if info is None:
                self.log.info("no embedding deployment %s to remove", nim.deployment_name)
                return "absent"
            if role_of(info.custom_fields) != EMBEDDING:
                self.log.info(
                    "embedding deployment %s kept: it was not deployed by a flywheel run", nim.deployment_name
                )
                return "kept"
            users = self.users_elsewhere(context)
            if users:
                self.log.info(
                    "embedding deployment %s kept: other flywheel runs are deploying or using it (%s); "
                    "the last run out deletes it",
                    nim.deployment_name,
                    ", ".join(users),
                )
                return "kept"
            c.delete_deployment(nim.deployment_name)
        self.log.info(
            "deleting embedding deployment %s (deployed by run %s; no other run uses it); waiting until it is gone",
            nim.deployment_name,
            owner_of(info.custom_fields),
        )
        self.defer_wait(context, "deployment_gone", nim, "gone")
        return "deleting"  # not reached

    def gone(self, context: Any, event: WaitEvent | None = None) -> str:
        name = self.cfg().embedding.as_nim().deployment_name
        self.check_event(context, event, f"deletion of embedding deployment {name}")
        return "deleted"
