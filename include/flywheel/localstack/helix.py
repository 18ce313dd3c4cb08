"""Real NeMo Helix services on a free loopback port, from the venv ``make helix`` installs.

Helix needs Python 3.13 and ~340 packages, so it lives in its own venv (``.cache/helix/venv``) and runs
as a separate process; the flywheel talks to it over HTTP only. Everything Helix writes (SQLite, job
working directories, XDG state) goes under the run's ``data_dir``, never ``$HOME``, and it starts offline
(telemetry off, LiteLLM's bundled cost map). :meth:`HelixServices.stop` stops the process group we started,
by pid: the service process and its descendants (Helix starts each job subprocess in a session of its own,
so they are found through the parent links, not the process group).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import httpx

from flywheel.localstack.processes import ManagedProcess, free_port
from flywheel.privacy.detectors import BUILTIN_KINDS

REPO_ROOT = Path(__file__).resolve().parents[3]
HELIX_VERSION = "0.8.1"
DEFAULT_VENV = REPO_ROOT / ".cache" / "helix" / "venv"
DEFAULT_CONFIG = REPO_ROOT / "config" / "helix" / "local.yaml"
SERVICES = "auth,entities,files,secrets,models,inference-gateway,jobs,customization,evals,deployments"
CONTROLLERS = "jobs,models,entities,deployments"


def helix_venv() -> Path:
    return Path(os.environ.get("FLYWHEEL_HELIX_VENV", str(DEFAULT_VENV)))


def helix_installed(venv: Path | None = None) -> bool:
    venv = venv or helix_venv()
    return (venv / f".installed-nemo-helix-{HELIX_VERSION}").is_file() and (venv / "bin" / "nemo").is_file()


def offline_env(data_dir: Path) -> dict[str, str]:
    """Keep Helix's state under ``data_dir`` and stop it phoning home (telemetry, LiteLLM cost map)."""
    return {
        "HELIX_HOME": str(data_dir),
        "XDG_STATE_HOME": str(data_dir / "state"),
        "XDG_CONFIG_HOME": str(data_dir / "config"),
        "XDG_DATA_HOME": str(data_dir / "data"),
        "XDG_CACHE_HOME": str(data_dir / "cache"),
        "NHX_DATA_DIR": str(data_dir / "nhxdata"),
        "NEMO_TELEMETRY_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "OTEL_SDK_DISABLED": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
    }


def render_config(template: Path, data_dir: Path, port: int) -> Path:
    text = Template(template.read_text()).substitute(HELIX_HOME=str(data_dir), HELIX_PORT=str(port))
    out = data_dir / "helix.yaml"
    out.write_text(text)
    return out


def _parents() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                out[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), whatever its session."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    """The pids still running after up to ``seconds`` (a zombie counts as gone: init reaps orphans)."""
    deadline = time.monotonic() + seconds
    alive = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _zombie(p)]
    return alive


@dataclass
class HelixServices:
    data_dir: Path
    port: int = 0
    venv: Path = field(default_factory=helix_venv)
    config_template: Path = DEFAULT_CONFIG
    ready_timeout: float = 240.0
    nice: int = 10
    process: ManagedProcess | None = None
    ready_s: float | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.port = self.port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self) -> dict[str, str]:
        return offline_env(self.data_dir)

    def start(self) -> HelixServices:
        if not helix_installed(self.venv):
            raise RuntimeError(f"NeMo Helix {HELIX_VERSION} is not installed in {self.venv}: run `make helix`")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = render_config(self.config_template, self.data_dir, self.port)
        cmd = [
            *(["nice", "-n", str(self.nice)] if self.nice else []),
            str(self.venv / "bin" / "nemo"),
            "services",
            "run",  # foreground: the process we start is the server (``start`` detaches out of our group)
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--services",
            SERVICES,
            "--controllers",
            CONTROLLERS,
        ]
        self.process = ManagedProcess(
            f"helix-{self.port}",
            cmd,
            self.data_dir / "logs",
            env=self.env(),
            cwd=self.data_dir,
            ready=lambda: _ready(self.url),
            ready_timeout=self.ready_timeout,
        )
        t0 = time.monotonic()
        try:
            self.process.start()
        except BaseException:
            self.process.stop()
            raise
        self.ready_s = time.monotonic() - t0
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "Helix not started"
        return self.process.pid

    def rss_mb(self) -> float:
        """Resident memory of the Helix service and its job subprocesses, in MB."""
        if self.process is None or not self.process.alive():
            return 0.0
        total, page = 0, resource.getpagesize()
        for pid in [self.pid, *descendants(self.pid)]:
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        return total / 1e6

    def stop(self) -> None:
        """Stop the service (its process group) and every job subprocess it started, by pid."""
        if self.process is None:
            return
        jobs = descendants(self.pid) if self.process.alive() else []  # before they lose their parent
        for pid in jobs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self.process.stop()
        jobs = _wait_gone(jobs, 10.0)
        for pid in jobs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(jobs, 5.0)

    def __enter__(self) -> HelixServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def teach_stand_in(
    emulator_url: str, logs: Path, namespace: str = "stand-in", pii_kinds: Sequence[str] | None = None
) -> None:
    """Let the emulator's NIM (the candidate a Helix provider serves) know the logged answers.

    On NMP the emulator sees every dataset the flywheel uploads to its Data Store and answers those
    prompts like a model of its size would; on Helix the datasets go to Helix filesets, so the stand-in
    learns the same records from the log file instead (HF upload to its Data Store, as NMP would).
    ``pii_kinds``: redact them as the dataset build does (the config's ``pii.kinds``), so the stand-in
    answers what a model trained on the datasets would, with the same placeholders as the expected answers."""
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    from flywheel.platforms.core.retry import RetryPolicy
    from flywheel.platforms.nmp.datastore import upload_files

    httpx.post(f"{emulator_url}/v1/datastore/namespaces", data={"namespace": namespace}, timeout=30)
    repo = f"{namespace}/logged-answers"
    with tempfile.TemporaryDirectory(prefix="flywheel-stand-in-") as tmp:
        taught = logs if not pii_kinds else _redacted_copy(logs, Path(tmp) / "logs.jsonl", pii_kinds)
        upload_files(f"{emulator_url}/v1/hf", None, repo, {"logs.jsonl": taught}, 60.0, RetryPolicy(max_retries=2))


def redacted_kinds(config: Mapping[str, object]) -> list[str] | None:
    """The PII kinds a dataset build of ``config`` (a flywheel.yaml as loaded) redacts, or None."""
    defaults = config.get("defaults")
    pii = defaults.get("pii") if isinstance(defaults, Mapping) else None
    if not isinstance(pii, Mapping):
        pii = {}
    if pii.get("mode", "redact") != "redact":
        return None
    kinds = pii.get("kinds")
    return [str(k) for k in kinds] if isinstance(kinds, list) and kinds else list(BUILTIN_KINDS)


def _redacted_copy(logs: Path, out: Path, kinds: Sequence[str]) -> Path:
    from flywheel.privacy.redact import Redactor

    redact = Redactor(list(kinds)).redact
    with logs.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                dst.write(json.dumps(redact(record)[0]) + "\n")
    return out
