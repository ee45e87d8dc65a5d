"""`pixsift judge`: the command-line side of engine.vlm.judge."""

from __future__ import annotations

from pixsift.engine.cli.annotation import annotation_stage
from pixsift.engine.vlm.config import JudgeConfig


def run_judge(cfg: JudgeConfig) -> int:
    from pixsift.engine.vlm.job import annotate
    from pixsift.engine.vlm.judge import Judge

    for rubric, name in zip(cfg.rubrics, cfg.set_names(), strict=True):
        annotate(cfg, Judge(cfg, rubric, name)).report(cfg.store)
    return 0


STAGE = annotation_stage(
    "judge",
    JudgeConfig,
    run_judge,
    JudgeConfig.set_names,
    "Score every scored row (or a selection's) by a rubric's questions with a local vision-language "
    "model, from its token probabilities (the probability of 'Yes', or the expected value of a 0-10 "
    "answer): a column per question, usable by select. Rubrics: t2i, edit (source and edit), or a TOML "
    "file. Run the same command again to resume a killed job.",
)
