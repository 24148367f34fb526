"""Realistic agent traces, shaped like pydantic-ai's, as OTLP/protobuf trace export bodies.

Used by bench/ingest.py. Each trace is one agent run, as pydantic-ai (instrumentation version 5,
sent through logfire) exports it (see ../shared/REFERENCE-SPANS.md):

    invoke_agent {agent}                 gen_ai.* usage, pydantic_ai.all_messages, final_result
      chat {model}                       gen_ai.input.messages / gen_ai.output.messages JSON, usage, cost
      execute_tool {tool}                gen_ai.tool.call.arguments / .result (sometimes a failed retry)
        invoke_agent {sub-agent}         sometimes a tool delegates to another agent (nested run)
          chat {model} ...
      chat {model}                       the conversation grows turn by turn: every chat span repeats
      ...                                the messages before it, as real ones do

Free text (prompts, answers, tool results) mixes sentence templates filled with varied values and
sentences drawn word by word from the word frequencies of an English corpus (the Python reference
documentation in the standard library's pydoc_data), so that it compresses like real prose (zlib
about 3x; templates alone compressed 13x and made bytes-on-disk look far better than real data
would). System instructions and tool definitions repeat exactly, as they do in a real application,
and every chat span repeats the conversation so far. Spans are emitted in the order a
BatchSpanProcessor exports them (children end first), 512 per request, one service (resource) per
request, and a trace may be split across two requests.
"""

import itertools
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

# --- word pools -----------------------------------------------------------------------------------

FIRST_NAMES = "Alice Bruno Chen Dana Elif Farid Greta Hiro Ines Jonas Kemal Lena Marta Noor Omar Priya Quinn Rosa Sven Tara Uma Victor Wen Yusuf Zoe".split()
CITIES = (
    "Paris Berlin Lisbon Madrid Rome Vienna Prague Warsaw Oslo Dublin Zurich Athens Istanbul Cairo Nairobi "
    "Tokyo Seoul Osaka Sydney Toronto Chicago Denver Boston Austin Lima Bogota Santiago Montreal"
).split()
PRODUCTS = [
    "wireless headphones", "standing desk", "espresso machine", "trail running shoes", "4K monitor",
    "mechanical keyboard", "air purifier", "robot vacuum", "camping tent", "electric kettle",
    "noise-cancelling earbuds", "office chair", "smart thermostat", "backpack", "cast iron skillet",
    "yoga mat", "e-reader", "bike helmet", "portable charger", "blender",
]
TOPICS = [
    "battery recycling", "solid-state batteries", "urban heat islands", "coral reef restoration",
    "vertical farming", "small modular reactors", "carbon capture", "remote work productivity",
    "microplastics in drinking water", "quantum error correction", "sleep and memory", "heat pumps",
    "lithium mining", "desalination", "offshore wind", "antibiotic resistance", "rare earth supply chains",
    "high-speed rail", "green hydrogen", "wildfire prediction",
]
CODE_PATHS = [
    "src/billing/invoice.py", "src/api/routes/orders.py", "src/auth/session.py", "src/workers/email.py",
    "src/db/migrations/0042_add_index.py", "src/search/ranking.py", "lib/cache/lru.py", "src/api/schemas.py",
    "tests/test_invoice.py", "tests/api/test_orders.py", "src/payments/stripe_client.py", "src/utils/retry.py",
]
FUNCTIONS = "compute_total apply_discount refresh_token send_batch parse_payload rank_results evict_oldest validate_order retry_with_backoff to_cents".split()
WEATHER = "sunny, partly cloudy, overcast, light rain, heavy showers, thunderstorms, snow flurries, foggy, windy, clear skies".split(", ")
AIRLINES = "Lufthansa, Air France, KLM, Iberia, TAP, SAS, ANA, Qantas, Delta, United, LATAM, Swiss".split(", ")
REASONS = ["arrived damaged", "wrong size", "never delivered", "stopped working after a week", "not as described", "duplicate charge"]

# --- sentence templates ---------------------------------------------------------------------------
# {placeholders} are filled by Text.fill; several templates per situation keep the text varied.

USER_PROMPTS = {
    "support": [
        "Hi, I ordered a {product} on {date} (order {order}) and it {reason}. Can you help me get a refund or a replacement?",
        "My order {order} still shows as processing after {n} days. I need the {product} before {date}, is that still possible?",
        "I was charged twice for order {order}, the {product}. My card ending in {card} shows two payments of {price}. Please fix this.",
        "Can you tell me where my {product} is? Tracking for order {order} hasn't updated since {date} and I'm getting worried.",
        "I want to change the shipping address for order {order} to {street}, {city}. The {product} hasn't shipped yet I think.",
    ],
    "research": [
        "Write me a short briefing on {topic}: the current state of the field, the main open problems, and what changed since {year}.",
        "Compare the leading approaches to {topic} and {topic2}. I need numbers where they exist and sources I can cite.",
        "What does the latest research say about {topic}? Summarise the three most cited papers from {year} and their limitations.",
        "I'm preparing a talk on {topic} for a general audience. Give me the key facts, a surprising statistic, and two good sources.",
    ],
    "travel": [
        "Plan a {n}-day trip to {city} for two people in {month}. We like food markets and museums, budget about {price} in total.",
        "I need to get from {city} to {city2} on {date} and stay {n} nights. Find me a flight and a hotel near the old town.",
        "What's the weather going to be like in {city} next week? If it rains, suggest indoor things to do and somewhere to eat.",
        "We're flying {city} to {city2} with a toddler on {date}. Which flight is the least painful and what should we book for the stay?",
    ],
    "code": [
        "Review the change to {path}: it touches {function} and I'm not sure the error handling is right. Run the tests too.",
        "Why is {test} failing after the refactor of {function} in {path}? The traceback mentions a KeyError on '{key}'.",
        "Can you check {path} for race conditions? {function} is called from several workers at once in production.",
        "Please look at the pull request that changes {function}. Is the new caching in {path} safe when the config reloads?",
    ],
}

ASSISTANT_SENTENCES = {
    "support": [
        "I found order {order} for a {product}, placed on {date} and paid with the card ending in {card}.",
        "The order shipped from our {city} warehouse and the carrier last scanned it {n} days ago.",
        "I've started a refund of {price} to your original payment method; it usually appears within {n} business days.",
        "A replacement {product} can ship today and should arrive by {date}.",
        "I'm sorry about the trouble with your {product}, {name}.",
        "I can see two authorisations for {price}; the second one is a duplicate and will be released automatically.",
        "Your shipping address has been updated to {street}, {city}.",
        "According to our policy you can return the item within {n} days, and we cover the return label.",
    ],
    "research": [
        "Research on {topic} has moved quickly since {year}, mostly because costs fell by about {pct}%.",
        "The most cited study, by {name} et al. ({year}), reported an improvement of {pct}% over the previous baseline.",
        "A key open problem is scaling beyond pilot projects: only {n} sites operate at commercial scale today.",
        "Critics point out that most results come from small samples of fewer than {n} participants.",
        "Compared with {topic2}, {topic} needs less capital but more land and water.",
        "Analysts expect the market to grow {pct}% a year until {year2}, though estimates vary widely.",
        "The strongest evidence comes from a {n}-year field trial in {city}.",
        "Two good sources to cite are the {year} review in Nature Energy and the IEA outlook published in {month}.",
    ],
    "travel": [
        "The forecast for {city} shows {weather} with highs around {temp} degrees on {date}.",
        "The best flight is {airline} {flight}, leaving {city} at {hour}:{minute} and arriving in {city2} at {hour2}:{minute}.",
        "I found a hotel {n} minutes' walk from the old town for {price} a night, with free cancellation.",
        "On a rainy day the {city} city museum and the covered market are both worth a visit.",
        "For dinner, the small family restaurants near the river are popular with locals; book ahead on weekends.",
        "With a toddler, the midday flight is easier: it avoids the early start and the evening delays.",
        "In total the trip comes to about {price} for flights and {n} nights of accommodation.",
        "Public transport passes in {city} cost around {price2} for three days and cover the airport train.",
    ],
    "code": [
        "In {path}, {function} catches a broad Exception and returns None, which hides the original error.",
        "The failing test {test} expects '{key}' in the payload, but the refactor renamed it.",
        "{function} reads and writes the shared cache without a lock, so two workers can interleave.",
        "I ran the test suite: {n} passed and {m} failed, all failures in {path}.",
        "I suggest narrowing the except clause and logging the payload id before re-raising.",
        "The new caching is safe only if the config object is immutable; right now it is mutated on reload.",
        "Line {line} compares floats for equality; use a tolerance or store cents as integers.",
        "Otherwise the change looks good and the naming is consistent with the rest of the module.",
    ],
}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, str]  # parameter name -> placeholder used to fill its value
    result: Callable[["Text", dict], Any]


@dataclass(frozen=True)
class Agent:
    name: str
    domain: str
    service: str
    provider: str
    model: str
    response_model: str
    server: str
    instructions: str
    tools: tuple[Tool, ...]
    delegate: str | None = None  # a tool that runs another agent (a nested invoke_agent)
    price_in: float = 2.5e-6
    price_out: float = 1e-5


def _word_frequencies() -> tuple[list[str], list[int]]:
    """English words and their cumulative counts, from the stdlib's copy of the Python docs."""
    try:
        from pydoc_data.topics import topics

        corpus = " ".join(topics.values())
    except ImportError:  # some distributions strip pydoc_data: fall back to our own sentences
        corpus = " ".join(itertools.chain(*USER_PROMPTS.values(), *ASSISTANT_SENTENCES.values()))
    counts = Counter(word.lower() for word in re.findall(r"[A-Za-z][a-z']+", corpus)).most_common(8000)
    return [word for word, _ in counts], list(itertools.accumulate(count for _, count in counts))


WORDS, CUMULATIVE_COUNTS = _word_frequencies()
TEMPLATE_SHARE = 0.25  # the rest of the sentences are drawn word by word


class Text:
    """Fills templates with values drawn from a seeded random generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def sentence(self) -> str:
        """A sentence of English words at their natural frequencies (compresses like prose)."""
        words = self.rng.choices(WORDS, cum_weights=CUMULATIVE_COUNTS, k=self.rng.randint(7, 24))
        return " ".join(words).capitalize() + self.rng.choice(".....?!")

    def prompt(self, domain: str) -> str:
        """A user prompt: a request from the templates, then a little context in free text."""
        extra = " ".join(self.sentence() for _ in range(self.rng.randint(0, 3)))
        return f"{self.fill(self.rng.choice(USER_PROMPTS[domain]))} {extra}".rstrip()

    def value(self, slot: str) -> str:
        r = self.rng
        match slot:
            case "name":
                return r.choice(FIRST_NAMES)
            case "city" | "city2":
                return r.choice(CITIES)
            case "product":
                return r.choice(PRODUCTS)
            case "topic" | "topic2":
                return r.choice(TOPICS)
            case "path":
                return r.choice(CODE_PATHS)
            case "function":
                return r.choice(FUNCTIONS)
            case "test":
                return f"test_{r.choice(FUNCTIONS)}_{r.choice(['handles_empty', 'rounds_half_up', 'retries', 'expires', 'rejects_invalid'])}"
            case "key":
                return r.choice(["amount", "currency", "customer_id", "line_items", "expires_at", "idempotency_key"])
            case "order":
                return f"#{r.randint(100000, 999999)}"
            case "card":
                return f"{r.randint(1000, 9999)}"
            case "price" | "price2":
                return f"{r.choice(['€', '$', '£'])}{r.randint(12, 2400)}.{r.randint(0, 99):02d}"
            case "date":
                return f"{r.choice(['March', 'April', 'May', 'June', 'July', 'October', 'November'])} {r.randint(1, 28)}"
            case "month":
                return r.choice(["March", "April", "May", "June", "September", "October"])
            case "year":
                return str(r.randint(2015, 2024))
            case "year2":
                return str(r.randint(2028, 2040))
            case "n" | "m":
                return str(r.randint(2, 14))
            case "pct":
                return str(r.randint(3, 85))
            case "temp":
                return str(r.randint(-3, 34))
            case "weather":
                return r.choice(WEATHER)
            case "airline":
                return r.choice(AIRLINES)
            case "flight":
                return f"{r.choice('ABCDLU')}{r.choice('AHKSXZ')}{r.randint(100, 2999)}"
            case "hour" | "hour2":
                return f"{r.randint(6, 21):02d}"
            case "minute":
                return f"{r.choice([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]):02d}"
            case "street":
                name = r.choice(["Oak", "Maple", "Station", "Harbour", "Mill", "Church"])
                return f"{r.randint(1, 220)} {name} {r.choice(['Street', 'Road', 'Lane', 'Avenue'])}"
            case "line":
                return str(r.randint(12, 480))
            case "reason":
                return r.choice(REASONS)
        raise KeyError(slot)

    def fill(self, template: str) -> str:
        out, rest = [], template
        while "{" in rest:
            before, _, after = rest.partition("{")
            slot, _, rest = after.partition("}")
            out.append(before)
            out.append(self.value(slot))
        out.append(rest)
        return "".join(out)

    def paragraph(self, domain: str, sentences: int) -> str:
        templates = ASSISTANT_SENTENCES[domain]
        return " ".join(
            self.fill(self.rng.choice(templates)) if self.rng.random() < TEMPLATE_SHARE else self.sentence()
            for _ in range(sentences)
        )


def _records(text: Text, domain: str, count: int) -> list[dict]:
    """A tool result listing a few records, with a sentence of prose in each."""
    return [
        {"id": text.rng.randint(10_000, 99_999), "title": text.paragraph(domain, 1)[:90], "detail": text.paragraph(domain, 2)}
        for _ in range(count)
    ]


# Tool results: what each tool returns for its arguments (JSON-able, a few hundred bytes to ~2 KB).


def _lookup_order(t: "Text", args: dict) -> dict:
    return {
        "order_id": args["order_id"],
        "status": t.rng.choice(["processing", "shipped", "delivered", "returned"]),
        "items": [{"sku": f"SKU-{t.rng.randint(1000, 9999)}", "name": t.value("product"), "price": t.value("price")}],
        "payments": [{"amount": t.value("price"), "card_last4": t.value("card")}],
        "notes": t.paragraph("support", 2),
    }


def _refund_order(t: "Text", args: dict) -> dict:
    return {"refund_id": f"re_{t.rng.getrandbits(48):012x}", "amount": t.value("price"), "eta_days": int(t.value("n"))}


def _search_kb(t: "Text", args: dict) -> list:
    return _records(t, "support", t.rng.randint(2, 4))


def _web_search(t: "Text", args: dict) -> list:
    return [{**r, "url": f"https://example.org/{t.rng.getrandbits(32):08x}"} for r in _records(t, "research", t.rng.randint(3, 5))]


def _fetch_page(t: "Text", args: dict) -> str:
    return t.paragraph("research", t.rng.randint(3, 6))


def _summarize_sources(t: "Text", args: dict) -> str:
    return t.paragraph("research", 3)  # only used when the agent does not delegate


def _get_weather(t: "Text", args: dict) -> dict:
    high = int(t.value("temp"))
    return {"city": args["city"], "date": args["date"], "summary": t.value("weather"), "high_c": high,
            "low_c": high - t.rng.randint(3, 9), "rain_mm": t.rng.randint(0, 25)}


def _search_flights(t: "Text", args: dict) -> list:
    return [
        {"flight": t.value("flight"), "airline": t.value("airline"), "departs": f"{t.value('hour')}:{t.value('minute')}",
         "price": t.value("price"), "stops": t.rng.randint(0, 2)}
        for _ in range(t.rng.randint(3, 6))
    ]


def _book_hotel(t: "Text", args: dict) -> dict:
    return {"confirmation": f"H{t.rng.getrandbits(40):010X}", "hotel": f"Hotel {t.value('name')}",
            "price_per_night": t.value("price"), "notes": t.paragraph("travel", 2)}


def _read_file(t: "Text", args: dict) -> str:
    return "\n".join(
        f"def {t.value('function')}(payload):\n    # {t.paragraph('code', 1)}\n    return payload.get('{t.value('key')}')"
        for _ in range(t.rng.randint(2, 5))
    )


def _run_tests(t: "Text", args: dict) -> dict:
    failures = [{"test": t.value("test"), "error": f"KeyError: '{t.value('key')}'", "explanation": t.paragraph("code", 1)}
                for _ in range(t.rng.randint(0, 3))]
    return {"passed": int(t.value("n")) * 7, "failed": len(failures), "failures": failures}


def _search_code(t: "Text", args: dict) -> list:
    return [
        {"path": t.value("path"), "line": int(t.value("line")),
         "text": f"result = {args['pattern']}(payload)  # {t.paragraph('code', 1)[:60]}"}
        for _ in range(t.rng.randint(2, 6))
    ]


TOOLS = {
    tool.name: tool
    for tool in (
        Tool("lookup_order", "Look up an order by its number and return its status, items and payments.",
             {"order_id": "order"}, _lookup_order),
        Tool("refund_order", "Refund an order, fully or partly, to the original payment method.",
             {"order_id": "order", "reason": "reason"}, _refund_order),
        Tool("search_kb", "Search the help-centre articles; returns the best matching passages.", {"query": "product"}, _search_kb),
        Tool("web_search", "Search the web and return titles, URLs and snippets.", {"query": "topic"}, _web_search),
        Tool("fetch_page", "Fetch a web page and return its main text.", {"url": "topic"}, _fetch_page),
        Tool("summarize_sources", "Ask the summariser agent to condense a list of sources.", {"topic": "topic"}, _summarize_sources),
        Tool("get_weather", "Weather forecast for a city and date.", {"city": "city", "date": "date"}, _get_weather),
        Tool("search_flights", "Search flights between two cities on a date.",
             {"origin": "city", "destination": "city2", "date": "date"}, _search_flights),
        Tool("book_hotel", "Book a hotel room in a city for a number of nights.", {"city": "city", "nights": "n"}, _book_hotel),
        Tool("read_file", "Read a file from the repository at the pull request's head.", {"path": "path"}, _read_file),
        Tool("run_tests", "Run the test suite for a path and return the summary and failures.", {"path": "path"}, _run_tests),
        Tool("search_code", "Search the repository for a pattern; returns matching lines.", {"pattern": "function"}, _search_code),
    )
}


def _instructions(role: str, rules: list[str]) -> str:
    return role + "\n\nRules:\n" + "\n".join(f"- {rule}" for rule in rules)


AGENTS = {
    agent.name: agent
    for agent in (
        Agent("support_agent", "support", "shop-support", "openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com",
              _instructions("You are the customer support assistant of an online shop. Be warm, brief and precise.", [
                  "Always look the order up before answering questions about it.",
                  "Refunds above 500 need a reason from the customer; never promise a date you cannot see in the data.",
                  "Never reveal internal notes, card numbers beyond the last four digits, or other customers' data.",
                  "If a tool fails, apologise once and try again with corrected arguments.",
                  "End with a one-line summary of what you did."]),
              (TOOLS["lookup_order"], TOOLS["refund_order"], TOOLS["search_kb"])),
        Agent("research_agent", "research", "research-service", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "api.anthropic.com",
              _instructions("You are a careful research assistant. Find sources, read them, and write a sourced briefing.", [
                  "Search before you answer; prefer peer-reviewed sources and official statistics.",
                  "Quote numbers with their year and source.",
                  "Use summarize_sources when you have more than three pages to condense.",
                  "Say clearly when the evidence is weak or contested.",
                  "Keep the briefing under 400 words with a short list of sources at the end."]),
              (TOOLS["web_search"], TOOLS["fetch_page"], TOOLS["summarize_sources"]), delegate="summarize_sources",
              price_in=3e-6, price_out=1.5e-5),
        Agent("summarizer", "research", "research-service", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com",
              _instructions("You condense sources into a neutral summary.", [
                  "Keep every number with its source.", "Do not add facts that are not in the sources.", "At most 150 words."]),
              (TOOLS["fetch_page"],), price_in=1.5e-7, price_out=6e-7),
        Agent("travel_planner", "travel", "trip-planner", "google-gla", "gemini-2.5-flash", "gemini-2.5-flash", "generativelanguage.googleapis.com",
              _instructions("You plan trips: flights, hotels, weather and what to do. Be practical and concrete.", [
                  "Check the weather for every city and date you recommend.",
                  "Give prices in the currency the user used.",
                  "Book only after the user has agreed, unless they asked you to book.",
                  "Prefer direct flights and central hotels with free cancellation."]),
              (TOOLS["get_weather"], TOOLS["search_flights"], TOOLS["book_hotel"]), price_in=3e-7, price_out=2.5e-6),
        Agent("code_reviewer", "code", "review-bot", "openai", "gpt-4.1", "gpt-4.1-2025-04-14", "api.openai.com",
              _instructions("You review pull requests for a Python service. Be specific and cite file and line.", [
                  "Read the changed files before commenting.", "Run the tests for every path you comment on.",
                  "Point out bugs first, then risks, then style.", "Suggest a concrete fix for each problem."]),
              (TOOLS["read_file"], TOOLS["run_tests"], TOOLS["search_code"]), price_in=2e-6, price_out=8e-6),
    )
}
TOP_LEVEL = ("support_agent", "research_agent", "travel_planner", "code_reviewer")
SERVICES = {name: AGENTS[name].service for name in TOP_LEVEL}


def tool_definitions(agent: Agent) -> list[dict]:
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": {
                "type": "object",
                "properties": {
                    p: {"type": "integer" if p == "nights" else "string", "description": f"The {p.replace('_', ' ')}."}
                    for p in tool.parameters
                },
                "required": list(tool.parameters),
                "additionalProperties": False,
            },
        }
        for tool in agent.tools
    ]


# --- spans ---------------------------------------------------------------------------------------


@dataclass
class SpanData:
    name: str
    span_id: bytes
    parent: bytes
    start: int
    end: int
    kind: int
    attributes: dict[str, Any]
    error: str | None = None  # an exception message: status ERROR plus an `exception` event


@dataclass
class TraceBuilder:
    text: Text
    trace_id: bytes
    clock: int  # nanoseconds
    spans: list[SpanData] = field(default_factory=list)  # in end order: children before parents

    def new_id(self) -> bytes:
        return self.text.rng.getrandbits(64).to_bytes(8, "big")

    def advance(self, low_ms: float, high_ms: float) -> int:
        self.clock += int(self.text.rng.uniform(low_ms, high_ms) * 1e6)
        return self.clock

    def run_agent(self, agent: Agent, prompt: str, parent: bytes) -> str:
        """One agent run: chat, tools, chat ... until a final text answer. Returns the answer."""
        rng, text = self.text.rng, self.text
        span_id = self.new_id()
        start = self.advance(0.1, 2)
        instructions = [{"type": "text", "content": agent.instructions}]
        definitions = tool_definitions(agent)
        messages: list[dict] = [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
        turns = rng.choice((1, 2, 2, 3, 3, 4)) if agent.tools else 0
        usage_in = usage_out = 0
        for turn in range(turns + 1):
            final = turn == turns
            if final:
                answer = text.paragraph(agent.domain, rng.randint(3, 7))
                reply = {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}
            else:
                calls = []
                for tool in rng.sample(agent.tools, rng.randint(1, min(2, len(agent.tools)))):
                    arguments = {p: (int(text.value(slot)) if p == "nights" else text.value(slot)) for p, slot in tool.parameters.items()}
                    calls.append({"type": "tool_call", "id": f"call_{rng.getrandbits(96):024x}", "name": tool.name, "arguments": arguments})
                parts = calls
                if rng.random() < 0.3:
                    parts = [{"type": "thinking", "content": text.paragraph(agent.domain, 2)}] + calls
                reply = {"role": "assistant", "parts": parts, "finish_reason": "tool_call"}
            in_tokens, out_tokens = self.chat_span(agent, span_id, messages, reply, instructions, definitions)
            usage_in += in_tokens
            usage_out += out_tokens
            messages.append(reply)
            if final:
                break
            results = []
            for call in reply["parts"]:
                if call["type"] == "tool_call":
                    results.append(self.tool_span(agent, span_id, call))
            messages.append({"role": "user", "parts": results})
        answer = messages[-1]["parts"][0]["content"]
        end = self.advance(0.2, 3)
        attributes = {
            "model_name": agent.model,
            "agent_name": agent.name,
            "gen_ai.agent.name": agent.name,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.call.id": f"{rng.getrandbits(128):032x}",
            "gen_ai.conversation.id": f"{rng.getrandbits(128):032x}",
            "logfire.msg": f"{agent.name} run",
            "logfire.span_type": "span",
            "final_result": answer,
            "gen_ai.system_instructions": json.dumps(instructions),
            "pydantic_ai.all_messages": json.dumps(messages),
            "gen_ai.aggregated_usage.input_tokens": usage_in,
            "gen_ai.aggregated_usage.output_tokens": usage_out,
            "logfire.json_schema": json.dumps({"type": "object", "properties": {
                "pydantic_ai.all_messages": {"type": "array"}, "gen_ai.system_instructions": {"type": "array"}, "final_result": {"type": "object"}}}),
        }
        self.spans.append(SpanData(f"invoke_agent {agent.name}", span_id, parent, start, end, Span.SPAN_KIND_INTERNAL, attributes))
        return answer

    def chat_span(self, agent: Agent, parent: bytes, messages: list[dict], reply: dict, instructions: list,
                  definitions: list) -> tuple[int, int]:
        """One model request; returns its (input, output) token counts (about 4 characters a token)."""
        rng = self.text.rng
        input_json, output_json = json.dumps(messages), json.dumps([reply])
        in_tokens = (len(input_json) + len(agent.instructions)) // 4
        out_tokens = len(output_json) // 4
        start = self.advance(1, 20)
        end = self.advance(400, 6000)
        cache_read = rng.choice((0, 0, in_tokens // 2))
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": agent.provider,
            "gen_ai.system": agent.provider,
            "gen_ai.request.model": agent.model,
            "gen_ai.response.model": agent.response_model,
            "server.address": agent.server,
            "server.port": 443,
            "model_request_parameters": json.dumps({"function_tools": definitions, "builtin_tools": [], "output_mode": "text",
                                                    "output_object": None, "output_tools": [], "allow_text_output": True}),
            "gen_ai.tool.definitions": json.dumps(definitions),
            "gen_ai.input.messages": input_json,
            "gen_ai.output.messages": output_json,
            "gen_ai.system_instructions": json.dumps(instructions),
            "gen_ai.usage.input_tokens": in_tokens,
            "gen_ai.usage.output_tokens": out_tokens,
            "gen_ai.usage.cache_read.input_tokens": cache_read,
            "gen_ai.usage.cache_creation.input_tokens": 0,
            "operation.cost": round(in_tokens * agent.price_in + out_tokens * agent.price_out, 8),
            "gen_ai.response.id": f"resp_{rng.getrandbits(128):032x}",
            "gen_ai.response.finish_reasons": [reply["finish_reason"]],
            "logfire.msg": f"chat {agent.model}",
            "logfire.span_type": "span",
            "logfire.json_schema": json.dumps({"type": "object", "properties": {
                "gen_ai.input.messages": {"type": "array"}, "gen_ai.output.messages": {"type": "array"},
                "gen_ai.system_instructions": {"type": "array"}, "model_request_parameters": {"type": "object"}}}),
        }
        self.spans.append(SpanData(f"chat {agent.model}", self.new_id(), parent, start, end, Span.SPAN_KIND_CLIENT, attributes))
        return in_tokens, out_tokens

    def tool_span(self, agent: Agent, parent: bytes, call: dict) -> dict:
        """Run a tool call (sometimes a failed attempt first, sometimes a nested agent); returns the tool's response part."""
        rng, text = self.text.rng, self.text
        tool = TOOLS[call["name"]]
        base = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name,
            "gen_ai.tool.call.id": call["id"],
            "gen_ai.tool.call.arguments": json.dumps(call["arguments"]),
            "logfire.msg": f"running tool: {tool.name}",
            "logfire.span_type": "span",
            "logfire.json_schema": json.dumps({"type": "object", "properties": {
                "gen_ai.tool.call.arguments": {"type": "object"}, "gen_ai.tool.call.result": {"type": "object"},
                "gen_ai.tool.name": {}, "gen_ai.tool.call.id": {}}}),
        }
        if rng.random() < 0.05:
            start = self.advance(0.5, 5)
            end = self.advance(2, 300)
            message = f"{tool.name}: upstream returned 503 for {json.dumps(call['arguments'])}"
            failed = {**base, "pydantic_ai.tool.retry.cause": message, "pydantic_ai.tool.retry.attempt": 1,
                      "pydantic_ai.tool.retry.max_retries": 3}
            self.spans.append(
                SpanData(f"execute_tool {tool.name}", self.new_id(), parent, start, end, Span.SPAN_KIND_INTERNAL, failed, error=message)
            )
        span_id = self.new_id()
        start = self.advance(0.5, 5)
        if agent.delegate == tool.name:
            result = self.run_agent(AGENTS["summarizer"], text.prompt("research"), span_id)
        else:
            self.advance(5, 900)
            result = tool.result(text, call["arguments"])
        end = self.advance(0.2, 3)
        attributes = {**base, "gen_ai.tool.call.result": result if isinstance(result, str) else json.dumps(result)}
        self.spans.append(SpanData(f"execute_tool {tool.name}", span_id, parent, start, end, Span.SPAN_KIND_INTERNAL, attributes))
        return {"type": "tool_call_response", "id": call["id"], "name": tool.name, "result": result}


def agent_trace(text: Text, agent_name: str, start_ns: int) -> tuple[list[SpanData], bytes]:
    """The spans of one top-level agent run (children before parents) and its trace id."""
    builder = TraceBuilder(text, text.rng.getrandbits(128).to_bytes(16, "big"), start_ns)
    agent = AGENTS[agent_name]
    builder.run_agent(agent, text.prompt(agent.domain), b"")
    return builder.spans, builder.trace_id


# --- protobuf ------------------------------------------------------------------------------------


def _any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def _key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any_value(value)) for key, value in attributes.items()]


def to_proto(trace_id: bytes, span: SpanData) -> Span:
    proto = Span(
        trace_id=trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent,
        name=span.name,
        kind=span.kind,
        start_time_unix_nano=span.start,
        end_time_unix_nano=span.end,
        attributes=_key_values(span.attributes),
        status=Status(code=Status.STATUS_CODE_ERROR, message=span.error) if span.error else Status(),
    )
    if span.error:
        proto.events.append(Span.Event(name="exception", time_unix_nano=span.end, attributes=_key_values({
            "exception.type": "pydantic_ai.exceptions.ModelRetry",
            "exception.message": span.error,
            "exception.stacktrace": (
                "Traceback (most recent call last):\n  File \"app/tools.py\", line 88, in call\n"
                f"    raise ModelRetry({span.error!r})\npydantic_ai.exceptions.ModelRetry: {span.error}"
            ),
            "exception.escaped": "False",
        })))
    return proto


def resource(service: str, rng: random.Random) -> Resource:
    return Resource(attributes=_key_values({
        "service.name": service,
        "service.version": f"1.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
        "service.instance.id": f"{rng.getrandbits(128):032x}",
        "deployment.environment.name": "production",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.45.2",
        "process.pid": rng.randint(1000, 60000),
        "process.runtime.name": "cpython",
        "process.runtime.version": "3.12.8",
        "process.runtime.description": "3.12.8 (main, Dec  4 2024, 08:54:12) [GCC 12.2.0]",
        "logfire.sdk_version": "5.4.0",
    }))


SCOPE = InstrumentationScope(name="pydantic-ai", version="2.68.0")


def export_requests(seed: int, spans: int, batch: int = 512, start_ns: int | None = None) -> list[bytes]:
    """`spans` spans (exactly) of agent traces, as serialized ExportTraceServiceRequest bodies of
    `batch` spans each (the last one may be smaller), one service per request, in export order."""
    rng = random.Random(seed)
    text = Text(rng)
    clock = start_ns if start_ns is not None else time.time_ns() - 3600 * 10**9
    processes = {agent: resource(SERVICES[agent], rng) for agent in TOP_LEVEL}
    backlog: dict[str, list[Span]] = {agent: [] for agent in TOP_LEVEL}
    bodies: list[bytes] = []
    made = 0
    while made < spans:
        agent = rng.choice(TOP_LEVEL)
        trace, trace_id = agent_trace(text, agent, clock)
        clock += rng.randint(1, 40) * 10**6
        queue = backlog[agent]
        queue.extend(to_proto(trace_id, span) for span in trace)
        while len(queue) >= batch and made < spans:
            take = min(batch, spans - made)
            bodies.append(_request(processes[agent], queue[:take]))
            del queue[:take]
            made += take
    return bodies


def _request(res: Resource, spans: list[Span]) -> bytes:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=res, scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)])])
    return request.SerializeToString()
