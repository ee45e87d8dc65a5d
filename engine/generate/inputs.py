"""The prompts of a generate job: caption pools (t2i) and (source image, instruction) pairs (edit).

Rows come from JSONL, Parquet or CSV (engine.io.rows). t2i rows: `caption` (or `text`, `prompt`), optional
`id` (or `key`), `category` (or `prompt_category`), `style`, and from a `pixsift prompts` pool its
provenance: `task`, `enhanced_prompt`, `enhancer`, `prompt_generator` (engine.generate.assign picks each
prompt's generator, size and text). edit rows: `source` (or `image`: a path, relative to the file's
folder or absolute), `instruction` (or the caption fields), optional `id`/`key`, `source_key` (default: a
copy of the source in the output's `sources/` folder), `category`, `style`, and the pair's captions:
`source_caption` (or `input_caption`) and `target_caption` (or `output_caption`, `edited_caption`), which
the samples record for score's CLIP direction. A row without an id is named
`<file name>#<row>` (rows counted from 1).

A row that cannot be generated (not valid UTF-8, not JSON, an empty caption, a caption longer than the
text encoder's context, a missing or unreadable source image) becomes a reject with the reason; the
accepted prompts, in file order, are the plan, cut into work units of `captions_per_shard` (one shard each).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from PIL import Image

from pixsift.engine.core.batches import batched
from pixsift.engine.core.candidates import parts_hash
from pixsift.engine.generate.assign import Assigner
from pixsift.engine.io.records import (
    CAPTION_FIELDS,
    SOURCE_CAPTION_FIELDS,
    TARGET_CAPTION_FIELDS,
    caption_of,
    first_text,
)
from pixsift.engine.io.rows import read_rows
from pixsift.engine.io.text import as_text


@dataclass(frozen=True)
class Prompt:
    index: int  # position among the accepted prompts: the sample keys follow it
    id: str
    caption: str
    category: str = ""
    style: str = ""
    source: str = ""  # edit: the source image's path
    source_key: str = ""
    source_caption: str = ""  # edit: the source's caption, when the pair gives one
    target_caption: str = ""  # edit: the edited image's caption, when the pair gives one
    # Provenance, with Fine-T2I's names where it has them (engine.generate.job writes them to each sample).
    task: str = ""  # the row's own task (a pool's task combination); "" for the job's
    prompt: str = ""  # the pool's prompt and its rewrite, when the row came from a pool
    enhanced_prompt: str = ""
    enhancer: str = ""
    prompt_generator: str = ""
    image_generator: str = ""
    with_enhanced: bool = False  # the caption is the enhanced prompt
    width: int | None = None  # None: the pipeline's (edit: the source's)
    height: int | None = None

    def json_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass(frozen=True)
class Reject:
    row: int
    record: dict
    reason: str

    def json_line(self) -> str:
        line = {"row": self.row, "record": self.record, "reason": self.reason}
        return json.dumps(line, ensure_ascii=False, default=str)


class PromptChecker:
    """Refuses captions the pipeline's text encoders cannot take whole.

    A caption must fit the context of the tokenizer with the longest one: for CLIP-only pipelines (SD,
    SDXL) that is 77 tokens; for SD3 and FLUX the T5 encoder carries the prompt and CLIP's truncation
    only shortens the pooled embedding, as those pipelines intend.
    """

    def __init__(self, tokenizers: dict):
        named = {name: tok for name, tok in tokenizers.items() if _context(tok)}
        self.name, self.tokenizer = max(named.items(), key=lambda item: _context(item[1]), default=("", None))

    def problem(self, caption: str) -> str:
        if not caption.strip():
            return "empty_caption: the caption is empty"
        if self.tokenizer is None:
            return ""
        tokens = len(self.tokenizer(caption, truncation=False, verbose=False).input_ids)
        if tokens > (context := _context(self.tokenizer)):
            return f"too_long: {tokens} tokens, more than the {context} of {self.name}"
        return ""


def _context(tokenizer) -> int:
    length = getattr(tokenizer, "model_max_length", 0) or 0
    return length if length < 1_000_000 else 0  # transformers' "no limit" sentinel is ~1e30


def image_seed(base_seed: int, prompt_id: str, image_index: int) -> int:
    """The seed of one image, from (base seed, prompt id, image index) alone: batches do not change it.

    53 bits, so the seed stays exact in JSON readers that parse numbers as doubles.
    """
    return parts_hash(base_seed, prompt_id, image_index) & (2**53 - 1)


def read_prompts(
    path: str, task: str, checkers: dict[str, PromptChecker], assign: Assigner
) -> Iterator[Prompt | Reject]:
    """Every row of `path` in order, as an accepted prompt (its generator, size and text assigned, checked
    against that generator's text encoders) or a reject."""
    accepted = 0
    folder = Path(path).resolve().parent
    for row in read_rows(path, text=(*CAPTION_FIELDS, "instruction", *_POOL_TEXT)):
        error = row.error
        if not error:
            prompt, error = _prompt(row.record, task, row.number, Path(path).name, folder, accepted)
        if not error:
            prompt = _assigned(prompt, assign)
            error = checkers[prompt.image_generator].problem(prompt.caption)
        if error:
            yield Reject(row.number, row.record or {"text": row.text}, error)
        else:
            accepted += 1
            yield prompt


def read_plan(path: Path) -> Iterator[Prompt]:
    """The accepted prompts written by `Prompt.json_line`, one a line."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            yield Prompt(**json.loads(line))


def work_units(prompts: Iterable[Prompt], captions_per_shard: int) -> Iterator[tuple[int, list[Prompt]]]:
    """Accepted prompts, in order, in consecutive groups of `captions_per_shard`: (unit index, prompts)."""
    for unit in batched(prompts, captions_per_shard):
        yield unit[0].index // captions_per_shard, unit


def _prompt(
    record: dict, task: str, row: int, file_name: str, folder: Path, index: int
) -> tuple[Prompt | None, str]:
    text = record.get("instruction") if task == "edit" else None
    text = caption_of(record) if text is None else text
    if text is not None and not isinstance(text, str):
        return None, f"bad_caption: caption is a {type(text).__name__}, not text"
    if not (text or "").strip():
        return None, "empty_caption: the caption is empty"
    prompt_id = next((str(record[k]) for k in ("id", "key") if record.get(k) not in (None, "")), "")
    meta = {k: _text(record, *names) for k, names in _META.items()}
    prompt = Prompt(index, prompt_id or f"{file_name}#{row}", text, **meta)
    if task == "t2i":
        pool = {k: _text(record, k) for k in _POOL_FIELDS}
        if pool["enhanced_prompt"] or pool["prompt_generator"]:  # a pool's row: its prompt is the caption
            pool["prompt"] = text
        return replace(prompt, **pool), ""
    source = record.get("source", record.get("image"))
    if not isinstance(source, str) or not source:
        return None, "missing_source: the row has no source image path (source or image)"
    path = os.path.normpath(folder / source)
    if problem := _unreadable_image(path):
        return None, problem
    source_key, key_error = as_text(record.get("source_key"), "source_key", f"row {row}")
    if key_error:
        return None, key_error
    captions = {
        "source_caption": first_text(record, SOURCE_CAPTION_FIELDS),
        "target_caption": first_text(record, TARGET_CAPTION_FIELDS),
    }
    return Prompt(index, prompt.id, text, **meta, source=path, source_key=source_key, **captions), ""


def _assigned(prompt: Prompt, assign: Assigner) -> Prompt:
    chosen = assign(prompt.id, prompt.category, bool(prompt.enhanced_prompt))
    caption = prompt.enhanced_prompt if chosen.enhanced else prompt.caption
    return replace(
        prompt, caption=caption, image_generator=chosen.generator, with_enhanced=chosen.enhanced,
        width=chosen.width, height=chosen.height,
    )  # fmt: skip


def _text(record: dict, *names: str) -> str:
    value = next((record[n] for n in names if record.get(n) is not None), None)
    return "" if value is None else str(value)


# Prompt field -> the record fields it is read from, first present wins.
_META = {"category": ("category", "prompt_category"), "style": ("style",)}
_POOL_FIELDS = ("task", "enhanced_prompt", "enhancer", "prompt_generator")
_POOL_TEXT = ("enhanced_prompt",)


def _unreadable_image(path: str) -> str:
    if not os.path.isfile(path):
        return f"missing_source: {path} does not exist"
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as e:  # noqa: BLE001 -- any decoder failure means the source cannot be edited
        return f"bad_source: {path}: {type(e).__name__}: {e}"
    return ""
