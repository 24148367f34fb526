"""What this process was started with (the CLI fills it in before the engine starts).

Engine code reads it here instead of taking it as workflow input, on purpose: the fault settings and
the models are properties of the worker process, not of the workflow. A workflow resumed by another
process (started without --crash-after) must not crash again, and its inputs are replayed from the
engine's history, so they cannot carry them. Temporal's workflow sandbox re-imports the workflow
module for every run; this module is passed through, so workflow code sees what the CLI set.
"""

from dataclasses import dataclass
from typing import Any

from pydantic_ai.models import Model, infer_model

from examples.deep_research import research
from examples.durable import Faults, FaultyModel, Telemetry


@dataclass
class Runtime:
    telemetry: Telemetry
    faults: Faults
    planner: Model
    searcher: Model
    analyst: Model
    durable_searcher: Any = None  # the engine's DBOSAgent / TemporalAgent around the searcher agent


current: Runtime | None = None


def configure(telemetry: Telemetry, faults: Faults, model: str | None, seed: int, analysis_seconds: float) -> Runtime:
    """Build the three agents' models (scripted, or `model` for all three) wrapped in FaultyModel."""
    global current
    if model:
        planner = searcher = analyst = infer_model(model)
    else:
        planner, searcher = research.scripted_planner(seed), research.scripted_searcher()
        analyst = research.scripted_analyst(analysis_seconds)
    current = Runtime(telemetry, faults, FaultyModel(planner, faults, "planner"),
                      FaultyModel(searcher, faults, "searcher"), FaultyModel(analyst, faults, "analyst"))
    return current


def get() -> Runtime:
    if current is None:
        raise RuntimeError("examples.deep_research.runtime.configure() must run before the engine starts")
    return current
