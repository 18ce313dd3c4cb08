"""A LiteLLM proxy with the flywheel hook: the routing document is a file the hook re-reads on change.

:func:`write_gateway_config` lays out what the proxy is started with (``config.yaml`` with one wildcard
upstream, plus ``flywheel_hook.py``); :class:`GatewayTarget` applies routes by rewriting the routing file,
and :class:`GatewayChat` sends the rollout's own requests (shadow, comparison) through the gateway to one
model by name.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import httpx
import yaml

from flywheel.serving.routing import Route, read_routing, write_routing

HOOK_SOURCE = Path(__file__).resolve().parents[1] / "litellm_hook.py"
HOOK_MODULE = "flywheel_hook"
UPSTREAM_KEY_ENV = "FLYWHEEL_UPSTREAM_KEY"


def write_gateway_config(directory: Path, upstream_url: str) -> Path:
    """``config.yaml`` for ``litellm --config``: every model name goes to the OpenAI-compatible
    ``upstream_url`` (a NIM proxy); the hook picks the model for ``flywheel/<workload_id>``. The upstream's key
    is read by the proxy from ``$FLYWHEEL_UPSTREAM_KEY``, never written here."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOOK_SOURCE, directory / f"{HOOK_MODULE}.py")
    config = {
        "model_list": [
            {
                "model_name": "*",
                "litellm_params": {
                    "model": "openai/*",
                    "api_base": f"{upstream_url.rstrip('/')}/v1",
                    "api_key": f"os.environ/{UPSTREAM_KEY_ENV}",
                },
            }
        ],
        "litellm_settings": {"callbacks": f"{HOOK_MODULE}.handler", "drop_params": True, "num_retries": 0},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class GatewayTarget:
    name = "gateway"

    def __init__(self, routing_file: str) -> None:
        self.routing_file = routing_file

    def current(self, workload_id: str) -> Route | None:
        return read_routing(self.routing_file).routes.get(workload_id)

    def apply(self, route: Route) -> None:
        doc = read_routing(self.routing_file)
        doc.routes[route.workload_id] = route
        write_routing(self.routing_file, doc)


class GatewayChat:
    """Chat completions through the gateway for one named model. The key (if any) is sent as a bearer token
    and kept out of ``repr``."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"GatewayChat({self.base_url!r})"

    def chat(self, model: str, request: Mapping[str, object]) -> Mapping[str, object]:
        body = {k: v for k, v in request.items() if k in ("messages", "tools", "tool_choice", "temperature")}
        body["model"] = model
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        r = httpx.post(f"{self.base_url}/v1/chat/completions", json=body, headers=headers, timeout=self.timeout_s)
        r.raise_for_status()
        answer = r.json()
        if not isinstance(answer, dict):
            raise ValueError(f"the gateway answered {type(answer).__name__}, not a chat completion")
        return answer
