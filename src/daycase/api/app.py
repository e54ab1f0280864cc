"""The app factory: `create_app(settings)` builds the API over a runtime (API room).

Nothing is opened at import time; the runtime (store, services, live hub and, on
PostgreSQL, the LISTEN thread) lives for the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp

from daycase import __version__
from daycase.api import errors
from daycase.api.docs import install_docs
from daycase.api.middleware import BodyLimit, CleanAddress, SecurityHeaders
from daycase.api.routes import api_router
from daycase.api.routes.fhir import router as fhir_router
from daycase.config import Settings
from daycase.services.anchors import start_anchoring
from daycase.services.cases import Clock
from daycase.services.runtime import open_runtime


class _App(FastAPI):
    """FastAPI with the security headers as its outermost layer, so that they are on every
    answer, the 500 of Starlette's own error middleware included."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    extensions: Sequence[Callable[[FastAPI], None]] = (),
) -> FastAPI:
    """The API app; `extensions` add more (the CLI adds the web pages).

    Without a `clock` the app keeps the settings' clock (the system's, shifted by
    `clock_offset_seconds`), so a served process has the same seam as the engine.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = open_runtime(settings, clock=clock)
        app.state.runtime = runtime
        runtime.accounts.prepare()
        anchoring = start_anchoring(settings, runtime.store.engine)  # None unless configured
        # Fewer request threads than anyio's default 40: SQLite has one writer and the GIL
        # one runner, and a crowd of threads only queues on both (measured by bench/api.py).
        anyio.to_thread.current_default_thread_limiter().total_tokens = 8
        await runtime.hub.start()
        # One path for live updates on both databases: the store tells the hub of every
        # commit (on PostgreSQL, every process's), and the board model's tick tells it of
        # rows that changed by the clock alone.
        runtime.store.subscribe(runtime.hub.notify)
        ticking = asyncio.create_task(runtime.boards.keep_time(runtime.hub.notify))
        warming = asyncio.create_task(asyncio.to_thread(runtime.boards.warm, runtime.today()))
        fitting = asyncio.create_task(runtime.etas.keep_fitted())
        # What start-up built lives as long as the process: the collector need not walk it
        # on every full collection (those pauses showed in the write path's p99).
        gc.freeze()
        try:
            yield
        finally:
            for task in (ticking, fitting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # A thread cannot be cancelled: let the warming and any fit finish before the
            # store closes.
            with contextlib.suppress(Exception):
                await warming
            await asyncio.to_thread(runtime.etas.wait_idle)
            await runtime.hub.stop()
            if anchoring is not None:  # a last checkpoint, before the store closes
                await anyio.to_thread.run_sync(anchoring.stop)
            runtime.close()

    app = _App(
        title="daycase",
        version=__version__,
        summary="Day-of-surgery tracker: pathways as data, cases as event logs.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served from the vendored Swagger UI instead (api/docs.py)
        redoc_url=None,
        # daycase exports no telemetry (request paths name cases); off, FastAPI also skips
        # asking three OpenTelemetry providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    install_docs(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CleanAddress)
    app.include_router(api_router)
    app.include_router(fhir_router)
    for extend in extensions:
        extend(app)
    return app
