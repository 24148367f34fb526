"""Every setting, declared once: name, default, environment variable, help.

The CLI flags, the environment variables and the settings table in README.md all come from
SETTINGS (tests/web/test_settings.py checks that the README table is `settings_markdown()`).
"""

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from query.sandbox import Limits


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "SPYGLASS_" + self.name.upper()

    @property
    def type(self) -> type:
        return type(self.default) if self.default is not None else str


SETTINGS = (
    Setting("db", "./spyglass-data/spyglass.duckdb", "DuckDB file holding all data (created if missing)."),
    Setting("host", "127.0.0.1", "Address for OTLP/HTTP and the web UI (0.0.0.0 to accept other machines)."),
    Setting("port", 4318, "Port for OTLP/HTTP and the web UI; 4318 is where OTel exporters send by default."),
    Setting("grpc_port", 4317, "Port for OTLP/gRPC; 4317 is the exporters' default; 0 disables gRPC."),
    Setting("token", None, "If set, exports must send 'Authorization: <token>' or 'Bearer <token>'."),
    Setting("max_body_mb", 64, "Largest export request accepted, in MiB after decompression (larger: 413)."),
    Setting("max_queued_rows", 200_000, "Rows waiting for the writer before exports get 503 + Retry-After."),
    Setting("decode_workers", 2, "Processes that decode exports in parallel (0: decode in threads of the server process)."),
    Setting("query_timeout", 5.0, "Seconds a user SQL query may run before it is stopped."),
    Setting("query_row_limit", 10_000, "Rows a user SQL query returns at most (the result says it was truncated)."),
    Setting("query_memory_limit", "4GB", "DuckDB memory limit; a query needing more is stopped with an error."),
)


@dataclass(frozen=True)
class Settings:
    db: str = SETTINGS[0].default
    host: str = SETTINGS[1].default
    port: int = SETTINGS[2].default
    grpc_port: int = SETTINGS[3].default
    token: str | None = None
    max_body_mb: int = SETTINGS[5].default
    max_queued_rows: int = SETTINGS[6].default
    decode_workers: int = SETTINGS[7].default
    query_timeout: float = SETTINGS[8].default
    query_row_limit: int = SETTINGS[9].default
    query_memory_limit: str = SETTINGS[10].default

    @property
    def db_path(self) -> Path:
        return Path(self.db)

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_mb * 1024 * 1024

    @property
    def query_limits(self) -> Limits:
        return Limits(self.query_timeout, self.query_row_limit, self.query_memory_limit)


assert [f.name for f in fields(Settings)] == [s.name for s in SETTINGS], "Settings and SETTINGS disagree"


def build_settings(flags: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """Flags win over environment variables, which win over defaults."""
    environ = os.environ if environ is None else environ
    values = {}
    for setting in SETTINGS:
        value = flags.get(setting.name)
        if value is None and setting.env in environ:
            raw = environ[setting.env]
            try:
                value = setting.type(raw)
            except ValueError:
                raise SystemExit(f"{setting.env}={raw!r} is not a valid {setting.type.__name__}") from None
        if value is not None:
            values[setting.name] = value
    return Settings(**values)


def settings_markdown() -> str:
    """The settings table for README.md."""
    lines = ["| Flag | Environment variable | Default | What it does |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = "(none)" if s.default is None else f"`{s.default}`"
        lines.append(f"| `{s.flag}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines)
