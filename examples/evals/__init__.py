"""Twenty questions as a pydantic-evals dataset, evaluated for several questioner models.

    python -m examples.evals                                  # offline: scripted stand-ins for three models
    python -m examples.evals --model openai:gpt-4o-mini --model anthropic:claude-sonnet-4-0

Each case is a secret word; the task plays one game (examples/twenty_questions/game.py) with the
model under test as the questioner. Spyglass's Evals page then compares the experiments: who wins
how often, in how many questions, at what price.
"""
