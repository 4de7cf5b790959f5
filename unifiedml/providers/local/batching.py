"""Micro-batching: merge concurrent predict requests into one model call.

Requests are queued on the event loop. A batch is dispatched when it holds
``max_batch_size`` rows, ``timeout_s`` after its first request arrived, or as
soon as it cannot grow any more (``can_grow()`` is false: the server reports
that every open connection is already waiting for an answer, so no request can
join), whichever is first. While the model is busy the next batch keeps
filling, so under load batches grow on their own and the timeout is not paid twice. One
batch runs at a time on a dedicated model thread (TensorFlow releases the GIL
while it computes, so the event loop keeps serving HTTP). A request larger
than ``max_batch_size`` rows, or one whose rows cannot be merged, runs alone.
Results are split back per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

__all__ = ["BatchStats", "MicroBatcher"]

logger = logging.getLogger(__name__)


@dataclass
class BatchStats:
    """Counters of the batcher (read them from the event loop thread)."""

    model_calls: int = 0
    rows: int = 0
    requests: int = 0
    max_batch_rows: int = 0
    split_retries: int = 0


class MicroBatcher:
    """Queues work items and runs them merged through ``run_batch`` on ``executor``.

    ``run_batch(items)`` receives a list of items and returns one result per
    item, in order; it runs on the executor thread. ``rows_of(item)`` gives an
    item's row count and ``mergeable(item)`` whether it may share a call.

    Not thread-safe: :meth:`submit` must be called on the event loop thread.
    If a merged call raises, each of its items is retried alone so one bad
    request cannot fail its neighbours; the exception then reaches only the
    request(s) that still fail.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Any]], Sequence[Any]],
        *,
        executor: Executor,
        max_batch_size: int,
        timeout_s: float,
        rows_of: Callable[[Any], int],
        mergeable: Callable[[Any], bool] = lambda item: True,
        can_grow: Callable[[], bool] | None = None,
        max_in_flight: int = 1,
    ) -> None:
        self._run_batch = run_batch
        self._executor = executor
        self.max_batch_size = max(1, int(max_batch_size))
        self.timeout_s = max(0.0, float(timeout_s))
        self._rows_of = rows_of
        self._mergeable = mergeable
        self._max_in_flight = max(1, max_in_flight)
        self._queue: deque[tuple[Any, int, asyncio.Future[Any]]] = deque()
        self._queued_rows = 0
        self._timer: asyncio.TimerHandle | None = None
        self._due = False
        self._in_flight = 0
        self._can_grow = can_grow
        self._check_scheduled = False
        self.stats = BatchStats()

    @property
    def busy(self) -> bool:
        """True while requests are queued or a model call is running."""
        return bool(self._queue) or self._in_flight > 0

    def submit(self, item: Any) -> asyncio.Future[Any]:
        """Queue ``item``; the future resolves to its result (or raises the model's exception)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        rows = self._rows_of(item)
        self._queue.append((item, rows, fut))
        self._queued_rows += rows
        if (
            self._queued_rows >= self.max_batch_size
            or self.timeout_s == 0
            or rows >= self.max_batch_size
            or not self._mergeable(item)
        ):
            self._due = True
            self._dispatch()
        else:
            if self._timer is None and not self._due:
                self._timer = loop.call_later(self.timeout_s, self._on_timer)
            if self._can_grow is not None and not self._check_scheduled:
                # Look again once the requests read in this loop iteration are all queued.
                self._check_scheduled = True
                loop.call_soon(self._check)
        return fut

    # -- internals (event loop thread) --------------------------------------
    def _check(self) -> None:
        """Dispatch early when the batch cannot grow: every client is already waiting for an answer."""
        self._check_scheduled = False
        if self._queue and self._can_grow is not None and not self._can_grow():
            self._due = True
            self._dispatch()

    def _on_timer(self) -> None:
        self._timer = None
        self._due = True
        self._dispatch()

    def _take(self) -> list[tuple[Any, int, asyncio.Future[Any]]]:
        """Pop the next batch: whole requests up to max_batch_size rows (a big or unmergeable one alone)."""
        first = self._queue.popleft()
        batch = [first]
        total = first[1]
        if first[1] < self.max_batch_size and self._mergeable(first[0]):
            while self._queue:
                item, rows, _ = self._queue[0]
                if total + rows > self.max_batch_size or not self._mergeable(item):
                    break
                batch.append(self._queue.popleft())
                total += rows
        self._queued_rows -= total
        return batch

    def _dispatch(self) -> None:
        while self._due and self._queue and self._in_flight < self._max_in_flight:
            batch = self._take()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._due = bool(self._queue) and (
                self._queued_rows >= self.max_batch_size or self.timeout_s == 0
            )
            self._in_flight += 1
            loop = asyncio.get_running_loop()
            cfut = loop.run_in_executor(self._executor, self._call, [b[0] for b in batch])
            cfut.add_done_callback(lambda f, batch=batch: self._done(f, batch))
        if self._queue and not self._due and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.timeout_s, self._on_timer)

    def _call(self, items: list[Any]) -> list[tuple[bool, Any]]:
        """Runs on the model thread: one merged call, or each item alone if the merged call fails."""
        try:
            results = self._run_batch(items)
            return [(True, r) for r in results]
        except Exception as exc:
            if len(items) == 1:
                return [(False, exc)]
        self.stats.split_retries += 1
        out: list[tuple[bool, Any]] = []
        for item in items:
            try:
                out.append((True, self._run_batch([item])[0]))
            except Exception as exc:
                out.append((False, exc))
        return out

    def _done(self, cfut: asyncio.Future[list[tuple[bool, Any]]],
              batch: list[tuple[Any, int, asyncio.Future[Any]]]) -> None:
        self._in_flight -= 1
        rows = sum(b[1] for b in batch)
        st = self.stats
        st.model_calls += 1
        st.rows += rows
        st.requests += len(batch)
        st.max_batch_rows = max(st.max_batch_rows, rows)
        exc = cfut.exception()
        if exc is not None:
            logger.error("model call failed: %s", exc)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        else:
            for (ok, value), (_, _, fut) in zip(cfut.result(), batch, strict=True):
                if fut.done():
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
        if self._queue and (self._timer is None or (self._can_grow is not None and not self._can_grow())):
            # The queue filled while the model was busy and its timer ran out, or no more
            # requests can join it: run it now.
            self._due = True
        self._dispatch()
