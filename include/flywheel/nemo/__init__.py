"""Clients for the NeMo Microservices platform, payload builders and score readers.

Public API: :class:`NemoEndpoints`, :class:`NemoClient`, :class:`AsyncNemoClient`, :class:`JobState`,
:class:`DeploymentInfo`, :class:`NemoError` (and subclasses), :func:`check_chat_endpoint`.
Builders and score readers live in :mod:`flywheel.nemo.configs`; status sets and polling helpers in
:mod:`flywheel.platforms.core.states`.
"""

from flywheel.nemo.aclient import AsyncNemoClient
from flywheel.nemo.chat import check_chat_endpoint
from flywheel.nemo.client import NemoClient
from flywheel.nemo.endpoints import NemoEndpoints
from flywheel.platforms.core.errors import (
    NemoAuthError,
    NemoBadRequestError,
    NemoConflictError,
    NemoConnectionError,
    NemoDeploymentError,
    NemoError,
    NemoHTTPError,
    NemoJobError,
    NemoNotFoundError,
    NemoRateLimitedError,
    NemoResponseError,
    NemoServerError,
    NemoTimeoutError,
)
from flywheel.platforms.core.retry import Backoff, RetryPolicy
from flywheel.platforms.core.states import DeploymentInfo, JobState, PendingWatch

__all__ = [
    "AsyncNemoClient",
    "Backoff",
    "DeploymentInfo",
    "JobState",
    "NemoAuthError",
    "NemoBadRequestError",
    "NemoClient",
    "NemoConflictError",
    "NemoConnectionError",
    "NemoDeploymentError",
    "NemoEndpoints",
    "NemoError",
    "NemoHTTPError",
    "NemoJobError",
    "NemoNotFoundError",
    "NemoRateLimitedError",
    "NemoResponseError",
    "NemoServerError",
    "NemoTimeoutError",
    "PendingWatch",
    "RetryPolicy",
    "check_chat_endpoint",
]
