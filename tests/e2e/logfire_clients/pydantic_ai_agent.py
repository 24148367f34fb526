"""The scripted weather agent of tests/fixtures/llm/capture.py, instrumented by logfire.

Configured only through environment variables (LOGFIRE_TOKEN, LOGFIRE_BASE_URL, ...): what a user
does with `logfire.configure(); logfire.instrument_pydantic_ai()`, with logfire's default
instrumentation version.
"""

import sys
from pathlib import Path

import logfire

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.fixtures.llm.capture import run_weather_agent  # noqa: E402

logfire.configure()
logfire.instrument_pydantic_ai()
print(run_weather_agent(None).output[:40])
