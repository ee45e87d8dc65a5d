"""`pixsift sample`: images from a (fine-tuned) Janus-Pro checkpoint, for the prompts of a file, to look at
what a model learned and to score it beside another on the same prompts.

A prompt row has `prompt` (or `caption`, `text`, `instruction`), optionally `id`, `seed` and `source` (an
image path relative to the file, inside its folder: an editing prompt). A prompt is formatted as training
formats it (trainer.train.data), and each image code is drawn from guided logits:

    text-to-image       u + g * (c - u)                        c: the prompt, u: the prompt blanked to pad
    editing, janus4o    u + g * ((c + s * p) / (1 + s) - u)    c: source and instruction, p: the same with
                                                               the source's VQ block left as pads, u:
                                                               everything blanked (Janus-4o's demo, g = s = 5)
    editing, pixsift    u + s * (i - u) + g * (c - i)          i: the source alone (instruction blanked),
                                                               InstructPix2Pix's two scales (g 5, s 1.5)

(g = `guidance`, s = `image_guidance`). `janus4o`'s branches are the sequences the Janus-4o recipe trains
(its VQ copy dropped half the time); pixsift's `i` is a sequence training never shows. The source enters
through SigLIP and as its VQ codes, as in training. Each prompt's draws come from its
own seed (its row's, else `seed` + its index), so a prompt gives the same image whatever else is sampled.
transformers' `generate(generation_mode="image")` ignores `pixel_values` and cannot edit; this loop does
both, and its greedy text-to-image codes are those of `generate` (tested).

Output: `images/<id>.png`, `samples.jsonl` (one record per prompt: what was made, or the error), a
`captions.jsonl` that makes the folder a `pixsift score` input, and `contact_sheet.png`.
"""

from __future__ import annotations

import inspect
import json
import posixpath
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixsift.engine.core.config import Config, setting
from pixsift.engine.core.device import worker_device
from pixsift.engine.core.settings import as_json
from pixsift.engine.io.ownership import claim, remove
from pixsift.engine.io.paths import input_root, inside, write_whole
from pixsift.engine.io.rows import read_rows
from pixsift.trainer.common.image_prep import FITS, ImageError, ImageFit, prepare, vq_input
from pixsift.trainer.common.model_folder import load_janus_model, trained_fit
from pixsift.trainer.common.vq import encode_codes
from pixsift.trainer.sample.contact_sheet import contact_sheet
from pixsift.trainer.tokenize.job import encode_prompts
from pixsift.trainer.train.data import Sample, SampleFormat
from pixsift.trainer.train.loss import input_embeddings

PROMPT_FIELDS = ("prompt", "caption", "text", "instruction")
OUTPUT_KIND = "samples folder"  # engine.io.ownership
EDIT_GUIDANCE = {"janus4o": 5.0, "pixsift": 1.5}  # each formula's default image_guidance


def _cache_name() -> str:
    """What transformers calls the key-value cache, argument and output: `cache` from 5.18 on, before it
    `past_key_values`."""
    from transformers import LlamaModel

    return "cache" if "cache" in inspect.signature(LlamaModel.forward).parameters else "past_key_values"


CACHE = _cache_name()


@dataclass(kw_only=True)
class SampleConfig(Config):
    model: str = setting(help="local Janus-Pro checkpoint folder (transformers format), e.g. <train out>/hf")
    prompts: str = setting(help="JSONL, Parquet or CSV of prompts: prompt, optional id, seed, source")
    out: str = setting(help="folder for images/, samples.jsonl, captions.jsonl and contact_sheet.png")
    guidance: float = setting(5.0, min=0.0, help="text guidance scale g (Janus-Pro's default 5)")
    edit_guidance: str = setting(
        "janus4o",
        choices=tuple(EDIT_GUIDANCE),
        help="editing: janus4o (Janus-4o's demo: the no-VQ-copy branch mixed into the condition) or pixsift "
        "(InstructPix2Pix's two scales, the instruction blanked in the image branch)",
    )
    image_guidance: float | None = setting(
        None, min=0.0, help="editing: the source scale s (default: janus4o 5, pixsift 1.5)"
    )
    temperature: float = setting(1.0, min=0.0, help="sampling temperature; 0 takes the most likely code")
    seed: int = setting(0, help="base seed: a prompt without its own seed uses seed + its index")
    image_fit: str = setting(
        "auto",
        choices=("auto", *FITS),
        help="how an edit source becomes a square; auto: as the model's training data was tokenized when "
        "pixsift trained it, else pad (Janus-Pro's and Janus-4o's processor)",
    )
    device: str = setting("auto", help="auto, cpu, cuda or cuda:N")
    score: bool = setting(False, help="then score the images with pixsift score (CLIP, fidelity)")
    clip_model: str = setting("ViT-L-14", help="--score: the open_clip model")
    clip_pretrained: str | None = setting("openai", help="--score: its weights (a tag or a file)")
    clip_random_init: bool = setting(False, help="--score: random weights instead (tests, no download)")


@dataclass
class _Prompt:
    index: int
    id: str
    text: str
    seed: int
    source: str | None  # a path: an editing prompt
    error: str = ""  # why it cannot be sampled


class Sampler:
    """A loaded model that turns prompts into images."""

    def __init__(self, cfg: SampleConfig):
        from transformers import JanusProcessor

        self.cfg, self.device = cfg, worker_device(cfg.device)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.janus = load_janus_model(cfg.model, dtype=dtype).to(self.device)
        self.janus.eval()
        processor = JanusProcessor.from_pretrained(cfg.model, local_files_only=True)
        self.tokenizer, self.format = processor.tokenizer, SampleFormat.of(processor)
        self.size = self.janus.config.vision_config.image_size
        mean = tuple(processor.image_processor.image_mean)
        self.fit = ImageFit.of(trained_fit(cfg.model, cfg.image_fit), mean)
        self.image_guidance = cfg.image_guidance
        if self.image_guidance is None:
            self.image_guidance = EDIT_GUIDANCE[cfg.edit_guidance]

    @torch.no_grad()
    def codes(self, prompt: str, seed: int, source: np.ndarray | None = None) -> torch.Tensor:
        """The image codes (long [T]) of `prompt`, editing `source` (uint8 [S, S, 3]) when given."""
        batch = self.format.collate(self._branches(prompt, source))
        batch = batch.to(self.device)
        prefix = int(batch.image_start[0]) + 1  # through <begin_of_image>
        embeds = input_embeddings(self.janus, batch)[:, :prefix]
        generator = torch.Generator(self.device).manual_seed(seed)
        lm, head = self.janus.model.language_model, self.janus.model.generation_head
        cache, codes = {}, []
        for _ in range(self.format.n_image_tokens):
            out = lm(inputs_embeds=embeds, use_cache=True, **cache)
            cache = {CACHE: getattr(out, CACHE)}
            logits = self._guided(head(out.last_hidden_state[:, -1]).float())
            if self.cfg.temperature > 0:
                probs = torch.softmax(logits / self.cfg.temperature, -1)
                code = torch.multinomial(probs, 1, generator=generator)[0]
            else:
                code = logits.argmax(-1, keepdim=True)[0]
            codes.append(code)
            step = self.janus.prepare_embeddings_for_image_generation(code.expand(len(batch.image_start)))
            embeds = step[:, None].to(embeds.dtype)
        return torch.cat(codes)

    @torch.no_grad()
    def image(self, codes: torch.Tensor) -> Image.Image:
        """The decoded image of `codes`, as Janus converts its VQ decoder's output to pixels."""
        decoded = self.janus.decode_image_tokens(codes[None].to(self.device))[0].float().cpu().numpy()
        return Image.fromarray(np.clip((decoded + 1) / 2 * 255, 0, 255).astype(np.uint8))

    @torch.no_grad()
    def source(self, path: str) -> np.ndarray:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ImageError(f"source {path}: cannot be read ({e.strerror or e})") from None
        return prepare(data, self.size, f"source {path}", self.fit)

    def _branches(self, prompt: str, source: np.ndarray | None) -> list[Sample]:
        """The guidance branches, in the order `_guided` combines them, all of one length."""
        fmt, t = self.format, self.format.n_image_tokens
        [ids] = encode_prompts(self.tokenizer, [prompt], np.array([source is not None]))
        dummy = np.zeros(t, np.int64)
        if source is None:
            full = fmt.sample(np.array(ids), dummy)
            return [full, fmt.sample(np.array(ids), dummy, blank_prompt=True)]
        vq = encode_codes(self.janus.model.vqmodel, vq_input(torch.from_numpy(source[None]).to(self.device)))
        pair = (source, vq[0].cpu().numpy())
        full = fmt.sample(np.array(ids), dummy, pair)
        nothing = fmt.sample(np.array([ids[0], *[fmt.ids.pad] * (full.image_start - 1)]), dummy)
        if self.cfg.edit_guidance == "janus4o":
            return [full, fmt.sample(np.array(ids), dummy, pair, keep_source_codes=False), nothing]
        # The source alone: the instruction (and the rest of the turn) blanked to pad.
        at = ids.index(fmt.ids.image)
        image_only = [*ids[: at + 1], *[fmt.ids.pad] * (len(ids) - at - 1)]
        return [full, fmt.sample(np.array(image_only), dummy, pair), nothing]

    def _guided(self, logits: torch.Tensor) -> torch.Tensor:
        g = self.cfg.guidance
        if len(logits) == 2:
            cond, uncond = logits
            return (uncond + g * (cond - uncond))[None]
        cond, other, uncond = logits
        s = self.image_guidance
        if self.cfg.edit_guidance == "janus4o":
            return (uncond + g * ((cond + s * other) / (1 + s) - uncond))[None]
        return (uncond + s * (other - uncond) + g * (cond - other))[None]


def sample(cfg: SampleConfig) -> list[dict]:
    """Sample every prompt of `cfg.prompts` into `cfg.out`; the records written to samples.jsonl."""
    out = Path(cfg.out)
    claim(cfg.out, OUTPUT_KIND, as_json(asdict(cfg)))
    (out / "images").mkdir(exist_ok=True)
    sampler = Sampler(cfg)
    records, shown = [], []
    for prompt in read_prompts(cfg.prompts, cfg.seed):
        record = {"id": prompt.id, "task": "edit" if prompt.source else "t2i", "prompt": prompt.text}
        record.update(seed=prompt.seed, source=prompt.source, guidance=cfg.guidance)
        edit = {"edit_guidance": cfg.edit_guidance, "image_guidance": sampler.image_guidance}
        record.update(edit if prompt.source else {"edit_guidance": None, "image_guidance": None})
        record.update(temperature=cfg.temperature, model=str(Path(cfg.model).resolve()), error=None)
        try:
            if prompt.error:
                raise ImageError(prompt.error)
            source = sampler.source(prompt.source) if prompt.source else None
            image = sampler.image(sampler.codes(prompt.text, prompt.seed, source))
        except ImageError as e:
            record["error"] = str(e)
            print(f"sample: {prompt.id}: {e}", file=sys.stderr)
            records.append(record)
            continue
        name = f"images/{_file_name(prompt.id)}.png"
        image.save(out / name)
        record["image"] = name
        records.append(record)
        shown.append((image, prompt.id, source))
    _write_jsonl(out / "samples.jsonl", records)
    captions = [
        {"image": r["image"], "caption": r["prompt"], "key": r["id"]} for r in records if not r["error"]
    ]
    _write_jsonl(out / "captions.jsonl", captions)
    contact_sheet(shown).save(out / "contact_sheet.png")
    print(f"sampled {len(captions)} of {len(records)} prompts into {out} (contact_sheet.png)")
    if cfg.score:
        _score(cfg)
    return records


def _score(cfg: SampleConfig) -> None:
    """The score stage on the sampled images: `<out>/scores.zarr`, replaced on every run."""
    from pixsift.engine.score.config import ScoreConfig
    from pixsift.engine.score.job import score
    from pixsift.engine.store.run_store import RunStore

    store = str(Path(cfg.out) / "scores.zarr")
    remove(store, RunStore.KIND)
    settings = ScoreConfig(
        inputs=[cfg.out],
        store=store,
        clip_model=cfg.clip_model,
        clip_pretrained=None if cfg.clip_random_init else cfg.clip_pretrained,
        clip_random_init=cfg.clip_random_init,
        device=cfg.device,
        max_scan_failures=1.0,
    )
    score(settings).report(store)


def read_prompts(path: str, seed: int) -> list[_Prompt]:
    """The prompts of the file; a source outside its folder, or a row without a prompt, is an error of that
    prompt (its record says so), never of the run."""
    folder, roots = posixpath.dirname(path), [input_root(path)]
    prompts = []
    for index, row in enumerate(read_rows(path, text=PROMPT_FIELDS)):
        record = row.record
        text = next((record[f] for f in PROMPT_FIELDS if isinstance(record.get(f), str) and record[f]), "")
        key = str(record.get("id") or f"prompt-{index + 1:05d}")
        error = row.error or ("" if text else f"{path} row {row.number}: no prompt")
        source = record.get("source") or None
        if source:
            source = posixpath.normpath(posixpath.join(folder, str(source)))
            if not inside(source, roots):
                error = error or f"source {record['source']}: outside the prompts file's folder"
        own = record.get("seed")
        prompts.append(
            _Prompt(index, key, text, own if isinstance(own, int) else seed + index, source, error)
        )
    return prompts


def _file_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)[:100] or "prompt"


def _write_jsonl(path: Path, records: list[dict]) -> None:
    write_whole(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
