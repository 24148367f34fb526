"""Columns that come from an OTLP Resource and InstrumentationScope, shared by spans, logs and metrics."""

import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from collector.anyvalue import key_values


def to_json(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is (never NaN: anyvalue already turned those into strings)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def resource_columns(resource: Resource) -> dict[str, Any]:
    """The service_* / process_pid / telemetry_sdk_* columns and the raw resource attributes."""
    attrs = key_values(resource.attributes)
    environment = attrs.get("deployment.environment.name", attrs.get("deployment.environment"))
    return {
        "otel_resource_attributes": to_json(attrs),
        "service_namespace": _text(attrs.get("service.namespace")),
        "service_name": _text(attrs.get("service.name")) or "unknown_service",
        "service_version": _text(attrs.get("service.version")),
        "service_instance_id": _text(attrs.get("service.instance.id")),
        "process_pid": _int(attrs.get("process.pid")),
        "telemetry_sdk_name": _text(attrs.get("telemetry.sdk.name")),
        "telemetry_sdk_language": _text(attrs.get("telemetry.sdk.language")),
        "telemetry_sdk_version": _text(attrs.get("telemetry.sdk.version")),
        "deployment_environment": _text(environment),
    }


def scope_columns(scope: InstrumentationScope) -> dict[str, Any]:
    attrs = key_values(scope.attributes)
    return {
        "otel_scope_name": scope.name or None,
        "otel_scope_version": scope.version or None,
        "otel_scope_attributes": to_json(attrs),
    }
