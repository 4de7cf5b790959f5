"""``google.api_core`` / ``google.auth`` errors -> unifiedml's exception tree, and the one retry policy.

The GAPIC clients' own retries are switched off (every call passes
``retry=None``) so that :func:`call` is the single policy: it retries
throttling (429 / RESOURCE_EXHAUSTED that is a rate, not a quota), 5xx and
dropped connections with jittered backoff, and never retries bad input,
permissions or quota. Messages pass through :func:`unifiedml.errors.redact`
(the exception classes do it), so no credential reaches a log or an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from unifiedml._ops import Backoff, retrying
from unifiedml.errors import (
    AlreadyExists,
    AuthenticationError,
    ConfigError,
    NotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    Throttled,
    UnifiedMLError,
)

logger = logging.getLogger(__name__)

__all__ = ["LOGIN_HINT", "PROVIDER", "call", "translate"]

PROVIDER = "vertex"
T = TypeVar("T")

LOGIN_HINT = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a service "
    "account key file); on Google Cloud compute the attached service account is used automatically"
)


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc)


def translate(exc: BaseException, *, what: str, field: str | None = None) -> UnifiedMLError:
    """The most specific :class:`UnifiedMLError` for a Google client exception (raise it ``from exc``).

    ``field`` names the input an InvalidArgument is about, when the caller knows it.
    """
    if isinstance(exc, UnifiedMLError):
        return exc
    from google.api_core import exceptions as gx

    try:
        from google.auth import exceptions as ax
    except ImportError:  # pragma: no cover - google-auth comes with google-api-core
        ax = None
    if ax is not None and isinstance(exc, ax.DefaultCredentialsError | ax.RefreshError):
        return AuthenticationError(f"{what}: no usable Google credentials ({exc})", provider=PROVIDER,
                                   hint=LOGIN_HINT)
    if ax is not None and isinstance(exc, ax.TransportError):
        return ProviderError(f"{what}: could not reach Google: {exc}", provider=PROVIDER, retryable=True)
    text = f"{what}: {_message(exc)}"
    if isinstance(exc, gx.Unauthenticated | gx.Unauthorized):
        return AuthenticationError(text, provider=PROVIDER, hint=LOGIN_HINT)
    if isinstance(exc, gx.PermissionDenied | gx.Forbidden):
        return PermissionDenied(
            text, provider=PROVIDER,
            hint="grant the caller (and the job's service account) roles/aiplatform.user and access to the bucket",
        )
    if isinstance(exc, gx.NotFound):
        return NotFound(text, provider=PROVIDER)
    if isinstance(exc, gx.AlreadyExists | gx.Conflict):
        return AlreadyExists(text, provider=PROVIDER)
    if isinstance(exc, gx.TooManyRequests | gx.ResourceExhausted):
        lowered = text.lower()
        if "quota" in lowered and ("limit" in lowered or "exceeded for quota" in lowered) and "rate" not in lowered:
            return QuotaExceeded(text, provider=PROVIDER,
                                 hint="request more quota under IAM & Admin > Quotas, or use a smaller machine")
        retry_after = None
        response = getattr(exc, "response", None)
        header = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
        if header:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        return Throttled(text, provider=PROVIDER, retry_after=retry_after)
    if isinstance(exc, gx.InvalidArgument | gx.BadRequest | gx.FailedPrecondition | gx.OutOfRange):
        return ConfigError(text, field=field, provider=PROVIDER)
    if isinstance(exc, gx.ServerError | gx.ServiceUnavailable | gx.DeadlineExceeded | gx.RetryError):
        code = getattr(exc, "code", None)
        return ProviderError(text, provider=PROVIDER, status_code=code if isinstance(code, int) else None,
                             retryable=True)
    if isinstance(exc, gx.GoogleAPICallError):
        code = getattr(exc, "code", None)
        return ProviderError(text, provider=PROVIDER, status_code=code if isinstance(code, int) else None)
    try:
        import requests

        if isinstance(exc, requests.ConnectionError | requests.Timeout):
            return ProviderError(f"{what}: could not reach Vertex AI: {exc}", provider=PROVIDER, retryable=True)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, ConnectionError | TimeoutError):
        return ProviderError(f"{what}: could not reach Vertex AI: {exc}", provider=PROVIDER, retryable=True)
    return ProviderError(text, provider=PROVIDER)


def call(fn: Callable[[], T], *, what: str, attempts: int = 8, field: str | None = None,
         backoff: Backoff | None = None) -> T:
    """Run one Vertex AI / GCS call: translate its errors, retry what a retry can fix. Blocking.

    The call must be safe to repeat: reads, or creates whose earlier attempt the
    caller looks up first (see ``VertexProvider._create_once``).
    """

    def once() -> T:
        try:
            return fn()
        except Exception as exc:
            raise translate(exc, what=what, field=field) from exc

    return retrying(once, attempts=attempts, max_delay=120.0,
                    backoff=backoff or Backoff(initial=0.2, cap=5.0), what=what)


def no_retry() -> dict[str, Any]:
    """Keyword arguments that switch a GAPIC method's own retry off (``call`` retries instead)."""
    return {"retry": None, "timeout": 60.0}
