"""Helix v2 routes: every resource is scoped to a workspace (``/apis/<service>/v2/workspaces/{ws}/...``)."""

from __future__ import annotations

from urllib.parse import quote


def _q(part: str) -> str:
    return quote(part, safe="")


class HelixPaths:
    def __init__(self, workspace: str) -> None:
        self.workspace = workspace

    def needs_gpu(self, path: str) -> bool:
        """Deployment and automodel routes: the ones that need a GPU cluster behind them."""
        return path.startswith((self.deployment_configs(), self.deployments(), self.automodel_jobs()))

    def _ws(self, service: str) -> str:
        return f"/apis/{service}/v2/workspaces/{_q(self.workspace)}"

    # entities
    @staticmethod
    def workspaces() -> str:
        return "/apis/entities/v2/workspaces"

    def workspace_path(self) -> str:
        return f"{self.workspaces()}/{_q(self.workspace)}"

    # files
    def filesets(self) -> str:
        return f"{self._ws('files')}/filesets"

    def fileset(self, name: str) -> str:
        return f"{self.filesets()}/{_q(name)}"

    def fileset_file(self, name: str, path: str) -> str:
        return f"{self.fileset(name)}/-/{quote(path, safe='/')}"

    def fileset_files(self, name: str) -> str:
        return f"{self.fileset(name)}/files"

    # models: providers, deployment configs, deployments, model entities
    def providers(self) -> str:
        return f"{self._ws('models')}/providers"

    def provider(self, name: str) -> str:
        return f"{self.providers()}/{_q(name)}"

    def provider_status(self, name: str) -> str:
        return f"{self.provider(name)}/status"

    def deployment_configs(self) -> str:
        return f"{self._ws('models')}/deployment-configs"

    def deployment_config(self, name: str) -> str:
        return f"{self.deployment_configs()}/{_q(name)}"

    def deployments(self) -> str:
        return f"{self._ws('models')}/deployments"

    def deployment(self, name: str) -> str:
        return f"{self.deployments()}/{_q(name)}"

    def models(self) -> str:
        return f"{self._ws('models')}/models"

    def model(self, name: str) -> str:
        return f"{self.models()}/{_q(name)}"

    # customization (automodel)
    def automodel_jobs(self) -> str:
        return f"{self._ws('customization')}/automodel/jobs"

    def automodel_job(self, name: str) -> str:
        return f"{self.automodel_jobs()}/{_q(name)}"

    # evaluation
    def evaluate_jobs(self) -> str:
        return f"{self._ws('evals')}/evaluate/jobs"

    def evaluate_job(self, name: str) -> str:
        return f"{self.evaluate_jobs()}/{_q(name)}"

    def eval_result(self, name: str) -> str:
        return f"{self._ws('evals')}/eval-results/{_q(name)}"

    # secrets (values are write-only except through ``/access``)
    def secrets(self) -> str:
        return f"{self._ws('secrets')}/secrets"

    def secret(self, name: str) -> str:
        return f"{self.secrets()}/{_q(name)}"

    def secret_access(self, name: str) -> str:
        return f"{self.secret(name)}/access"

    # jobs service (every platform job, whatever started it)
    def jobs(self) -> str:
        return f"{self._ws('jobs')}/jobs"

    # inference gateway (OpenAI-compatible, model = "<ws>/<entity>")
    def gateway_model(self, entity: str) -> str:
        return f"{self.gateway_v1()}/models/{_q(entity)}"

    def gateway_v1(self) -> str:
        return f"{self._ws('inference-gateway')}/openai/-/v1"
