"""Dedup steps: planted copies of real photographs, exact hashes, the keep rule, grouping, eps, devices."""

import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from pixsift.engine.select.dedup.kmeans import spherical_kmeans
from pixsift.engine.select.dedup.metrics import pair_precision_recall
from pixsift.engine.select.dedup.semantic import semantic_groups
from pixsift.engine.select.dedup.settings import SemanticSettings
from pixsift.engine.select.dedup.union_find import connected_components
from pixsift.engine.select.steps.dedup_exact import ExactDedup
from pixsift.engine.select.steps.dedup_semantic import SemanticDedup
from pixsift.engine.select.steps.groups import exact_components, keep_best
from pixsift.engine.store.schema import WEIGHTED_SCORE
from tests.helpers.duplicate_photos import dct_embedding, planted_pool

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reader(columns: dict[str, np.ndarray], n_rows: int):
    """A column reader over a store of n_rows, as the select engine gives one; it checks rows are sorted."""
    for name, values in columns.items():
        assert len(values) == n_rows, name

    def read(column: str, rows: np.ndarray) -> np.ndarray:
        assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)
        return columns[column][rows]

    return read


def unit_vectors_at(cosines_to_first: list[float], dim: int = 64) -> np.ndarray:
    """Rows in one plane at the angles whose cosines to row 0's direction are given."""
    angles = np.arccos(np.asarray(cosines_to_first, dtype=np.float64))
    rows = np.zeros((len(angles), dim))
    rows[:, 0], rows[:, 1] = np.cos(angles), np.sin(angles)
    return rows.astype(np.float16)


@pytest.fixture(scope="module")
def photo_pool():
    images, sources = planted_pool()
    return np.stack([dct_embedding(image) for image in images]), sources


def test_planted_duplicates_of_photographs_are_found(photo_pool):
    embeddings, sources = photo_pool
    n = len(sources)
    scores = np.random.default_rng(1).random(n)
    # Alive rows are a sparse subset of the store (every other row), as after earlier filters.
    rows = np.arange(n, dtype=np.int64) * 2
    store = {"image_embedding": np.repeat(embeddings, 2, axis=0), WEIGHTED_SCORE: np.repeat(scores, 2)}
    step = SemanticDedup(settings=SemanticSettings(eps=0.1, cluster_rows=40))
    result = step(rows, reader(store, 2 * n))

    grouped = result.dup_group >= 0
    labels = np.where(grouped, result.dup_group, -1 - np.arange(n))
    precision, recall = pair_precision_recall(labels, sources)
    assert precision >= 0.99 and recall >= 0.99, (precision, recall)
    assert len(set(sources)) == 70 and n - 70 >= 100  # 70 distinct images, over 100 planted copies
    assert result.keep.sum() == len(set(sources))
    for source in set(sources):
        members = np.flatnonzero(sources == source)
        kept = members[result.keep[members]]
        assert kept.tolist() == [members[np.argmax(scores[members])]]
        if len(members) > 1:
            assert set(result.dup_group[members]) == {rows[kept[0]]}


def test_exact_dedup_groups_equal_hashes_and_skips_unread_ones():
    hashes = np.array([5, 0, 9, 5, 0, 9, 9, 7, -3, -3], dtype=np.int64)
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.9, np.nan, 0.5, 0.2, 0.3, 0.3])
    rows = np.array([2, 3, 5, 8, 13, 21, 34, 55, 89, 144], dtype=np.int64)
    store_rows = 200
    columns = {"content_hash": np.zeros(store_rows, np.int64), WEIGHTED_SCORE: np.zeros(store_rows)}
    columns["content_hash"][rows], columns[WEIGHTED_SCORE][rows] = hashes, scores
    result = ExactDedup()(rows, reader(columns, store_rows))
    # 5: rows 2, 8 -> 8 (0.7); 9: rows 5, 21 (NaN), 34 -> tie of 0.5, lowest row 5; -3: tie -> 89.
    assert result.keep.tolist() == [False, True, True, True, True, False, False, True, True, False]
    assert result.dup_group.tolist() == [8, -1, 5, 8, -1, 5, 5, -1, 89, 89]
    assert ExactDedup().name == "dedup:exact"


def test_keep_rule_highest_score_then_lowest_position_and_nan_last():
    component = np.array([0, 0, 0, 3, 3, 5, 6, 6])
    scores = np.array([0.2, 0.8, 0.8, np.nan, np.nan, 0.1, np.nan, -1.0])
    keep, kept = keep_best(component, scores)
    assert keep.tolist() == [False, True, False, True, False, True, False, True]
    assert kept.tolist() == [1, 1, 1, 3, 3, -1, 7, 7]
    assert keep_best(np.empty(0, np.int64), np.empty(0))[0].shape == (0,)


def test_pair_precision_recall_counts_pairs():
    truth = np.array([0, 0, 0, 1, 1, 2])
    # Predicted: {0, 1} grouped, 2 alone (1 of 3 true pairs in group 0), {3, 4, 5} (1 right of 3 found).
    predicted = np.array([7, 7, 8, 9, 9, 9])
    assert pair_precision_recall(predicted, truth) == (2 / 4, 2 / 4)
    assert pair_precision_recall(np.arange(3), np.arange(3)) == (1.0, 1.0)


def test_exact_components_first_position_per_hash():
    assert exact_components(np.array([4, 4, 0, 0, 2, 4])).tolist() == [0, 0, 2, 3, 4, 0]


def test_union_find_is_transitive_and_matches_scipy():
    rng = np.random.default_rng(0)
    n = 2000
    u, v = rng.integers(0, n, 1500), rng.integers(0, n, 1500)
    ours = connected_components(n, u, v)
    count, theirs = scipy_components(coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)
    assert len(np.unique(ours)) == count
    assert np.array_equal(ours[:, None] == ours[None, :], theirs[:, None] == theirs[None, :])
    assert np.all(ours == np.array([np.flatnonzero(ours == ours[i]).min() for i in range(n)]))
    # A long chain, given backwards, is one component labelled by its smallest node.
    chain = np.arange(999, 0, -1)
    assert np.all(connected_components(1000, chain, chain - 1) == 0)


def test_union_find_rejects_bad_edges():
    with pytest.raises(ValueError, match="outside"):
        connected_components(3, np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match="one length"):
        connected_components(3, np.array([0, 1]), np.array([1]))


def test_duplicate_chains_group_transitively():
    # a~b and b~c are within eps; a and c are not, yet all three are one group.
    embeddings = unit_vectors_at([1.0, 0.97, 0.882])
    groups = semantic_groups(lambda a, b: embeddings[a:b], 3, SemanticSettings(eps=0.05))
    assert groups.component.tolist() == [0, 0, 0]


@pytest.mark.parametrize(("cosine", "grouped"), [(0.956, True), (0.944, False)])
def test_eps_is_the_cosine_boundary(cosine, grouped):
    embeddings = unit_vectors_at([1.0, cosine])
    groups = semantic_groups(lambda a, b: embeddings[a:b], 2, SemanticSettings(eps=0.05))
    assert (groups.component[1] == 0) == grouped


@pytest.mark.parametrize("device", DEVICES)
def test_every_device_and_probe_count_matches_all_pairs(device, photo_pool):
    embeddings, sources = photo_pool
    unit = embeddings.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    u, v = np.nonzero(np.triu(unit @ unit.T >= 0.9, k=1))
    expected = connected_components(len(sources), u, v)
    for cluster_rows, probes in ((30, 1), (30, 2), (30, 3), (1000, 2)):
        settings = SemanticSettings(eps=0.1, cluster_rows=cluster_rows, probes=probes, device=device)
        groups = semantic_groups(lambda a, b: embeddings[a:b], len(sources), settings)
        assert np.array_equal(groups.component, expected), (cluster_rows, probes)
        assert groups.n_clusters == -(-len(sources) // cluster_rows)
    assert groups.largest_cluster == len(sources)


def test_auto_device_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert SemanticSettings().torch_device() == torch.device("cpu")


def test_rows_without_a_usable_embedding_are_never_grouped():
    embeddings = np.zeros((6, 8), np.float16)
    embeddings[:, 0] = 1
    embeddings[1] = np.nan
    embeddings[2] = 0
    embeddings[3, 1] = np.inf
    groups = semantic_groups(lambda a, b: embeddings[a:b], 6, SemanticSettings(eps=0.05, chunk_rows=4))
    assert groups.component.tolist() == [0, 1, 2, 3, 0, 0]


def test_kmeans_finds_separated_blobs_with_a_fixed_seed():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 32))
    points = centers[np.repeat(np.arange(4), 50)] + 0.05 * rng.standard_normal((200, 32))
    x = torch.nn.functional.normalize(torch.from_numpy(points).float(), dim=1)
    first = spherical_kmeans(x, 4, iterations=10, seed=3)
    assert torch.equal(first, spherical_kmeans(x, 4, iterations=10, seed=3))
    labels = (x @ first.T).argmax(dim=1).reshape(4, 50)
    assert all(len(set(blob.tolist())) == 1 for blob in labels)
    assert len(set(labels[:, 0].tolist())) == 4


def test_bad_settings_and_readers_are_named():
    with pytest.raises(ValueError, match="eps must be in"):
        SemanticSettings(eps=1.0)
    with pytest.raises(ValueError, match="probes must be a positive integer"):
        SemanticSettings(probes=0)
    with pytest.raises(ValueError, match=r"rows \[0, 3\) came back with shape \(2, 4\)"):
        semantic_groups(lambda a, b: np.ones((2, 4)), 3, SemanticSettings())
    columns = {"content_hash": np.arange(1, 4), "clip_cosine": np.ones(2)}
    with pytest.raises(ValueError, match="'clip_cosine' gave 2 values for 3 rows"):
        ExactDedup(keep_by="clip_cosine")(np.arange(3), lambda c, r: columns[c])


def test_exact_then_semantic_keep_one_per_group(photo_pool):
    """As the select engine chains them: exact copies first, then the survivors' near-duplicates."""
    embeddings, sources = photo_pool
    n = len(sources)
    # Every image also appears once more with the same bytes (same hash), right after itself.
    store = {
        "image_embedding": np.repeat(embeddings, 2, axis=0),
        "content_hash": np.repeat(np.arange(1, n + 1), 2),
        WEIGHTED_SCORE: np.random.default_rng(2).random(2 * n),
    }
    read = reader(store, 2 * n)
    alive = np.arange(2 * n, dtype=np.int64)
    exact = ExactDedup()(alive, read)
    assert exact.keep.sum() == n and np.all(exact.dup_group >= 0)
    alive = alive[exact.keep]
    semantic = SemanticDedup(settings=SemanticSettings(eps=0.1, cluster_rows=40))(alive, read)
    kept_sources = np.repeat(sources, 2)[alive[semantic.keep]]
    assert sorted(kept_sources) == sorted(set(sources))
