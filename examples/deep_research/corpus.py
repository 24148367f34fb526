"""The canned search results: a small local corpus, so the example runs offline.

`search(query)` ranks the documents by how many words of the query they share and returns the best
three. It is deterministic: the same query always gives the same results, which is what a durable
step needs when it is run again after a crash.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    title: str
    url: str
    text: str


CORPUS = [
    Document("Durable execution in one page", "https://corpus.local/durable-execution",
             "Durable execution records the result of every step of a workflow in a database. After a crash a "
             "new worker replays the workflow code and takes the results of finished steps from the history "
             "instead of running them again, so work is neither lost nor repeated."),
    Document("Temporal: workflows and activities", "https://corpus.local/temporal",
             "Temporal runs workflow code deterministically and every side effect in activities. The server keeps "
             "the event history; activities have timeouts (start-to-close, heartbeat) and retry policies. A worker "
             "that dies loses only the activity attempts it had in flight."),
    Document("DBOS: durable workflows in your database", "https://corpus.local/dbos",
             "DBOS checkpoints workflows and steps into Postgres or SQLite. It is a library, not a server: when "
             "the process restarts, DBOS recovers pending workflows and skips the steps that already completed."),
    Document("Observability for AI agents", "https://corpus.local/agent-observability",
             "Agent traces show every model call with its tokens and cost, every tool call with its arguments "
             "and result, and how long each took. OpenTelemetry's gen_ai semantic conventions name these spans."),
    Document("Counting the cost of LLM calls", "https://corpus.local/llm-cost",
             "A model call costs its input and output tokens times the provider's prices. When a durable engine "
             "restores a finished model call from history, summing spans naively counts that call twice."),
    Document("Parallel research agents", "https://corpus.local/parallel-agents",
             "A deep research agent plans a few searches, runs them in parallel with one sub-agent each, and "
             "hands the findings to an analyst that writes the report. Parallel searches cut the wall time."),
    Document("Timeouts for long-running steps", "https://corpus.local/timeouts",
             "A long-running step needs an explicit time limit: without one a hung model call blocks the workflow "
             "forever. When the limit is exceeded the engine fails the attempt and may retry it."),
    Document("Crash recovery in practice", "https://corpus.local/crash-recovery",
             "Kill a worker with SIGKILL in the middle of a workflow and start another one: the new worker "
             "continues from the last recorded step. Steps that were running when the process died run again."),
]


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str


def words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z0-9]+", text.lower()) if len(word) > 2}


def search(query: str, limit: int = 3) -> list[SearchResult]:
    """The `limit` documents sharing the most words with `query` (ties keep corpus order)."""
    wanted = words(query)
    ranked = sorted(CORPUS, key=lambda doc: -len(wanted & words(doc.title + " " + doc.text)))
    return [SearchResult(doc.title, doc.url, doc.text) for doc in ranked[:limit]]


def topics(question: str) -> list[str]:
    """Search queries a planner could make for `question`: the corpus titles, most relevant first."""
    wanted = words(question)
    ranked = sorted(CORPUS, key=lambda doc: -len(wanted & words(doc.title + " " + doc.text)))
    return [doc.title for doc in ranked]
