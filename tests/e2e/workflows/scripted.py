"""The researcher agent's scripted model, shared by the DBOS, Temporal and Prefect workers.

Request 1 asks for the tool `lookup`, request 2 answers. It reports openai / gpt-4o-mini with fixed
usage, so genai-prices prices every call, and records each call in the run's ground truth with a
response id made from the workflow (engines re-send restored calls with the same id).
"""

from collections.abc import Callable
from pathlib import Path

from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.usage import RequestUsage

from tests.e2e.workflows import truth

INPUT_TOKENS, OUTPUT_TOKENS = 1000, 50
TOPIC = "durable execution"


class ScriptedModel(FunctionModel):
    """`run_dir()` says where the truth goes, `workflow_id()` names the workflow of the call (each
    worker knows them its own way: command line, activity info, flow run context)."""

    def __init__(self, run_dir: Callable[[], Path | str], workflow_id: Callable[[], str]):
        self._run_dir = run_dir
        self._workflow_id = workflow_id
        super().__init__(self._respond, model_name="gpt-4o-mini")

    @property
    def system(self) -> str:
        return "openai"

    def _respond(self, messages, info) -> ModelResponse:
        number = 1 + sum(isinstance(message, ModelResponse) for message in messages)
        response_id = f"resp-{self._workflow_id()}-{number}"
        truth.model_call(self._run_dir(), response_id, INPUT_TOKENS, OUTPUT_TOKENS)
        if number == 1:
            parts = [ToolCallPart("lookup", {"topic": TOPIC}, tool_call_id="call_lookup_1")]
        else:
            parts = [TextPart("Durable execution survives crashes.")]
        return ModelResponse(parts=parts, usage=RequestUsage(input_tokens=INPUT_TOKENS, output_tokens=OUTPUT_TOKENS),
                             model_name=self.model_name, provider_name="openai", provider_response_id=response_id)
