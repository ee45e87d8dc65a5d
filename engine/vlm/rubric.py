"""A judge's rubric: the questions a vision-language model answers about each row, read from token
probabilities (engine.vlm.answers), and the columns combined from them. Shipped rubrics are in
engine/vlm/rubrics/ (`t2i`, `edit`); any TOML file of the same keys is one:

    doc = "what it judges"
    task = "t2i" | "edit"          the rows it judges (edit rows are shown their source image first)
    explain = "..."                the --explain request ({caption} as in the questions)

    [[question]]
    name = "alignment"             column <set>_alignment, float32
    answer = "yes" | "LO-HI"       the probability of "Yes", or the expected value of an integer LO..HI
    prompt = '... "{caption}" ...' {caption}: the row's caption (an edit's instruction)
    images = ["source", "image"]   optional: which images it is shown, in order (default: the task's)

    [[combine]]                    in order, from questions and earlier combinations
    name = "overall"
    how = "geometric_mean" | "mean" | "min"
    of = ["consistency", "quality"]
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.recipes import load_recipe
from pixsift.engine.store.schema import EDIT_TASK

RUBRICS = Path(__file__).with_name("rubrics")
TASKS = {"t2i": ("image",), EDIT_TASK: ("source", "image")}  # task -> the images each question is shown
COMBINE = {
    "geometric_mean": lambda values: np.prod(np.clip(values, 0, None), axis=0) ** (1 / len(values)),
    "mean": lambda values: np.mean(values, axis=0),
    "min": lambda values: np.min(values, axis=0),
}
_SCALE = re.compile(r"(\d+)-(\d+)")
_FIELDS = {"caption"}


@dataclass(frozen=True)
class Question:
    name: str
    prompt: str
    answer: str  # "yes" or "LO-HI"
    images: tuple[str, ...]

    def text(self, caption: str) -> str:
        return self.prompt.format(caption=caption)


@dataclass(frozen=True)
class Combination:
    name: str
    how: str
    of: tuple[str, ...]

    def __call__(self, values: dict[str, np.ndarray]) -> np.ndarray:
        return COMBINE[self.how](np.stack([values[n] for n in self.of])).astype(np.float32)


@dataclass(frozen=True)
class Rubric:
    name: str
    doc: str
    task: str
    explain: str
    questions: tuple[Question, ...]
    combinations: tuple[Combination, ...]

    @classmethod
    def load(cls, rubric: str) -> Rubric:
        table = load_recipe(RUBRICS, rubric, "rubric")
        return cls.from_table(table, Path(rubric).stem, rubric)

    @classmethod
    def from_table(cls, table: dict[str, Any], name: str, where: str) -> Rubric:
        _keys(table, {"doc", "task", "explain", "question", "combine"}, where)
        task = table.get("task")
        if task not in TASKS:
            raise BadInput(where, f"task must be one of {', '.join(TASKS)}, got {task!r}")
        questions = tuple(
            _question(q, task, f"{where}: question {i + 1}")
            for i, q in enumerate(_tables(table, "question", where))
        )
        if not questions:
            raise BadInput(where, "has no [[question]]")
        known = [q.name for q in questions]
        combinations = []
        for i, c in enumerate(_tables(table, "combine", where)):
            at = f"{where}: combine {i + 1}"
            _keys(c, {"name", "how", "of"}, at)
            of = c.get("of")
            if c.get("how") not in COMBINE:
                raise BadInput(at, f"how must be one of {', '.join(COMBINE)}, got {c.get('how')!r}")
            if not isinstance(of, list) or not of or any(n not in known for n in of):
                raise BadInput(
                    at, f"of must list names of questions or earlier combinations ({', '.join(known)})"
                )
            combinations.append(Combination(_name(c, at), c["how"], tuple(of)))
            known.append(combinations[-1].name)
        if len(set(known)) != len(known):
            raise BadInput(
                where, f"names repeat: {', '.join(sorted({n for n in known if known.count(n) > 1}))}"
            )
        explain = table.get("explain", "")
        _placeholders(explain, f"{where}: explain")
        return cls(name, str(table.get("doc", "")), task, explain, questions, tuple(combinations))

    @property
    def columns(self) -> tuple[str, ...]:
        return (*(q.name for q in self.questions), *(c.name for c in self.combinations))

    def settings(self) -> dict[str, Any]:
        """What the judged values depend on: every question and combination as written."""
        return {
            "task": self.task,
            "questions": [vars(q) | {"images": list(q.images)} for q in self.questions],
            "combine": [vars(c) | {"of": list(c.of)} for c in self.combinations],
            "explain": self.explain,
        }


def scale(answer: str) -> tuple[int, int] | None:
    """(lo, hi) of an "LO-HI" answer; None for "yes"."""
    found = _SCALE.fullmatch(answer)
    return (int(found[1]), int(found[2])) if found else None


def _question(table: Any, task: str, where: str) -> Question:
    _keys(table, {"name", "prompt", "answer", "images"}, where)
    answer = str(table.get("answer", ""))
    bounds = scale(answer)
    if answer != "yes" and (bounds is None or bounds[0] >= bounds[1]):
        raise BadInput(where, f'answer must be "yes" or a scale "LO-HI" such as "0-10", got {answer!r}')
    prompt = table.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInput(where, "needs a prompt")
    _placeholders(prompt, where)
    images = tuple(table.get("images", TASKS[task]))
    if not images or any(i not in TASKS[task] for i in images):
        raise BadInput(where, f"images must name some of {', '.join(TASKS[task])}, got {list(images)}")
    return Question(_name(table, where), prompt, answer, images)


def _name(table: dict, where: str) -> str:
    name = table.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
        raise BadInput(where, f"name must be lowercase letters, digits and _, got {name!r}")
    return name


def _placeholders(text: str, where: str) -> None:
    try:
        found = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as e:
        raise BadInput(where, f"bad placeholder: {e}") from None
    if unknown := found - _FIELDS:
        raise BadInput(where, f"unknown placeholders {sorted(unknown)}; known: {{caption}}")


def _tables(table: dict, key: str, where: str) -> list[dict]:
    found = table.get(key, [])
    if not isinstance(found, list) or not all(isinstance(t, dict) for t in found):
        raise BadInput(where, f"{key} must be tables ([[{key}]])")
    return found


def _keys(table: Any, known: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise BadInput(where, "must be a table")
    if unknown := sorted(table.keys() - known):
        raise BadInput(where, f"unknown keys {', '.join(unknown)}; known: {', '.join(sorted(known))}")
