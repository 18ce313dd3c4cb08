"""Operator extra link "NeMo job": the URL of the deployment / customization / evaluation a task started.

The operator stores the URL under the link's XCom key when it creates the NMP object, so the UI needs no
platform access to render the button.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom


class NemoJobLink(BaseOperatorLink):
    name = "NeMo job"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return XCom.get_value(key=self.xcom_key, ti_key=ti_key) or ""


def push_link(context: Any, url: str) -> None:
    context["ti"].xcom_push(key=NemoJobLink().xcom_key, value=url)
