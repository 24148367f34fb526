"""Twenty questions as a Temporal workflow on a local dev server (state in `<data_dir>/temporal.db`).

Each agent is wrapped in a TemporalAgent, so every model request is an activity
(`agent__questioner__model_request`, `agent__answerer__model_request`) that Temporal retries when it
fails; after a crash a new worker replays the workflow from the server's history and only runs what
had not finished. The dev server outlives a killed worker (it runs in its own session) and is
reused; if it is gone it is started again on the same db file.

The workflow runs unsandboxed: its code is the deterministic game loop in game.py, and the agents are
built from command-line flags at start-up, which the sandbox (it re-imports workflow modules) would not see.
"""

import asyncio
import warnings
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalAgent
from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from examples.durable import Telemetry, start_or_reuse_dev_server
from examples.twenty_questions.game import GameResult, play

TASK_QUEUE = "twenty-questions"
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0, maximum_attempts=10)
_players: dict[str, TemporalAgent] = {}


@workflow.defn(name="TwentyQuestions")
class TwentyQuestions:
    @workflow.run
    async def run(self, secret: str, max_questions: int) -> dict:
        return asdict(await play(secret, _players["questioner"], _players["answerer"], max_questions))


def run(questioner: Agent, answerer: Agent, secret: str, max_questions: int, workflow_id: str,
        data_dir: Path, telemetry: Telemetry, request_timeout: float) -> GameResult:
    """Play (or resume) the game `workflow_id` with a worker in this process.

    `request_timeout`: seconds a model request may take; also how long after a crash Temporal waits
    before it gives the lost attempt to the next worker (model requests send no heartbeats).
    """
    config = {"start_to_close_timeout": timedelta(seconds=request_timeout), "retry_policy": QUICK_RETRY}
    # TemporalAgent is deprecated in favour of the TemporalDurability capability; its activity names are
    # the ones measured in docs/workflows.md.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PydanticAIDeprecationWarning
        _players["questioner"] = TemporalAgent(questioner, activity_config=config)
        _players["answerer"] = TemporalAgent(answerer, activity_config=config)
    TwentyQuestions.__pydantic_ai_agents__ = list(_players.values())
    server = start_or_reuse_dev_server(data_dir)
    result = asyncio.run(_play(server.address, secret, max_questions, workflow_id, telemetry))
    server.stop()  # the game is over: its history stays in temporal.db
    return result


async def _play(address: str, secret: str, max_questions: int, workflow_id: str, telemetry: Telemetry) -> GameResult:
    client = await Client.connect(address, plugins=telemetry.temporal_plugins(),
                                  interceptors=telemetry.temporal_interceptors())
    worker = Worker(client, task_queue=TASK_QUEUE, workflows=[TwentyQuestions],
                    workflow_runner=UnsandboxedWorkflowRunner(),
                    # after a crash the next workflow task waits this long on the dead worker's sticky queue
                    sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
                    graceful_shutdown_timeout=timedelta(seconds=1))
    async with worker:
        try:
            handle = await client.start_workflow(TwentyQuestions.run, args=[secret, max_questions], id=workflow_id,
                                                 task_queue=TASK_QUEUE, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:  # the same --workflow-id again: resume it (or read its result)
            handle = client.get_workflow_handle(workflow_id)
        result = await handle.result()
    return GameResult(result["won"], result["questions"], [tuple(pair) for pair in result["transcript"]])
