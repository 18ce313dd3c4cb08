"""Where a Helix platform lives (from connection ``flywheel_nemo`` when ``platform.kind: helix``)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _http_url(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"HelixEndpoints.{name} must be an http(s) URL, got {value!r}")
    return value


@dataclass(frozen=True)
class HelixEndpoints:
    """``base_url``: the Helix services (one port: entities, files, models, gateway, jobs, evals).

    ``gpu_url``: where deployments and automodel jobs are served, when not by Helix itself (a test
    stand-in for a GPU cluster); defaults to ``base_url``. ``provider_url``: an OpenAI-compatible base
    URL that answers for deployed candidates; when set, each candidate deployment also registers it as a
    Helix provider (marked as ours, removed with the deployment). A real Helix cluster creates that
    provider itself when the deployment is READY, so leave it unset there."""

    base_url: str
    workspace: str = "dfwbp"
    api_key: str | None = field(default=None, repr=False)
    gpu_url: str | None = None
    provider_url: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 5

    def __post_init__(self) -> None:
        for name in ("base_url", "gpu_url", "provider_url"):
            object.__setattr__(self, name, _http_url(name, getattr(self, name)))
        if not self.timeout_s > 0:
            raise ValueError("HelixEndpoints.timeout_s must be > 0")
        if self.max_retries < 0:
            raise ValueError("HelixEndpoints.max_retries must be ≥ 0")

    @property
    def gateway_url(self) -> str:
        """OpenAI-compatible base of the workspace's inference gateway (``<it>/v1/chat/completions``)."""
        return f"{self.base_url}/apis/inference-gateway/v2/workspaces/{self.workspace}/openai/-"

    def resource_url(self, kind: str, ref: str) -> str:
        """Where a deployment / customization / evaluation of ours lives (task links, hints in logs)."""
        from flywheel.platforms.helix.paths import HelixPaths

        paths = HelixPaths(self.workspace)
        path = {
            "deployment": paths.deployment,
            "customization": paths.automodel_job,
            "evaluation": paths.evaluate_job,
        }[kind](ref)
        base = self.gpu_url if self.gpu_url and paths.needs_gpu(path) else self.base_url
        return f"{base}{path}"
