"""Twenty questions between two pydantic-ai agents: the game loop, the prompts and the scripted players.

    result = await play("potato", scripted_questioner("gpt-4o-mini", "openai", skill=0.8, seed=1),
                        scripted_answerer("potato"), max_questions=20)

`play` is plain pydantic-ai: it takes models or agents. The durable versions (dbos_game.py,
temporal_game.py) pass it DBOSAgent / TemporalAgent wrappers, so each agent run's model request is a
durable step; the loop itself is deterministic code, as workflow code must be.

Each question is one questioner run (a yes/no question, or `GUESS: <word>`) and one answerer run
(`yes`, `no`, or `correct` for a right guess). The game is won when the answerer says `correct`.
"""

import random
import re
from dataclasses import dataclass, field

from pydantic_ai import Agent
from pydantic_ai.models import Model

from examples.durable import ScriptedModel, last_user_prompt

# The scripted players' world: the questions they know, and which are true of each word.
QUESTIONS = {
    "living": "Is it a living thing, or part of one?",
    "animal": "Is it an animal?",
    "edible": "Is it something people eat?",
    "underground": "Does it grow underground?",
    "sweet": "Does it taste sweet?",
    "orange": "Is it orange?",
    "legs": "Does it have legs?",
    "big": "Is it bigger than a microwave oven?",
    "electronic": "Does it need electricity?",
    "kitchen": "Would you usually find it in a kitchen?",
    "wheels": "Does it have wheels?",
    "tears": "Can it make you cry when you cut it?",
}
KNOWLEDGE = {
    "potato": {"living", "edible", "underground", "kitchen"},
    "carrot": {"living", "edible", "underground", "kitchen", "orange"},
    "onion": {"living", "edible", "underground", "kitchen", "tears"},
    "apple": {"living", "edible", "sweet", "kitchen"},
    "orange": {"living", "edible", "sweet", "kitchen", "orange"},
    "dog": {"living", "animal", "legs"},
    "goldfish": {"living", "animal", "orange"},
    "elephant": {"living", "animal", "legs", "big"},
    "bicycle": {"wheels", "big"},
    "laptop": {"electronic"},
    "toaster": {"electronic", "kitchen"},
    "spoon": {"kitchen"},
    "chair": {"legs"},
}
# Words in a free-form question (a real questioner's) that map it onto one of QUESTIONS.
KEYWORDS = {
    "living": ("alive", "living", "organic"), "animal": ("animal", "mammal", "creature"),
    "edible": ("eat", "edible", "food"), "underground": ("underground", "soil", "root", "tuber"),
    "sweet": ("sweet", "fruit"), "orange": ("orange",), "legs": ("legs",), "big": ("bigger", "large", "big"),
    "electronic": ("electric", "electronic", "device", "battery"), "kitchen": ("kitchen",),
    "wheels": ("wheel", "vehicle"), "tears": ("cry", "tears"),
}
LINE = re.compile(r"^\d+\. (?P<question>.+?) -> (?P<answer>\w+)$", re.M)

QUESTIONER_INSTRUCTIONS = (
    "You are playing twenty questions: find the secret word, a common object, food or animal. "
    "Reply with exactly one yes/no question, or with `GUESS: <word>` to guess. Nothing else.")
ANSWERER_INSTRUCTIONS = (
    "You are the answerer in twenty questions. The secret word is {secret!r}. Reply with one word: "
    "`yes` or `no` to a question, `correct` if the player guesses the secret word, `no` to a wrong guess.")


@dataclass
class GameResult:
    won: bool
    questions: int
    transcript: list[tuple[str, str]] = field(default_factory=list)  # (question or "GUESS: word", answer)


def questioner_prompt(transcript: list[tuple[str, str]], number: int, max_questions: int) -> str:
    lines = "\n".join(f"{i}. {question} -> {answer}" for i, (question, answer) in enumerate(transcript, 1))
    last = " This is your last one: guess." if number == max_questions else ""
    return f"Question {number} of {max_questions}.{last}\nSo far:\n{lines or '(nothing yet)'}"


def answerer_prompt(question: str, number: int) -> str:
    return f"Question {number}: {question}"


def normalize_answer(text: str) -> str:
    """`yes`, `no` or `correct` from an answerer's reply (anything else counts as `no`)."""
    words = re.findall(r"[a-z]+", text.lower())
    return words[0] if words and words[0] in ("yes", "no", "correct") else "no"


def guessed_word(question: str) -> str | None:
    match = re.match(r"\s*GUESS:\s*(?P<word>[\w -]+)", question, re.I)
    return match["word"].strip().lower() if match else None


def questioner_agent(model: Model | str, capabilities: list | None = None) -> Agent:
    return Agent(model, name="questioner", instructions=QUESTIONER_INSTRUCTIONS, capabilities=capabilities)


def answerer_agent(model: Model | str, secret: str, capabilities: list | None = None) -> Agent:
    return Agent(model, name="answerer", instructions=ANSWERER_INSTRUCTIONS.format(secret=secret),
                 capabilities=capabilities)


async def play(secret: str, questioner, answerer, max_questions: int = 20) -> GameResult:
    """Play one game. `questioner` / `answerer`: pydantic-ai agents (plain or durable) or models."""
    if not hasattr(questioner, "run"):
        questioner = questioner_agent(questioner)
    if not hasattr(answerer, "run"):
        answerer = answerer_agent(answerer, secret)
    transcript: list[tuple[str, str]] = []
    for number in range(1, max_questions + 1):
        question = (await questioner.run(questioner_prompt(transcript, number, max_questions))).output.strip()
        answer = normalize_answer((await answerer.run(answerer_prompt(question, number))).output)
        transcript.append((question, answer))
        if answer == "correct":
            return GameResult(True, number, transcript)
    return GameResult(False, max_questions, transcript)


# --- the scripted players -------------------------------------------------------------------------

def _consistent(transcript: list[tuple[str, str]]) -> list[str]:
    """The words of KNOWLEDGE that agree with every answer so far (and were not guessed wrong)."""
    attribute_of = {text: name for name, text in QUESTIONS.items()}
    words = []
    for word, attributes in KNOWLEDGE.items():
        fits = True
        for question, answer in transcript:
            if guessed_word(question) == word and answer != "correct":
                fits = False
            elif question in attribute_of and answer in ("yes", "no"):
                fits &= (attribute_of[question] in attributes) == (answer == "yes")
        if fits:
            words.append(word)
    return words


def next_move(transcript: list[tuple[str, str]], number: int, max_questions: int, skill: float, rng: random.Random) -> str:
    """The scripted questioner's move: the question that best halves the candidates, mostly.

    With probability 1 - skill it plays badly instead: repeats an earlier question, asks one whose
    answer it can already tell, or guesses a candidate too early (a wrong path, when there are several).
    """
    candidates = _consistent(transcript) or [w for w in KNOWLEDGE if w not in
                                             {guessed_word(q) for q, _ in transcript}] or list(KNOWLEDGE)
    if len(candidates) == 1 or number == max_questions:
        return f"GUESS: {rng.choice(candidates)}"
    asked = {question for question, _ in transcript}
    if rng.random() > skill:
        mistakes = ["early_guess"] + (["repeat"] if transcript else []) + ["useless"]
        mistake = rng.choice(mistakes)
        if mistake == "repeat":
            return rng.choice(sorted(asked))
        if mistake == "useless":
            useless = [text for name, text in QUESTIONS.items() if text not in asked
                       and len({name in KNOWLEDGE[w] for w in candidates}) == 1]
            if useless:
                return rng.choice(useless)
        return f"GUESS: {rng.choice(candidates)}"
    splits = {text: abs(2 * sum(name in KNOWLEDGE[w] for w in candidates) - len(candidates))
              for name, text in QUESTIONS.items()}
    best = min(splits.values())
    if best == len(candidates):  # nothing tells the candidates apart
        return f"GUESS: {rng.choice(candidates)}"
    return rng.choice(sorted(text for text, split in splits.items() if split == best))


def scripted_questioner(model_name: str = "gpt-4o-mini", provider: str = "openai", skill: float = 0.8,
                        seed: int = 0) -> ScriptedModel:
    """An offline questioner, deterministic given `seed`, that reports itself as `provider`/`model_name`."""
    def respond(messages) -> str:
        prompt = last_user_prompt(messages)
        header = re.match(r"Question (\d+) of (\d+)", prompt)
        number, max_questions = (int(header[1]), int(header[2])) if header else (1, 20)
        transcript = [(m["question"], m["answer"]) for m in LINE.finditer(prompt)]
        return next_move(transcript, number, max_questions, skill, random.Random(f"{seed}:{number}"))

    return ScriptedModel(respond, model_name, provider)


def answer_for(secret: str, question: str) -> str:
    """The scripted answerer's reply: `correct` for the secret, else yes/no from KNOWLEDGE."""
    word = guessed_word(question)
    if word is None:
        match = re.match(r"\s*is it an? (?P<word>[\w -]+)\?\s*$", question, re.I)
        if match and match["word"].lower() in KNOWLEDGE:
            word = match["word"].lower()
    if word is not None:
        return "correct" if word == secret else "no"
    attributes = KNOWLEDGE[secret]
    for name, text in QUESTIONS.items():
        if question == text:
            return "yes" if name in attributes else "no"
    lowered = question.lower()
    for name, words in KEYWORDS.items():
        if any(keyword in lowered for keyword in words):
            return "yes" if name in attributes else "no"
    return "no"


def scripted_answerer(secret: str, model_name: str = "claude-3-5-haiku-latest",
                      provider: str = "anthropic") -> ScriptedModel:
    """An offline answerer that answers consistently for `secret` (one of KNOWLEDGE's words)."""
    if secret not in KNOWLEDGE:
        raise ValueError(f"the scripted answerer knows {sorted(KNOWLEDGE)}, not {secret!r}; "
                         "use --answerer-model provider:name for a real model")

    def respond(messages) -> str:
        prompt = last_user_prompt(messages)
        return answer_for(secret, re.sub(r"^Question \d+: ", "", prompt))

    return ScriptedModel(respond, model_name, provider)
