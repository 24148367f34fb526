"""Deep research with three pydantic-ai agents: a planner, a searcher per search, an analyst.

    plan = (await planner_agent(model).run(plan_prompt(question, 3))).output          # ResearchPlan
    summary = (await searcher.run(search_prompt(question, item), deps=SearchDeps(...))).output
    report = (await analyst_agent(model).run(analysis_prompt(question, findings))).output

The engines (dbos_research.py, temporal_research.py) decide what is durable; this module is plain
pydantic-ai plus the scripted models that play the three agents offline.
"""

import asyncio
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field
from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo
from pydantic_ai.usage import RequestUsage

from examples.deep_research import corpus
from examples.durable import ScriptedModel, last_user_prompt

MAX_SEARCHES = 5
# The models the scripted agents report (priced by genai-prices, so their cost shows in Spyglass).
SCRIPTED = {"planner": ("gpt-4.1", "openai"), "searcher": ("gpt-4.1-mini", "openai"),
            "analyst": ("claude-sonnet-4-5", "anthropic")}


class Search(BaseModel):
    query: str = Field(description="what to search for")
    reason: str = Field(description="why this search helps answer the question")


class ResearchPlan(BaseModel):
    searches: list[Search] = Field(max_length=MAX_SEARCHES)


@dataclass
class SearchDeps:
    """What a searcher's `search` tool needs: its place in the plan and how slow the canned search is."""

    position: int
    seconds: float

    @classmethod
    def at(cls, position: int, search_seconds: float) -> "SearchDeps":
        """The canned search of position p (from 0) takes (p + 1) * search_seconds: they end one by one."""
        return cls(position, (position + 1) * search_seconds)


@dataclass
class Finding:
    query: str
    summary: str


PLANNER_INSTRUCTIONS = ("You plan web research. Given a question, list the searches (at most the number "
                        "the user allows) whose results together answer it, each with a reason.")
SEARCHER_INSTRUCTIONS = ("You research one query: call `search` once with it, then summarise what the "
                         "results say about the question in two or three sentences, citing their URLs.")
ANALYST_INSTRUCTIONS = ("You are a research analyst. Write a short report answering the question from the "
                        "findings of the searches: a one-line answer, then the key points, then sources.")


def plan_prompt(question: str, max_searches: int) -> str:
    return f"Question: {question}\nPlan at most {max_searches} searches."


def search_prompt(question: str, item: Search) -> str:
    return f"Question: {question}\nSearch: {item.query}\nReason: {item.reason}"


def analysis_prompt(question: str, findings: list[Finding]) -> str:
    body = "\n\n".join(f"## {finding.query}\n{finding.summary}" for finding in findings)
    return f"Question: {question}\n\nFindings:\n\n{body}"


# --- the agents -----------------------------------------------------------------------------------

SearchStep = Callable[[str, float], Awaitable[list[corpus.SearchResult]]]


def planner_agent(model) -> Agent[None, ResearchPlan]:
    return Agent(model, name="planner", instructions=PLANNER_INSTRUCTIONS, output_type=ResearchPlan)


def searcher_agent(model, search_step: SearchStep) -> Agent[SearchDeps, str]:
    """The search agent; its `search` tool calls `search_step(query, seconds)` (a durable step or not)."""
    agent = Agent(model, name="searcher", instructions=SEARCHER_INSTRUCTIONS, deps_type=SearchDeps)

    @agent.tool
    async def search(ctx: RunContext[SearchDeps], query: str) -> list[dict]:
        """Search the web (here: the local corpus) and return the top results."""
        results = await search_step(query, ctx.deps.seconds)
        return [{"title": r.title, "url": r.url, "snippet": r.snippet} for r in results]

    return agent


def analyst_agent(model) -> Agent[None, str]:
    return Agent(model, name="analyst", instructions=ANALYST_INSTRUCTIONS)


async def canned_search(query: str, seconds: float) -> list[corpus.SearchResult]:
    """The offline search: the corpus, `seconds` slow (later searches of a plan are slower)."""
    await asyncio.sleep(seconds)
    return corpus.search(query)


# --- the scripted models --------------------------------------------------------------------------

class ScriptedAgentModel(ScriptedModel):
    """examples.durable.ScriptedModel for agents with tools and structured output: `script(messages,
    info)` returns the response parts; usage and response id are computed the same way. `delay`
    seconds of "thinking" before each answer."""

    def __init__(self, script: Callable[[list[ModelMessage], AgentInfo], list], model_name: str, provider: str,
                 delay: float = 0.0):
        super().__init__(lambda messages: "", model_name, provider)
        self._parts, self._delay = script, delay

    async def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if self._delay:
            await asyncio.sleep(self._delay)
        parts = self._parts(messages, info)
        text = "".join(part.content if isinstance(part, TextPart) else json.dumps(part.args) for part in parts)
        base = super()._respond(messages, info)  # usage and response id from the request, for the text
        usage = RequestUsage(input_tokens=base.usage.input_tokens, output_tokens=2 + len(text) // 4)
        return ModelResponse(parts=parts, usage=usage, model_name=self.model_name, provider_name=self.system,
                             provider_response_id=base.provider_response_id)


def scripted_planner(seed: int = 0) -> ScriptedAgentModel:
    """Plans the corpus topics closest to the question (up to the allowed number; the seed shuffles reasons)."""
    def script(messages, info):
        prompt = last_user_prompt(messages)
        question = re.search(r"Question: (.*)", prompt)[1]
        allowed = int(re.search(r"at most (\d+) searches", prompt)[1])
        rng = random.Random(f"{seed}:{question}")
        reasons = ["background", "how it works", "what can go wrong", "costs", "practice"]
        searches = [{"query": topic, "reason": f"{rng.choice(reasons)} for: {question}"}
                    for topic in corpus.topics(question)[:min(allowed, MAX_SEARCHES)]]
        return [ToolCallPart(info.output_tools[0].name, {"searches": searches}, tool_call_id="plan")]

    return ScriptedAgentModel(script, *SCRIPTED["planner"])


def scripted_searcher() -> ScriptedAgentModel:
    """Request 1 calls `search` with the query of the prompt; request 2 summarises the results."""
    def script(messages, info):
        returns = [part for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
        query = re.search(r"Search: (.*)", last_user_prompt(messages))[1]
        if not returns:
            return [ToolCallPart("search", {"query": query}, tool_call_id="search")]
        results = returns[-1].content
        first = results[0]["snippet"].split(". ")[0] if results else "nothing found"
        sources = ", ".join(result["url"] for result in results)
        return [TextPart(f"{query}: {first}. Sources: {sources}")]

    return ScriptedAgentModel(script, *SCRIPTED["searcher"])


def scripted_analyst(seconds: float = 0.0) -> ScriptedAgentModel:
    """Writes the report from the findings in the prompt, after `seconds` of thinking."""
    def script(messages, info):
        prompt = last_user_prompt(messages)
        question = re.search(r"Question: (.*)", prompt)[1]
        findings = re.findall(r"^## (.*)\n(.*)$", prompt, re.M)
        points = "\n".join(f"- {summary}" for _, summary in findings)
        answer = findings[0][1].split(": ", 1)[-1].split(". Sources")[0] if findings else "No findings."
        return [TextPart(f"# {question}\n\n{answer}\n\n## Key points\n{points}\n")]

    return ScriptedAgentModel(script, *SCRIPTED["analyst"], delay=seconds)
