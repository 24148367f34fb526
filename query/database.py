"""Opening the DuckDB file and applying the schema. Nothing here runs at import time."""

import re
from pathlib import Path

import duckdb

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
WORKFLOWS_SQL = Path(__file__).with_name("workflows.sql")  # views over SCHEMA_SQL
EVALS_SQL = Path(__file__).with_name("evals.sql")  # views over SCHEMA_SQL

# The name the file is attached under; every cursor selects it (Database.cursor).
CATALOG = "spyglass"

# Rows per DuckDB row group, instead of DuckDB's 122,880. A transaction that appends at least one
# whole row group has it compressed straight into the file ("optimistic writes"), which costs about
# half of what the same rows cost through the write-ahead log plus a checkpoint; the writer shapes
# its busiest commits to whole groups of this size (collector/writer.py, docs/performance.md). Small
# enough that the requests in flight from a few exporters fill a group. DuckDB keeps this per
# attach, not in the file, so it is given each time the file is opened.
ROW_GROUP_ROWS = 2_048

# Block size of a new database file, instead of DuckDB's 256 KiB: a row group's zstd-compressed
# attributes end in a part-filled block of their own, which at 2,048 rows per group cost ~70 bytes
# per span with 256 KiB blocks (docs/performance.md). A file keeps the block size it was made with.
NEW_FILE_BLOCK_BYTES = 65_536


class Database:
    """The open Spyglass database. DuckDB connections are not shared between threads: each thread
    takes its own `cursor()`; `execute` runs on the connection that opened it (set-up, tests, CLI)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection):
        self._connection = connection

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = self._connection.cursor()
        cursor.execute(f"USE {CATALOG}")  # a new cursor starts in DuckDB's in-memory catalog
        return cursor

    def execute(self, sql: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        return self._connection.execute(sql, parameters)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_database(path: str | Path) -> Database:
    """Open (creating if needed) the database file at `path` with the Spyglass schema applied."""
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    # DuckDB's own checkpoint runs inside the commit that crosses the threshold (16 MiB of WAL by
    # default), stalling that commit for seconds. The writer checkpoints in the background instead
    # (collector/writer.py); this threshold is only the backstop.
    config = {"checkpoint_threshold": "2GB", "default_block_size": str(NEW_FILE_BLOCK_BYTES)}
    if str(path) != ":memory:":
        config["temp_directory"] = f"{path}.tmp"  # where DuckDB spills, as for a file opened directly
    connection = duckdb.connect(":memory:", config=config)
    try:
        connection.execute(f"ATTACH ? AS {CATALOG} (ROW_GROUP_SIZE {ROW_GROUP_ROWS})", [str(path)])
        connection.execute(f"USE {CATALOG}")
        connection.execute(schema_sql())
        connection.execute(WORKFLOWS_SQL.read_text())
        connection.execute(EVALS_SQL.read_text())
    except BaseException:
        connection.close()
        raise
    return Database(connection)


def stored_records_ddl() -> str:
    """schema.sql's CREATE TABLE statement for stored_records."""
    return re.search(r"CREATE TABLE IF NOT EXISTS stored_records \(.*?\n\);", SCHEMA_SQL.read_text(), re.S).group(0)


def schema_sql() -> str:
    """schema.sql, with `bulk_records` declared right after `stored_records`: the same columns and
    compression under a second name (schema.sql writes them once)."""
    stored = stored_records_ddl()
    bulk = stored.replace("stored_records", "bulk_records", 1)
    return SCHEMA_SQL.read_text().replace(stored, f"{stored}\n\n{bulk}", 1)
