"""The dataset, the evaluators and one experiment per questioner model.

A case is a secret word (its inputs); the output is the game's `GameResult`. Evaluators:
`Won` (an assertion: the questioner found the word), `Questions` (a score: how many questions it
needed, fewer is better; a lost game counts the whole budget) and `Outcome` (a label: won or lost).
Each experiment's metadata names its model (`provider:name`), which Spyglass shows as the model.
"""

from dataclasses import dataclass

from pydantic_ai.models import Model
from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import Evaluator, EvaluatorContext
from pydantic_evals.reporting import EvaluationReport

from examples.twenty_questions.game import GameResult, play, scripted_answerer, scripted_questioner

DATASET_NAME = "twenty-questions"
DEFAULT_WORDS = ("potato", "carrot", "dog", "laptop")
DEFAULT_MAX_QUESTIONS = 10


@dataclass(frozen=True)
class Contender:
    """A questioner model: `provider:name`, played by a scripted stand-in of `skill` when offline."""

    provider: str
    name: str
    skill: float | None = None  # None: the real model (needs its API key)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.name}"

    def questioner(self, seed: int) -> Model | str:
        if self.skill is None:
            return self.label
        return scripted_questioner(self.name, self.provider, skill=self.skill, seed=seed)


# Offline stand-ins: real model names and providers (so genai-prices prices their calls), scripted
# play whose skill makes the cheap model lose more often.
STAND_INS = (
    Contender("openai", "gpt-4o-mini", skill=0.4),
    Contender("openai", "gpt-4.1", skill=0.95),
    Contender("anthropic", "claude-sonnet-4-0", skill=0.75),
)


def parse_model(text: str) -> Contender:
    provider, sep, name = text.partition(":")
    if not sep or not provider or not name:
        raise ValueError(f"a model is provider:name, e.g. openai:gpt-4o-mini, not {text!r}")
    return Contender(provider, name)


@dataclass
class Won(Evaluator[str, GameResult]):
    def evaluate(self, ctx: EvaluatorContext[str, GameResult]) -> bool:
        return ctx.output.won


@dataclass
class Questions(Evaluator[str, GameResult]):
    def evaluate(self, ctx: EvaluatorContext[str, GameResult]) -> int:
        return ctx.output.questions


@dataclass
class Outcome(Evaluator[str, GameResult]):
    def evaluate(self, ctx: EvaluatorContext[str, GameResult]) -> str:
        return "won" if ctx.output.won else "lost"


def dataset(words: tuple[str, ...] = DEFAULT_WORDS) -> Dataset[str, GameResult, None]:
    return Dataset(name=DATASET_NAME, cases=[Case(name=word, inputs=word) for word in words],
                   evaluators=[Won(), Questions(), Outcome()])


async def run_experiment(contender: Contender, words: tuple[str, ...] = DEFAULT_WORDS,
                         max_questions: int = DEFAULT_MAX_QUESTIONS, answerer: Model | str | None = None,
                         seed: int = 0) -> EvaluationReport:
    """Play every word with `contender` as the questioner: one `evaluate {name}` experiment."""

    async def play_twenty_questions(secret: str) -> GameResult:
        return await play(secret, contender.questioner(seed), answerer or scripted_answerer(secret), max_questions)

    return await dataset(words).evaluate(
        play_twenty_questions, name=f"twenty questions · {contender.label}", progress=False,
        metadata={"model": contender.label, "scripted": contender.skill is not None,
                  "skill": contender.skill, "max_questions": max_questions, "seed": seed})
