"""The JSON API: user SQL (/api/query and logfire's /v2/query), schema, saved queries, stats, traces."""

import json
from datetime import datetime, timezone
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from collector.errors import IngestError
from query import live, reads
from query.sandbox import Limits, QueryRefused, check, run_query
from web import results
from web.live import since_delta


class ApiError(Exception):
    """An API request we refuse: answered as {"error": message} with the status."""

    def __init__(self, message: str, status: int = 400, rule: str | None = None):
        super().__init__(message)
        self.status = status
        self.rule = rule


def api_error_response(error: ApiError) -> JSONResponse:
    body = {"error": str(error)}
    if error.rule:
        body["rule"] = error.rule
    return JSONResponse(body, status_code=error.status)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise ApiError(f"request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError('request body must be a JSON object like {"sql": "SELECT ..."}')
    return body


def _sql_of(body: dict[str, Any]) -> str:
    sql = body.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ApiError('missing "sql": send {"sql": "SELECT ..."}')
    return sql


def _run(request: Request, sql: str, limits: Limits | None = None):
    try:
        return run_query(request.app.state.database, sql, limits or request.app.state.settings.query_limits)
    except QueryRefused as refused:
        raise ApiError(str(refused), rule=refused.rule) from None


def _result_response(result, media_type: str) -> Response:
    headers = {"X-Spyglass-Truncated": str(result.truncated).lower(), "X-Spyglass-Elapsed-Ms": f"{result.elapsed_ms:.1f}"}
    if media_type == results.CSV:
        return Response(results.to_csv(result.table), media_type="text/csv; charset=utf-8", headers=headers)
    if media_type == results.ARROW:
        return Response(results.to_arrow(result.table), media_type=results.ARROW, headers=headers)
    if media_type == results.PARQUET:
        return Response(results.to_parquet(result.table), media_type=results.PARQUET, headers=headers)
    return Response(results.to_json(result.table, result.truncated, result.elapsed_ms), media_type=results.JSON, headers=headers)


def _timestamp(value: Any, name: str) -> str | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(f"{name} must be an ISO 8601 timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.isoformat()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def bounded_sql(sql: str, min_timestamp: str | None, max_timestamp: str | None, environments: list[str] | None, limit: int | None) -> str:
    """Logfire's /v2/query semantics: `records` and `metrics` seen through the time window (and
    environments) of the request, and at most `limit` rows. Every composed value is validated
    (timestamps re-serialised, limit an int, environments quoted)."""
    record_filters, metric_filters = ["TRUE"], ["TRUE"]
    if min_timestamp:
        record_filters.append(f"start_timestamp >= TIMESTAMPTZ {_quote(min_timestamp)}")
        metric_filters.append(f"recorded_timestamp >= TIMESTAMPTZ {_quote(min_timestamp)}")
    if max_timestamp:
        record_filters.append(f"start_timestamp < TIMESTAMPTZ {_quote(max_timestamp)}")
        metric_filters.append(f"recorded_timestamp < TIMESTAMPTZ {_quote(max_timestamp)}")
    if environments is not None:
        values = ", ".join(_quote(str(e)) for e in environments)
        condition = f"coalesce(deployment_environment, '') IN ({values})"
        record_filters.append(condition)
        metric_filters.append(condition)
    inner = sql.strip().rstrip(";").strip()
    limit_clause = f" LIMIT {int(limit)}" if limit is not None else ""
    return (
        f"WITH records AS (SELECT * FROM main.records WHERE {' AND '.join(record_filters)}), "
        f"metrics AS (SELECT * FROM main.metrics WHERE {' AND '.join(metric_filters)}) "
        f"SELECT * FROM ({inner}\n){limit_clause}"  # the newline ends a trailing -- comment
    )


def api_router() -> APIRouter:
    router = APIRouter()

    @router.post("/api/query")
    async def query(request: Request) -> Response:
        """Run one read-only SQL statement. Accept picks JSON (default), CSV, Arrow IPC stream or Parquet."""
        sql = _sql_of(await _json_body(request))
        media_type = results.negotiate(request.headers.get("accept"))
        result = await to_thread.run_sync(_run, request, sql)
        return _result_response(result, media_type)

    @router.post("/v2/query")
    async def logfire_query(request: Request) -> Response:
        """The endpoint logfire's LogfireQueryClient calls (query_json_rows, query_arrow, query_csv)."""
        _check_read_token(request)
        body = await _json_body(request)
        sql = _sql_of(body)
        limit = body.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ApiError(f"limit must be a non-negative integer, got {limit!r}")
        environments = body.get("deployment_environment")
        if environments is not None and not isinstance(environments, list):
            raise ApiError("deployment_environment must be a list of strings")
        settings = request.app.state.settings
        limits = Limits(settings.query_timeout, min(limit, settings.query_row_limit) if limit else settings.query_row_limit,
                        settings.query_memory_limit)
        # The statement is checked on its own first, so the error names the user's statement.
        await to_thread.run_sync(_check_only, request, sql)
        wrapped = bounded_sql(sql, _timestamp(body.get("min_timestamp"), "min_timestamp"),
                              _timestamp(body.get("max_timestamp"), "max_timestamp"), environments, limit)
        result = await to_thread.run_sync(_run, request, wrapped, limits)
        media_type = results.negotiate(request.headers.get("accept"))
        if media_type == results.JSON:
            fields = [{"name": f.name, "data_type": str(f.type), "nullable": f.nullable} for f in result.table.schema]
            data = result.table.to_pylist()
            return Response(results.dumps({"schema": {"fields": fields}, "data": data}), media_type=results.JSON)
        return _result_response(result, media_type)

    @router.get("/v1/read-token-info")
    def read_token_info(request: Request) -> dict:
        """What LogfireQueryClient.info() asks for."""
        _check_read_token(request)
        return {"organization_name": "spyglass", "project_name": "spyglass"}

    @router.get("/api/schema")
    def schema(request: Request) -> list[dict]:
        """Tables and views a query can read, with their columns."""
        with request.app.state.database.cursor() as cursor:
            return reads.schema(cursor)

    @router.get("/api/saved-queries")
    def saved_queries(request: Request) -> list[dict]:
        with request.app.state.database.cursor() as cursor:
            return reads.saved_queries(cursor)

    @router.post("/api/saved-queries")
    async def save_query(request: Request) -> dict:
        body = await _json_body(request)
        sql = _sql_of(body)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError('missing "name": send {"name": "...", "sql": "..."}')
        with request.app.state.database.cursor() as cursor:
            reads.save_query(cursor, name.strip()[:200], sql)
        return {"name": name.strip()[:200], "sql": sql}

    @router.delete("/api/saved-queries/{name:path}")  # names may contain "/"
    def delete_saved_query(request: Request, name: str) -> dict:
        with request.app.state.database.cursor() as cursor:
            if not reads.delete_saved_query(cursor, name):
                raise ApiError(f"no saved query named {name!r}", status=404)
        return {"deleted": name}

    @router.get("/api/stats")
    def stats(request: Request) -> dict:
        with request.app.state.database.cursor() as cursor:
            return {**reads.stats(cursor), "queued_rows": request.app.state.ingestor.writer.queued_rows}

    @router.get("/api/traces")
    def traces(request: Request, response: Response, limit: int = 50, offset: int = 0, where: str = "",
               service: str = "", errors: bool = False, since: str = "all") -> list[dict]:
        """Traces newest first under the live view's filters (docs/ui.md); X-Spyglass-Total counts all matches."""
        try:
            trace_filter = live.TraceFilter(where, service, errors, since_delta(since))
            page = live.trace_page(request.app.state.database, trace_filter, request.app.state.settings.query_limits,
                                   min(max(limit, 1), 1000), max(offset, 0))
        except QueryRefused as refused:
            raise ApiError(str(refused), rule=refused.rule) from None
        response.headers["X-Spyglass-Total"] = str(page.total)
        return page.traces

    return router


def _check_read_token(request: Request) -> None:
    """LogfireQueryClient sends its read token as `Authorization`; with --token it must match."""
    try:
        request.app.state.ingestor.check_token(request.headers.get("authorization"))
    except IngestError as error:
        raise ApiError(str(error), status=401) from None


def _check_only(request: Request, sql: str) -> None:
    with request.app.state.database.cursor() as cursor:
        try:
            check(cursor, sql)
        except QueryRefused as refused:
            raise ApiError(str(refused), rule=refused.rule) from None
