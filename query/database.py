"""Opening the DuckDB file and applying the schema. Nothing here runs at import time."""

from pathlib import Path

import duckdb

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
WORKFLOWS_SQL = Path(__file__).with_name("workflows.sql")  # views over SCHEMA_SQL
EVALS_SQL = Path(__file__).with_name("evals.sql")  # views over SCHEMA_SQL


def open_database(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the database file at `path` with the Spyglass schema applied.

    Each thread that uses the database takes its own `.cursor()` of the returned connection.
    """
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path))
    # DuckDB's own checkpoint runs inside the commit that crosses the threshold (16 MiB of WAL by
    # default), stalling that commit for seconds. The writer checkpoints in the background instead
    # (collector/writer.py); this threshold is only the backstop.
    connection.execute("SET checkpoint_threshold = '2GB'")
    connection.execute(SCHEMA_SQL.read_text())
    connection.execute(WORKFLOWS_SQL.read_text())
    connection.execute(EVALS_SQL.read_text())
    return connection
