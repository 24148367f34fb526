"""Every decoder yields rows with exactly the columns of its table, so the writer's Arrow batches line up."""

import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.decode import decode_request
from collector.rows import METRIC_COLUMNS, RECORD_COLUMNS, metrics_table, records_table

NOW = time.time_ns()


def test_span_log_and_pending_rows_have_exactly_the_record_columns():
    pending = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x03" * 8, name="p",
                   start_time_unix_nano=NOW, end_time_unix_nano=NOW,
                   attributes=[KeyValue(key="logfire.span_type", value=AnyValue(string_value="pending_span"))])
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x03" * 8, name="s", start_time_unix_nano=NOW, end_time_unix_nano=NOW + 1)
    traces = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span, pending])])])
    logs = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[
        LogRecord(time_unix_nano=NOW, body=AnyValue(string_value="hello"))])])])
    decoded_traces = decode_request("traces", traces.SerializeToString(), "protobuf", 1)
    decoded_logs = decode_request("logs", logs.SerializeToString(), "protobuf", 1)
    rows = decoded_traces.records + decoded_traces.pending_spans + decoded_logs.records
    assert [row["kind"] for row in rows] == ["span", "pending_span", "log"]
    for row in rows:
        assert set(row) == set(RECORD_COLUMNS)
    assert records_table(rows).num_rows == 3


def test_every_metric_type_yields_exactly_the_metric_columns():
    point = NumberDataPoint(time_unix_nano=NOW, as_int=3)
    metrics = [
        Metric(name="g", gauge=Gauge(data_points=[point])),
        Metric(name="s", sum=Sum(data_points=[point], is_monotonic=True, aggregation_temporality=2)),
        Metric(name="h", histogram=Histogram(data_points=[HistogramDataPoint(time_unix_nano=NOW, count=2, sum=3.0,
                                                                              bucket_counts=[1, 1], explicit_bounds=[1.0])])),
        Metric(name="e", exponential_histogram=ExponentialHistogram(data_points=[
            ExponentialHistogramDataPoint(time_unix_nano=NOW, count=1, scale=2)])),
        Metric(name="q", summary=Summary(data_points=[SummaryDataPoint(time_unix_nano=NOW, count=1, sum=2.0)])),
    ]
    request = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=metrics)])])
    rows = decode_request("metrics", request.SerializeToString(), "protobuf", 1).metrics
    assert [row["metric_type"] for row in rows] == ["gauge", "sum", "histogram", "exponential_histogram", "summary"]
    for row in rows:
        assert set(row) == set(METRIC_COLUMNS)
    assert metrics_table(rows).num_rows == 5
