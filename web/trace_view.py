"""The trace view: one trace as a tree with a waterfall."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from query import reads
from web.pages import PageError, templates


def trace_router() -> APIRouter:
    router = APIRouter()

    @router.get("/trace/{trace_id}", response_class=HTMLResponse, name="trace")
    def trace(request: Request, trace_id: str, span: str = ""):
        trace_id = trace_id.strip().lower()
        with request.app.state.database.cursor() as cursor:
            spans = reads.trace_records(cursor, trace_id)
        if not spans:
            raise PageError(f"no records with trace_id {trace_id!r}: it may not have arrived yet")
        return templates.TemplateResponse(request, "trace.html", {"trace_id": trace_id, "spans": spans, "selected": span})

    return router
