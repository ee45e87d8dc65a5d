"""Training data from a token store: samples formatted token by token as the Janus-4o recipe, seeded
per-sample draws, too-long samples left out and reported, and the distributed length-grouped sampler
(every sample once per epoch, deterministic, resumable, less padding)."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from transformers import JanusProcessor

from pixsift.engine.core.errors import BadInput
from pixsift.trainer.common.token_store import EDIT, FAILED, T2I, TokenStore
from pixsift.trainer.train.data import MixedTaskBatchSampler, TokenDataset
from tests.helpers.token_stores import make_token_store

USER, ASSISTANT = "<|User|>: ", "\n\n<|Assistant|>:"
IMAGE, BOI, EOI = "<image_placeholder>", "<begin_of_image>", "<end_of_image>"


@pytest.fixture(scope="module")
def processor(tiny_janus):
    return JanusProcessor.from_pretrained(tiny_janus, local_files_only=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_janus):
    return make_token_store(tmp_path_factory.mktemp("tokens") / "tokens", tiny_janus, n_t2i=24, n_edit=24)


def caption_of(store, processor, row) -> str:
    """The caption as it went into the stored prompt (decoding byte-level BPE is lossless)."""
    text = processor.tokenizer.decode(store.prompt(row)[1:])
    assert text.startswith(USER) and text.endswith(ASSISTANT)
    return text[len(USER) : -len(ASSISTANT)].removeprefix(IMAGE)


def first_row(store, task) -> int:
    return int(np.flatnonzero(store.arrays["task"][:] == task)[0])


def test_samples_match_the_janus4o_sequences_token_by_token(store, processor):
    tokenizer, t = processor.tokenizer, processor.num_image_tokens
    pad = tokenizer.pad_token
    t2i, edit = first_row(store, T2I), first_row(store, EDIT)
    caption, instruction = caption_of(store, processor, t2i), caption_of(store, processor, edit)
    expected_t2i = tokenizer.encode(USER + caption + ASSISTANT + BOI)
    source_blocks = BOI + IMAGE * t + EOI + BOI + pad * t + EOI
    expected_edit = tokenizer.encode(USER + source_blocks + instruction + ASSISTANT + BOI)
    blanked_t2i = [tokenizer.bos_token_id] + [tokenizer.pad_token_id] * (len(expected_t2i) - 2)
    blanked_t2i += [tokenizer.convert_tokens_to_ids(BOI)]

    for prompt_drop, first in ((0.0, expected_t2i), (1.0, blanked_t2i)):
        data = TokenDataset(store, processor, max_seq_len=4096, prompt_drop=prompt_drop, source_drop=0.0)
        batch = data.collate([data[(0, t2i)], data[(0, edit)]])  # all rows are ok and fit: index = row
        pads = [tokenizer.pad_token_id] * (t - 1)
        for row, expected in enumerate((first + pads, expected_edit + pads)):
            n = len(expected)
            assert batch.input_ids[row, :n].tolist() == expected
            assert (batch.input_ids[row, n:] == tokenizer.pad_token_id).all()
            assert batch.lengths[row] == n
            assert batch.image_start[row] == n - t
        torch.testing.assert_close(
            batch.image_codes, torch.from_numpy(store.arrays["image_codes"].oindex[[t2i, edit]]).long()
        )
        assert batch.source_row.tolist() == [1] and batch.keep_source_codes.tolist() == [True]
        assert batch.source_start.tolist() == [expected_edit.index(tokenizer.pad_token_id)]
        torch.testing.assert_close(
            batch.source_codes[0], torch.from_numpy(store.arrays["source_codes"][edit]).long()
        )
        pixels = torch.from_numpy(store.arrays["source_pixels"][edit]).float().permute(2, 0, 1) / 255
        mean, std = (
            torch.tensor(v).view(3, 1, 1)
            for v in (processor.image_processor.image_mean, processor.image_processor.image_std)
        )
        torch.testing.assert_close(batch.pixel_values[0], (pixels - mean) / std)
        assert batch.n_tokens == int(batch.lengths.sum())


def test_draws_are_seeded_per_sample_at_the_recipe_rates(store, processor):
    data = TokenDataset(store, processor, max_seq_len=4096, seed=7)
    pad, t = processor.tokenizer.pad_token_id, processor.num_image_tokens
    t2i = np.flatnonzero(store.arrays["task"][:] == T2I)
    edit = np.flatnonzero(store.arrays["task"][:] == EDIT)
    epochs = range(20)
    blanked = [data[(e, int(i))].input_ids[1] == pad for e in epochs for i in t2i]
    kept = [data[(e, int(i))].keep_source_codes for e in epochs for i in edit]
    assert 0.05 < np.mean(blanked) < 0.16 and 0.4 < np.mean(kept) < 0.6
    again = TokenDataset(store, processor, max_seq_len=4096, seed=7)
    for key in ((3, int(t2i[0])), (3, int(edit[0])), (11, int(edit[1]))):
        a, b = data[key], again[key]
        assert (a.input_ids == b.input_ids).all() and a.keep_source_codes == b.keep_source_codes
    assert len(data[(0, int(t2i[0]))].input_ids) == data.lengths[t2i[0]] and data.lengths.min() > t
    per_epoch = [[data[(e, int(i))].keep_source_codes for i in edit] for e in (0, 1)]
    assert per_epoch[0] != per_epoch[1]


def test_too_long_and_failed_rows_are_left_out_and_reported(tmp_path, tiny_janus, processor):
    store = make_token_store(tmp_path / "tokens", tiny_janus, n_t2i=5, n_edit=5)
    TokenStore.open(store.url, read_only=False).arrays["status"][2] = FAILED
    store = TokenStore.open(store.url)
    edit = store.arrays["task"][:] == EDIT
    full = TokenDataset(store, processor, max_seq_len=4096)
    t2i_longest = int(full.lengths[~edit[full.rows]].max())
    data = TokenDataset(store, processor, max_seq_len=t2i_longest)
    ok = np.flatnonzero(np.arange(10) != 2)
    assert full.rows.tolist() == ok.tolist()
    assert data.rows.tolist() == [r for r in ok if not edit[r]]
    assert data.too_long.tolist() == [r for r in ok if edit[r]]
    assert all(len(data[(0, i)].input_ids) <= t2i_longest for i in range(len(data)))
    report = data.report()
    assert f"{len(data)} of 10 token-store rows used; 1 not tokenized ok" in report
    assert f"{len(data.too_long)} longer than max_seq_len {t2i_longest} left out, not truncated" in report
    for row, length in zip(data.too_long, data.too_long_lengths, strict=True):
        assert f"{store.arrays['key'][row]} ({length})" in report


def sampler_of(lengths, batch_size, **values):
    """A sampler over `lengths` with a seeded half of the samples editing ones."""
    edit = np.random.default_rng(len(lengths)).random(len(lengths)) < 0.5
    return MixedTaskBatchSampler(lengths, edit, batch_size, **values)


def epoch_of(sampler, epoch):
    sampler.set_epoch(epoch)
    return [[i for _, i in batch] for batch in sampler]


def test_each_sample_once_per_epoch_across_ranks():
    lengths = np.random.default_rng(0).integers(10, 100, 48)
    for epoch in (0, 1):
        ranks = [sampler_of(lengths, 4, rank=r, world_size=2, seed=3, accumulation_steps=2) for r in (0, 1)]
        batches = [epoch_of(s, epoch) for s in ranks]
        assert len(batches[0]) == len(batches[1]) == ranks[0].batches_per_epoch == 6
        seen = sorted(i for rank in batches for batch in rank for i in batch)
        assert seen == list(range(48))
        assert all(len(b) == 4 for rank in batches for b in rank)


def test_the_last_incomplete_step_is_dropped_differently_each_epoch():
    lengths = np.random.default_rng(0).integers(10, 100, 53)  # steps of 2 x 2 x 3 = 12 samples: 5 dropped
    ranks = [sampler_of(lengths, 2, rank=r, world_size=2, accumulation_steps=3) for r in (0, 1)]
    dropped = []
    for epoch in range(3):
        seen = [i for s in ranks for batch in epoch_of(s, epoch) for i in batch]
        assert len(seen) == len(set(seen)) == 48
        dropped.append(set(range(53)) - set(seen))
    assert dropped[0] != dropped[1] != dropped[2]


def test_order_is_deterministic_and_changes_with_epoch_and_seed():
    lengths = np.random.default_rng(1).integers(10, 100, 64)
    make = lambda seed: sampler_of(lengths, 4, rank=1, world_size=2, seed=seed)
    assert epoch_of(make(0), 2) == epoch_of(make(0), 2)
    assert epoch_of(make(0), 2) != epoch_of(make(0), 3)
    assert epoch_of(make(0), 2) != epoch_of(make(1), 2)
    first = epoch_of(sampler_of(lengths, 4, rank=0, world_size=2), 0)[0]
    assert lengths[first].max() == lengths.max()  # the step with the longest sample comes first


def test_resuming_mid_epoch_yields_exactly_the_rest():
    lengths = np.random.default_rng(2).integers(10, 100, 80)
    sampler = sampler_of(lengths, 4, rank=0, world_size=2, seed=5)
    full = epoch_of(sampler, 1)
    sampler.set_epoch(1)
    it = iter(sampler)
    taken = [next(it) for _ in range(3)]
    state = sampler.state_dict()
    assert state["epoch"] == 1 and state["batches_consumed"] == 3
    resumed = sampler_of(lengths, 4, rank=0, world_size=2, seed=5)
    resumed.load_state_dict(state)
    assert len(resumed) == len(full) - 3
    rest = list(resumed)
    assert [[i for _, i in b] for b in taken + rest] == full
    assert all(e == 1 for b in rest for e, _ in b)
    assert sampler.state_dict(batches_consumed=2)["batches_consumed"] == 2
    with pytest.raises(ValueError, match="cannot resume"):
        sampler_of(lengths, 4, rank=0, world_size=4, seed=5).load_state_dict(state)


def test_length_grouping_reduces_padding():
    lengths = np.random.default_rng(3).integers(50, 2000, 2000)
    sampler = sampler_of(lengths, 8, rank=0, world_size=2, seed=0)
    grouped = epoch_of(sampler, 0)
    shuffled = np.random.default_rng(0).permutation(2000)[: 8 * len(grouped)].reshape(len(grouped), 8)
    padding = lambda batches: sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches)
    assert padding(grouped) < 0.2 * padding(shuffled)


def test_a_dataloader_resumed_mid_epoch_gives_the_same_batches(store, processor):
    data = TokenDataset(store, processor, max_seq_len=4096, seed=1)

    def loader(sampler):
        return DataLoader(data, batch_sampler=sampler, collate_fn=data.collate, num_workers=1)

    sampler = MixedTaskBatchSampler(data.lengths, data.edit, 4, rank=1, world_size=2, seed=1)
    sampler.set_epoch(2)
    full = list(loader(sampler))
    resumed = MixedTaskBatchSampler(data.lengths, data.edit, 4, rank=1, world_size=2, seed=1)
    resumed.load_state_dict(sampler.state_dict(batches_consumed=2))
    rest = list(loader(resumed))
    assert len(rest) == len(full) - 2 == 4
    for a, b in zip(full[2:], rest, strict=True):
        assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.keep_source_codes, b.keep_source_codes)
        assert torch.equal(a.image_codes, b.image_codes)
    assert {len(b.input_ids) for b in full} == {4}
    assert sum(int(b.lengths.sum()) for b in full) == sum(b.n_tokens for b in full)


def test_every_step_mixes_the_tasks_in_the_pools_proportion_and_resumes_alike():
    """Janus-4o's pool (45,717 text-to-image, 46,539 editing samples) scaled down 100 times, on its 8 GPUs
    x 8: every optimizer step of 64 holds both tasks, edits within one sample of the pool's share."""
    rng = np.random.default_rng(4)
    edit = np.array([False] * 457 + [True] * 465)[rng.permutation(922)]
    lengths = np.where(edit, rng.integers(1700, 1900, 922), rng.integers(600, 800, 922))
    ranks = [MixedTaskBatchSampler(lengths, edit, 8, rank=r, world_size=8, seed=9) for r in range(8)]
    for epoch in (0, 1):
        per_rank = [epoch_of(s, epoch) for s in ranks]
        steps = [np.concatenate(batches) for batches in zip(*per_rank, strict=True)]
        assert len(steps) == 922 // 64 and len(np.unique(np.concatenate(steps))) == 64 * len(steps)
        share = edit[np.stack(steps)].sum(1)
        assert share.min() >= 1 and share.max() <= 63  # both tasks in every step
        assert np.abs(share - 64 * 465 / 922).max() <= 1
        padded = sum(lengths[b].max() * len(b) for r in per_rank for b in r)
        assert 1 - sum(lengths[b].sum() for r in per_rank for b in r) / padded < 0.05
    sampler = ranks[3]
    sampler.set_epoch(1)
    it = iter(sampler)
    taken = [next(it) for _ in range(5)]
    resumed = MixedTaskBatchSampler(lengths, edit, 8, rank=3, world_size=8, seed=9)
    resumed.load_state_dict(sampler.state_dict())
    assert [[i for _, i in b] for b in taken + list(resumed)] == epoch_of(ranks[3], 1)
    with pytest.raises(ValueError, match="cannot resume"):
        MixedTaskBatchSampler(lengths, ~edit, 8, rank=3, world_size=8, seed=9).load_state_dict(
            sampler.state_dict()
        )


def test_too_few_samples_for_one_step_is_one_line():
    with pytest.raises(BadInput) as refused:
        MixedTaskBatchSampler(np.full(3, 10), np.zeros(3, bool), 2, rank=0, world_size=2)
    assert str(refused.value) == (
        "training data: 3 samples do not fill one optimizer step of 4 (batch 2 x 2 ranks x 1 accumulation "
        "steps); select more rows, or set a smaller parallel.global_batch"
    )
