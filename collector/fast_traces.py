"""The fast path for OTLP/protobuf trace exports, the bulk of what Spyglass receives.

collector/fastspans.c walks the protobuf in C, without the GIL, and fills Arrow buffers for most
columns of `records`; this module adds what it leaves to Python (resource and scope columns, the
http and model-call columns of the spans that carry such attributes) with the same functions the
Python decoder uses, and returns a Batch.

collector/spans.py stays the definition of a row: the C walk gives up (and this returns None) on
anything it is not sure about, and the Python decoder takes the request. Both must give the same
rows; tests/collector/test_fast_traces.py compares them. Without a C compiler the extension is not
built and every export takes the Python path.
"""

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from collector.genai import COLUMNS as GENAI_COLUMNS, drop_duplicate_calls, genai_columns
from collector.resource import resource_columns, scope_columns
from collector.rows import RECORD_SCHEMA, Batch
from collector.spans import http_columns

try:
    from collector import _fastspans
except ImportError:  # not compiled (no C compiler where Spyglass was installed)
    _fastspans = None

AVAILABLE = _fastspans is not None
digest = _fastspans.digest if _fastspans is not None else None
"""digest(bytes) -> 32 hex characters (XXH64 with two seeds), or None without the native module."""

RESOURCE_COLUMNS = ("otel_resource_attributes", "service_namespace", "service_name", "service_version",
                    "service_instance_id", "process_pid", "telemetry_sdk_name", "telemetry_sdk_language",
                    "telemetry_sdk_version", "deployment_environment")
SCOPE_COLUMNS = ("otel_scope_name", "otel_scope_version", "otel_scope_attributes")
HTTP_COLUMNS = ("http_method", "http_route", "http_response_status_code", "url_full", "url_path", "url_query")


def decode_traces_fast(body: bytes, received_at_us: int) -> Batch | None:
    """A trace export's rows as a Batch, or None when the Python decoder must take the request."""
    if _fastspans is None:
        return None
    native = _fastspans.decode_traces(body)
    if native is None:
        return None
    try:
        resources = [resource_columns(_message(Resource, body, place)) for place in native["resources"]]
        scopes = [scope_columns(_message(InstrumentationScope, body, place)) for place in native["scopes"]]
    except (DecodeError, ValueError, RecursionError):
        return None  # the Python decoder refuses the request and says why
    rows = native["rows"]
    columns = {name: _array(RECORD_SCHEMA.field(name).type, native[name]) for name in NATIVE_COLUMNS + GENAI_COLUMNS}
    columns["is_exception"] = pa.Array.from_buffers(pa.bool_(), rows, [None, pa.py_buffer(native["is_exception"])])
    columns["tags"] = _tags(native, rows)
    columns["log_body"] = pa.nulls(rows, pa.string())
    columns["created_at"] = pa.repeat(pa.scalar(received_at_us, RECORD_SCHEMA.field("created_at").type), rows)
    columns.update(_per_span(resources, RESOURCE_COLUMNS, _array(pa.int32(), native["resource_index"])))
    columns.update(_per_span(scopes, SCOPE_COLUMNS, _array(pa.int32(), native["scope_index"])))
    _enrichment(native, columns, rows)
    table = pa.Table.from_arrays([columns[name] for name in RECORD_SCHEMA.names], schema=RECORD_SCHEMA)

    records, pending = table, None
    is_pending = pc.equal(table["kind"], "pending_span")
    if pc.any(is_pending).as_py():
        records, pending = table.filter(pc.invert(is_pending)), table.filter(is_pending)
    return Batch(records if records.num_rows else None, pending, None, 0, "")


# Columns whose buffers come from C as they are.
NATIVE_COLUMNS = (
    "start_timestamp", "end_timestamp", "duration", "trace_id", "span_id", "parent_span_id", "kind", "level",
    "span_name", "message", "attributes", "attributes_json_schema", "otel_status_code", "otel_status_message",
    "otel_span_kind", "otel_events", "otel_links", "exception_type", "exception_message", "exception_stacktrace",
)  # and the model-call columns (GENAI_COLUMNS)


def _per_span(groups: list[dict], names: tuple[str, ...], index: pa.Array) -> dict[str, pa.Array]:
    """Columns of each resource (or scope), repeated for the spans under it."""
    table = pa.table({name: pa.array([g[name] for g in groups], RECORD_SCHEMA.field(name).type) for name in names})
    taken = table.take(index)
    return {name: taken[name].combine_chunks() for name in names}


def _message(message_type, body: bytes, place: tuple[int, int]):
    start, length = place
    return message_type() if start < 0 else message_type.FromString(body[start:start + length])


def _array(arrow_type: pa.DataType, parts: tuple) -> pa.Array:
    storage_type = arrow_type.storage_type if isinstance(arrow_type, pa.BaseExtensionType) else arrow_type  # JSON: a string
    if pa.types.is_string(storage_type):
        length, validity, offsets, data, nulls = parts
        buffers = [_buffer(validity), _buffer(offsets), _buffer(data)]
    else:
        length, validity, data, nulls = parts
        buffers = [_buffer(validity), _buffer(data)]
    return pa.Array.from_buffers(arrow_type, length, buffers, null_count=nulls)


def _buffer(data: bytes | tuple | None) -> pa.Buffer | None:
    """C hands over bitmaps as bytes and large buffers as (address, size, owner), without a copy."""
    if data is None or isinstance(data, bytes):
        return None if data is None else pa.py_buffer(data)
    address, size, owner = data
    return pa.foreign_buffer(address, size, base=owner)


def _tags(native: dict, rows: int) -> pa.Array:
    values = _array(pa.string(), native["tag_values"])
    validity, offsets, nulls = native["tags"]
    return pa.Array.from_buffers(pa.list_(pa.string()), rows, [_buffer(validity), _buffer(offsets)],
                                 null_count=nulls, children=[values])


def _enrichment(native: dict, columns: dict[str, pa.Array], rows: int) -> None:
    """The http_* columns, and the model-call columns C left to Python (a cost to compute with
    genai-prices, http attributes, unusual values), from the parsed attributes of the spans C
    flagged; then drop_duplicate_calls over every span with model-call columns, as decode_traces does."""
    flagged = [i for i, flag in enumerate(memoryview(_buffer(native["enrich"][2]))) if flag]
    if flagged:
        attributes = _Strings(native["attributes"])
        starts = memoryview(_buffer(native["start_timestamp"][2])).cast("q")
        values = {name: columns[name].to_pylist() for name in GENAI_COLUMNS}
        values.update({name: [None] * rows for name in HTTP_COLUMNS})
        for i in flagged:
            attrs = orjson.loads(attributes.raw(i))
            for name, value in {**http_columns(attrs), **genai_columns(attrs, starts[i] * 1000)}.items():
                values[name][i] = value
        columns.update({name: pa.array(values[name], RECORD_SCHEMA.field(name).type) for name in values})
    else:
        columns.update({name: pa.nulls(rows, RECORD_SCHEMA.field(name).type) for name in HTTP_COLUMNS})

    if not native["calls_under_calls"]:
        return  # no row with model-call tokens sits under another: nothing can be a duplicate
    has_call = pc.or_(columns["input_tokens"].is_valid(), columns["output_tokens"].is_valid())
    has_call = pc.and_(has_call, pc.not_equal(columns["kind"], "pending_span"))
    indices = pc.indices_nonzero(has_call).to_pylist()
    calls = pa.table({name: columns[name].take(indices) for name in DUPLICATE_CHECK_COLUMNS}).to_pylist()
    for index, call in zip(indices, calls):
        call["index"] = index
        call["attributes"] = call["attributes"].encode()  # bytes, as decode_traces has it
    drop_duplicate_calls(calls)
    cleared = [call["index"] for call in calls if call["input_tokens"] is None and call["output_tokens"] is None]
    if cleared:
        mask = pc.is_in(pa.array(range(rows)), pa.array(cleared))
        for name in GENAI_COLUMNS:
            columns[name] = pc.if_else(mask, pa.scalar(None, columns[name].type), columns[name])


DUPLICATE_CHECK_COLUMNS = ("trace_id", "span_id", "parent_span_id", "attributes", "input_tokens", "output_tokens")


class _Strings:
    """Reads single values out of a string column's buffers from C."""

    def __init__(self, parts: tuple):
        length, validity, offsets, data, nulls = parts
        self._offsets = memoryview(_buffer(offsets)).cast("i")
        self._data = memoryview(_buffer(data))

    def raw(self, i: int) -> bytes:
        return self._data[self._offsets[i]:self._offsets[i + 1]].tobytes()
