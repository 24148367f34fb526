"""A query result (an Arrow table) as JSON, CSV, an Arrow IPC stream or Parquet. Pure functions."""

import base64
import csv
import io
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

JSON = "application/json"
CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
FORMATS = {"json": JSON, "csv": CSV, "arrow": ARROW, "parquet": PARQUET}
_ACCEPTED = {JSON: JSON, CSV: CSV, ARROW: ARROW, PARQUET: PARQUET, "application/x-parquet": PARQUET}


def negotiate(accept: str | None) -> str:
    """The media type in an Accept header that we can produce, highest q first (ties: the order
    given; q=0 means "not this one"); JSON when none is named."""
    choices = []
    for position, part in enumerate((accept or "").split(",")):
        media_type, *params = (piece.strip().lower() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type in _ACCEPTED and quality > 0:
            choices.append((-quality, position, _ACCEPTED[media_type]))
    return min(choices)[2] if choices else JSON


def json_value(value: Any) -> Any:
    """orjson's fallback for what Arrow hands back and JSON has no type for."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (uuid.UUID, date, time, datetime)):
        return str(value)
    return str(value)


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, default=json_value, option=orjson.OPT_NON_STR_KEYS)


def rows(table: pa.Table) -> list[list[Any]]:
    columns = [column.to_pylist() for column in table.columns]
    return [list(row) for row in zip(*columns)] if columns else []


def to_json(table: pa.Table, truncated: bool, elapsed_ms: float) -> bytes:
    return dumps(
        {
            "columns": table.column_names,
            "types": [str(field.type) for field in table.schema],
            "rows": rows(table),
            "row_count": table.num_rows,
            "truncated": truncated,
            "elapsed_ms": round(elapsed_ms, 3),
        }
    )


def to_csv(table: pa.Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.column_names)
    for row in rows(table):
        writer.writerow([_csv_cell(value) for value in row])
    return out.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):  # csv would write Python's True/False
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return dumps(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def to_arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def to_text(table: pa.Table, max_width: int = 60) -> str:
    """A plain-text table for the terminal."""
    def show(value: Any) -> str:
        text = "NULL" if value is None else dumps(value).decode() if isinstance(value, (list, dict)) else str(value)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    header = table.column_names
    body = [[show(v) for v in row] for row in rows(table)]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(header), line(["-" * w for w in widths])] + [line(r) for r in body]
    out.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")
    return "\n".join(out) + "\n"
