"""Jinja filters for durations and timestamps: the one place values are formatted for people."""

from datetime import datetime


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    if seconds < 0:
        return f"{seconds * 1000:.1f} ms (end before start)"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def timestamp(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def register(env) -> None:
    env.filters["duration"] = duration
    env.filters["timestamp"] = timestamp
