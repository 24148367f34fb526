"""Records captured from real DBOS and Temporal runs (tests/fixtures/workflows/, written by the capture
scripts there), put back into a fresh database for the query-level tests of the workflow views."""

import json
from pathlib import Path

import duckdb

from query.database import open_database
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "workflows"
COLUMNS = ("trace_id", "span_id", "parent_span_id", "span_name", "kind", "level", "message", "start_timestamp",
           "end_timestamp", "duration", "otel_scope_name", "attributes", "otel_events", "otel_status_code",
           "otel_status_message", "service_name", "service_instance_id", "process_pid", "cost_usd")


def _json(value):
    return value if value is None or isinstance(value, str) else json.dumps(value)


def insert(connection: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Store rows as the writer would: pending spans in open_pending_spans, the rest in stored_records.
    A `chat` span's model-call columns come from its attributes (as collector/genai.py fills them)."""
    for row in rows:
        attributes = row["attributes"] if isinstance(row["attributes"], dict) else json.loads(row["attributes"] or "{}")
        chat = (row["span_name"] or "").startswith("chat ")
        table = "open_pending_spans" if row["kind"] == "pending_span" else "stored_records"
        values = [_json(row.get(c)) if c in ("attributes", "otel_events") else row.get(c) for c in COLUMNS]
        values += [attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system") if chat else None,
                   attributes.get("gen_ai.response.model") if chat else None]
        connection.execute(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}, gen_ai_provider, gen_ai_model, created_at) "
            f"VALUES ({', '.join('?' * (len(COLUMNS) + 2))}, now())", values)


def load(path: Path, *names: str) -> duckdb.DuckDBPyConnection:
    connection = open_database(path)
    for name in names:
        insert(connection, json.loads((FIXTURES / f"{name}.json").read_text()))
    return connection


def truth(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / f"{name}.truth.jsonl").read_text().splitlines() if line]
