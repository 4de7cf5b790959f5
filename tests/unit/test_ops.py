from __future__ import annotations

import pytest

from unifiedml._ops import Backoff, is_retryable, retrying, wait_until
from unifiedml.errors import ConfigError, OperationTimeout, ProviderError, QuotaExceeded, Throttled


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_is_capped_and_jittered() -> None:
    b = Backoff(initial=1, factor=2, cap=8)
    for attempt in range(10):
        d = b.delay(attempt)
        ceiling = min(8, 2**attempt)
        assert ceiling * 0.1 <= d <= ceiling
    assert Backoff(initial=1, factor=2, cap=8, jitter=False).delay(10) == 8


def test_wait_until_returns_the_final_value() -> None:
    clock = FakeClock()
    values = iter(["pending", "running", "running", "done"])
    seen: list[str] = []
    result = wait_until(lambda: next(values), lambda v: v == "done", timeout=100, progress=False,
                        clock=clock, sleep=clock.sleep, on_poll=seen.append)
    assert result == "done"
    assert seen == ["pending", "running", "running", "done"]
    assert len(clock.sleeps) == 3


def test_wait_until_times_out_saying_the_work_may_still_run() -> None:
    clock = FakeClock()
    with pytest.raises(OperationTimeout) as info:
        wait_until(lambda: "running", lambda v: False, timeout=10, progress=False, what="job j",
                   clock=clock, sleep=clock.sleep, backoff=Backoff(initial=1, jitter=False))
    assert "may still be running" in str(info.value)
    assert "job j" in str(info.value)
    assert clock.now <= 10 + 1e-9  # never sleeps past the deadline


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (Throttled("x"), True),
        (ProviderError("x", retryable=True), True),
        (ProviderError("x"), False),
        (ConnectionResetError(), True),
        (ConfigError("x"), False),
        (QuotaExceeded("x"), False),
        (ValueError(), False),
    ],
)
def test_only_transient_errors_are_retryable(exc: BaseException, expected: bool) -> None:
    assert is_retryable(exc) is expected


def test_retrying_honours_retry_after_and_succeeds() -> None:
    sleeps: list[float] = []
    calls = iter([Throttled("slow", retry_after=7), ProviderError("503", retryable=True), "ok"])

    def call() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert retrying(call, sleep=sleeps.append, backoff=Backoff(initial=0.5, jitter=False)) == "ok"
    assert sleeps[0] == 7  # the server's retry_after, not the backoff
    assert sleeps[1] == 1.0  # second attempt: 0.5 * 2


def test_retrying_does_not_retry_bad_input() -> None:
    attempts = []

    def call() -> None:
        attempts.append(1)
        raise ConfigError("bad", field="x")

    with pytest.raises(ConfigError):
        retrying(call, sleep=lambda s: None)
    assert len(attempts) == 1


def test_retrying_gives_up_after_attempts_and_reraises() -> None:
    attempts = []

    def call() -> None:
        attempts.append(1)
        raise Throttled("slow")

    with pytest.raises(Throttled):
        retrying(call, attempts=3, sleep=lambda s: None)
    assert len(attempts) == 3
