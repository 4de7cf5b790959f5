"""Waiting and retrying: the two loops every provider needs, written once.

* :func:`wait_until` polls with capped exponential backoff and full jitter,
  shows a rich progress display when attached to a terminal, and raises
  :class:`OperationTimeout` (saying the work may still be running) instead of
  returning a status nobody checks.
* :func:`retrying` wraps one vendor call in a tenacity policy that retries only
  what retrying can fix: :class:`Throttled` (honouring ``retry_after``),
  :class:`ProviderError` marked ``retryable`` (transient 5xx) and connection
  errors. Everything else (bad input, permissions, quota) fails at once.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from unifiedml.errors import OperationTimeout, ProviderError, Throttled

logger = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["Backoff", "is_retryable", "retrying", "wait_until"]


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter (delay drawn from [0, min(cap, base*factor**n)])."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        """The delay before poll/retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.initial * (self.factor**attempt))
        if not self.jitter:
            return ceiling
        # Full jitter, but never below a tenth of the ceiling: polls stay spread
        # out without hammering the API with near-zero sleeps.
        return random.uniform(ceiling * 0.1, ceiling)


def _use_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty()


def wait_until(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float | None,
    describe: Callable[[T], str] = str,
    what: str = "operation",
    progress: bool | None = None,
    backoff: Backoff | None = None,
    on_poll: Callable[[T], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Poll ``fetch()`` until ``done(value)``; return the final value.

    Blocking. ``timeout`` is in seconds (``None`` waits forever). ``describe``
    renders the value as a one-line status for the progress display;
    ``on_poll`` is called with every fetched value (log streaming hooks in
    here). Raises :class:`OperationTimeout` when time runs out: the operation
    itself is not cancelled.
    """
    backoff = backoff or Backoff()
    start = clock()
    attempt = 0
    show = _use_progress(progress)
    status_ctx = None
    if show:
        from rich.console import Console

        console = Console(stderr=True)
        status_ctx = console.status(f"waiting for {what}")
        status_ctx.__enter__()
    try:
        while True:
            value = fetch()
            if on_poll is not None:
                on_poll(value)
            if done(value):
                return value
            elapsed = clock() - start
            if status_ctx is not None:
                status_ctx.update(f"{what}: {describe(value)} ({elapsed:,.0f}s)")
            delay = backoff.delay(attempt)
            attempt += 1
            if timeout is not None:
                remaining = timeout - elapsed
                if remaining <= 0:
                    raise OperationTimeout(
                        f"gave up waiting for {what} after {elapsed:,.0f}s; last status: {describe(value)}. "
                        "The operation may still be running.",
                        hint="wait again with a longer timeout, or check its status later",
                    )
                delay = min(delay, remaining)
            sleep(delay)
    finally:
        if status_ctx is not None:
            status_ctx.__exit__(None, None, None)


def is_retryable(exc: BaseException) -> bool:
    """True for errors that a retry can fix: throttling, transient provider errors, dropped connections."""
    if isinstance(exc, Throttled):
        return True
    if isinstance(exc, ProviderError):
        return exc.retryable
    return isinstance(exc, ConnectionError | TimeoutError)


class _RetryWait:
    """tenacity wait: the server's ``retry_after`` when it gave one, else jittered backoff."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = self.backoff.delay(state.attempt_number - 1)
        if isinstance(exc, Throttled) and exc.retry_after is not None:
            return max(float(exc.retry_after), 0.0)
        return delay


def retrying(
    call: Callable[[], T],
    *,
    attempts: int = 6,
    max_delay: float = 120.0,
    backoff: Backoff | None = None,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call()``, retrying only retryable errors (see :func:`is_retryable`).

    Blocking. Gives up after ``attempts`` tries or ``max_delay`` seconds and
    re-raises the last error. The call must be safe to repeat: providers make
    creates idempotent with deterministic names before wrapping them here.
    """
    backoff = backoff or Backoff(initial=0.5, cap=20.0)

    def _log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning("retrying %s after %s (attempt %d)", what, exc, state.attempt_number)

    retryer = Retrying(
        retry=retry_if_exception(is_retryable),
        wait=_RetryWait(backoff),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_delay),
        reraise=True,
        before_sleep=_log,
        sleep=sleep,
    )
    return retryer(call)
