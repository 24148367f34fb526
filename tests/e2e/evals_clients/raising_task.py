"""A pydantic-evals experiment whose task raises for one case, exported through logfire over OTLP
(OTEL_EXPORTER_OTLP_ENDPOINT): what Spyglass shows for a case that errored."""

import asyncio

import logfire
from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import EqualsExpected

logfire.configure(service_name="evals-errors", send_to_logfire=False, console=False)


async def shout(word: str) -> str:
    if word == "boom":
        raise ValueError("cannot shout boom")
    return word.upper()


dataset = Dataset(name="shouts", cases=[Case(name="quiet", inputs="quiet", expected_output="QUIET"),
                         Case(name="boom", inputs="boom", expected_output="BOOM")],
                  evaluators=[EqualsExpected()])
report = asyncio.run(dataset.evaluate(shout, name="shouting"))
logfire.force_flush()
print("done", len(report.cases), len(report.failures))
