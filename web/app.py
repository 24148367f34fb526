"""create_app(settings): the one process. OTLP/HTTP and pages on one port, OTLP/gRPC on another.

Long-lived parts (the database, the writer, the gRPC server) are entered in the lifespan and left
in reverse order: gRPC stops taking requests, the writer drains its queue, the database closes.
"""

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from collector.grpc_receiver import create_grpc_server
from collector.http_receiver import otlp_router
from collector.ingest import Ingestor
from collector.writer import Writer
from query import reads
from query.database import open_database
from web import formatting
from web.settings import Settings

log = logging.getLogger("spyglass")
HERE = Path(__file__).parent


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with AsyncExitStack() as stack:
            database = open_database(settings.db_path)
            stack.callback(database.close)
            writer = await stack.enter_async_context(Writer(database, max_queued_rows=settings.max_queued_rows))
            app.state.database = database
            app.state.ingestor = Ingestor(writer, max_body_bytes=settings.max_body_bytes, token=settings.token)
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
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    formatting.register(templates.env)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        cursor = request.app.state.database.cursor()
        try:
            traces = reads.recent_traces(cursor)
            total = reads.count_records(cursor)
        finally:
            cursor.close()
        return templates.TemplateResponse(request, "home.html", {"traces": traces, "total": total})

    @app.get("/api/traces")
    def api_traces(request: Request, limit: int = 50) -> list[dict]:
        cursor = request.app.state.database.cursor()
        try:
            return reads.recent_traces(cursor, min(max(limit, 1), 1000))
        finally:
            cursor.close()

    @app.get("/api/stats")
    def api_stats(request: Request) -> dict:
        cursor = request.app.state.database.cursor()
        try:
            return {**reads.stats(cursor), "queued_rows": request.app.state.ingestor.writer.queued_rows}
        finally:
            cursor.close()

    return app
