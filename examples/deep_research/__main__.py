"""python -m examples.deep_research "question" [--engine dbos|temporal] [--fail-rate p] [--crash-after N]
[--workflow-id ID] [--model provider:name] [--data-dir DIR] [--seed N] [--analysis-timeout S]

See README.md. Exit status: 0 with the report on stdout; 1 when the workflow failed (e.g. the
analysis exceeded --analysis-timeout on every attempt).
"""

import argparse
import sys
import uuid
from pathlib import Path

from examples.deep_research import research, runtime
from examples.durable import ENGINES, Faults, configure_telemetry, record

DEFAULT_QUESTION = "How does durable execution let AI agents survive crashes, and what does it cost?"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.deep_research", description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    parser.add_argument("--engine", choices=ENGINES, default="dbos")
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="probability that a model call or a search fails (the engine retries it)")
    parser.add_argument("--crash-after", type=int, default=None, metavar="N",
                        help="SIGKILL this process once N searches have completed (resume with --workflow-id)")
    parser.add_argument("--workflow-id", default=None, help="resume (or re-read) this workflow; default: a new id")
    parser.add_argument("--model", default=None, metavar="PROVIDER:NAME",
                        help="a real model for all three agents, e.g. openai:gpt-4.1-mini (needs its API key)")
    parser.add_argument("--data-dir", type=Path, default=Path("deep-research-data"),
                        help="DBOS's SQLite database, the Temporal dev server's db file, crash markers")
    parser.add_argument("--seed", type=int, default=0, help="seeds the injected failures and the scripted planner")
    parser.add_argument("--max-searches", type=int, default=research.MAX_SEARCHES, choices=range(1, research.MAX_SEARCHES + 1),
                        help="at most this many searches in the plan")
    parser.add_argument("--analysis-timeout", type=float, default=60.0, metavar="S",
                        help="time limit of each attempt of the analysis step (2 attempts)")
    parser.add_argument("--analysis-seconds", type=float, default=2.0, metavar="S",
                        help="how long the scripted analyst thinks (offline only)")
    parser.add_argument("--search-seconds", type=float, default=0.5, metavar="S",
                        help="the canned search of position p takes (p + 1) * S seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    workflow_id = args.workflow_id or f"deep-research-{uuid.uuid4().hex[:8]}"
    telemetry = configure_telemetry("deep-research")
    faults = Faults(args.fail_rate, args.crash_after, args.seed, marker=args.data_dir / f"crashed-{workflow_id}",
                    before_crash=telemetry.flush)
    runtime.configure(telemetry, faults, args.model, args.seed, args.analysis_seconds)
    record("worker", engine=args.engine, workflow_id=workflow_id, crash_after=args.crash_after)
    print(f"{args.engine} workflow {workflow_id} (resume with --workflow-id {workflow_id})", file=sys.stderr, flush=True)
    try:
        if args.engine == "dbos":
            from examples.deep_research import dbos_research as engine
        else:
            from examples.deep_research import temporal_research as engine
        report = engine.run(args.question, workflow_id, args.data_dir, args.max_searches, args.analysis_timeout,
                            args.search_seconds)
    except Exception as error:  # the workflow failed: say why, with the id to look it up in Spyglass
        print(f"workflow {workflow_id} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        telemetry.shutdown()
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
