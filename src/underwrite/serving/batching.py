"""Adaptive batching shared by /predict and /predict_batch, with BentoML's own dispatcher.

A model call has a fixed cost besides its cost per row (array set-up for the compiled
predictor; pandas and the column transformer for the Pipeline, where 1 row costs nearly
what 100 do), so concurrent requests are merged into one call.
``@bentoml.api(batchable=True)`` cannot do that here: its batch must be the request body
itself, so a single-application /predict could not join, and the batched function runs
outside any request, so the inference log could not know the request a row came from.
This drives the same ``CorkDispatcher`` that ``batchable=True`` uses (the same adaptive
window and batch size), from inside each request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
from bentoml._internal.marshal.dispatcher import CorkDispatcher
from bentoml.exceptions import ServiceUnavailable


def _overloaded() -> Any:
    raise ServiceUnavailable("the model is overloaded: a request waited past max_latency_ms")


def _dispatch_when_free(dispatcher: CorkDispatcher) -> None:
    """Never hold a request back to wait for company.

    The dispatcher learns, from the waits it observes, how long to hold requests so that
    batches fill up. For this model a call costs about the same for 1 row as for 100, and
    requests pile up anyway while the previous batch runs, so holding them only adds latency;
    and after a burst the learned wait decays slowly, delaying every quiet-time request by
    it (benchmarks: 240 ms instead of 50 ms at concurrency 1 after a run at 64). Recording
    every wait as 0 makes a batch leave as soon as the model is free, with everything queued.
    """
    learn = dispatcher.optimizer.log_outbound
    dispatcher.optimizer.log_outbound = lambda n, wait, duration: learn(n, 0.0, duration)


class Batcher:
    """``await batcher(rows)`` runs ``predict(all rows of concurrent calls)`` once, in a thread.

    ``predict`` takes a list of rows and returns one result per row, in order.
    """

    def __init__(self, predict: Callable[[list], Sequence], max_batch: int, max_latency_ms: int):
        self.predict = predict
        self.max_batch = max_batch
        self.max_latency_ms = max_latency_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatcher: CorkDispatcher | None = None
        self._call: Callable | None = None

    async def __call__(self, rows: list) -> list:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one dispatcher per event loop (tests run several)
            self.close()
            self._loop = loop
            self._dispatcher = CorkDispatcher(
                max_latency_in_ms=self.max_latency_ms,
                max_batch_size=self.max_batch,
                fallback=_overloaded,
                get_batch_size=len,
            )
            _dispatch_when_free(self._dispatcher)
            self._call = self._dispatcher(self._run)
        return await self._call(rows)

    async def _run(self, calls: Sequence[list]) -> list[list]:
        rows = [row for call in calls for row in call]
        results = list(await anyio.to_thread.run_sync(self.predict, rows))
        split, start = [], 0
        for call in calls:
            split.append(results[start : start + len(call)])
            start += len(call)
        return split

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.shutdown()
        self._dispatcher = self._call = self._loop = None
