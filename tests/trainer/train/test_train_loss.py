"""The image-generation loss on a tiny random Janus: equal to an independent computation, the first image
code supervised, trainable, unaffected by padding, and the edit embeddings where the recipe puts them."""

import numpy as np
import pytest
import torch
from transformers import JanusForConditionalGeneration, JanusProcessor

from pixsift.trainer.common.prompt_format import prompt_text
from pixsift.trainer.train.data import SampleFormat
from pixsift.trainer.train.loss import ImageGenerationModel, input_embeddings

USER = "<|User|>: "
TAIL = "\n\n<|Assistant|>:"


@pytest.fixture(scope="module")
def tiny(tiny_janus):
    path = tiny_janus
    processor = JanusProcessor.from_pretrained(path, local_files_only=True)
    janus = JanusForConditionalGeneration.from_pretrained(path, local_files_only=True).eval()
    return janus, processor


def samples(processor, seed=0):
    """Raw pieces of a text-to-image sample, an edit with its VQ copy and an edit without, and the
    formatted samples made from them."""
    tokenizer, fmt = processor.tokenizer, SampleFormat.of(processor)
    t, size, codebook = fmt.n_image_tokens, processor.image_processor.size["height"], 256
    rng = np.random.default_rng(seed)
    raw = [
        dict(caption="a red cat sitting on a mat in the sun", source=None, keep=True),
        dict(
            caption="make the sky blue",
            source=rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
            keep=True,
        ),
        dict(caption="add a boat", source=rng.integers(0, 256, (size, size, 3), dtype=np.uint8), keep=False),
    ]
    formatted = []
    for r in raw:
        r["codes"] = rng.integers(0, codebook, t)
        edit = r["source"] is not None
        prompt = np.asarray(tokenizer.encode(prompt_text(r["caption"], edit)))
        r["source_codes"] = rng.integers(0, codebook, t) if edit else None
        source = (r["source"], r["source_codes"]) if edit else None
        formatted.append(fmt.sample(prompt, r["codes"], source, keep_source_codes=r["keep"]))
    return raw, formatted


def reference_loss(janus, processor, raw, janus4o: bool = False) -> torch.Tensor:
    """Per sample, the sequence concatenated piece by piece (no padding, no scatter), the language model,
    the generation head, and cross-entropy as an explicit float64 log-softmax gather. `janus4o`: as its
    train_janus.py computes it, all T codes embedded after <begin_of_image>, the head on their T hidden
    states and the labels shifted by one (transformers' causal-LM loss), so c0 is never a target."""
    tokenizer, fmt = processor.tokenizer, SampleFormat.of(processor)
    ids, t = fmt.ids, fmt.n_image_tokens
    embed = janus.get_input_embeddings()

    def text(token_ids):
        return embed(torch.as_tensor(token_ids, dtype=torch.long))

    def codes(values):
        return janus.prepare_embeddings_for_image_generation(torch.as_tensor(values, dtype=torch.long))

    log_probs = []
    for r in raw:
        if r["source"] is None:
            parts = [text(tokenizer.encode(prompt_text(r["caption"], False)))]
        else:
            pixels = fmt.siglip(torch.from_numpy(r["source"])[None])
            features = janus.model.get_image_features(pixels).pooler_output[0]
            copy = codes(r["source_codes"]) if r["keep"] else text([ids.pad] * t)
            parts = [
                text(tokenizer.encode(USER)),
                text([ids.boi]),
                features,
                text([ids.eoi, ids.boi]),
                copy,
                text([ids.eoi]),
                text(tokenizer.encode(r["caption"] + TAIL, add_special_tokens=False)),
            ]
        if janus4o:
            sequence = torch.cat([*parts, text([ids.boi]), codes(r["codes"])])[None]
            hidden = janus.model.language_model(inputs_embeds=sequence).last_hidden_state[0, -t:]
            logits, targets = janus.model.generation_head(hidden).double()[:-1], r["codes"][1:]
        else:
            sequence = torch.cat([*parts, text([ids.boi]), codes(r["codes"][:-1])])[None]
            hidden = janus.model.language_model(inputs_embeds=sequence).last_hidden_state[0, -t:]
            logits, targets = janus.model.generation_head(hidden).double(), r["codes"]
        log_probs.append(torch.log_softmax(logits, -1).gather(1, torch.as_tensor(targets)[:, None]))
    return -torch.cat(log_probs).mean()


def test_loss_equals_an_independent_computation(tiny):
    janus, processor = tiny
    raw, formatted = samples(processor)
    with torch.no_grad():
        loss = ImageGenerationModel(janus)(SampleFormat.of(processor).collate(formatted))
        expected = reference_loss(janus, processor, raw)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)


def test_without_the_first_code_the_loss_is_janus4o_shifted_loss(tiny):
    janus, processor = tiny
    raw, formatted = samples(processor, seed=1)
    with torch.no_grad():
        loss = ImageGenerationModel(janus, first_code=False)(SampleFormat.of(processor).collate(formatted))
        expected = reference_loss(janus, processor, raw, janus4o=True)
        supervised = ImageGenerationModel(janus)(SampleFormat.of(processor).collate(formatted))
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)
    assert abs(float(loss - supervised)) > 1e-6


def test_the_first_code_is_supervised(tiny):
    """Two codebook entries with the same embedding: c0 = a or b gives the language model the same input,
    so the loss differs only in the target of the prediction from <begin_of_image>. A loss with shifted
    labels (Janus-4o's) never scores that prediction and would not change."""
    janus, processor = tiny
    _, formatted = samples(processor)
    a, b = int(formatted[0].image_codes[0]), (int(formatted[0].image_codes[0]) + 1) % 256
    model = ImageGenerationModel(janus)
    embeddings = janus.model.generation_embeddings.weight
    saved = embeddings.detach().clone()
    try:
        with torch.no_grad():
            embeddings[b] = embeddings[a]
            losses = []
            for code in (a, b):
                formatted[0].image_codes[0] = code
                losses.append(model(SampleFormat.of(processor).collate(formatted)))
            batch = SampleFormat.of(processor).collate(formatted)
            hidden = janus.model.language_model(
                inputs_embeds=input_embeddings(janus, batch), attention_mask=padding_mask(batch)
            ).last_hidden_state[0, batch.image_start[0]]
            log_probs = torch.log_softmax(janus.model.generation_head(hidden).double(), -1)
    finally:
        with torch.no_grad():
            embeddings.copy_(saved)
    n_terms = batch.image_codes.numel()
    expected = (log_probs[a] - log_probs[b]) / n_terms
    assert abs(float(expected)) > 1e-5
    torch.testing.assert_close((losses[1] - losses[0]).double(), expected, rtol=1e-3, atol=1e-7)


def test_steps_lower_the_loss_on_a_fixed_batch(tiny_janus):
    path = tiny_janus
    processor = JanusProcessor.from_pretrained(path, local_files_only=True)
    model = ImageGenerationModel(JanusForConditionalGeneration.from_pretrained(path, local_files_only=True))
    model.janus.model.vqmodel.requires_grad_(False)
    batch = SampleFormat.of(processor).collate(samples(processor)[1])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    model.train()
    for _ in range(10):
        loss = model(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0, losses


def test_right_padding_leaves_each_samples_loss_alone(tiny):
    janus, processor = tiny
    _, formatted = samples(processor)
    short, long = formatted[0], formatted[1]
    fmt, model = SampleFormat.of(processor), ImageGenerationModel(janus)
    with torch.no_grad():
        together = model(fmt.collate([short, long]))
        alone = [model(fmt.collate([s])) for s in (short, long)]
    assert len(short.input_ids) < len(long.input_ids)
    torch.testing.assert_close(together, (alone[0] + alone[1]) / 2, rtol=1e-5, atol=1e-6)


def padding_mask(batch) -> torch.Tensor:
    """The attention mask of the batch's right padding (long [B, L])."""
    return (torch.arange(batch.input_ids.shape[1]) < batch.lengths[:, None]).long()


def test_the_loss_without_a_mask_is_the_masked_loss(tiny):
    """Right padding and causal attention: the mask the loss leaves out (keeping SDPA's flash kernel
    available) changes nothing."""
    janus, processor = tiny
    _, formatted = samples(processor)
    batch = SampleFormat.of(processor).collate(formatted)
    assert (batch.lengths < batch.input_ids.shape[1]).any()  # there is padding
    with torch.no_grad():
        masked = janus.model.language_model(
            inputs_embeds=input_embeddings(janus, batch), attention_mask=padding_mask(batch), use_cache=False
        ).last_hidden_state
        n = batch.n_image_tokens
        positions = batch.image_start[:, None] + torch.arange(n)
        logits = janus.model.generation_head(
            masked.gather(1, positions[..., None].expand(-1, -1, masked.shape[-1]))
        )
        expected = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), batch.image_codes.reshape(-1)
        )
        loss = ImageGenerationModel(janus)(batch)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)


def test_running_every_module_for_zero3_leaves_a_text_to_image_loss_alone(tiny):
    """Under ZeRO-3 a batch without edits still runs the vision tower (a collective every rank joins);
    its features count zero times, in the loss and in the gradients."""
    janus, processor = tiny
    raw, formatted = samples(processor)
    t2i = [s for r, s in zip(raw, formatted, strict=True) if r["source"] is None]
    batch = SampleFormat.of(processor).collate(t2i)
    assert batch.pixel_values is None
    losses, grads = [], []
    for every_module in (False, True):
        janus.zero_grad()
        loss = ImageGenerationModel(janus, every_module=every_module)(batch)
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad.clone() for n, p in janus.named_parameters() if p.grad is not None})
    assert torch.equal(losses[0], losses[1])
    vision = {n for n in grads[1] if n.startswith("model.vision_model.")}
    assert vision and all(not grads[1][n].any() for n in vision)  # the tower ran, and learned nothing
    assert all(torch.equal(grads[0][n], grads[1][n]) for n in grads[0])


def test_edit_embeddings_land_where_the_recipe_puts_them(tiny):
    janus, processor = tiny
    _, formatted = samples(processor)
    ids, t = SampleFormat.of(processor).ids, processor.num_image_tokens
    batch = SampleFormat.of(processor).collate(formatted)
    with torch.no_grad():
        embeds = input_embeddings(janus, batch)
        text = janus.get_input_embeddings()(batch.input_ids)
        features = janus.model.get_image_features(batch.pixel_values).pooler_output
        source_copies = janus.prepare_embeddings_for_image_generation(batch.source_codes)
        targets = janus.prepare_embeddings_for_image_generation(batch.image_codes[:, :-1])
    expected = text.clone()
    assert batch.source_row.tolist() == [1, 2] and batch.keep_source_codes.tolist() == [True, False]
    for e, row in enumerate(batch.source_row.tolist()):
        placeholders = (batch.input_ids[row] == ids.image).nonzero()[:, 0]
        assert len(placeholders) == t and placeholders[-1] - placeholders[0] == t - 1
        start = int(batch.source_start[e])
        boi_at = 1 + len(processor.tokenizer.encode(USER, add_special_tokens=False))  # after BOS and USER
        assert batch.input_ids[row, boi_at] == ids.boi and placeholders[0] == boi_at + 1
        assert start == placeholders[-1] + 3  # after <end_of_image><begin_of_image>
        assert batch.input_ids[row, start - 2 : start].tolist() == [ids.eoi, ids.boi]
        assert (batch.input_ids[row, start : start + t] == ids.pad).all()
        assert batch.input_ids[row, start + t] == ids.eoi
        expected[row, placeholders] = features[e]
        if batch.keep_source_codes[e]:
            expected[row, start : start + t] = source_copies[e]
    for row, start in enumerate(batch.image_start.tolist()):
        assert batch.input_ids[row, start] == ids.boi
        expected[row, start + 1 : start + t] = targets[row]
    torch.testing.assert_close(embeds, expected)
    dropped_row, dropped_start = int(batch.source_row[1]), int(batch.source_start[1])
    pad_embedding = janus.get_input_embeddings().weight[ids.pad].detach()
    torch.testing.assert_close(
        embeds[dropped_row, dropped_start : dropped_start + t], pad_embedding.expand(t, -1)
    )
