"""The app factory: `create_app(settings)` builds the API over a runtime (API room).

Nothing is opened at import time; the runtime (store, services, live hub and, on
PostgreSQL, the LISTEN thread) lives for the app's lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from daycase import __version__
from daycase.api import errors
from daycase.api.middleware import BodyLimit, CleanAddress
from daycase.api.routes import api_router
from daycase.config import Settings
from daycase.services.cases import Clock
from daycase.services.runtime import open_runtime


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
        # Fewer request threads than anyio's default 40: SQLite has one writer and the GIL
        # one runner, and a crowd of threads only queues on both (measured by bench/api.py).
        anyio.to_thread.current_default_thread_limiter().total_tokens = 8
        await runtime.hub.start()
        listener = None
        if runtime.listens_to_database:
            from daycase.store.pg_listen import PgListener

            listener = PgListener(settings.db, runtime.hub.notify)
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            await runtime.hub.stop()
            runtime.close()

    app = FastAPI(
        title="daycase",
        version=__version__,
        summary="Day-of-surgery tracker: pathways as data, cases as event logs.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(CleanAddress)
    app.include_router(api_router)
    for extend in extensions:
        extend(app)
    return app
