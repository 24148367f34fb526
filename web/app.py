"""create_app(settings): the one process. OTLP/HTTP, pages and the API on one port, OTLP/gRPC on another.

Long-lived parts (the database, the writer, the gRPC server) are entered in the lifespan and left
in reverse order: gRPC stops taking requests, the writer drains its queue, the database closes.
"""

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from collector.grpc_receiver import create_grpc_server
from collector.http_receiver import otlp_router
from collector.ingest import DecodePool, Ingestor
from collector.writer import Writer
from query.database import open_database
from query.sandbox import harden_database
from web.api import ApiError, api_error_response, api_router
from web.eval_pages import eval_router
from web.live import live_router
from web.llm_pages import llm_router
from web.pages import PageError, page_error_response, pages_router
from web.trace_view import trace_router
from web.workflow_pages import workflow_router
from web.settings import Settings

log = logging.getLogger("spyglass")
HERE = Path(__file__).parent


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with AsyncExitStack() as stack:
            database = open_database(settings.db_path)
            stack.callback(database.close)
            harden_database(database, settings.query_limits)
            decode_pool = None
            if settings.decode_workers > 0:
                decode_pool = DecodePool(settings.decode_workers)
                stack.callback(decode_pool.close)
            writer = await stack.enter_async_context(Writer(database, max_queued_rows=settings.max_queued_rows))
            app.state.database = database
            app.state.ingestor = Ingestor(writer, max_body_bytes=settings.max_body_bytes, token=settings.token,
                                          decode_pool=decode_pool)
            app.state.grpc_port = None
            if settings.grpc_port:
                server, app.state.grpc_port = create_grpc_server(app.state.ingestor, settings.host, settings.grpc_port)
                await server.start()
                stack.push_async_callback(server.stop, 5)
            log.info("Spyglass storing into %s", settings.db_path.resolve())
            yield

    app = FastAPI(title="Spyglass", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.settings = settings
    # Browser SDKs export from other origins (OTLP.md item 11).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"])
    app.include_router(otlp_router())
    app.include_router(api_router())
    app.include_router(live_router())
    app.include_router(trace_router())
    app.include_router(llm_router())
    app.include_router(workflow_router())
    app.include_router(eval_router())
    app.include_router(pages_router())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError):
        return api_error_response(error)

    @app.exception_handler(PageError)
    async def on_page_error(request: Request, error: PageError):
        return page_error_response(request, error)

    return app
