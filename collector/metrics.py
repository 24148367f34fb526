"""ExportMetricsServiceRequest -> rows of `metrics`, one per data point. Pure: no I/O, no clock."""

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from collector.anyvalue import json_number, key_values
from collector.limits import MAX_NAME_CHARS, truncate
from collector.jsontext import json_bytes
from collector.resource import resource_columns, scope_columns
from collector.rows import METRIC_COLUMNS, Decoded
from collector.spans import iso_timestamp

TEMPORALITY = {0: None, 1: "delta", 2: "cumulative"}
_EMPTY_POINT = dict.fromkeys(METRIC_COLUMNS)


def decode_metrics(request: ExportMetricsServiceRequest, received_at_us: int) -> Decoded:
    """Turn a metrics export into rows; a data point that cannot be read is counted and described."""
    out = Decoded()
    for resource_metrics in request.resource_metrics:
        resource = resource_columns(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            base = {**resource, **scope_columns(scope_metrics.scope), "created_at": received_at_us}
            for metric in scope_metrics.metrics:
                for index, point in enumerate(_points(metric)):
                    try:
                        out.metrics.append({**_EMPTY_POINT, **base, **_metric_columns(metric), **point()})
                    except (ValueError, RecursionError) as error:
                        out.reject(f"metric {truncate(metric.name, 80)!r} data point {index}: {error}")
    return out


def _metric_columns(metric: Metric) -> dict[str, Any]:
    data = metric.WhichOneof("data")
    inner = getattr(metric, data)
    temporality = getattr(inner, "aggregation_temporality", 0)
    return {
        "metric_name": truncate(metric.name, MAX_NAME_CHARS),
        "metric_type": data,
        "unit": metric.unit or None,
        "metric_description": metric.description or None,
        "aggregation_temporality": TEMPORALITY.get(temporality),
        "is_monotonic": inner.is_monotonic if data == "sum" else None,
    }


def _points(metric: Metric) -> list:
    """One zero-argument function per data point, so each point's errors stay its own."""
    data = metric.WhichOneof("data")
    if data in ("gauge", "sum"):
        return [lambda p=p: _number_point(p) for p in getattr(metric, data).data_points]
    if data == "histogram":
        return [lambda p=p: _histogram_point(p) for p in metric.histogram.data_points]
    if data == "exponential_histogram":
        return [lambda p=p: _exp_histogram_point(p) for p in metric.exponential_histogram.data_points]
    if data == "summary":
        return [lambda p=p: _summary_point(p) for p in metric.summary.data_points]
    return []  # a metric with no data: nothing to store


def _common(point: Any) -> dict[str, Any]:
    return {
        "recorded_timestamp": point.time_unix_nano // 1000,
        "start_timestamp": point.start_time_unix_nano // 1000 if point.start_time_unix_nano else None,
        "attributes": json_bytes(key_values(point.attributes)),
        "exemplars": _exemplars(point),
    }


def _count(count: int) -> int:
    """A uint64 count as the BIGINT the column holds; past 2**63 the point is rejected, not the batch."""
    if count >= 2**63:
        raise ValueError(f"count {count} does not fit a signed 64-bit integer")
    return count


def _counts(counts) -> list[int]:
    return [_count(count) for count in counts]


def _number_point(point: Any) -> dict[str, Any]:
    value = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
    return {**_common(point), "scalar_value": float(value)}


def _histogram_point(point: Any) -> dict[str, Any]:
    return {
        **_common(point),
        "histogram_count": _count(point.count),
        "histogram_sum": point.sum if point.HasField("sum") else None,
        "histogram_min": point.min if point.HasField("min") else None,
        "histogram_max": point.max if point.HasField("max") else None,
        "histogram_bucket_counts": _counts(point.bucket_counts),
        "histogram_explicit_bounds": list(point.explicit_bounds),
    }


def _exp_histogram_point(point: Any) -> dict[str, Any]:
    return {
        **_common(point),
        "histogram_count": _count(point.count),
        "histogram_sum": point.sum if point.HasField("sum") else None,
        "histogram_min": point.min if point.HasField("min") else None,
        "histogram_max": point.max if point.HasField("max") else None,
        "exp_histogram_scale": point.scale,
        "exp_histogram_zero_count": _count(point.zero_count),
        "exp_histogram_zero_threshold": point.zero_threshold,
        "exp_histogram_positive_bucket_counts": _counts(point.positive.bucket_counts),
        "exp_histogram_positive_bucket_counts_offset": point.positive.offset,
        "exp_histogram_negative_bucket_counts": _counts(point.negative.bucket_counts),
        "exp_histogram_negative_bucket_counts_offset": point.negative.offset,
    }


def _summary_point(point: Any) -> dict[str, Any]:
    # `metrics` has no summary columns (nor does Logfire's): count and sum go in the histogram
    # columns, the quantiles into attributes under spyglass.quantiles.
    attributes = key_values(point.attributes)
    attributes["spyglass.quantiles"] = {str(q.quantile): json_number(q.value) for q in point.quantile_values}
    return {
        **_common(point),
        "attributes": json_bytes(attributes),
        "histogram_count": _count(point.count),
        "histogram_sum": point.sum,
    }


def _exemplars(point: Any) -> str | None:
    exemplars = getattr(point, "exemplars", ())
    if not exemplars:
        return None
    return json_bytes(
        [
            {
                "timestamp": iso_timestamp(e.time_unix_nano),
                "value": json_number(e.as_double) if e.WhichOneof("value") == "as_double" else e.as_int,
                "trace_id": e.trace_id.hex() or None,
                "span_id": e.span_id.hex() or None,
                "attributes": key_values(e.filtered_attributes),
            }
            for e in exemplars
        ]
    )
