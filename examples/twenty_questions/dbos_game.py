"""Twenty questions as a DBOS workflow (SQLite system database in the data directory).

Both agents carry pydantic-ai's DBOSDurability capability, so inside the `twenty_questions` workflow
every model request is a DBOS step of that workflow (`questioner__model.request`,
`answerer__model.request`), which DBOS retries when it fails and restores from the database after a
crash. The whole state of a game lives in `<data_dir>/dbos.sqlite`: running the same command again
with the same --workflow-id recovers it.
"""

import asyncio
from dataclasses import asdict
from pathlib import Path

from dbos import DBOS, DBOSConfig, SetWorkflowID
from pydantic_ai.durable_exec.dbos import DBOSDurability

from examples.durable import export_only_dbos_logs_in_spans
from examples.twenty_questions.game import GameResult, play

# Quick retries: injected failures (--fail-rate) clear on a later attempt.
MODEL_STEP = {"retries_allowed": True, "max_attempts": 10, "interval_seconds": 0.1, "backoff_rate": 1.0}
_players: dict = {}


def capabilities() -> list:
    """What makes an agent durable on DBOS: give it to questioner_agent / answerer_agent."""
    return [DBOSDurability(model_step_config=MODEL_STEP)]


@DBOS.workflow(name="twenty_questions")
async def twenty_questions(secret: str, max_questions: int) -> dict:
    return asdict(await play(secret, _players["questioner"], _players["answerer"], max_questions))


def run(questioner, answerer, secret: str, max_questions: int, workflow_id: str, data_dir: Path) -> GameResult:
    """Play (or resume) the game `workflow_id`; the telemetry providers must already be set."""
    _players.update(questioner=questioner, answerer=answerer)
    data_dir.mkdir(parents=True, exist_ok=True)
    config: DBOSConfig = {
        "name": "twenty-questions",
        "system_database_url": f"sqlite:///{data_dir / 'dbos.sqlite'}",
        "enable_otlp": True,  # no endpoints of its own: DBOS adds its spans and logs to the global providers
        "log_level": "DEBUG",  # `Running step` / `Replaying step` records tell Spyglass executed from restored
        "console_log_level": "ERROR",
        "notification_listener_polling_interval_sec": 0.05,
    }
    DBOS(config=config)
    export_only_dbos_logs_in_spans()
    try:
        DBOS.launch()  # recovers this executor's unfinished workflows, a killed game among them
        return asyncio.run(_result(secret, max_questions, workflow_id))
    finally:
        DBOS.destroy()


async def _result(secret: str, max_questions: int, workflow_id: str) -> GameResult:
    if await DBOS.get_workflow_status_async(workflow_id) is None:
        with SetWorkflowID(workflow_id):
            handle = await DBOS.start_workflow_async(twenty_questions, secret, max_questions)
    else:
        handle = await DBOS.retrieve_workflow_async(workflow_id)
    result = await handle.get_result(polling_interval_sec=0.05)
    return GameResult(result["won"], result["questions"], [tuple(pair) for pair in result["transcript"]])
