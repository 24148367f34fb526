"""`python -m examples.evals [--model provider:name ...]`: one experiment per model, exported to Spyglass.

Telemetry: with LOGFIRE_TOKEN set, logfire sends to LOGFIRE_BASE_URL (pending spans included);
otherwise logfire only exports over OTLP to OTEL_EXPORTER_OTLP_ENDPOINT (default
http://127.0.0.1:4318). pydantic-evals emits its spans through logfire, so logfire is configured
either way.
"""

import argparse
import asyncio
import os

from examples.evals.twenty_questions import (DEFAULT_MAX_QUESTIONS, DEFAULT_WORDS, STAND_INS, parse_model,
                                             run_experiment)
from examples.twenty_questions.game import KNOWLEDGE

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"


def configure_logfire() -> None:
    import logfire

    if os.environ.get("LOGFIRE_TOKEN"):
        logfire.configure(service_name="twenty-questions-evals", console=False)
    else:
        os.environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_ENDPOINT)
        logfire.configure(service_name="twenty-questions-evals", send_to_logfire=False, console=False)
    logfire.instrument_pydantic_ai()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.evals", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], metavar="PROVIDER:NAME",
                        help="a real questioner model (repeat for several); default: offline scripted stand-ins for "
                             + ", ".join(c.label for c in STAND_INS))
    parser.add_argument("--answerer-model", metavar="PROVIDER:NAME",
                        help="a real answerer model (default: a scripted answerer that knows the words)")
    parser.add_argument("--words", default=",".join(DEFAULT_WORDS),
                        help=f"secret words, comma-separated; the scripted answerer knows {', '.join(sorted(KNOWLEDGE))}")
    parser.add_argument("--max-questions", type=int, default=DEFAULT_MAX_QUESTIONS)
    parser.add_argument("--seed", type=int, default=0, help="seed of the scripted stand-ins")
    args = parser.parse_args(argv)
    try:
        contenders = [parse_model(text) for text in args.model] or list(STAND_INS)
    except ValueError as error:
        parser.error(str(error))
    words = tuple(word.strip().lower() for word in args.words.split(",") if word.strip())
    unknown = sorted(set(words) - set(KNOWLEDGE))
    if unknown and not args.answerer_model:
        parser.error(f"the scripted answerer does not know {', '.join(unknown)}; use --answerer-model")

    configure_logfire()
    import logfire

    async def run_all():
        for contender in contenders:
            report = await run_experiment(contender, words, args.max_questions, args.answerer_model, args.seed)
            won = sum(bool(case.assertions["Won"].value) for case in report.cases)
            print(f"{contender.label}: won {won} of {len(words)} (failures: {len(report.failures)}) "
                  f"trace {report.trace_id}")

    try:
        asyncio.run(run_all())
    finally:
        logfire.force_flush()
        logfire.shutdown()


if __name__ == "__main__":
    main()
