"""The public/private division of the hidden split, and the trusted scorer that uses it."""

import numpy as np
import pytest

from pipeline import status
from pipeline.data import splits
from pipeline.grading import scoring
from pipeline.config import HiddenSplit


def labels(n=1000, classes=10, seed=0):
    return np.random.default_rng(seed).integers(0, classes, n).astype(np.uint8)


def test_parts_do_not_overlap_and_cover_the_hidden_split():
    y = labels()
    public, private = splits.public_private_split(y, 0.3, seed=7)
    assert not set(public) & set(private)
    assert sorted([*public, *private]) == list(range(len(y)))
    assert np.all(np.diff(public) > 0) and np.all(np.diff(private) > 0)  # sorted, no repeats


def test_parts_are_stratified_by_class():
    y = labels(n=2000)
    public, _ = splits.public_private_split(y, 0.3, seed=7)
    for label in np.unique(y):
        in_class = np.sum(y == label)
        assert abs(np.sum(y[public] == label) - 0.3 * in_class) <= 1  # rounding only


def test_parts_are_fixed_by_the_seed():
    y = labels()
    first = splits.public_private_split(y, 0.3, seed=7)
    again = splits.public_private_split(y, 0.3, seed=7)
    other = splits.public_private_split(y, 0.3, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_every_divisible_class_is_in_both_parts():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 2], dtype=np.uint8)
    public, private = splits.public_private_split(y, 0.05, seed=1)  # 5% would round to 0 per class
    assert set(y[public]) == {0, 1, 2} and set(y[private]) == {0, 1, 2}


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_fraction_is_a_clear_error(fraction):
    with pytest.raises(ValueError, match="public_fraction must be a number strictly between 0 and 1"):
        splits.public_private_split(labels(), fraction, seed=1)


def test_scorer_reports_public_private_and_full_accuracy(tmp_path):
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], dtype=np.uint8)
    guesses = y.copy()
    guesses[[0, 1]] = 2  # two wrong
    predictions = np.eye(3, dtype=np.float32)[guesses]
    np.save(tmp_path / "p.npy", predictions)
    parts = scoring.public_private_parts(y, HiddenSplit(public_fraction=0.5, seed=3))
    scored = scoring.score({"status": status.OK}, (tmp_path / "p.npy").read_bytes(), y, 3, parts)
    correct = guesses == y
    assert scored["test_accuracy"] == 0.8
    assert scored["public_accuracy"] == float(np.mean(correct[parts[0]]))
    assert scored["private_accuracy"] == float(np.mean(correct[parts[1]]))
    assert len(scored["predictions_sha256"]) == 64
    # Aggregates only: nothing per hidden item leaves the scorer.
    assert not any(isinstance(value, (list, np.ndarray)) for value in scored.values())
