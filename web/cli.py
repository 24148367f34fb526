"""The `spyglass` command. `spyglass serve` runs the one process."""

import argparse
import logging
import os
import sys

import duckdb

from web.settings import SETTINGS, build_settings, settings_markdown


def _serve_parser(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="receive OTLP and serve the web UI")
    for setting in SETTINGS:
        default = "none" if setting.default is None else setting.default
        serve.add_argument(
            setting.flag,
            dest=setting.name,
            type=setting.type,
            default=None,
            help=f"{setting.help} [env {setting.env}, default {default}]",
        )


def serve(flags: dict) -> int:
    import uvicorn

    from collector import fast_traces
    from query.database import open_database
    from web.app import create_app

    settings = build_settings(flags)
    try:  # fail early and clearly if another process holds the database
        open_database(settings.db_path).close()
    except duckdb.Error as error:
        print(f"spyglass: cannot open {settings.db_path}: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    grpc = f"OTLP/gRPC on {settings.host}:{settings.grpc_port}" if settings.grpc_port else "OTLP/gRPC disabled"
    print(
        f"Spyglass: UI and OTLP/HTTP on http://{settings.host}:{settings.port}, {grpc}; "
        f"data in {settings.db_path.resolve()}",
        flush=True,
    )
    if not fast_traces.AVAILABLE:
        print("spyglass: the native trace decoder is not built (no C compiler when Spyglass was installed); every "
              "export is decoded in Python, at about half the throughput (docs/performance.md)",
              file=sys.stderr, flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    return 0


def _query_parser(subparsers) -> None:
    query = subparsers.add_parser(
        "query", help="run one read-only SQL query against a running server, or the database file when none runs"
    )
    query.add_argument("sql", help="the SQL statement (SELECT, WITH, DESCRIBE, SUMMARIZE, EXPLAIN)")
    query.add_argument("--url", default=os.environ.get("SPYGLASS_URL", "http://127.0.0.1:4318"),
                       help="server to ask [env SPYGLASS_URL, default http://127.0.0.1:4318]")
    query.add_argument("--db", default=None, help="database file to open when no server answers "
                       "[env SPYGLASS_DB, default ./spyglass-data/spyglass.duckdb]")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default table)")


def query(args) -> int:
    """Ask the server; if nothing listens at --url, open the file read-only under the same sandbox."""
    from web import results
    from web.query_client import QueryFailed, query_file, query_server

    try:
        try:
            table, truncated = query_server(args.url, args.sql)
        except ConnectionError:
            settings = build_settings({"db": args.db})
            table, truncated = query_file(settings.db_path, args.sql, settings.query_limits)
    except QueryFailed as error:
        print(f"spyglass query: {error}", file=sys.stderr)
        return 1
    if args.format == "csv":
        sys.stdout.write(results.to_csv(table).decode())
    elif args.format == "json":
        sys.stdout.write(results.dumps(table.to_pylist()).decode() + "\n")
    else:
        sys.stdout.write(results.to_text(table))
    if truncated:
        print(f"(truncated at {table.num_rows} rows)", file=sys.stderr)
    return 0


def _import_parser(subparsers) -> None:
    load = subparsers.add_parser(
        "import", help="load OTLP/JSON exports (one per file, or JSON lines of them) into a running server"
    )
    load.add_argument("files", nargs="+", metavar="FILE",
                      help="OTLP/JSON ExportTrace/Logs/MetricsServiceRequest, or JSON lines of them; - reads stdin")
    load.add_argument("--url", default=os.environ.get("SPYGLASS_URL", "http://127.0.0.1:4318"),
                      help="server to send to [env SPYGLASS_URL, default http://127.0.0.1:4318]")
    load.add_argument("--token", default=os.environ.get("SPYGLASS_TOKEN"),
                      help="the server's --token, if it has one [env SPYGLASS_TOKEN]")


def import_file(args) -> int:
    """Send each file's requests to the server; 0 when all was stored, 1 when some was rejected,
    2 when a file could not be used or no server answered."""
    from web.importer import ImportFailed, import_path

    status = 0
    for path in args.files:
        try:
            totals = import_path(path, args.url, args.token)
        except ImportFailed as error:
            print(f"spyglass import: {error}", file=sys.stderr)
            return 2
        for problem in totals.problems:
            print(f"spyglass import: {problem}", file=sys.stderr)
        print(f"{path}: {totals.summary()}")
        if totals.problems:
            status = 1
    return status


def _demo_parser(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="run the example agents and workflows (offline) against a running server")
    demo.add_argument("--url", default=os.environ.get("SPYGLASS_URL", "http://127.0.0.1:4318"),
                      help="the running server [env SPYGLASS_URL, default http://127.0.0.1:4318]")
    demo.add_argument("--engine", choices=("dbos", "temporal"), default="dbos", help="the durable engine [dbos]")
    demo.add_argument("--data-dir", default="spyglass-data/demo",
                      help="where the engines keep their state [spyglass-data/demo]")


def demo(args) -> int:
    from pathlib import Path

    from web.demo import DemoFailed, run

    try:
        run(args.url.rstrip("/"), args.engine, Path(args.data_dir))
    except DemoFailed as error:
        print(f"spyglass demo: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spyglass", description="Self-hosted OTLP backend and trace viewer.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _serve_parser(subparsers)
    _query_parser(subparsers)
    _import_parser(subparsers)
    _demo_parser(subparsers)
    subparsers.add_parser("settings", help="print the settings table (Markdown)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        flags = {s.name: getattr(args, s.name) for s in SETTINGS}
        return serve(flags)
    if args.command == "query":
        return query(args)
    if args.command == "import":
        return import_file(args)
    if args.command == "demo":
        return demo(args)
    if args.command == "settings":
        print(settings_markdown())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
