"""Columns that come from an OTLP Resource and InstrumentationScope, shared by spans, logs and metrics."""

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from collector.anyvalue import key_values
from collector.jsontext import json_bytes


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    """An integer that fits the BIGINT column, else None (a pid of 1e30 must not fail the batch)."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -(2**63) <= number < 2**63 else None


def resource_columns(resource: Resource) -> dict[str, Any]:
    """The service_* / process_pid / telemetry_sdk_* columns and the raw resource attributes."""
    attrs = key_values(resource.attributes)
    environment = attrs.get("deployment.environment.name", attrs.get("deployment.environment"))
    return {
        "otel_resource_attributes": json_bytes(attrs),
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
        "otel_scope_attributes": json_bytes(attrs),
    }
