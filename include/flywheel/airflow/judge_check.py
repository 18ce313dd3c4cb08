"""Task ``check_judge``: the judge's probes, outside the GPU lease
(docs/results.md#paired-comparisons-slices-and-judge-checks).

Before the evaluations' judge scores are believed, the judge scores a probe set built from the run's own eval
records (``decision.judge_checks``), each probe rendered with the evaluation's own judge prompt and read
with its parser (``platforms.core.configs``), through the judge the evaluations use (``judge_endpoint``:
the remote chat-completions URL and key of ``flywheel_judge``, or the local judge NIM through the
platform). XCom gets the probe results (a few dozen small records) and the verdict on the probes alone; the
report adds the agreement with exact metrics from the rows artifacts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from flywheel.airflow import artifacts
from flywheel.airflow.connections import JudgeEndpoint, judge_endpoint
from flywheel.airflow.hooks import NemoHook
from flywheel.airflow.shared_nims import judge_needed
from flywheel.config import load_config
from flywheel.decision.judge_checks import (
    JUDGE_METRICS,
    JudgeCheck,
    Probe,
    ProbeItem,
    ProbeResult,
    build_probes,
    check_judge,
    item_from_record,
    run_probes,
)
from flywheel.jsontypes import JsonObject
from flywheel.platforms.core import configs as C
from flywheel.platforms.core.http import SyncHttp, bearer
from flywheel.platforms.core.retry import RetryPolicy
from flywheel.run.models import Built, Extracted

if TYPE_CHECKING:
    from flywheel.config import FlywheelConfig

log = logging.getLogger(__name__)
MAX_TOKENS = 64  # a score, or RATING and one sentence


class ProbeRun(BaseModel):
    """``check_judge``'s return value."""

    model_config = ConfigDict(frozen=True)

    judge: str
    judge_metric: str
    exact_metric: str | None
    results: list[ProbeResult]
    check: JudgeCheck  # on the probes alone (the report adds the rows)


# The judge prompts are plain text for a model, never HTML: Jinja without autoescape, sandboxed because the
# rendered values come from logged conversations.
def _render(template: str, probe: Probe) -> str:
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=False)
    return env.from_string(template).render(item=probe.item(), sample=probe.sample())


PROMPTS: dict[str, tuple[str, str, str]] = {  # workload type -> (system, user template, parser pattern)
    "generic": (C.SIMILARITY_SYSTEM, C.SIMILARITY_USER, C.SIMILARITY_PATTERN),
    "tool_calling": (C.CORRECTNESS_SYSTEM, C.CORRECTNESS_USER, C.RATING_PATTERN),
}


def parse_score(workload_type: str, answer: str) -> float | None:
    """The judge's answer on the unit scale with the evaluation's parser, None when it does not parse."""
    found = re.search(PROMPTS[workload_type][2], answer)
    if found is None:
        return None
    value = float(found.group(1))
    return (value - 1.0) / 9.0 if workload_type == "generic" else value


def judge_messages(workload_type: str, probe: Probe) -> list[JsonObject]:
    system, user, _ = PROMPTS[workload_type]
    return [{"role": "system", "content": system}, {"role": "user", "content": _render(user, probe)}]


def _answer_text(reply: object) -> str:
    choices = reply.get("choices") if isinstance(reply, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def _chat(cfg: FlywheelConfig, judge: JudgeEndpoint) -> tuple[Callable[[list[JsonObject]], str], Callable[[], None]]:
    """(ask the judge, close): the remote URL with its key, else the judge NIM through the platform."""
    params: JsonObject = {"temperature": 0.0, "max_tokens": MAX_TOKENS}
    if judge.mode == "remote":
        if not judge.url:
            raise ValueError("judge.mode is remote but no URL: define connection 'flywheel_judge'")
        url = judge.url
        policy = RetryPolicy(max_retries=cfg.platform.max_retries)
        http = SyncHttp(cfg.platform.request_timeout_s, policy, bearer(judge.api_key))

        def remote(messages: list[JsonObject]) -> str:
            body = {"model": judge.model_name, "messages": messages, **params}
            return _answer_text(http.call("POST", url, json_body=body).data)

        return remote, http.close

    client = NemoHook.from_config(cfg).get_conn()

    def local(messages: list[JsonObject]) -> str:
        return _answer_text(client.chat(judge.model_name, messages, **params))

    return local, client.close


def eval_items(built: Built) -> list[ProbeItem]:
    """Probe items of the eval set, row ids as the platforms number them (the line's position)."""
    path = artifacts.fetch(built.uri) / built.files["eval"]
    items = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(line for line in f if line.strip()):
            item = item_from_record(str(i), json.loads(line))
            if item is not None:
                items.append(item)
    return items


def probe_judge(config_path: str | None, extracted: JsonObject, built_json: JsonObject) -> JsonObject | None:
    """Score the judge's probes; None when no metric of this workload type is judge-scored."""

    cfg = load_config(config_path)
    built = Built.model_validate(built_json)
    wtype = built.workload_type
    if wtype not in JUDGE_METRICS or not judge_needed(wtype, cfg):
        log.info("no judge-scored metric for a %s workload: nothing to check", wtype)
        return None
    settings = Extracted.model_validate(extracted).settings
    judge = judge_endpoint(cfg)
    judge_metric, exact_metric = JUDGE_METRICS[wtype]
    probes = build_probes(eval_items(built), seed=settings.split.random_seed)
    ask, close = _chat(cfg, judge)
    try:
        results = run_probes(probes, lambda p: parse_score(wtype, ask(judge_messages(wtype, p))))
    finally:
        close()
    check = check_judge(judge.model_name, results, settings.selection.min_judge_agreement)
    log.info(
        "judge %s: %d/%d probes passed (%s)%s",
        judge.model_name,
        check.passed,
        check.probes,
        ", ".join(f"{k} {t.passed}/{t.probes}" for k, t in check.by_kind.items()),
        f"; {check.reason}" if check.reason else "",
    )
    run = ProbeRun(
        judge=judge.model_name, judge_metric=judge_metric, exact_metric=exact_metric, results=results, check=check
    )
    out: JsonObject = run.model_dump(mode="json")
    return out
