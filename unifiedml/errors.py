"""The one exception tree of unifiedml.

Every failure a user can act on is a subclass of :class:`UnifiedMLError`, so an
application can catch one type; vendor errors are translated at the provider
boundary into the most specific class below and raised ``from`` the original,
so the vendor's traceback is still there under ``__cause__``::

    UnifiedMLError                 (carries .provider and .hint)
    ├── ConfigError                invalid input; names the field path and the fix
    │   └── MissingDependency      an optional extra is not installed
    ├── CapabilityNotSupported     the provider lacks the capability (and says why)
    ├── AuthenticationError        no or bad credentials; says how to configure them
    ├── PermissionDenied           authenticated, not allowed
    ├── NotFound                   the resource does not exist
    ├── AlreadyExists              a create collided with an existing resource
    ├── QuotaExceeded              an account limit was hit (not retried)
    ├── Throttled                  rate limited; .retry_after in seconds (retried)
    ├── ProviderError              unexpected vendor failure, with the vendor's message
    ├── OperationFailed            a job or deployment ended in failure; .logs_tail
    ├── OperationTimeout           wait() gave up; the work may still be running
    ├── BudgetExceeded             a plan or check would exceed a budget
    └── DriftDetected              a drift check found drift (exit code 1 for cron)

Only :class:`Throttled`, :class:`ProviderError` with ``retryable=True``
(transient 5xx) and connection errors are retried (see ``unifiedml._ops``).
Error messages never contain credential values: callers pass field *names*,
and :func:`redact` scrubs anything that looks like a secret from vendor text.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "AlreadyExists",
    "AuthenticationError",
    "BudgetExceeded",
    "CapabilityNotSupported",
    "ConfigError",
    "DriftDetected",
    "MissingDependency",
    "NotFound",
    "OperationFailed",
    "OperationTimeout",
    "PermissionDenied",
    "ProviderError",
    "QuotaExceeded",
    "Throttled",
    "UnifiedMLError",
    "redact",
]

# Patterns for values that must never reach a log line, error or report:
# AWS access keys and secrets, bearer tokens, generic key=value secrets.
_SECRET_PATTERNS = [
    re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:secret|password|passwd|token|api[_-]?key|access[_-]?key|"
        r"sig|signature|credential)s?[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]{4,}"
    ),
    re.compile(r"hf_[A-Za-z0-9]{20,}"),
]


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like a credential replaced by ``***``.

    Used on every vendor message before it is put into an exception, a log line
    or the state store. It errs on the side of hiding too much.
    """
    out = text
    for pat in _SECRET_PATTERNS:
        if pat.groups:
            out = pat.sub(lambda m: m.group(1) + "***", out)
        else:
            out = pat.sub("***", out)
    return out


class UnifiedMLError(Exception):
    """Base of every unifiedml error.

    ``provider`` names the backend involved (or ``None``), ``hint`` is one line
    telling the user what to do next; the CLI prints both.
    """

    def __init__(self, message: str, *, provider: str | None = None, hint: str | None = None) -> None:
        self.message = redact(message)
        self.provider = provider
        self.hint = redact(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        prefix = f"[{self.provider}] " if self.provider else ""
        return f"{prefix}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``--output json``)."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "provider": self.provider,
            "hint": self.hint,
        }


class ConfigError(UnifiedMLError):
    """Invalid input. ``field`` is the dotted path of the offending field."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        provider: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.field = field
        text = f"{field}: {message}" if field else message
        super().__init__(text, provider=provider, hint=hint)


class MissingDependency(ConfigError):
    """A vendor SDK or optional library is not installed; ``extra`` says which extra to install."""

    def __init__(self, module: str, *, extra: str, provider: str | None = None) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"the optional dependency {module!r} is not installed",
            provider=provider,
            hint=f"pip install 'unifiedml[{extra}]'",
        )


class CapabilityNotSupported(UnifiedMLError):
    """The provider does not offer this capability; raised before any network call."""

    def __init__(self, provider: str, capability: str, reason: str) -> None:
        self.capability = capability
        self.reason = reason
        super().__init__(
            f"{capability} is not supported: {reason}",
            provider=provider,
            hint="run `unifiedml providers` to see what each provider supports",
        )


class AuthenticationError(UnifiedMLError):
    """Credentials are missing or invalid; the hint says how to configure them."""


class PermissionDenied(UnifiedMLError):
    """Credentials are valid but not allowed to perform the call."""


class NotFound(UnifiedMLError):
    """The named resource does not exist."""


class AlreadyExists(UnifiedMLError):
    """A create collided with an existing resource of the same name."""


class QuotaExceeded(UnifiedMLError):
    """An account or service limit was reached; retrying will not help."""


class Throttled(UnifiedMLError):
    """The provider rate-limited the call. ``retry_after`` (seconds) comes from the response when given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        provider: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider, hint=hint)


class ProviderError(UnifiedMLError):
    """An unexpected vendor failure, carrying the vendor's (redacted) message.

    ``retryable`` is true for transient failures (HTTP 5xx, dropped connections).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        hint: str | None = None,
        status_code: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.status_code = status_code
        self.retryable = retryable
        super().__init__(message, provider=provider, hint=hint)


class OperationFailed(UnifiedMLError):
    """A job or deployment ended in failure. ``logs_tail`` holds the last lines of its log."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        hint: str | None = None,
        logs_tail: str | None = None,
    ) -> None:
        self.logs_tail = redact(logs_tail) if logs_tail else None
        full = message
        if self.logs_tail:
            full = f"{message}\n--- last log lines ---\n{self.logs_tail}"
        super().__init__(full, provider=provider, hint=hint)


class OperationTimeout(UnifiedMLError):
    """``wait()`` gave up before the operation finished. The operation may still be running."""


class BudgetExceeded(UnifiedMLError):
    """A plan or cost check would exceed (or has exceeded) a configured budget."""


class DriftDetected(UnifiedMLError):
    """A drift check found drift; the CLI maps it to exit code 1."""
