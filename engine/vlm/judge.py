"""`pixsift judge`: scores of a rubric's questions per row, from a local vision-language model's token
probabilities (engine.vlm.answers), into the annotation set `judge_<rubric>` (or --name): a float32 column
per question and combination, and with --explain the model's short reasoning."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pixsift.engine.store.schema import Column
from pixsift.engine.vlm.answers import ExpectedScore, YesProbability
from pixsift.engine.vlm.config import JudgeConfig
from pixsift.engine.vlm.job import run_model
from pixsift.engine.vlm.rows import RowBatch
from pixsift.engine.vlm.rubric import TASKS, Rubric, scale


class Judge:
    stage, verb = "judge", "judged"

    def __init__(self, cfg: JudgeConfig, rubric: str, name: str):
        self.cfg = cfg
        self.rubric = Rubric.load(rubric)
        self.name = name
        self.task = self.rubric.task
        self.answers: dict[str, YesProbability | ExpectedScore] = {}

    def column(self, name: str) -> str:
        return f"{self.name}_{name}"

    def columns(self) -> list[Column]:
        scores = [
            Column(self.column(n), "float32", math.nan, f"rubric {self.rubric.name}: {n}")
            for n in self.rubric.columns
        ]
        explain = (
            [Column(self.column("explain"), "str", "", "the model's reasoning")] if self.cfg.explain else []
        )
        return scores + explain

    def settings(self) -> dict[str, Any]:
        shared = {k: v for k, v in self.cfg.value_settings().items() if k != "rubrics"}
        return {**shared, "rubric": {"name": self.rubric.name, **self.rubric.settings()}}

    def prepare(self, model) -> None:
        for q in self.rubric.questions:
            bounds = scale(q.answer)
            self.answers[q.name] = (
                YesProbability.of(model.token_ids)
                if bounds is None
                else ExpectedScore.of(model.token_ids, *bounds, f"rubric {self.rubric.name}: {q.name}")
            )

    def annotate(self, model, batch: RowBatch, columns: dict[str, np.ndarray]) -> dict[int, str]:
        rows = range(len(batch.positions))
        values: dict[str, dict[int, float]] = {}
        failed: dict[int, str] = {}
        for q in self.rubric.questions:
            answer = self.answers[q.name]
            prompts = [model.prompt(q.text(batch.captions[i]), len(q.images)) for i in rows]
            images = [[batch.images[i][k] for k in q.images] for i in rows]
            values[q.name], missed = run_model(
                model,
                prompts,
                images,
                len(answer.forced) + 1,
                lambda inputs, answer=answer: answer.values(
                    model.answer_logprobs(inputs, answer.forced, answer.wanted)
                ),
            )
            failed.update({i: reason for i, reason in missed.items() if i not in failed})
        done = [i for i in rows if i not in failed]
        table = {name: np.array([values[name][i] for i in done], dtype=np.float64) for name in values}
        for combination in self.rubric.combinations:
            table[combination.name] = combination(table)
        positions = [batch.positions[i] for i in done]
        for name, found in table.items():
            columns[self.column(name)][positions] = found
        if self.cfg.explain:
            failed.update(self._explain(model, batch, done, columns))
        return {batch.positions[i]: reason for i, reason in failed.items()}

    def _explain(self, model, batch: RowBatch, rows: list[int], columns) -> dict[int, str]:
        shown = TASKS[self.task]
        images = [[batch.images[i][k] for k in shown] for i in rows]
        prompts = [
            model.prompt(self.rubric.explain.format(caption=batch.captions[i]), len(shown)) for i in rows
        ]
        tokens = self.cfg.explain_tokens
        written, failed = run_model(
            model, prompts, images, tokens, lambda inputs: model.generate(inputs, tokens)
        )
        for j, out in written.items():
            columns[self.column("explain")][batch.positions[rows[j]]] = out.text
        return {rows[j]: reason for j, reason in failed.items()}
