"""botocore errors -> unifiedml's exception tree, and the one retry policy for AWS calls.

botocore's own retries are switched off (``total_max_attempts=1`` in
:func:`client_config`) so that :func:`call` is the single policy: it retries
throttling and transient 5xx/connection failures with jittered backoff
(honouring ``Retry-After``), logs each retry, and never retries bad input,
permissions or quota errors. Every message goes through
:func:`unifiedml.errors.redact` (done by the exception classes), so no
credential value reaches a log line or an error.
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

__all__ = ["PROVIDER", "call", "client_config", "error_code", "is_not_found", "translate"]

PROVIDER = "sagemaker"
T = TypeVar("T")

_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
}
_QUOTA = {"ResourceLimitExceeded", "ServiceQuotaExceededException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AllAccessDisabled"}
_AUTH = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
}
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "404", "NotFound",
              "ObjectNotFoundException"}  # the last: Application Auto Scaling
_TRANSIENT = {
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "InternalServerError",
    "ServiceUnavailableException",
}

CREDENTIALS_HINT = (
    "run `aws configure` (or `aws sso login --profile NAME` and pass profile=NAME to the provider), or set "
    "the variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; on AWS compute an attached IAM role is "
    "picked up automatically"
)


def client_config() -> Any:
    """botocore Config: our retry policy only, explicit timeouts, a user-agent suffix."""
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=70,
        user_agent_extra="unifiedml",
    )


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message") or exc)


def is_not_found(exc: BaseException) -> bool:
    """True for AWS's ways of saying a resource does not exist (SageMaker uses ValidationException)."""
    code, message = error_code(exc), _message(exc).lower()
    if code in _NOT_FOUND:
        return True
    return code in ("ValidationException", "ValidationError") and (
        "could not find" in message or "not found" in message or "does not exist" in message
    )


def translate(exc: BaseException, *, what: str) -> UnifiedMLError:
    """The most specific :class:`UnifiedMLError` for a botocore exception (raise it ``from exc``)."""
    from botocore import exceptions as bx

    if isinstance(exc, UnifiedMLError):
        return exc
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.NoAuthTokenError):
        return AuthenticationError(
            f"{what}: no AWS credentials found", provider=PROVIDER, hint=CREDENTIALS_HINT
        )
    if isinstance(exc, bx.ProfileNotFound):
        return ConfigError(str(exc), field="profile", provider=PROVIDER, hint=CREDENTIALS_HINT)
    if isinstance(exc, bx.NoRegionError):
        return ConfigError(
            "no AWS region is configured",
            field="region",
            provider=PROVIDER,
            hint="set the provider setting region= or AWS_DEFAULT_REGION",
        )
    if isinstance(
        exc,
        bx.EndpointConnectionError | bx.ConnectionClosedError | bx.ReadTimeoutError | bx.ConnectTimeoutError,
    ):
        return ProviderError(f"{what}: could not reach AWS: {exc}", provider=PROVIDER, retryable=True)
    if isinstance(exc, bx.ParamValidationError):
        return ConfigError(f"{what}: {exc}", provider=PROVIDER)
    if not isinstance(exc, bx.ClientError):
        return ProviderError(f"{what}: {exc}", provider=PROVIDER)
    code, message = error_code(exc), _message(exc)
    response = exc.response or {}
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = f"{what}: {message}"
    if code in _THROTTLING:
        retry_after = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
        return Throttled(text, provider=PROVIDER, retry_after=float(retry_after) if retry_after else None)
    if code in _QUOTA:
        return QuotaExceeded(
            text,
            provider=PROVIDER,
            hint="request a higher limit in the Service Quotas console, or use a smaller instance",
        )
    if code in _DENIED:
        return PermissionDenied(
            text, provider=PROVIDER, hint="the credentials or the SageMaker execution role lack a permission"
        )
    if code in _AUTH:
        return AuthenticationError(text, provider=PROVIDER, hint=CREDENTIALS_HINT)
    if is_not_found(exc):
        return NotFound(text, provider=PROVIDER)
    if code == "ResourceInUse" or "already exist" in message.lower():
        return AlreadyExists(text, provider=PROVIDER)
    if code == "ModelError":
        original = int(response.get("OriginalStatusCode") or 0)
        if 400 <= original < 500:
            return ConfigError(
                f"the model rejected the input: {response.get('OriginalMessage') or message}",
                field="instances",
                provider=PROVIDER,
            )
        return ProviderError(text, provider=PROVIDER, status_code=original or status)
    if code in ("ValidationException", "ValidationError", "InvalidParameterException"):
        return ConfigError(text, provider=PROVIDER)
    if code in _TRANSIENT or status >= 500:
        return ProviderError(text, provider=PROVIDER, status_code=status, retryable=True)
    return ProviderError(text, provider=PROVIDER, status_code=status or None)


def call(fn: Callable[[], T], *, what: str, attempts: int = 8, backoff: Backoff | None = None) -> T:
    """Run one AWS call: translate its errors and retry what a retry can fix. Blocking.

    The call must be safe to repeat (reads, or creates with deterministic names
    whose ``AlreadyExists`` the caller resolves).
    """

    def once() -> T:
        try:
            return fn()
        except Exception as exc:
            raise translate(exc, what=what) from exc

    return retrying(
        once, attempts=attempts, max_delay=120.0, backoff=backoff or Backoff(initial=0.2, cap=5.0), what=what
    )
