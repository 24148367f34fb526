"""python -m examples.twenty_questions [--engine dbos|temporal] [--secret potato] ... (see README.md)."""

import argparse
import uuid
from pathlib import Path

from examples.durable import ENGINES, Faults, FaultyModel, configure_telemetry, record
from examples.twenty_questions.game import answerer_agent, questioner_agent, scripted_answerer, scripted_questioner


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.twenty_questions",
                                     description="Two pydantic-ai agents play twenty questions in a durable workflow.")
    parser.add_argument("--engine", choices=ENGINES, default="dbos", help="durable engine (default: dbos)")
    parser.add_argument("--secret", default="potato", help="the word to find (default: potato)")
    parser.add_argument("--max-questions", type=int, default=20, help="questions before the questioner loses")
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="probability that a model request fails inside its durable step (the engine retries it)")
    parser.add_argument("--crash-after", type=int, default=None,
                        help="SIGKILL this worker after N questions (once per workflow id); run again to resume")
    parser.add_argument("--workflow-id", default=None, help="the game's workflow id; reuse it to resume a crashed game")
    parser.add_argument("--model", default=None,
                        help="questioner model `provider:name` (a real model; default: scripted, as openai:gpt-4o-mini)")
    parser.add_argument("--answerer-model", default=None,
                        help="answerer model `provider:name` (a real model; default: scripted, as anthropic:claude-3-5-haiku-latest)")
    parser.add_argument("--skill", type=float, default=0.8, help="how well the scripted questioner plays (0-1)")
    parser.add_argument("--data-dir", type=Path, default=Path("twenty_questions_data"),
                        help="where the engine keeps its state (dbos.sqlite or temporal.db); default ./twenty_questions_data")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scripted questioner and of --fail-rate")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    workflow_id = args.workflow_id or f"twenty-questions-{uuid.uuid4().hex[:8]}"
    data_dir = args.data_dir.resolve()
    telemetry = configure_telemetry(f"twenty-questions-{args.engine}")
    faults = Faults(args.fail_rate, args.crash_after, args.seed, marker=data_dir / "crashed" / workflow_id,
                    before_crash=telemetry.flush)
    questioner_model = args.model or scripted_questioner("gpt-4o-mini", "openai", args.skill, args.seed)
    answerer_model = args.answerer_model or scripted_answerer(args.secret)
    # DBOS: agents carry the DBOSDurability capability; Temporal: temporal_game wraps them in TemporalAgent.
    if args.engine == "dbos":
        from examples.twenty_questions import dbos_game

        durable = dbos_game.capabilities
    else:
        durable = lambda: None  # noqa: E731
    questioner = questioner_agent(FaultyModel(questioner_model, faults, "questioner"), durable())
    answerer = answerer_agent(FaultyModel(answerer_model, faults, "answerer", counts_progress=True), args.secret,
                              durable())
    print(f"{args.engine} workflow {workflow_id} (state in {data_dir}); telemetry: {telemetry.mode}", flush=True)
    try:
        if args.engine == "dbos":
            result = dbos_game.run(questioner, answerer, args.secret, args.max_questions, workflow_id, data_dir)
        else:
            from examples.twenty_questions import temporal_game

            real = args.model is not None or args.answerer_model is not None
            result = temporal_game.run(questioner, answerer, args.secret, args.max_questions, workflow_id, data_dir,
                                       telemetry, request_timeout=120 if real else 2)
    finally:
        telemetry.shutdown()
    for number, (question, answer) in enumerate(result.transcript, 1):
        print(f"{number:2}. {question} -> {answer}")
    print(f"{'won' if result.won else 'lost'} after {result.questions} questions", flush=True)
    record("game", workflow_id=workflow_id, won=result.won, questions=result.questions,
           transcript=result.transcript)


if __name__ == "__main__":
    main()
