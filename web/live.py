"""The live view (home page): newest traces first."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from query import reads
from web.pages import templates


def live_router() -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, name="home")
    def home(request: Request):
        with request.app.state.database.cursor() as cursor:
            traces = reads.recent_traces(cursor)
            total = reads.count_records(cursor)
        return templates.TemplateResponse(request, "home.html", {"traces": traces, "total": total})

    return router
