"""HTML pages. Routes fetch data with query/ functions and hand it to a template; nothing else."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from query import reads
from web import examples, formatting

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
formatting.register(templates.env)


class PageError(Exception):
    """A page that cannot be shown; rendered as an HTML error page with the status."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


def page_error_response(request: Request, error: PageError) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"message": str(error)}, status_code=error.status)


def pages_router() -> APIRouter:
    router = APIRouter()

    @router.get("/explore", response_class=HTMLResponse, name="explore")
    def explore(request: Request, sql: str = ""):
        with request.app.state.database.cursor() as cursor:
            tables = reads.schema(cursor)
        settings = request.app.state.settings
        return templates.TemplateResponse(request, "explore.html", {
            "tables": tables, "examples": examples.EXAMPLES, "sql": sql or examples.EXAMPLES[0].sql,
            "limits": settings.query_limits,
        })

    return router
