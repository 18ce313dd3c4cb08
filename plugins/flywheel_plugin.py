"""Registers the flywheel with Airflow's UI / API server: operator extra links ("NeMo job", "Flywheel
report"), the Flywheel results page (a FastAPI app under ``/flywheel``, in the navigation as "Flywheel") and
the trigger-time ``conf`` check (unknown keys are a 400) and the exactly-once guard on approval answers
(docs/approvals.md)."""

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from flywheel.airflow.answer_guard import AnswerOnce
from flywheel.airflow.conf_guard import RefuseUnknownConf
from flywheel.airflow.links import NemoJobLink
from flywheel.airflow.results_page import build_app
from flywheel.airflow.run_report import RunReportLink

PAGE_PREFIX = "/flywheel"


class FlywheelPlugin(AirflowPlugin):
    name = "flywheel"
    operator_extra_links: ClassVar[list] = [NemoJobLink(), RunReportLink()]
    fastapi_apps: ClassVar[list] = [{"app": build_app(), "url_prefix": PAGE_PREFIX, "name": "Flywheel results"}]
    fastapi_root_middlewares: ClassVar[list] = [
        {"middleware": RefuseUnknownConf, "name": "flywheel: refuse unknown conf keys"},
        {"middleware": AnswerOnce, "name": "flywheel: apply each approval answer exactly once"},
    ]
    # Shown inside Airflow's UI (an iframe at /plugin/flywheel) with a "Flywheel" entry in the navigation.
    external_views: ClassVar[list] = [
        {
            "name": "Flywheel",
            "href": f"{PAGE_PREFIX}/",
            "url_route": "flywheel",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
