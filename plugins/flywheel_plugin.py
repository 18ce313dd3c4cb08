"""Registers the flywheel's operator extra links and its trigger-time ``conf`` check with the API server."""

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from flywheel.airflow.conf_guard import RefuseUnknownConf
from flywheel.airflow.links import NemoJobLink


class FlywheelPlugin(AirflowPlugin):
    name = "flywheel"
    operator_extra_links: ClassVar[list] = [NemoJobLink()]
    fastapi_root_middlewares: ClassVar[list] = [
        {"middleware": RefuseUnknownConf, "name": "flywheel: refuse unknown conf keys"}
    ]
