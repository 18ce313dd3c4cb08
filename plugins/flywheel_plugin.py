"""Registers the flywheel's operator extra links with the Airflow UI / API server."""

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from flywheel.airflow.links import NemoJobLink


class FlywheelPlugin(AirflowPlugin):
    name = "flywheel"
    operator_extra_links: ClassVar[list] = [NemoJobLink()]
