"""`spyglass query`'s two ways to a result: the running server's /api/query, or the file itself."""

import json
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pyarrow as pa

from query.sandbox import Limits, QueryRefused, harden_database, run_query
from web.results import ARROW


class QueryFailed(Exception):
    """The query was refused or could not run; the message says why."""


def query_server(url: str, sql: str) -> tuple[pa.Table, bool]:
    """POST to /api/query asking for Arrow. Raises ConnectionError when nothing listens at `url`."""
    request = urllib.request.Request(
        url.rstrip("/") + "/api/query",
        data=json.dumps({"sql": sql}).encode(),
        headers={"Content-Type": "application/json", "Accept": ARROW},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            table = pa.ipc.open_stream(response.read()).read_all()
            return table, response.headers.get("X-Spyglass-Truncated") == "true"
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("error")
        except ValueError:
            message = None
        raise QueryFailed(message or f"{url} answered {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionError(f"no Spyglass server at {url}: {error}") from None


def query_file(path: Path, sql: str, limits: Limits) -> tuple[pa.Table, bool]:
    """Open the database file read-only, with the server's sandbox, and run the query."""
    if not path.exists():
        raise QueryFailed(f"no server answered and there is no database at {path}; start one with `spyglass serve`")
    try:
        connection = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise QueryFailed(f"no server answered and {path} cannot be opened: {error}") from None
    try:
        harden_database(connection, limits)
        result = run_query(connection, sql, limits)
    except QueryRefused as refused:
        raise QueryFailed(str(refused)) from None
    finally:
        connection.close()
    return result.table, result.truncated
